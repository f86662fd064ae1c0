"""The cabin thermal model of the simulated car: a lumped heat balance with a climate controller.

One thermal node stands for the cabin air and the interior it warms with it (seats, dashboard,
trim): `heat_capacity_j_per_k`. Heat leaves through the body shell (`ua_w_per_k`) and with the
fresh air the blower draws in; sun comes in through the glass (`solar_w`). The HVAC (heat pump or
PTC heater, and the AC compressor for cooling) is driven toward the mean of the zone targets by a
feed-forward plus proportional controller, saturated at its capacity times the blower fraction,
and draws electric power = thermal / COP + blower + defrost heaters from the traction battery.

Each zone (VSS station `Row1.Driver` ... `Row2.Passenger`) is the cabin mean plus a small offset
toward its own target. Everything here is a pure function of its arguments; the reasons for every
default are in docs/vehicle-body-thermal.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from carmind.errors import CarmindError

STATIONS: Final = ("Row1.Driver", "Row1.Passenger", "Row2.Driver", "Row2.Passenger")
"""The HVAC stations (zones) this model knows, as VSS 5.1 names them under
`Vehicle.Cabin.HVAC.Station`."""

AIR_DISTRIBUTIONS: Final = ("UP", "MIDDLE", "DOWN")
"""VSS `Station.*.AirDistribution` values."""

DISTRIBUTION_ZONE_FACTOR: Final[Mapping[str, float]] = MappingProxyType(
    {"MIDDLE": 1.0, "DOWN": 0.8, "UP": 0.5}
)
"""How strongly a zone's own air reaches its occupant: face vents (MIDDLE) fully, foot vents
(DOWN) most of it, windscreen vents (UP) half; scales the zone offset."""

MIN_TARGET_C: Final = 15.0
MAX_TARGET_C: Final = 30.0
"""The settable target range (°C): covers the LO..HI ends of common cars (15/16 to 28-30 °C)."""

CP_AIR_J_PER_KG_K: Final = 1005.0
"""Specific heat of air at constant pressure."""

MAX_SUBSTEP_S: Final = 5.0
"""`cabin_step` splits longer steps into sub-steps of at most this length (s), so a controller
that leaves saturation within a step is followed closely whatever `dt` the caller uses."""


class ThermalError(CarmindError):
    """A thermal parameter, setting or input is out of range."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ThermalError(message)


@dataclass(frozen=True, slots=True)
class CabinParameters:
    """Physical parameters of one car's cabin and HVAC; the defaults fit a mid-size EV."""

    heat_capacity_j_per_k: float = 80_000.0
    """Effective heat capacity of cabin air plus the interior mass that warms with it."""
    ua_w_per_k: float = 110.0
    """Heat transfer through the body shell and glass, per kelvin inside-outside difference."""
    max_heating_w: float = 6_000.0
    """Thermal heating capacity at full blower (heat pump or PTC)."""
    max_cooling_w: float = 5_000.0
    """Thermal cooling capacity at full blower (AC compressor)."""
    cop_heating: float = 2.0
    """Heat delivered per electric watt while heating; 1.0 models a PTC heater."""
    cop_cooling: float = 2.5
    """Heat removed per electric watt while cooling."""
    fresh_air_kg_per_s: float = 0.05
    """Outside air drawn in at full blower in fresh-air mode (about 150 m³/h)."""
    recirculation_fresh_fraction: float = 0.2
    """Share of fresh air that remains with recirculation on (leaks, CO2 management)."""
    controller_gain_w_per_k: float = 1_000.0
    """Proportional gain of the climate controller, on top of its load feed-forward."""
    fan_min_w: float = 50.0
    """Blower electric power at the lowest speed."""
    fan_max_w: float = 300.0
    """Blower electric power at full speed."""
    front_defrost_w: float = 800.0
    """Electric power of the front defroster (heated windscreen or dehumidified warm air)."""
    rear_defrost_w: float = 250.0
    """Electric power of the rear window heating grid."""
    zone_gain: float = 0.6
    """Share of a zone's target difference from the mean target that the zone achieves."""
    zone_offset_max_k: float = 2.0
    """Largest difference a zone holds from the cabin mean (K)."""
    zone_time_constant_s: float = 60.0
    """How fast a zone offset follows its target (s)."""

    def __post_init__(self) -> None:
        for name in (
            "heat_capacity_j_per_k",
            "ua_w_per_k",
            "cop_heating",
            "cop_cooling",
            "zone_time_constant_s",
        ):
            value = getattr(self, name)
            _require(math.isfinite(value) and value > 0, f"{name} must be > 0, got {value!r}")
        for name in (
            "max_heating_w",
            "max_cooling_w",
            "fresh_air_kg_per_s",
            "controller_gain_w_per_k",
            "fan_min_w",
            "fan_max_w",
            "front_defrost_w",
            "rear_defrost_w",
            "zone_offset_max_k",
        ):
            value = getattr(self, name)
            _require(math.isfinite(value) and value >= 0, f"{name} must be >= 0, got {value!r}")
        for name in ("recirculation_fresh_fraction", "zone_gain"):
            value = getattr(self, name)
            _require(0.0 <= value <= 1.0, f"{name} must be within 0..1, got {value!r}")
        _require(
            self.fan_min_w <= self.fan_max_w,
            f"fan_min_w ({self.fan_min_w}) must not exceed fan_max_w ({self.fan_max_w})",
        )


