"""Vehicle probe files: the schema, row validation with rejects, and `read_probes`.

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
format or a file missing a required column is a `TrafficDataError`. The CSV, Parquet and GPX
readers (and the column names above) are in `carmind.navigation.traffic.probe_formats`.

Reading streams: rows go through in batches, are validated by one DuckDB query per batch, and
good rows land in a normalised Parquet file (`t` as UNIX seconds), so ten million probes never
sit in memory at once.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from carmind.navigation.errors import TrafficDataError
from carmind.navigation.traffic.probe_formats import COLUMNS, detect_format, raw_batches

# probes before 2000 or after 2100 are clock errors, not traffic
MIN_TIME: Final = 946_684_800.0
MAX_TIME: Final = 4_102_444_800.0
MAX_SPEED_KMH: Final = 400.0

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


def default_rejects_path(source: Path) -> Path:
    """Where the rejects of `source` go unless told: `NAME.rejects.csv` beside it."""
    name = source.name
    for suffix in (".csv.gz", ".csv", ".parquet", ".pq", ".gpx"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return source.with_name(f"{name}.rejects.csv")


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
        for raw in raw_batches(path, fmt, writer.add):
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
