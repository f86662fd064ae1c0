"""Energy of a drive and time of a charge, from a vehicle profile and the simulated car's physics.

A route is a list of `Segment`s (one per road edge: length, speed, grade). Driving a segment at
its speed takes the road load of `carmind.vehicle.dynamics` (aerodynamic drag at the air density
of the outside temperature, rolling resistance, grade) through the profile's drivetrain
efficiency; downhill the motor regenerates, up to the profile's regeneration limit. Speed changes
between segments, and the start and the stop of a leg, cost or return the kinetic energy of the
car's effective mass (wheels and rotors included). The profile's auxiliary load and the cabin's
HVAC power run for the time spent driving.

The HVAC power comes from the cabin model of `carmind.vehicle.thermal`: a cabin soaked to the
outside temperature, held at `CABIN_TARGET_C` by an automatic climate control, which runs the
blower at the lowest setting that reaches the target. A trip starts with a soaked cabin, so its
first hour draws the warm-up (or cool-down) power; afterwards the cabin draws its steady power,
also while the car charges, when the charger supplies it (as `carmind.vehicle.battery` does).

Charging follows the profile's DC charging curve, capped by the charger's rating; an AC charger
is further capped by the car's on-board charger. `ChargeTable` holds the cumulative charging
time over state of charge for one charger, so the time between any two states is a difference.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from carmind.navigation.errors import TripError
from carmind.vehicle import dynamics
from carmind.vehicle.battery import charge_power_kw
from carmind.vehicle.profiles import VehicleProfile
from carmind.vehicle.thermal import CabinParameters, HvacSettings, cabin_step, initial_cabin

__all__ = [
    "CABIN_TARGET_C",
    "ChargeTable",
    "Conditions",
    "ConsumptionModel",
    "EnergyProfile",
    "HvacLoad",
    "LegEnergy",
    "Segment",
    "air_density",
    "hvac_load",
]

CABIN_TARGET_C: Final = 22.0
"""The cabin temperature the climate control holds on a trip (the simulated car's default)."""
MIN_AMBIENT_C: Final = -40.0
MAX_AMBIENT_C: Final = 50.0
"""Outside temperatures a trip can be planned for."""
WARMUP_S: Final = 3600.0
"""How long the cabin model runs from a soaked cabin before its power counts as steady."""
HVAC_STEP_S: Final = 60.0
"""Resolution of the HVAC power over time."""
FAN_STEPS_PCT: Final = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0)
"""Blower settings the automatic climate control chooses from, lowest first."""
TARGET_TOLERANCE_K: Final = 0.5
"""The climate control's blower is high enough once the cabin settles this close to target."""
SEA_LEVEL_PRESSURE_PA: Final = 101_325.0
GAS_CONSTANT_AIR: Final = 287.05
"""Specific gas constant of dry air, J/(kg K)."""
CHARGE_STEP_PCT: Final = 0.05
"""Integration step of `ChargeTable`, in % state of charge."""


def air_density(ambient_c: float) -> float:
    """Dry air at sea-level pressure and `ambient_c` (ideal gas), kg/m³: 1.204 at 20 °C."""
    return SEA_LEVEL_PRESSURE_PA / (GAS_CONSTANT_AIR * (ambient_c + 273.15))


@dataclass(frozen=True)
class Conditions:
    """What the trip is driven in: outside temperature and whether the HVAC runs."""

    ambient_c: float = 20.0
    hvac: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ambient_c) and MIN_AMBIENT_C <= self.ambient_c <= MAX_AMBIENT_C):
            raise TripError(
                f"outside temperature {self.ambient_c!r} °C is out of range: give "
                f"{MIN_AMBIENT_C:g}..{MAX_AMBIENT_C:g} °C"
            )


