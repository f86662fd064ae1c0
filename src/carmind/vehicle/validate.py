"""Validation of the model against the makers' published figures.

For each profile: the 0-100 km/h time and the top speed from `accel_test` (full pedal from
standstill, flat road, curb mass + 75 kg driver, 90 % state of charge, 23 °C), and the range
implied by one WLTC class 3b run at the WLTP test mass (`run_cycle`), each next to the
published figure with the relative error. Targets: 0-100 within 10 %, top speed within 3 %, WLTP
range within 8 % for the profiles with a published WLTP figure. Profiles with only a CLTC figure
(China) show the simulated WLTC range next to it for information: CLTC is a gentler cycle and its
ranges run some 10-20 % above WLTP, so there is no target.

Nothing in the profiles is fitted to these figures; a miss is a finding, not a tuning task.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Final

from carmind.vehicle.cycles import load_cycle, run_cycle
from carmind.vehicle.dynamics import (
    DriveInput,
    MotionState,
    Road,
    SimulationInputError,
    initial_state,
    step,
)
from carmind.vehicle.profiles import VehicleProfile, load_profiles

__all__ = [
    "ACCEL_TARGET_PCT",
    "TOP_SPEED_TARGET_PCT",
    "WLTP_RANGE_TARGET_PCT",
    "AccelResult",
    "ValidationRow",
    "accel_test",
    "format_table",
    "validate_all",
    "validate_profile",
]

log = logging.getLogger(__name__)

ACCEL_TARGET_PCT: Final = 10.0
TOP_SPEED_TARGET_PCT: Final = 3.0
WLTP_RANGE_TARGET_PCT: Final = 8.0

#: State of charge and ambient temperature of the acceleration test.
ACCEL_TEST_SOC_PCT: Final = 90.0
ACCEL_TEST_AMBIENT_C: Final = 23.0
#: Once past 100 km/h the run continues with this (coarser) step to find the top speed.
_TOP_SPEED_DT: Final = 0.05
#: The speed is taken as settled once the acceleration stays below this for `_SETTLE_S`.
_SETTLED_MPS2: Final = 0.005
_SETTLE_S: Final = 2.0
_MAX_RUN_S: Final = 900.0
_KMH_100: Final = 100.0 / 3.6
#: Limiter setting for the "what if unlimited" run.
_NO_LIMIT_KMH: Final = 500.0


@dataclass(frozen=True, slots=True)
class AccelResult:
    """Result of a full-pedal run. ``launch_limited_by`` bound the traction longest to 100 km/h."""

    profile_id: str
    zero_to_100_s: float | None
    top_speed_kmh: float
    top_speed_limited_by: str  # "limiter" | "power" | "motor speed"
    launch_limited_by: str
    mass_kg: float
    unlimited_top_speed_kmh: float
    unlimited_limited_by: str  # what would bind without the electronic limiter


@dataclass(frozen=True, slots=True)
class ValidationRow:
    """One profile's simulated figures next to the published ones."""

    profile_id: str
    name: str
    accel_simulated_s: float | None
    accel_published_s: float
    accel_error_pct: float | None
    accel_target_pct: float
    accel_passed: bool
    top_speed_simulated_kmh: float
    top_speed_published_kmh: float
    top_speed_error_pct: float
    top_speed_target_pct: float
    top_speed_passed: bool
    top_speed_limited_by: str
    launch_limited_by: str
    range_kind: str  # "WLTP" | "CLTC"
    range_simulated_km: float
    range_published_km: float
    range_error_pct: float
    range_target_pct: float | None
    range_passed: bool | None
    consumption_kwh_per_100km: float

    @property
    def passed(self) -> bool:
        """Every figure with a target is within it."""
        return self.accel_passed and self.top_speed_passed and self.range_passed is not False


def accel_test(profile: VehicleProfile, dt: float = 0.01) -> AccelResult:
    """Full pedal from standstill on a flat road: 0-100 km/h time and the settled top speed."""
    if not 0.0005 <= dt <= 0.1:
        raise SimulationInputError(f"dt must be between 0.0005 and 0.1 s, got {dt!r}")
    road = Road()
    floor = DriveInput(1.0, 0.0)
    mass = profile.mass_with_driver_kg
    state = initial_state(profile, ACCEL_TEST_SOC_PCT, ACCEL_TEST_AMBIENT_C)
    zero_to_100: float | None = None
    limit_time: dict[str, float] = {}
    settled_for = 0.0
    while state.time_s < _MAX_RUN_S:
        h = dt if zero_to_100 is None else max(dt, _TOP_SPEED_DT)
        before = state
        state = step(profile, state, floor, road, h, 0.0, ACCEL_TEST_AMBIENT_C, mass)
        if zero_to_100 is None:
            limit_time[state.traction_limit] = limit_time.get(state.traction_limit, 0.0) + h
            if state.speed_mps >= _KMH_100:
                share = (_KMH_100 - before.speed_mps) / (state.speed_mps - before.speed_mps)
                zero_to_100 = before.time_s + share * h
            continue
        settled_for = settled_for + h if abs(state.acceleration_mps2) < _SETTLED_MPS2 else 0.0
        if settled_for >= _SETTLE_S:
            break
    if zero_to_100 is None and state.speed_mps < _KMH_100:
        log.info("%s does not reach 100 km/h", profile.id)
    limited_by = _top_speed_bound(state.traction_limit)
    launch = max(limit_time, key=lambda k: limit_time[k]) if limit_time else "torque"
    top_speed = state.speed_kmh
    unlimited, unlimited_by = top_speed, limited_by
    if limited_by == "limiter":
        free = replace(profile, top_speed_limit_kmh=_NO_LIMIT_KMH)
        unlimited_state = _settle(free, state, max(dt, _TOP_SPEED_DT), mass)
        unlimited = unlimited_state.speed_kmh
        unlimited_by = _top_speed_bound(unlimited_state.traction_limit)
    return AccelResult(
        profile_id=profile.id,
        zero_to_100_s=zero_to_100,
        top_speed_kmh=top_speed,
        top_speed_limited_by=limited_by,
        launch_limited_by=launch,
        mass_kg=mass,
        unlimited_top_speed_kmh=unlimited,
        unlimited_limited_by=unlimited_by,
    )


