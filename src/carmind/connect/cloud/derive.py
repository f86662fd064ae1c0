"""Drives and charges, derived from telemetry (in the manner of TeslaMate).

`segment` is pure: it walks a vehicle's samples in time order and cuts them into drives (the car
moves; a drive ends after `stop_s` standing still, at a gap in the data as long, or when charging
starts) and charging sessions (`IsCharging` true). `refresh` keeps the `drives` and `charges`
tables up to date from the telemetry that arrived since the last closed segment; a segment still
running is stored as open (`closed` false) and recomputed on the next refresh.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carmind import geo
from carmind.connect.cloud import db
from carmind.connect.cloud.ingest import join_value

SPEED: Final = "Vehicle.Speed"
LATITUDE: Final = "Vehicle.CurrentLocation.Latitude"
LONGITUDE: Final = "Vehicle.CurrentLocation.Longitude"
ODOMETER: Final = "Vehicle.TraveledDistance"
_BATTERY: Final = "Vehicle.Powertrain.TractionBattery"
SOC: Final = f"{_BATTERY}.StateOfCharge.Current"
SOC_DISPLAYED: Final = f"{_BATTERY}.StateOfCharge.Displayed"
ENERGY: Final = f"{_BATTERY}.StateOfCharge.CurrentEnergy"
CHARGED: Final = f"{_BATTERY}.AccumulatedChargedEnergy"
POWER: Final = f"{_BATTERY}.CurrentPower"
IS_CHARGING: Final = f"{_BATTERY}.Charging.IsCharging"
PATHS: Final = (
    SPEED,
    LATITUDE,
    LONGITUDE,
    ODOMETER,
    SOC,
    SOC_DISPLAYED,
    ENERGY,
    CHARGED,
    POWER,
    IS_CHARGING,
)
MOVING_KMH: Final = 0.5
"""Faster than this, the car is driving."""
TRACK_POINTS: Final = 300
"""A drive's stored track keeps at most this many points."""
MIN_DISTANCE_KM: Final = 0.1
"""Efficiency is left out for drives shorter than this (the division says nothing)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The car's last known values at one moment."""

    ts: float
    odometer: float | None
    soc: float | None
    energy: float | None
    charged: float | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class DriveSegment:
    start: Snapshot
    end: Snapshot
    closed: bool
    distance_km: float
    energy_kwh: float | None
    efficiency_wh_km: float | None
    max_speed_kmh: float
    track: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class ChargeSegment:
    start: Snapshot
    end: Snapshot
    closed: bool
    energy_added_kwh: float
    cost: float
    max_power_kw: float | None


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lon) points, km."""
    return geo.haversine_m(a[0], a[1], b[0], b[1]) / 1000.0


def thin(
    track: Sequence[tuple[float, float]], limit: int = TRACK_POINTS
) -> list[tuple[float, float]]:
    """At most `limit` points, evenly spaced, always keeping the first and the last."""
    if len(track) <= limit:
        return list(track)
    step = (len(track) - 1) / (limit - 1)
    return [track[round(i * step)] for i in range(limit)]


@dataclass
class _Open:
    start: Snapshot
    end: Snapshot
    last_active: float
    max_speed: float = 0.0
    max_power_w: float | None = None
    track: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class _State:
    values: dict[str, float | bool | None] = field(default_factory=dict)

    def num(self, path: str) -> float | None:
        value = self.values.get(path)
        return None if value is None or isinstance(value, bool) else float(value)

    def snapshot(self, ts: float) -> Snapshot:
        soc = self.num(SOC)
        return Snapshot(
            ts=ts,
            odometer=self.num(ODOMETER),
            soc=soc if soc is not None else self.num(SOC_DISPLAYED),
            energy=self.num(ENERGY),
            charged=self.num(CHARGED),
            latitude=self.num(LATITUDE),
            longitude=self.num(LONGITUDE),
        )


def _finish_drive(drive: _Open, closed: bool) -> DriveSegment:
    start, end = drive.start, drive.end
    if start.odometer is not None and end.odometer is not None:
        distance = max(0.0, end.odometer - start.odometer)
    else:
        distance = sum(
            haversine_km(a, b) for a, b in zip(drive.track, drive.track[1:], strict=False)
        )
    energy = None
    if start.energy is not None and end.energy is not None:
        energy = start.energy - end.energy
    efficiency = (
        energy * 1000 / distance if energy is not None and distance >= MIN_DISTANCE_KM else None
    )
    return DriveSegment(
        start,
        end,
        closed,
        round(distance, 3),
        energy,
        efficiency,
        drive.max_speed,
        tuple(thin(drive.track)),
    )


def _finish_charge(charge: _Open, closed: bool, price_per_kwh: float) -> ChargeSegment:
    start, end = charge.start, charge.end
    if start.charged is not None and end.charged is not None:
        added = end.charged - start.charged
    elif start.energy is not None and end.energy is not None:
        added = end.energy - start.energy
    else:
        added = 0.0
    added = max(0.0, added)
    power = None if charge.max_power_w is None else abs(charge.max_power_w) / 1000
    return ChargeSegment(start, end, closed, added, round(added * price_per_kwh, 2), power)


def segment(
    samples: Iterable[tuple[float, str, float | bool | None]],
    *,
    stop_s: float,
    price_per_kwh: float,
    seed: dict[str, float | bool | None] | None = None,
) -> tuple[list[DriveSegment], list[ChargeSegment]]:
    """Cut time-ordered (ts, path, value) samples into drives and charging sessions.

    `seed` holds values known from before the first sample (the odometer, say). A segment that
    runs to the last sample comes back with `closed` false.
    """
    state = _State(dict(seed or {}))
    drives: list[DriveSegment] = []
    charges: list[ChargeSegment] = []
    drive: _Open | None = None
    charge: _Open | None = None
    prev_ts: float | None = None

    def step(ts: float) -> None:
        nonlocal drive, charge
        speed = state.num(SPEED) or 0.0
        charging = state.values.get(IS_CHARGING) is True
        moving = speed > MOVING_KMH and not charging
        gap = prev_ts is not None and ts - prev_ts > stop_s
        if drive is not None and (
            charging or gap or (not moving and ts - drive.last_active >= stop_s)
        ):
            drives.append(_finish_drive(drive, closed=True))
            drive = None
        if charge is not None and (not charging or gap):
            charges.append(_finish_charge(charge, True, price_per_kwh))
            charge = None
        snap = state.snapshot(ts)
        if moving:
            if drive is None:
                drive = _Open(snap, snap, ts)
            drive.last_active = ts
            drive.max_speed = max(drive.max_speed, speed)
        if drive is not None:
            if moving or drive.end.ts == drive.last_active:
                drive.end = snap  # the first standstill sample still belongs to the drive
            if moving and snap.latitude is not None and snap.longitude is not None:
                point = (snap.latitude, snap.longitude)
                if not drive.track or drive.track[-1] != point:
                    drive.track.append(point)
        if charging:
            if charge is None:
                charge = _Open(snap, snap, ts)
            charge.end = snap
            charge.last_active = ts
            power = state.num(POWER)
            if power is not None and (
                charge.max_power_w is None or abs(power) > abs(charge.max_power_w)
            ):
                charge.max_power_w = power

    current: float | None = None
    for ts, path, value in samples:
        if current is not None and ts != current:
            step(current)
            prev_ts = current
        current = ts
        state.values[path] = value
    if current is not None:
        step(current)
    if drive is not None:
        drives.append(_finish_drive(drive, closed=False))
    if charge is not None:
        charges.append(_finish_charge(charge, False, price_per_kwh))
    return drives, charges


async def refresh(session: AsyncSession, vin: str, *, stop_s: float, price_per_kwh: float) -> None:
    """Bring the vehicle's drives and charges up to date with its telemetry (call inside a
    transaction; one refresher per vehicle at a time)."""
    open_start = None
    for model in (db.Drive, db.Charge):
        start = await session.scalar(
            select(func.min(model.start_ts)).where(model.vin == vin, model.closed.is_(False))
        )
        if start is not None:
            open_start = start if open_start is None else min(open_start, start)
    point = db.TelemetryPoint
    if open_start is not None:
        since, inclusive = open_start, True
        await session.execute(
            delete(db.Drive).where(db.Drive.vin == vin, db.Drive.start_ts >= since)
        )
        await session.execute(
            delete(db.Charge).where(db.Charge.vin == vin, db.Charge.start_ts >= since)
        )
    else:
        ends = [
            await session.scalar(select(func.max(model.end_ts)).where(model.vin == vin))
            for model in (db.Drive, db.Charge)
        ]
        known = [e for e in ends if e is not None]
        since, inclusive = (max(known) if known else -math.inf), False
    seed: dict[str, float | bool | None] = {}
    if math.isfinite(since):
        for path in PATHS:
            row = (
                await session.execute(
                    select(point.kind, point.num, point.txt)
                    .where(point.vin == vin, point.path == path, point.ts < since)
                    .order_by(point.ts.desc())
                    .limit(1)
                )
            ).first()
            if row is not None:
                value = join_value(row[0], row[1], row[2])
                seed[path] = None if isinstance(value, str) else value
    condition = point.ts >= since if inclusive else point.ts > since
    rows = await session.execute(
        select(point.ts, point.path, point.kind, point.num, point.txt)
        .where(point.vin == vin, point.path.in_(PATHS), condition)
        .order_by(point.ts, point.id)
    )
    samples = []
    for ts, path, kind, num, txt in rows:
        value = join_value(kind, num, txt)
        samples.append((ts, path, None if isinstance(value, str) else value))
    drives, charges = segment(samples, stop_s=stop_s, price_per_kwh=price_per_kwh, seed=seed)
    for d in drives:
        session.add(
            db.Drive(
                vin=vin,
                start_ts=d.start.ts,
                end_ts=d.end.ts,
                closed=d.closed,
                distance_km=d.distance_km,
                energy_kwh=d.energy_kwh,
                efficiency_wh_km=d.efficiency_wh_km,
                start_soc=d.start.soc,
                end_soc=d.end.soc,
                max_speed_kmh=d.max_speed_kmh,
                track=[list(p) for p in d.track],
            )
        )
    for c in charges:
        session.add(
            db.Charge(
                vin=vin,
                start_ts=c.start.ts,
                end_ts=c.end.ts,
                closed=c.closed,
                energy_added_kwh=c.energy_added_kwh,
                cost=c.cost,
                start_soc=c.start.soc,
                end_soc=c.end.soc,
                max_power_kw=c.max_power_kw,
                latitude=c.start.latitude,
                longitude=c.start.longitude,
            )
        )