@dataclass(frozen=True)
class HvacLoad:
    """The HVAC's electric power over trip time, from a soaked cabin at the start."""

    warmup_w: tuple[float, ...]
    """Mean power of each `HVAC_STEP_S` interval of the first `WARMUP_S` seconds."""
    steady_w: float
    """Power afterwards, with the cabin held at its settled temperature."""
    fan_pct: float
    """The blower setting the climate control chose (0: HVAC off)."""

    def energy_j(self, start_s: float, end_s: float) -> float:
        """Energy drawn between trip times `start_s` and `end_s` (seconds)."""
        if end_s <= start_s:
            return 0.0
        energy = 0.0
        t = start_s
        step = HVAC_STEP_S
        while t < end_s and t < len(self.warmup_w) * step:
            index = int(t // step)
            upto = min(end_s, (index + 1) * step)
            energy += self.warmup_w[index] * (upto - t)
            t = upto
        if t < end_s:
            energy += self.steady_w * (end_s - t)
        return energy


@functools.cache
def hvac_load(ambient_c: float, enabled: bool = True) -> HvacLoad:
    """The cabin's HVAC power on a trip at `ambient_c`, from `carmind.vehicle.thermal`."""
    if not enabled:
        return HvacLoad((), 0.0, 0.0)
    params = CabinParameters()
    steps = round(WARMUP_S / HVAC_STEP_S)
    chosen: HvacLoad | None = None
    for fan in FAN_STEPS_PCT:
        settings = HvacSettings.uniform(CABIN_TARGET_C, fan)
        state = initial_cabin(ambient_c)
        powers: list[float] = []
        for _ in range(steps):
            state = cabin_step(params, state, settings, ambient_c, HVAC_STEP_S)
            powers.append(state.hvac_power_w)
        chosen = HvacLoad(tuple(powers), powers[-1], fan)
        if abs(state.cabin_temp_c - CABIN_TARGET_C) <= TARGET_TOLERANCE_K:
            break
    assert chosen is not None
    return chosen


@dataclass(frozen=True)
class Segment:
    """One stretch of road driven at one speed."""

    length_m: float
    speed_kmh: float
    grade_pct: float = 0.0


@dataclass(frozen=True)
class LegEnergy:
    """Energy of driving one leg, from the battery."""

    energy_kwh: float
    """Net energy drawn over the leg (regeneration subtracted)."""
    peak_kwh: float
    """The most drawn at any point of the leg: the state of charge is lowest there."""
    driving_s: float
    """Time at the segments' speeds (the router's time adds turns and junctions)."""
    distance_m: float


@dataclass(frozen=True)
class EnergyProfile:
    """Energy drawn along a drive, at its start and at the end of each segment."""

    distance_m: tuple[float, ...]
    energy_j: tuple[float, ...]
    """Net battery energy drawn so far (regeneration subtracted)."""
    driving_s: float
    end_speed_mps: float
    peak_j: float
    """The most drawn at any point, speeding up into a segment included."""


class ConsumptionModel:
    """Battery energy of driving for one profile in one set of conditions."""

    def __init__(self, profile: VehicleProfile, conditions: Conditions) -> None:
        self.profile = profile
        self.conditions = conditions
        self.hvac = hvac_load(conditions.ambient_c, conditions.hvac)
        self.mass_kg = profile.mass_with_driver_kg
        self.effective_mass_kg = self.mass_kg * dynamics.rotational_inertia_factor(profile)
        self.efficiency = profile.drivetrain_efficiency
        self._rho = air_density(conditions.ambient_c)
        self._state = dynamics.initial_state(profile, 50.0, conditions.ambient_c)
        self._load_cache: dict[tuple[float, float], float] = {}

    @property
    def aux_w(self) -> float:
        """Steady auxiliary power: the profile's own load and the settled HVAC."""
        return self.profile.aux_power_w + self.hvac.steady_w

    def road_load_n(self, speed_kmh: float, grade_pct: float) -> float:
        """Drag, rolling resistance and grade at a steady `speed_kmh`, from the car's dynamics."""
        key = (speed_kmh, grade_pct)
        load = self._load_cache.get(key)
        if load is None:
            state = dynamics.with_speed(self._state, speed_kmh / 3.6)
            road = dynamics.Road(
                grade_pct=max(-100.0, min(100.0, grade_pct)), air_density=self._rho
            )
            load = dynamics.force_limits(self.profile, state, road, self.mass_kg).road_load_n
            self._load_cache[key] = load
        return load

    def _wheel_to_battery_j(self, wheel_j: float, power_w: float) -> float:
        """Battery energy for `wheel_j` at the wheels (negative: regenerated) at `power_w`."""
        if wheel_j >= 0.0:
            return wheel_j / self.efficiency
        cap_w = self.profile.regen_limit_kw * 1000.0 / self.efficiency
        share = 1.0 if power_w <= cap_w else cap_w / power_w
        return wheel_j * share * self.efficiency

    def profile_along(
        self, segments: Sequence[Segment], start_s: float | None = 0.0
    ) -> EnergyProfile:
        """Energy drawn along `segments`, driven from standstill (the final stop not included)."""
        top = self.profile.top_speed_limit_kmh
        used = peak = 0.0
        t = start_s if start_s is not None else WARMUP_S
        t0 = t
        v_prev = 0.0
        m_eff = self.effective_mass_kg
        distances, energies = [0.0], [0.0]
        for seg in segments:
            if seg.length_m <= 0.0:
                continue
            speed = min(max(seg.speed_kmh, 5.0), top)
            v = speed / 3.6
            used += self._wheel_to_battery_j(0.5 * m_eff * (v * v - v_prev * v_prev), 0.0)
            peak = max(peak, used)
            duration = seg.length_m / v
            load_n = self.road_load_n(speed, seg.grade_pct)
            used += self._wheel_to_battery_j(load_n * seg.length_m, abs(load_n) * v)
            used += self.profile.aux_power_w * duration + self.hvac.energy_j(t, t + duration)
            t += duration
            v_prev = v
            distances.append(distances[-1] + seg.length_m)
            energies.append(used)
            peak = max(peak, used)
        return EnergyProfile(tuple(distances), tuple(energies), t - t0, v_prev, peak)

    def leg(self, segments: Sequence[Segment], start_s: float | None = 0.0) -> LegEnergy:
        """Drive `segments` from standstill to standstill.

        `start_s` is the trip time at the leg's start, for the HVAC warm-up; None: the cabin is
        already at its steady temperature (a leg that starts after a charging stop).
        """
        along = self.profile_along(segments, start_s)
        v = along.end_speed_mps
        stop = self._wheel_to_battery_j(-0.5 * self.effective_mass_kg * v * v, 0.0)
        used = along.energy_j[-1] + stop
        peak = max(along.peak_j, used)
        return LegEnergy(used / 3.6e6, peak / 3.6e6, along.driving_s, along.distance_m[-1])


@functools.cache
def _charge_table(
    profile: VehicleProfile, charger_kw: float, ac: bool, aux_w: float
) -> tuple[float, ...]:
    steps = round(100.0 / CHARGE_STEP_PCT)
    kwh_per_step = profile.usable_battery_kwh * CHARGE_STEP_PCT / 100.0
    limit = min(charger_kw, profile.max_ac_charge_kw) if ac else charger_kw
    seconds = [0.0]
    total = 0.0
    for i in range(steps):
        soc = (i + 0.5) * CHARGE_STEP_PCT
        net_kw = charge_power_kw(profile, soc, limit) - aux_w / 1000.0
        total = total + kwh_per_step / net_kw * 3600.0 if net_kw > 0.0 else math.inf
        seconds.append(total)
    return tuple(seconds)


class ChargeTable:
    """Charging time between states of charge on one charger, auxiliary loads fed first."""

    def __init__(
        self, profile: VehicleProfile, charger_kw: float, *, ac: bool = False, aux_w: float = 0.0
    ) -> None:
        self.profile = profile
        self.charger_kw = charger_kw
        self.ac = ac
        self._cumulative = _charge_table(profile, charger_kw, ac, aux_w)

    @property
    def power_kw(self) -> float:
        """The most this charger puts into this car."""
        limit = min(self.charger_kw, self.profile.max_ac_charge_kw) if self.ac else self.charger_kw
        return min(limit, self.profile.max_dc_charge_kw)

    def cumulative_s(self, soc_pct: float) -> float:
        """Seconds from 0 % to `soc_pct` (infinite where the charger cannot reach it)."""
        table = self._cumulative
        x = min(max(soc_pct, 0.0), 100.0) / CHARGE_STEP_PCT
        i = min(int(x), len(table) - 2)
        lo, hi = table[i], table[i + 1]
        if math.isinf(hi):
            return hi if x > i else lo
        return lo + (hi - lo) * (x - i)

    def seconds(self, soc_from: float, soc_to: float) -> float:
        """Seconds to charge from `soc_from` to `soc_to` %; 0 when `soc_to` is not above it."""
        if soc_to <= soc_from:
            return 0.0
        return self.cumulative_s(soc_to) - self.cumulative_s(soc_from)

    def reachable_soc(self) -> float:
        """The highest state of charge this charger reaches (100 unless the loads eat it all)."""
        table = self._cumulative
        first_inf = bisect.bisect_left([0 if math.isfinite(s) else 1 for s in table], 1)
        return min(100.0, (first_inf - 1) * CHARGE_STEP_PCT)