@dataclass(frozen=True)
class HvacSettings:
    """What the occupants asked the climate control for (VSS `Vehicle.Cabin.HVAC.*`).

    The default is every zone at 22 °C with the blower off, that is HVAC off. The HVAC runs when
    `hvac_on` is true and at least one zone's fan speed is above zero. Mappings are copied into
    read-only ones, so a settings value cannot change under the model.
    """

    zone_targets_c: Mapping[str, float] = field(
        default_factory=lambda: dict.fromkeys(STATIONS, 22.0)
    )
    """Station ("Row1.Driver", ...) -> target temperature (°C); stations may be left out."""
    fan_speed_pct: Mapping[str, float] | float = 0.0
    """Station -> fan speed 0..100 % (a station left out has its fan off), or one speed for every
    station that has a target. Always stored as a mapping; read it through `zone_fans_pct`."""
    ac_on: bool = True
    recirculation: bool = False
    front_defrost: bool = False
    rear_defrost: bool = False
    air_distribution: Mapping[str, str] = field(
        default_factory=lambda: dict.fromkeys(STATIONS, "MIDDLE")
    )
    """Station -> "UP" | "MIDDLE" | "DOWN"; a station left out blows to the MIDDLE."""
    hvac_on: bool = True

    def __post_init__(self) -> None:
        fans = self.fan_speed_pct
        if isinstance(fans, int | float):
            _require(0.0 <= fans <= 100.0, f"fan speed must be 0..100 %, got {fans!r}")
            object.__setattr__(self, "fan_speed_pct", dict.fromkeys(self.zone_targets_c, fans))
        for name in ("zone_targets_c", "fan_speed_pct", "air_distribution"):
            mapping = getattr(self, name)
            for station in mapping:
                _require(
                    station in STATIONS,
                    f"{name}: unknown station {station!r}; expected one of {', '.join(STATIONS)}",
                )
            object.__setattr__(self, name, MappingProxyType(dict(mapping)))
        for station, target in self.zone_targets_c.items():
            _require(
                MIN_TARGET_C <= target <= MAX_TARGET_C,
                f"target of {station} must be within {MIN_TARGET_C}..{MAX_TARGET_C} °C, "
                f"got {target!r}",
            )
        for station, fan in self.zone_fans_pct.items():
            _require(0.0 <= fan <= 100.0, f"fan speed of {station} must be 0..100 %, got {fan!r}")
            _require(
                fan == 0.0 or station in self.zone_targets_c,
                f"{station} has its fan at {fan} % but no target temperature",
            )
        for station, where in self.air_distribution.items():
            _require(
                where in AIR_DISTRIBUTIONS,
                f"air distribution of {station} must be one of {', '.join(AIR_DISTRIBUTIONS)}, "
                f"got {where!r}",
            )

    @classmethod
    def uniform(
        cls,
        target_c: float,
        fan_speed_pct: float,
        *,
        ac_on: bool = True,
        recirculation: bool = False,
        front_defrost: bool = False,
        rear_defrost: bool = False,
    ) -> HvacSettings:
        """Every zone at the same target and fan speed."""
        return cls(
            zone_targets_c=dict.fromkeys(STATIONS, target_c),
            fan_speed_pct=dict.fromkeys(STATIONS, fan_speed_pct),
            ac_on=ac_on,
            recirculation=recirculation,
            front_defrost=front_defrost,
            rear_defrost=rear_defrost,
        )

    @property
    def zone_fans_pct(self) -> Mapping[str, float]:
        """Station -> fan speed (%), for the stations that were given one."""
        fans = self.fan_speed_pct
        assert not isinstance(fans, int | float)  # __post_init__ made it a mapping
        return fans

    @property
    def blower_fraction(self) -> float:
        """The one blower runs at the highest zone fan speed (0..1); 0 when the HVAC is off."""
        fans = self.zone_fans_pct
        if not self.hvac_on or not fans:
            return 0.0
        return max(fans.values()) / 100.0

    @property
    def is_active(self) -> bool:
        """True when the HVAC runs (switched on and some fan above zero)."""
        return self.blower_fraction > 0.0


