"""Probe file formats: which columns a probe file has, and raw batches from CSV, Parquet and GPX.

The readers turn a file into batches of raw rows (`RawBatch`: text, or native Arrow types from
Parquet, each row with its record number) without judging them; `carmind.navigation.traffic.probes`
validates every row and keeps the good ones. A line that cannot even be split into fields (broken
CSV quoting, a wrong field count, malformed GPX) goes straight to the rejects callback.
"""

from __future__ import annotations

import csv
import gzip
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from carmind.navigation.errors import TrafficDataError

REQUIRED: Final = ("vehicle_id", "time", "lat", "lon")
OPTIONAL: Final = ("trip_id", "speed_kmh", "heading")
COLUMNS: Final = REQUIRED + OPTIONAL
BATCH_ROWS: Final = 100_000

FORMATS: Final = {
    ".csv": "csv",
    ".gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".gpx": "gpx",
}

Rejects = Callable[[int, str, list[str]], None]
"""Called with (record, reason, raw fields) for a row that cannot be read at all."""


def detect_format(path: Path) -> str:
    """`csv`, `parquet` or `gpx`, by suffix (checked against the file's first bytes)."""
    if not path.is_file():
        raise TrafficDataError(f"no such probe file: {path}")
    fmt = FORMATS.get(path.suffix.lower())
    if path.suffix.lower() == ".gz" and not path.name.lower().endswith(".csv.gz"):
        fmt = None
    if fmt is None:
        raise TrafficDataError(
            f"unknown probe file format {path.name!r}: give a .csv, .csv.gz, .parquet or .gpx file"
        )
    with path.open("rb") as fh:
        head = fh.read(4)
    if fmt == "parquet" and head != b"PAR1":
        raise TrafficDataError(f"{path} is not a Parquet file (no PAR1 magic at its start)")
    return fmt


@dataclass(frozen=True)
class RawBatch:
    """Rows as text (or native Arrow types from Parquet) with their record numbers."""

    table: Any  # pyarrow.Table with some of COLUMNS plus `_record`
    fraction: float


def _text_table(columns: dict[str, list[str | None]], records: list[int]) -> Any:
    import pyarrow as pa

    arrays = {name: pa.array(values, type=pa.string()) for name, values in columns.items()}
    arrays["_record"] = pa.array(records, type=pa.int64())
    return pa.table(arrays)


def _check_header(header: list[str], source: Path) -> list[str]:
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise TrafficDataError(
            f"{source} lacks the column(s) {', '.join(missing)}: probe files need "
            f"{', '.join(REQUIRED)} (and may have {', '.join(OPTIONAL)})"
        )
    return names


def _csv_batches(path: Path, rejects: Rejects) -> Iterator[RawBatch]:
    size = max(path.stat().st_size, 1)
    raw = path.open("rb")
    stream: IO[bytes] = (
        gzip.open(raw)  # type: ignore[assignment]  # noqa: SIM115 (closed through `text`)
        if path.name.lower().endswith(".gz")
        else raw
    )
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    with raw, text:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise TrafficDataError(f"{path} is empty: no header and no probes") from None
        except csv.Error as exc:
            raise TrafficDataError(f"{path} is not a readable CSV file: {exc}") from None
        names = _check_header(header, path)
        wanted = [(i, n) for i, n in enumerate(names) if n in COLUMNS]
        columns: dict[str, list[str | None]] = {n: [] for _, n in wanted}
        records: list[int] = []
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                rejects(reader.line_num, f"unparseable CSV line: {exc}", [])
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(names):
                rejects(
                    reader.line_num, f"expected {len(names)} fields, found {len(row)}", list(row)
                )
                continue
            for i, name in wanted:
                columns[name].append(row[i])
            records.append(reader.line_num)
            if len(records) >= BATCH_ROWS:
                yield RawBatch(_text_table(columns, records), min(raw.tell() / size, 1.0))
                columns = {n: [] for _, n in wanted}
                records = []
        if records:
            yield RawBatch(_text_table(columns, records), 1.0)


