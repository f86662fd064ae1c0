"""Vehicle probe files: the schema, readers for CSV, Parquet and GPX, and row validation.

A probe is one GPS fix of one vehicle:

    vehicle_id  text, required
    trip_id     text, optional (traces are otherwise split at gaps in time)
    time        ISO 8601 with a UTC offset (`2026-09-07T08:00:00+03:00`, `...Z`) or UNIX seconds
    lat, lon    WGS 84 degrees, required
    speed_kmh   optional, km/h, 0..400
    heading     optional, degrees clockwise from north, 0..360

Every row is validated. A bad row (a number that is not one, a coordinate off the globe, a time
that is missing, has no offset or cannot be parsed) is skipped, counted and written to a rejects
CSV with the reason; good rows are never dropped. A file with no good row, a file in an unknown
format or a file missing a required column is a `TrafficDataError`.

Reading streams: rows go through in batches, are validated by one DuckDB query per batch, and
good rows land in a normalised Parquet file (`t` as UNIX seconds), so ten million probes never
sit in memory at once.
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
# probes before 2000 or after 2100 are clock errors, not traffic
MIN_TIME: Final = 946_684_800.0
MAX_TIME: Final = 4_102_444_800.0
MAX_SPEED_KMH: Final = 400.0

FORMATS: Final = {
    ".csv": "csv",
    ".gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".gpx": "gpx",
}

Progress = Callable[[float], None]
"""Called with the fraction of the input read (0..1)."""


def _no_progress(fraction: float) -> None:
    del fraction


def probe_schema() -> Any:
    """The Arrow schema of normalised probes (what `read_probes` writes)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("vehicle_id", pa.string()),
            ("trip_id", pa.string()),
            ("t", pa.float64()),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("speed_kmh", pa.float32()),
            ("heading", pa.float32()),
        ]
    )


@dataclass(frozen=True)
class ProbeReadResult:
    """What reading a probe file gave."""

    source: Path
    probes: Path
    """Normalised probes (Parquet, `probe_schema`)."""
    read: int
    accepted: int
    rejected: int
    rejects: Path | None
    """The rejects CSV (record, reason, raw fields), or None when every row was good."""
    t_min: float
    t_max: float

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejects": str(self.rejects) if self.rejects else None,
        }


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


def default_rejects_path(source: Path) -> Path:
    """Where the rejects of `source` go unless told: `NAME.rejects.csv` beside it."""
    name = source.name
    for suffix in (".csv.gz", ".csv", ".parquet", ".pq", ".gpx"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return source.with_name(f"{name}.rejects.csv")


# ------------------------------------------------------------------------------------ raw batches


@dataclass(frozen=True)
class _RawBatch:
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


def _csv_batches(path: Path, rejects: Callable[[int, str, list[str]], None]) -> Iterator[_RawBatch]:
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
                yield _RawBatch(_text_table(columns, records), min(raw.tell() / size, 1.0))
                columns = {n: [] for _, n in wanted}
                records = []
        if records:
            yield _RawBatch(_text_table(columns, records), 1.0)


def _parquet_batches(path: Path) -> Iterator[_RawBatch]:
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
            yield _RawBatch(pa.table(arrays), done / total)
    except (OSError, pa.ArrowException) as exc:
        raise TrafficDataError(
            f"{path}: the Parquet data is corrupt after row {done}: {exc}"
        ) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _gpx_batches(path: Path, rejects: Callable[[int, str, list[str]], None]) -> Iterator[_RawBatch]:
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
                        yield _RawBatch(_text_table(columns, records), min(fh.tell() / size, 1.0))
                        columns = {c: [] for c in COLUMNS}
                        records = []
        except ET.ParseError as exc:
            if point == 0 and not records:
                raise TrafficDataError(f"{path} is not a readable GPX file: {exc}") from None
            rejects(point + 1, f"the GPX file is malformed from here on: {exc}", [])
    if records:
        yield _RawBatch(_text_table(columns, records), 1.0)


# ------------------------------------------------------------------------------------ validation

_TIME_ISO: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
)
_TIME_UNIX: Final = r"^-?[0-9]+(\.[0-9]+)?$"