@dataclass(frozen=True)
class CabinState:
    """The cabin at one instant, and what the HVAC did over the step that led to it."""

    cabin_temp_c: float
    """Mean cabin temperature (VSS `Vehicle.Cabin.HVAC.AmbientAirTemperature`)."""
    zone_temps_c: Mapping[str, float]
    """Station -> temperature at that seat (°C), for every station in `STATIONS`."""
    hvac_power_w: float = 0.0
    """Electric power drawn from the battery over the last step (compressor, heater, blower,
    defrost), W, >= 0."""
    heat_flow_w: float = 0.0
    """Thermal power the HVAC put into the cabin over the last step: > 0 heating, < 0 cooling."""

    def __post_init__(self) -> None:
        if tuple(self.zone_temps_c) != STATIONS:
            raise ThermalError(
                f"zone_temps_c must hold {', '.join(STATIONS)} in that order, "
                f"got {', '.join(self.zone_temps_c)}"
            )
        object.__setattr__(self, "zone_temps_c", MappingProxyType(dict(self.zone_temps_c)))


def initial_cabin(ambient_c: float) -> CabinState:
    """A cabin soaked to the outside temperature, HVAC off."""
    _require(math.isfinite(ambient_c), f"ambient_c must be a finite °C value, got {ambient_c!r}")
    return CabinState(ambient_c, dict.fromkeys(STATIONS, ambient_c))


def fan_power_w(params: CabinParameters, blower_fraction: float) -> float:
    """Blower electric power: off at 0, then fan_min..fan_max rising with the cube of speed."""
    if blower_fraction <= 0.0:
        return 0.0
    return params.fan_min_w + (params.fan_max_w - params.fan_min_w) * blower_fraction**3