def _top_speed_bound(traction_limit: str) -> str:
    return traction_limit if traction_limit in ("limiter", "motor speed") else "power"


def _settle(profile: VehicleProfile, state: MotionState, dt: float, mass: float) -> MotionState:
    """Full pedal from ``state`` until the speed settles."""
    floor = DriveInput(1.0, 0.0)
    road = Road()
    settled_for = 0.0
    end = state.time_s + _MAX_RUN_S
    while state.time_s < end:
        state = step(profile, state, floor, road, dt, 0.0, ACCEL_TEST_AMBIENT_C, mass)
        settled_for = settled_for + dt if abs(state.acceleration_mps2) < _SETTLED_MPS2 else 0.0
        if settled_for >= _SETTLE_S:
            break
    return state


def _error_pct(simulated: float, published: float) -> float:
    return (simulated - published) / published * 100.0


def validate_profile(profile: VehicleProfile) -> ValidationRow:
    """Simulate one profile's 0-100 time, top speed and range, next to the published figures."""
    accel = accel_test(profile)
    cycle = run_cycle(profile, load_cycle("wltc"))
    pub = profile.published
    accel_err = (
        None if accel.zero_to_100_s is None else _error_pct(accel.zero_to_100_s, pub.accel_0_100_s)
    )
    top_err = _error_pct(accel.top_speed_kmh, pub.top_speed_kmh)
    if pub.range_wltp_km is not None:
        kind, published_range, target = "WLTP", pub.range_wltp_km, WLTP_RANGE_TARGET_PCT
    else:
        assert pub.range_cltc_km is not None  # the loader requires one of the two
        kind, published_range, target = "CLTC", pub.range_cltc_km, None
    range_err = _error_pct(cycle.implied_range_km, published_range)
    return ValidationRow(
        profile_id=profile.id,
        name=profile.name,
        accel_simulated_s=accel.zero_to_100_s,
        accel_published_s=pub.accel_0_100_s,
        accel_error_pct=accel_err,
        accel_target_pct=ACCEL_TARGET_PCT,
        accel_passed=accel_err is not None and abs(accel_err) <= ACCEL_TARGET_PCT,
        top_speed_simulated_kmh=accel.top_speed_kmh,
        top_speed_published_kmh=pub.top_speed_kmh,
        top_speed_error_pct=top_err,
        top_speed_target_pct=TOP_SPEED_TARGET_PCT,
        top_speed_passed=abs(top_err) <= TOP_SPEED_TARGET_PCT,
        top_speed_limited_by=accel.top_speed_limited_by,
        launch_limited_by=accel.launch_limited_by,
        range_kind=kind,
        range_simulated_km=cycle.implied_range_km,
        range_published_km=published_range,
        range_error_pct=range_err,
        range_target_pct=target,
        range_passed=None if target is None else abs(range_err) <= target,
        consumption_kwh_per_100km=cycle.consumption_kwh_per_100km,
    )


def validate_all(
    progress: Callable[[float], None] | None = None,
    profiles: Iterable[VehicleProfile] | None = None,
) -> list[ValidationRow]:
    """`validate_profile` for every packaged profile (or the ones given), in id order."""
    chosen = (
        sorted(load_profiles().values(), key=lambda p: p.id) if profiles is None else list(profiles)
    )
    rows: list[ValidationRow] = []
    for i, profile in enumerate(chosen):
        rows.append(validate_profile(profile))
        if progress is not None:
            progress((i + 1) / len(chosen))
    return rows


def _fmt(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return f"{round(value, 1) + 0.0:.1f}"  # + 0.0 turns -0.0 into 0.0


def _mark(passed: bool | None) -> str:
    return "info" if passed is None else ("pass" if passed else "FAIL")


def format_table(rows: Iterable[ValidationRow]) -> str:
    """The rows as a Markdown table (simulated / published, error %, pass/fail)."""
    lines = [
        "| profile | 0-100 km/h s (sim / pub) | err % | | top speed km/h (sim / pub) | err % "
        "| | bound by | range km (sim WLTC / pub) | err % | | kWh/100 km |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.profile_id} "
            f"| {_fmt(r.accel_simulated_s, 2)} / {r.accel_published_s:.2f} "
            f"| {'-' if r.accel_error_pct is None else _pct(r.accel_error_pct)} "
            f"| {_mark(r.accel_passed)} "
            f"| {r.top_speed_simulated_kmh:.1f} / {r.top_speed_published_kmh:.0f} "
            f"| {_pct(r.top_speed_error_pct)} | {_mark(r.top_speed_passed)} "
            f"| {r.top_speed_limited_by} "
            f"| {r.range_simulated_km:.0f} / {r.range_published_km:.0f} {r.range_kind} "
            f"| {_pct(r.range_error_pct)} | {_mark(r.range_passed)} "
            f"| {r.consumption_kwh_per_100km:.2f} |"
        )
    return "\n".join(lines)