def _validation_sql(present: set[str]) -> str:
    def col(name: str) -> str:
        return f"trim(CAST({name} AS VARCHAR))" if name in present else "CAST(NULL AS VARCHAR)"

    return f"""
    WITH raw AS (
        SELECT _record,
               {col("vehicle_id")} AS vehicle_id, {col("trip_id")} AS trip_id,
               {col("time")} AS time_raw, {col("lat")} AS lat_raw, {col("lon")} AS lon_raw,
               {col("speed_kmh")} AS speed_raw, {col("heading")} AS heading_raw
        FROM batch
    ), parsed AS (
        SELECT *,
               CASE WHEN regexp_matches(time_raw, '{_TIME_UNIX}') THEN TRY_CAST(time_raw AS DOUBLE)
                    WHEN regexp_matches(time_raw, '{_TIME_ISO}')
                        THEN epoch(TRY_CAST(time_raw AS TIMESTAMPTZ))
               END AS t,
               TRY_CAST(lat_raw AS DOUBLE) AS lat, TRY_CAST(lon_raw AS DOUBLE) AS lon,
               TRY_CAST(speed_raw AS DOUBLE) AS speed, TRY_CAST(heading_raw AS DOUBLE) AS heading
        FROM raw
    )
    SELECT *,
        CASE
            WHEN vehicle_id IS NULL OR vehicle_id = '' THEN 'missing vehicle_id'
            WHEN time_raw IS NULL OR time_raw = '' THEN 'missing time'
            WHEN t IS NULL AND regexp_matches(time_raw, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')
                 AND NOT regexp_matches(time_raw, '(Z|z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')
                THEN 'time has no UTC offset (want e.g. 2026-09-07T08:00:00+03:00)'
            WHEN t IS NULL OR NOT isfinite(t)
                THEN 'unparseable time (want ISO 8601 with a UTC offset, or UNIX seconds)'
            WHEN t < {MIN_TIME} OR t > {MAX_TIME} THEN 'time outside the years 2000..2100'
            WHEN lat_raw IS NULL OR lat_raw = '' THEN 'missing lat'
            WHEN lon_raw IS NULL OR lon_raw = '' THEN 'missing lon'
            WHEN lat IS NULL OR NOT isfinite(lat) THEN 'lat is not a number'
            WHEN lon IS NULL OR NOT isfinite(lon) THEN 'lon is not a number'
            WHEN lat < -90 OR lat > 90 THEN 'lat outside -90..90'
            WHEN lon < -180 OR lon > 180 THEN 'lon outside -180..180'
            WHEN lat = 0 AND lon = 0 THEN 'position 0,0 (no GPS fix)'
            WHEN speed_raw <> '' AND (speed IS NULL OR NOT isfinite(speed)
                 OR speed < 0 OR speed > {MAX_SPEED_KMH})
                THEN 'speed_kmh is not a number within 0..{MAX_SPEED_KMH:.0f}'
            WHEN heading_raw <> '' AND (heading IS NULL OR NOT isfinite(heading)
                 OR heading < 0 OR heading > 360)
                THEN 'heading is not a number within 0..360'
        END AS reason
    FROM parsed
    """


class _RejectsWriter:
    """The rejects CSV, opened on the first reject only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fh: IO[str] | None = None
        self._writer: Any = None

    def add(self, record: int, reason: str, fields: list[str]) -> None:
        """One rejected row: its fields in `COLUMNS` order, or the raw fields of a broken line."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._fh)
            self._writer.writerow(["record", "reason", *COLUMNS, "raw"])
        if len(fields) == len(COLUMNS):
            self._writer.writerow([record, reason, *fields, ""])
        else:
            self._writer.writerow([record, reason, *([""] * len(COLUMNS)), ",".join(fields)])
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def read_probes(
    source: str | Path,
    out: str | Path,
    *,
    rejects: str | Path | None = None,
    progress: Progress = _no_progress,
) -> ProbeReadResult:
    """Validate every row of `source` and write the good ones, normalised, to `out` (Parquet).

    Rejected rows go to `rejects` (default `NAME.rejects.csv` beside the source, written only
    when a row is rejected; a stale one from an earlier read is removed).
    """
    import duckdb
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(source)
    fmt = detect_format(path)
    out_path = Path(out)
    rejects_path = Path(rejects) if rejects else default_rejects_path(path)
    rejects_path.unlink(missing_ok=True)
    writer = _RejectsWriter(rejects_path)
    read = accepted = 0
    t_min, t_max = float("inf"), float("-inf")
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute("SET threads=1")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    parquet = pq.ParquetWriter(tmp, probe_schema(), compression="zstd")
    try:
        batches: Iterator[_RawBatch]
        if fmt == "csv":
            batches = _csv_batches(path, writer.add)
        elif fmt == "parquet":
            batches = _parquet_batches(path)
        else:
            batches = _gpx_batches(path, writer.add)
        for raw in batches:
            batch = raw.table  # noqa: F841 (DuckDB reads the local variable by name)
            present = set(raw.table.column_names)
            rel = con.sql(_validation_sql(present))
            checked = rel.to_arrow_table()
            read += checked.num_rows
            bad = con.sql("SELECT * FROM checked WHERE reason IS NOT NULL ORDER BY _record")
            for row in bad.fetchall():
                rec, vehicle, trip, time_raw, lat, lon, speed, heading = row[:8]
                writer.add(
                    int(rec),
                    str(row[-1]),
                    [_s(vehicle), _s(time_raw), _s(lat), _s(lon), _s(trip), _s(speed), _s(heading)],
                )
            good = con.sql(
                "SELECT vehicle_id, NULLIF(trip_id, '') AS trip_id, t, lat, lon, "
                "CAST(speed AS FLOAT) AS speed_kmh, CAST(heading AS FLOAT) AS heading "
                "FROM checked WHERE reason IS NULL"
            ).to_arrow_table()
            if good.num_rows:
                parquet.write_table(good.cast(probe_schema()))
                accepted += good.num_rows
                bounds = pc.min_max(good.column("t"))
                t_min = min(t_min, float(bounds["min"].as_py()))
                t_max = max(t_max, float(bounds["max"].as_py()))
            progress(raw.fraction)
    except BaseException:
        parquet.close()
        tmp.unlink(missing_ok=True)
        writer.close()
        raise
    finally:
        con.close()
    parquet.close()
    writer.close()
    rejected = writer.count
    read = accepted + rejected
    if accepted == 0:
        tmp.unlink(missing_ok=True)
        detail = f" ({rejected} rows rejected, reasons in {rejects_path})" if rejected else ""
        raise TrafficDataError(f"{path} holds no valid probe{detail}")
    tmp.replace(out_path)
    return ProbeReadResult(
        source=path,
        probes=out_path,
        read=read,
        accepted=accepted,
        rejected=rejected,
        rejects=rejects_path if rejected else None,
        t_min=t_min,
        t_max=t_max,
    )


def _s(value: object) -> str:
    return "" if value is None else str(value)