def cabin_step(
    params: CabinParameters,
    state: CabinState,
    settings: HvacSettings,
    ambient_c: float,
    dt: float,
    solar_w: float = 0.0,
) -> CabinState:
    """The cabin `dt` seconds later, outside at `ambient_c` with `solar_w` of sun coming in.

    Pure. `solar_w` is the heat the sun puts into the cabin through the glass (W, about 0.5 of
    irradiance x glazed area: 700-900 W on a clear summer noon); it may also carry other inside
    gains (an occupant gives about 100 W).
    """
    if not math.isfinite(ambient_c):
        raise ThermalError(f"ambient_c must be a finite °C value, got {ambient_c!r}")
    if not (math.isfinite(dt) and dt >= 0.0):
        raise ThermalError(f"dt must be a finite time >= 0 s, got {dt!r}")
    if not (math.isfinite(solar_w) and solar_w >= 0.0):
        raise ThermalError(f"solar_w must be a finite heat flow >= 0 W, got {solar_w!r}")
    if dt == 0.0:
        return state

    blower = settings.blower_fraction
    fresh = (
        params.recirculation_fresh_fraction
        if settings.recirculation and not settings.front_defrost  # defrost forces fresh air
        else 1.0
    )
    k_loss = params.ua_w_per_k + params.fresh_air_kg_per_s * CP_AIR_J_PER_KG_K * blower * fresh
    c = params.heat_capacity_j_per_k
    kp = params.controller_gain_w_per_k

    targets = settings.zone_targets_c
    fans = settings.zone_fans_pct
    active = [s for s, f in fans.items() if f > 0.0] if blower > 0.0 else []
    target = sum(targets[s] for s in active) / len(active) if active else 0.0
    q_heat_max = params.max_heating_w * blower
    q_cool_max = params.max_cooling_w * blower if settings.ac_on else 0.0
    # Feed-forward: the heat that holds the cabin at the target against loss and sun, as an
    # automatic climate control computes it from its outside-temperature and sun sensors.
    q_ff = k_loss * (target - ambient_c) - solar_w

    temp = state.cabin_temp_c
    heat_j = cool_j = 0.0
    n = max(1, math.ceil(dt / MAX_SUBSTEP_S - 1e-9))
    h = dt / n
    for _ in range(n):
        # C dT/dt = Q(T) - k_loss (T - ambient) + solar, with Q(T) either a constant (off or
        # saturated) or q_ff + kp (target - T): linear in T, so each sub-step is solved exactly.
        q_now = q_ff + kp * (target - temp) if active else 0.0
        if not active or q_now >= q_heat_max or q_now <= -q_cool_max:
            q_const = 0.0 if not active else (q_heat_max if q_now >= q_heat_max else -q_cool_max)
            lam = k_loss / c
            t_eq = ambient_c + (q_const + solar_w) / k_loss
            gain = 0.0
        else:
            q_const = q_ff + kp * target
            lam = (k_loss + kp) / c
            t_eq = target
            gain = kp
        decay = math.exp(-lam * h)
        t_mean = t_eq + (temp - t_eq) * (1.0 - decay) / (lam * h)
        q_mean = q_const - gain * t_mean
        if q_mean > 0.0:
            heat_j += q_mean * h
        else:
            cool_j -= q_mean * h
        temp = t_eq + (temp - t_eq) * decay

    electric = heat_j / params.cop_heating + cool_j / params.cop_cooling
    power = electric / dt + fan_power_w(params, blower)
    if settings.front_defrost:
        power += params.front_defrost_w
    if settings.rear_defrost:
        power += params.rear_defrost_w

    zone_decay = math.exp(-dt / params.zone_time_constant_s)
    zones: dict[str, float] = {}
    for station in STATIONS:
        desired = 0.0
        fan = fans.get(station, 0.0)
        if active and fan > 0.0:
            limit = params.zone_offset_max_k
            offset = min(max(params.zone_gain * (targets[station] - target), -limit), limit)
            where = settings.air_distribution.get(station, "MIDDLE")
            desired = DISTRIBUTION_ZONE_FACTOR[where] * fan / 100.0 * offset
        previous = state.zone_temps_c[station] - state.cabin_temp_c
        zones[station] = temp + desired + (previous - desired) * zone_decay
    return CabinState(temp, zones, power, (heat_j - cool_j) / dt)
