"""Battery: DC charging along the profile's curve, charge times, and the range estimate.

The charging curve gives the DC power the car accepts at each state of charge (linear between
points); a charger delivers the lesser of that and its own rating. Auxiliary loads while charging
are met by the charger first, so they slow charging down. The range estimate divides the energy
left by a recent consumption average, or by the profile's rated consumption before there is one.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import replace
from typing import Final

from carmind.vehicle.dynamics import (
    BATTERY_CONDUCTANCE_W_PER_K,
    BATTERY_HEAT_CAPACITY_J_PER_K_PER_KWH,
    BATTERY_LOSS_AT_1C,
    MotionState,
    SimulationInputError,
)
from carmind.vehicle.profiles import VehicleProfile

__all__ = [
    "RecentConsumption",
    "charge_power_kw",
    "charge_step",
    "curve_power_kw",
    "estimate_range_km",
    "time_to_charge_s",
]

#: Integration step of `time_to_charge_s`, in % state of charge.
_SOC_STEP_PCT: Final = 0.05
#: `RecentConsumption` keeps one sample per this distance.
_SAMPLE_SPACING_M: Final = 10.0


def _check_soc(name: str, soc_pct: float) -> None:
    if not 0.0 <= soc_pct <= 100.0:
        raise SimulationInputError(f"{name} must be between 0 and 100 %, got {soc_pct!r}")


def _check_charger(charger_kw: float) -> None:
    if not (math.isfinite(charger_kw) and 0.0 <= charger_kw <= 2000.0):
        raise SimulationInputError(f"charger_kw must be between 0 and 2000 kW, got {charger_kw!r}")


def curve_power_kw(profile: VehicleProfile, soc_pct: float) -> float:
    """The DC power the car accepts at ``soc_pct`` (linear between the curve's points)."""
    _check_soc("soc_pct", soc_pct)
    curve = profile.charging_curve
    for (s0, p0), (s1, p1) in itertools.pairwise(curve):
        if soc_pct <= s1:
            return p0 + (p1 - p0) * (soc_pct - s0) / (s1 - s0)
    return curve[-1][1]


def charge_power_kw(profile: VehicleProfile, soc_pct: float, charger_kw: float) -> float:
    """Power into the car from a charger rated ``charger_kw``: min(curve(soc), charger)."""
    _check_charger(charger_kw)
    if soc_pct >= 100.0:
        _check_soc("soc_pct", soc_pct)
        return 0.0
    return min(curve_power_kw(profile, soc_pct), charger_kw)


def charge_step(
    profile: VehicleProfile,
    state: MotionState,
    charger_kw: float,
    charge_limit_pct: float,
    dt: float,
    aux_power_w: float = 0.0,
    ambient_c: float = 20.0,
) -> MotionState:
    """Advance a standing, plugged-in car by ``dt`` seconds of charging, up to the limit.

    The charger feeds the auxiliary loads (the profile's and ``aux_power_w``) first and the
    battery with the rest; at the limit it only feeds the loads. ``battery_power_kw`` is negative
    while charging.
    """
    _check_charger(charger_kw)
    _check_soc("charge_limit_pct", charge_limit_pct)
    if not 0.0 < dt <= 3600.0:
        raise SimulationInputError(f"dt must be above 0 and at most 3600 s, got {dt!r}")
    if not 0.0 <= aux_power_w <= 50_000.0:
        raise SimulationInputError(
            f"aux_power_w must be between 0 and 50000 W, got {aux_power_w!r}"
        )
    if state.speed_mps > 0.0:
        raise SimulationInputError(
            f"a car charges standing still, but speed_mps is {state.speed_mps!r}"
        )
    aux_kw = (profile.aux_power_w + aux_power_w) / 1000.0
    soc = state.soc_pct
    usable = profile.usable_battery_kwh
    into_battery = 0.0
    if soc < charge_limit_pct:
        supply = charge_power_kw(profile, soc, charger_kw)
        into_battery = supply - aux_kw
        room_kwh = (charge_limit_pct - soc) / 100.0 * usable
        if into_battery * dt / 3600.0 > room_kwh:
            into_battery = room_kwh * 3600.0 / dt
    elif charger_kw <= aux_kw:
        into_battery = charger_kw - aux_kw
    soc_new = min(100.0, max(0.0, soc + into_battery * dt / 3600.0 / usable * 100.0))

    capacity = BATTERY_HEAT_CAPACITY_J_PER_K_PER_KWH * usable
    loss_w = BATTERY_LOSS_AT_1C * (into_battery * 1000.0) ** 2 / (usable * 1000.0)
    t_bat = state.battery_temp_c + (
        (loss_w - (state.battery_temp_c - ambient_c) * BATTERY_CONDUCTANCE_W_PER_K) * dt / capacity
    )
    drawn = -into_battery if into_battery < 0.0 else 0.0
    charged = into_battery if into_battery > 0.0 else 0.0
    return replace(
        state,
        time_s=state.time_s + dt,
        acceleration_mps2=0.0,
        soc_pct=soc_new,
        battery_power_kw=-into_battery,
        motor_power_kw=0.0,
        motor_torque_nm=0.0,
        motor_speed_rpm=0.0,
        battery_temp_c=t_bat,
        energy_used_kwh=state.energy_used_kwh + drawn * dt / 3600.0,
        energy_charged_kwh=state.energy_charged_kwh + charged * dt / 3600.0,
        regen_power_kw=0.0,
        friction_brake_power_kw=0.0,
    )


def time_to_charge_s(
    profile: VehicleProfile, soc_from: float, soc_to: float, charger_kw: float
) -> float:
    """Seconds to charge from ``soc_from`` to ``soc_to`` % on a charger rated ``charger_kw``.

    Auxiliary loads are not counted (the figure makers quote). Zero when ``soc_to`` is not above
    ``soc_from``; `SimulationInputError` when the charger delivers nothing.
    """
    _check_soc("soc_from", soc_from)
    _check_soc("soc_to", soc_to)
    _check_charger(charger_kw)
    if soc_to <= soc_from:
        return 0.0
    if charger_kw <= 0.0:
        raise SimulationInputError(f"charger_kw must be above 0 to charge, got {charger_kw!r}")
    kwh_per_pct = profile.usable_battery_kwh / 100.0
    seconds = 0.0
    soc = soc_from
    while soc < soc_to:
        h = min(_SOC_STEP_PCT, soc_to - soc)
        power = charge_power_kw(profile, min(soc + h / 2.0, 100.0), charger_kw)
        if power <= 0.0:
            raise SimulationInputError(
                f"{profile.id} accepts no charging power at {soc:.1f} %; cannot reach {soc_to!r} %"
            )
        seconds += h * kwh_per_pct / power * 3600.0
        soc += h
    return seconds


def estimate_range_km(
    profile: VehicleProfile, soc_pct: float, recent_kwh_per_100km: float | None
) -> float:
    """Range left: usable energy at ``soc_pct`` / consumption (recent, else the rated one)."""
    _check_soc("soc_pct", soc_pct)
    consumption = recent_kwh_per_100km
    if consumption is None:
        consumption = profile.rated_consumption_kwh_per_100km
    elif not (math.isfinite(consumption) and consumption > 0.0):
        raise SimulationInputError(
            f"recent_kwh_per_100km must be a positive number or None, got {consumption!r}"
        )
    return profile.usable_battery_kwh * soc_pct / 100.0 / consumption * 100.0


class RecentConsumption:
    """Average consumption over the last ``window_km`` driven, from successive `MotionState`s.

    Feed it every state (or every few); `kwh_per_100km` is None until ``min_km`` is covered, so
    `estimate_range_km` falls back to the rated consumption until then.
    """

    def __init__(self, window_km: float = 25.0, min_km: float = 1.0) -> None:
        if not (math.isfinite(window_km) and window_km > 0.0):
            raise SimulationInputError(f"window_km must be above 0, got {window_km!r}")
        if not (math.isfinite(min_km) and 0.0 <= min_km <= window_km):
            raise SimulationInputError(
                f"min_km must be between 0 and window_km ({window_km!r}), got {min_km!r}"
            )
        self.window_m = window_km * 1000.0
        self.min_m = min_km * 1000.0
        self._samples: deque[tuple[float, float]] = deque()

    def reset(self) -> None:
        self._samples.clear()

    def add(self, state: MotionState) -> None:
        """Record the distance and net battery energy of ``state``."""
        energy = state.energy_used_kwh - state.energy_regen_kwh
        samples = self._samples
        if samples and state.distance_m < samples[-1][0]:
            samples.clear()  # a new trip: the counters went back
        if len(samples) >= 2 and state.distance_m - samples[-2][0] < _SAMPLE_SPACING_M:
            samples[-1] = (state.distance_m, energy)  # keep samples ~10 m apart
        else:
            samples.append((state.distance_m, energy))
        while len(samples) > 2 and samples[-1][0] - samples[1][0] >= self.window_m:
            samples.popleft()

    @property
    def kwh_per_100km(self) -> float | None:
        samples = self._samples
        if len(samples) < 2:
            return None
        distance = samples[-1][0] - samples[0][0]
        if distance < self.min_m or distance <= 0.0:
            return None
        energy = samples[-1][1] - samples[0][1]
        return max(energy, 0.0) / distance * 1000.0 * 100.0
