"""Drive cycles as data, and a cycle run that follows the trace and reports the consumption.

The WLTC class 3b speed trace is that of UN GTR No. 15 (Annex 1): 1800 s at 1 Hz in four phases
(low 0-589 s, medium 590-1022 s, high 1023-1477 s, extra-high 1478-1800 s), 23.27 km, 131.3 km/h
at most. It ships as ``data/cycles/wltc_class3b.csv`` (columns time_s, speed_kmh, phase).

`run_cycle` drives a profile along a cycle with the `SpeedController` under WLTP test conditions
by default: 23 °C, no HVAC, the UN GTR No. 15 test mass (`VehicleProfile.wltp_test_mass_kg`),
starting at 80 % state of charge (so regeneration is not cut by a full battery).
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Final

from carmind.errors import CarmindError
from carmind.vehicle.controller import SpeedController
from carmind.vehicle.dynamics import (
    Road,
    SimulationInputError,
    initial_state,
    step,
)
from carmind.vehicle.profiles import VehicleProfile

__all__ = [
    "CycleError",
    "CyclePhase",
    "CycleResult",
    "DriveCycle",
    "UnknownCycleError",
    "cycle_names",
    "load_cycle",
    "run_cycle",
]

log = logging.getLogger(__name__)

#: Cycle names (and aliases) to their data files.
_CYCLES: Final[dict[str, tuple[str, str]]] = {
    "wltc": ("wltc_class3b.csv", "WLTC class 3b"),
}
_ALIASES: Final[dict[str, str]] = {"wltc3b": "wltc", "wltc-class3b": "wltc", "wltp": "wltc"}

#: Controller settings for following a test trace: tight, with bounds a test driver respects.
_TRACE_KP: Final = 2.0
_TRACE_KI: Final = 0.5
_TRACE_MAX_ACCEL: Final = 4.0
_TRACE_MAX_DECEL: Final = 5.0
_TRACE_MAX_JERK: Final = 20.0
#: Start a cycle at this state of charge: regeneration is not cut by a full battery.
CYCLE_START_SOC_PCT: Final = 80.0


class CycleError(CarmindError):
    """A drive-cycle file is malformed."""


class UnknownCycleError(CarmindError):
    """No cycle has the requested name: the message lists the known ones."""

    def __init__(self, name: str) -> None:
        self.name = name
        known = sorted([*_CYCLES, *_ALIASES])
        super().__init__(f"unknown drive cycle {name!r}; expected one of: {', '.join(known)}")


@dataclass(frozen=True, slots=True)
class CyclePhase:
    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class DriveCycle:
    """A speed trace: times (s, rising) and speeds (km/h), with named phases."""

    name: str
    time_s: tuple[float, ...]
    speed_kmh: tuple[float, ...]
    phases: tuple[CyclePhase, ...]

    @property
    def duration_s(self) -> float:
        return self.time_s[-1] - self.time_s[0]

    @property
    def distance_km(self) -> float:
        """Distance of the trace (trapezoidal integration of speed over time)."""
        total = 0.0
        for i in range(1, len(self.time_s)):
            total += (
                0.5
                * (self.speed_kmh[i] + self.speed_kmh[i - 1])
                * (self.time_s[i] - self.time_s[i - 1])
            )
        return total / 3600.0

    @property
    def max_speed_kmh(self) -> float:
        return max(self.speed_kmh)

    def speed_at(self, t: float) -> float:
        """Speed in km/h at time ``t`` (linear between samples, held beyond the ends)."""
        times = self.time_s
        if t <= times[0]:
            return self.speed_kmh[0]
        if t >= times[-1]:
            return self.speed_kmh[-1]
        i = bisect.bisect_right(times, t)
        t0, t1 = times[i - 1], times[i]
        v0, v1 = self.speed_kmh[i - 1], self.speed_kmh[i]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


@dataclass(frozen=True, slots=True)
class CycleResult:
    """What a cycle run measured. Energies are at the battery; consumption per driven distance."""

    profile_id: str
    cycle: str
    distance_km: float
    trace_distance_km: float
    duration_s: float
    energy_kwh: float
    traction_energy_kwh: float
    regen_energy_kwh: float
    aux_energy_kwh: float
    consumption_kwh_per_100km: float
    implied_range_km: float
    max_speed_error_kmh: float
    rms_speed_error_kmh: float
    test_mass_kg: float
    final_soc_pct: float
    final_motor_temp_c: float
    final_battery_temp_c: float


def cycle_names() -> list[str]:
    """The cycle names `load_cycle` knows, aliases included."""
    return sorted([*_CYCLES, *_ALIASES])


def _parse_cycle(name: str, title: str, text: str) -> DriveCycle:
    times: list[float] = []
    speeds: list[float] = []
    phase_rows: list[tuple[str, float]] = []
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != ["time_s", "speed_kmh", "phase"]:
        raise CycleError(
            f"{name}: expected the columns time_s,speed_kmh,phase, got {reader.fieldnames!r}"
        )
    for line, row in enumerate(reader, start=2):
        try:
            t, v = float(row["time_s"]), float(row["speed_kmh"])
        except (TypeError, ValueError) as exc:
            raise CycleError(f"{name}: line {line}: expected numbers, got {row!r}") from exc
        if not (math.isfinite(t) and math.isfinite(v) and v >= 0.0):
            raise CycleError(f"{name}: line {line}: expected a speed of 0 or more, got {v!r}")
        if times and t <= times[-1]:
            raise CycleError(f"{name}: line {line}: times must rise, got {t!r} after {times[-1]!r}")
        times.append(t)
        speeds.append(v)
        phase = row["phase"] or ""
        if not phase_rows or phase_rows[-1][0] != phase:
            phase_rows.append((phase, t))
    if len(times) < 2:
        raise CycleError(f"{name}: expected at least two samples, got {len(times)}")
    phases = tuple(
        CyclePhase(ph, start, phase_rows[i + 1][1] if i + 1 < len(phase_rows) else times[-1])
        for i, (ph, start) in enumerate(phase_rows)
    )
    return DriveCycle(title, tuple(times), tuple(speeds), phases)


@functools.cache
def _load(canonical: str) -> DriveCycle:
    filename, title = _CYCLES[canonical]
    text = (resources.files("carmind.vehicle") / "data" / "cycles" / filename).read_text("utf-8")
    return _parse_cycle(filename, title, text)


def load_cycle(name: str) -> DriveCycle:
    """A packaged drive cycle by name: "wltc" (aliases "wltc3b", "wltc-class3b", "wltp")."""
    key = name.strip().lower()
    canonical = _ALIASES.get(key, key)
    if canonical not in _CYCLES:
        raise UnknownCycleError(name)
    return _load(canonical)


def run_cycle(
    profile: VehicleProfile,
    cycle: DriveCycle,
    dt: float = 0.1,
    ambient_c: float = 23.0,
    aux_power_w: float | None = None,
    progress: Callable[[float], None] | None = None,
    *,
    mass_kg: float | None = None,
    road: Road | None = None,
    initial_soc_pct: float = CYCLE_START_SOC_PCT,
) -> CycleResult:
    """Drive ``profile`` along ``cycle`` and report its consumption and implied range.

    Runs as fast as the CPU allows (about 0.5 s for the 30-minute WLTC). ``aux_power_w`` is extra
    auxiliary load (HVAC) on top of the profile's own; WLTP tests run with none. ``progress``, if
    given, is called with the share done (0..1) about a hundred times.
    """
    if not 0.001 <= dt <= 1.0:
        raise SimulationInputError(f"dt must be between 0.001 and 1 s, got {dt!r}")
    extra_aux = 0.0 if aux_power_w is None else aux_power_w
    if not 0.0 <= extra_aux <= 50_000.0:
        raise SimulationInputError(
            f"aux_power_w must be between 0 and 50000 W, got {aux_power_w!r}"
        )
    road = road if road is not None else Road()
    mass = profile.wltp_test_mass_kg if mass_kg is None else mass_kg
    controller = SpeedController(
        profile,
        kp=_TRACE_KP,
        ki=_TRACE_KI,
        max_accel_mps2=_TRACE_MAX_ACCEL,
        max_decel_mps2=_TRACE_MAX_DECEL,
        max_jerk_mps3=_TRACE_MAX_JERK,
        road=road,
        mass_kg=mass,
    )
    state = initial_state(profile, initial_soc_pct, ambient_c)
    start, duration = cycle.time_s[0], cycle.duration_s
    n_steps = max(1, round(duration / dt))
    report_every = max(1, n_steps // 100)
    max_err = 0.0
    sum_sq = 0.0
    speed_at = cycle.speed_at
    for i in range(n_steps):
        t = start + i * dt
        v_now = speed_at(t) / 3.6
        v_next = speed_at(t + dt) / 3.6
        drive = controller.update(v_next, state, dt, (v_next - v_now) / dt)
        state = step(profile, state, drive, road, dt, extra_aux, ambient_c, mass)
        err = abs(state.speed_mps - v_next) * 3.6
        if err > max_err:
            max_err = err
        sum_sq += err * err
        if progress is not None and i % report_every == 0:
            progress(i / n_steps)
    if progress is not None:
        progress(1.0)

    distance_km = state.distance_m / 1000.0
    energy = state.energy_used_kwh - state.energy_regen_kwh
    aux_kwh = (profile.aux_power_w + extra_aux) * n_steps * dt / 3.6e6
    consumption = energy / distance_km * 100.0 if distance_km > 0.0 else math.inf
    implied = profile.usable_battery_kwh / consumption * 100.0 if consumption > 0.0 else math.inf
    result = CycleResult(
        profile_id=profile.id,
        cycle=cycle.name,
        distance_km=distance_km,
        trace_distance_km=cycle.distance_km,
        duration_s=n_steps * dt,
        energy_kwh=energy,
        traction_energy_kwh=state.energy_used_kwh - aux_kwh,
        regen_energy_kwh=state.energy_regen_kwh,
        aux_energy_kwh=aux_kwh,
        consumption_kwh_per_100km=consumption,
        implied_range_km=implied,
        max_speed_error_kmh=max_err,
        rms_speed_error_kmh=math.sqrt(sum_sq / n_steps),
        test_mass_kg=mass,
        final_soc_pct=state.soc_pct,
        final_motor_temp_c=state.motor_temp_c,
        final_battery_temp_c=state.battery_temp_c,
    )
    log.debug("cycle %s with %s: %s", cycle.name, profile.id, result)
    return result