def _parquet_batches(path: Path) -> Iterator[RawBatch]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise TrafficDataError(f"{path} is not a readable Parquet file: {exc}") from None
    names = _check_header(list(pf.schema_arrow.names), path)
    by_lower = dict(zip(names, pf.schema_arrow.names, strict=True))
    wanted = [c for c in COLUMNS if c in by_lower]
    total = max(pf.metadata.num_rows, 1)
    done = 0
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=[by_lower[c] for c in wanted]):
            arrays: dict[str, Any] = {}
            for name, column in zip(wanted, batch.columns, strict=True):
                if pa.types.is_timestamp(column.type):
                    # Parquet timestamps without a zone are read as UTC
                    unit_s = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[column.type.unit]
                    column = pc.divide(pc.cast(column.cast(pa.int64()), pa.float64()), unit_s)
                arrays[name] = column
            arrays["_record"] = pa.array(range(done + 1, done + batch.num_rows + 1), pa.int64())
            done += batch.num_rows
            yield RawBatch(pa.table(arrays), done / total)
    except (OSError, pa.ArrowException) as exc:
        raise TrafficDataError(
            f"{path}: the Parquet data is corrupt after row {done}: {exc}"
        ) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _gpx_batches(path: Path, rejects: Rejects) -> Iterator[RawBatch]:
    """Track points of a GPX file; the vehicle is the track's name (else the file name)."""
    columns: dict[str, list[str | None]] = {c: [] for c in COLUMNS}
    records: list[int] = []
    size = max(path.stat().st_size, 1)
    vehicle = path.stem
    track = 0
    segment = 0
    point = 0
    with path.open("rb") as fh:
        try:
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                tag = _local(elem.tag)
                if event == "start":
                    if tag == "trk":
                        track += 1
                        segment = 0
                    elif tag == "trkseg":
                        segment += 1
                    continue
                if tag == "name" and elem.text and track > 0 and segment == 0:
                    vehicle = elem.text.strip()
                elif tag == "trkpt":
                    point += 1
                    values: dict[str, str | None] = {
                        "lat": elem.get("lat"),
                        "lon": elem.get("lon"),
                        "time": None,
                        "speed_kmh": None,
                        "heading": None,
                    }
                    for child in elem.iter():
                        name = _local(child.tag)
                        text = (child.text or "").strip()
                        if name == "time":
                            values["time"] = text
                        elif name == "speed" and text:
                            try:
                                values["speed_kmh"] = repr(float(text) * 3.6)  # GPX: m/s
                            except ValueError:
                                values["speed_kmh"] = text
                        elif name in ("course", "heading") and text:
                            values["heading"] = text
                    columns["vehicle_id"].append(vehicle)
                    columns["trip_id"].append(f"{vehicle}/{track}/{segment}")
                    for key, value in values.items():
                        columns[key].append(value)
                    records.append(point)
                    elem.clear()
                    if len(records) >= BATCH_ROWS:
                        yield RawBatch(_text_table(columns, records), min(fh.tell() / size, 1.0))
                        columns = {c: [] for c in COLUMNS}
                        records = []
        except ET.ParseError as exc:
            if point == 0 and not records:
                raise TrafficDataError(f"{path} is not a readable GPX file: {exc}") from None
            rejects(point + 1, f"the GPX file is malformed from here on: {exc}", [])
    if records:
        yield RawBatch(_text_table(columns, records), 1.0)


def raw_batches(path: Path, fmt: str, rejects: Rejects) -> Iterator[RawBatch]:
    """The rows of `path`, a probe file in `fmt` (as `detect_format` names it), in batches."""
    if fmt == "csv":
        return _csv_batches(path, rejects)
    if fmt == "parquet":
        return _parquet_batches(path)
    return _gpx_batches(path, rejects)
