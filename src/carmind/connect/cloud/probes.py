"""Fleet telemetry as probe data for traffic learning (`carmind traffic learn`).

Each car's position and speed, as stored from its telemetry, become GPS probes in the schema the
traffic readers take (`vehicle_id,time,lat,lon,speed_kmh,heading`, time in Unix seconds). A probe
is written whenever the position changes; speed and heading are the latest known at that moment.
Rows stream from the database ordered by car and time, so a fleet's history of any size goes
through in bounded memory.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carmind.connect.cloud import db
from carmind.errors import CarmindError

LATITUDE: Final = "Vehicle.CurrentLocation.Latitude"
LONGITUDE: Final = "Vehicle.CurrentLocation.Longitude"
SPEED: Final = "Vehicle.Speed"
HEADING: Final = "Vehicle.CurrentLocation.Heading"
PATHS: Final = (LATITUDE, LONGITUDE, SPEED, HEADING)
HEADER: Final = ("vehicle_id", "time", "lat", "lon", "speed_kmh", "heading")
PROGRESS_EVERY: Final = 50_000


class ProbeExportError(CarmindError):
    """Probes cannot be exported as asked (a bad time range, an unwritable file)."""


@dataclass
class ExportStats:
    points_read: int = 0
    probes: int = 0
    vehicles: int = 0


@dataclass
class _Car:
    vin: str
    ts: float | None = None
    written: tuple[float, float] | None = None
    lat: float | None = None
    lon: float | None = None
    speed: float | None = None
    heading: float | None = None


def _fmt(value: float | None, digits: int) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


async def export_probes(
    sessions: async_sessionmaker[AsyncSession],
    out: Path,
    *,
    since: float | None = None,
    until: float | None = None,
    vins: Iterable[str] = (),
    progress: Callable[[int], None] | None = None,
) -> ExportStats:
    """Write the fleet's probes between `since` and `until` (Unix s) to `out` (CSV)."""
    if since is not None and until is not None and since >= until:
        raise ProbeExportError(f"the time range is empty: since {since} is not before {until}")
    query = select(
        db.TelemetryPoint.vin, db.TelemetryPoint.ts, db.TelemetryPoint.path, db.TelemetryPoint.num
    ).where(db.TelemetryPoint.path.in_(PATHS))
    if since is not None:
        query = query.where(db.TelemetryPoint.ts >= since)
    if until is not None:
        query = query.where(db.TelemetryPoint.ts < until)
    chosen = list(vins)
    if chosen:
        query = query.where(db.TelemetryPoint.vin.in_(chosen))
    query = query.order_by(db.TelemetryPoint.vin, db.TelemetryPoint.ts, db.TelemetryPoint.id)
    stats = ExportStats()
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(HEADER)
            car: _Car | None = None

            def emit(c: _Car) -> None:
                """One probe for a moment whose values are all in, if the car moved."""
                if c.lat is None or c.lon is None or c.ts is None:
                    return
                if (c.lat, c.lon) == c.written:
                    return
                c.written = (c.lat, c.lon)
                writer.writerow(
                    (
                        c.vin,
                        f"{c.ts:.3f}",
                        _fmt(c.lat, 7),
                        _fmt(c.lon, 7),
                        _fmt(c.speed, 2),
                        _fmt(c.heading, 1),
                    )
                )
                stats.probes += 1

            async with sessions() as session:
                rows = await session.stream(query.execution_options(yield_per=10_000))
                async for vin, ts, path, num in rows:
                    stats.points_read += 1
                    if progress is not None and stats.points_read % PROGRESS_EVERY == 0:
                        progress(stats.points_read)
                    if car is None or car.vin != vin:
                        if car is not None:
                            emit(car)
                        car = _Car(vin)
                        stats.vehicles += 1
                    elif ts != car.ts:
                        emit(car)  # every value of the previous moment is in
                    car.ts = float(ts)
                    value = None if num is None else float(num)
                    if path == SPEED:
                        car.speed = value
                    elif path == HEADING:
                        car.heading = value
                    elif path == LATITUDE:
                        car.lat = value
                    elif path == LONGITUDE:
                        car.lon = value
                if car is not None:
                    emit(car)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ProbeExportError(f"cannot write probes to {out}: {exc}") from None
    return stats
