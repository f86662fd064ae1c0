"""Longitudinal dynamics of an electric car on a fixed time step, as pure functions.

One call of `step` advances a `MotionState` by ``dt`` seconds:

* traction at each driven axle is the least of the motor's torque (through the gear ratio and the
  wheel radius), its power, its speed limit (tapering over the last 2 % of its speed range) and the
  tyres' grip on that axle's normal load, which shifts rearwards under acceleration
  (``m (a + g sin θ) h / L``);
* the accelerator asks for a share of that traction; the brake pedal asks for a share of the
  car's grip-limited braking force, met by regeneration up to the regen power limit, the driven
  axles' motor torque and grip, and by the friction brakes for the rest (brake overrides throttle);
* road load is aerodynamic drag ``½ ρ Cd A v_air |v_air|``, rolling resistance ``Crr m g cos θ``
  and grade ``m g sin θ``; inertia includes the wheels and motor rotors (``m_eff = m + J/r²``);
* the battery delivers wheel power / drivetrain efficiency and receives regen power × efficiency,
  plus the profile's auxiliary load and any extra load the caller passes (HVAC, say);
* motor and battery temperatures are first-order thermal models (heat capacity, conductance to
  ambient, losses in).

The speed never goes negative (there is no reverse), and at 0 % state of charge there is no
traction. Nothing here is random: the same inputs give bit-identical states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

from carmind.errors import CarmindError
from carmind.vehicle.profiles import VehicleProfile

__all__ = [
    "GEAR_EFFICIENCY",
    "GRAVITY",
    "HOLD",
    "DriveInput",
    "ForceLimits",
    "MotionState",
    "Road",
    "SimulationInputError",
    "force_limits",
    "initial_state",
    "rotational_inertia_factor",
    "step",
    "with_soc",
    "with_speed",
]

GRAVITY: Final = 9.80665
#: Single-speed reduction efficiency between motor shaft and wheel (spur/helical gears, ~97 %).
GEAR_EFFICIENCY: Final = 0.97
#: Inertia of one wheel with tyre, hub and brake disc, kg m² (18-21 inch road wheels: 1.0-1.5).
WHEEL_INERTIA_KGM2: Final = 1.2
#: Inertia of one motor rotor, kg m² (150-300 kW EV rotors: 0.03-0.08).
ROTOR_INERTIA_KGM2: Final = 0.05
#: Motor torque tapers to zero over the last 2 % of the motor's speed range.
MOTOR_SPEED_TAPER: Final = 0.02
#: Regeneration fades out below this speed (the motor cannot brake a stopping car).
REGEN_FADE_SPEED_MPS: Final = 2.0
#: Regeneration tapers to zero between this state of charge and full.
REGEN_TAPER_SOC_PCT: Final = 95.0
#: Heat capacity and conductance to ambient of one motor with its inverter and coolant loop.
MOTOR_HEAT_CAPACITY_J_PER_K: Final = 25_000.0
MOTOR_CONDUCTANCE_W_PER_K: Final = 60.0
#: Battery heat capacity per kWh of usable energy (~6.5 kg/kWh of pack at ~1 kJ/kg K).
BATTERY_HEAT_CAPACITY_J_PER_K_PER_KWH: Final = 6_500.0
BATTERY_CONDUCTANCE_W_PER_K: Final = 25.0
#: Battery internal loss at a 1C discharge, as a share of the power (sets the pack resistance).
BATTERY_LOSS_AT_1C: Final = 0.03

_RPM_PER_RAD_S: Final = 60.0 / (2.0 * math.pi)


class SimulationInputError(CarmindError):
    """A simulation input is out of range: the message names the value and what was expected."""


@dataclass(frozen=True, slots=True)
class Road:
    """The road under the car. ``grip_factor`` scales tyre grip: dry 1.0, wet 0.7, snow 0.3."""

    grade_pct: float = 0.0
    grip_factor: float = 1.0
    air_density: float = 1.2
    headwind_mps: float = 0.0

    def __post_init__(self) -> None:
        if not -100.0 <= self.grade_pct <= 100.0:
            raise SimulationInputError(f"grade_pct must be within ±100 %, got {self.grade_pct!r}")
        if not 0.05 <= self.grip_factor <= 1.5:
            raise SimulationInputError(
                f"grip_factor must be between 0.05 and 1.5 (dry 1.0, wet 0.7, snow 0.3), "
                f"got {self.grip_factor!r}"
            )
        if not 0.5 <= self.air_density <= 1.6:
            raise SimulationInputError(
                f"air_density must be between 0.5 and 1.6 kg/m³, got {self.air_density!r}"
            )
        if not -60.0 <= self.headwind_mps <= 60.0:
            raise SimulationInputError(
                f"headwind_mps must be within ±60 m/s, got {self.headwind_mps!r}"
            )


@dataclass(frozen=True, slots=True)
class DriveInput:
    """Pedal positions, each 0 (released) to 1 (floored)."""

    accelerator: float = 0.0
    brake: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.accelerator <= 1.0:
            raise SimulationInputError(
                f"accelerator must be between 0 and 1, got {self.accelerator!r}"
            )
        if not 0.0 <= self.brake <= 1.0:
            raise SimulationInputError(f"brake must be between 0 and 1, got {self.brake!r}")


#: Pedals that hold a standing car: brake pressed, accelerator released.
HOLD: Final = DriveInput(0.0, 0.3)


@dataclass(frozen=True, slots=True)
class MotionState:
    """The car's motion, energy and temperatures at one instant.

    ``battery_power_kw`` is positive when discharging. ``energy_used_kwh`` counts all energy
    drawn (traction and auxiliaries), ``energy_regen_kwh`` the energy put back by regeneration,
    so the net driving energy is their difference; ``energy_charged_kwh`` counts what charging
    put into the battery. ``traction_limit`` names what bounded the traction available
    in the last step: "torque", "power", "grip", "motor speed", "limiter" or "battery".
    """

    time_s: float
    speed_mps: float
    acceleration_mps2: float
    distance_m: float
    soc_pct: float
    battery_power_kw: float
    motor_power_kw: float
    motor_torque_nm: float
    motor_speed_rpm: float
    motor_temp_c: float
    battery_temp_c: float
    energy_used_kwh: float
    energy_regen_kwh: float
    regen_power_kw: float = 0.0
    friction_brake_power_kw: float = 0.0
    traction_limit: str = "torque"
    energy_charged_kwh: float = 0.0

    @property
    def speed_kmh(self) -> float:
        return self.speed_mps * 3.6


@dataclass(frozen=True, slots=True)
class ForceLimits:
    """Forces at the wheels at one instant, in newtons."""

    traction_max_n: float
    brake_max_n: float
    road_load_n: float
    traction_limit: str


# --------------------------------------------------------------------------------------------
# Per-profile constants, computed once per profile object.


@dataclass(frozen=True, slots=True)
class _AxleConst:
    front: bool
    power_w: float
    torque_nm: float
    gear: float
    omega_max: float  # motor rad/s
    motor_per_wheel: float  # motor rad/s per m/s of road speed
    force_per_torque: float  # wheel N per motor N m (with gear efficiency)


@dataclass(frozen=True, slots=True)
class _Const:
    axles: tuple[_AxleConst, ...]
    default_mass: float
    inertia_mass: float  # J_total / r², kg
    cda: float
    crr: float
    grip: float
    h_over_l: float
    front_fraction: float
    v_limit: float
    usable_j: float
    efficiency: float
    regen_limit_w: float
    aux_w: float
    inv_p_1c: float
    motor_heat_capacity: float
    motor_conductance: float
    battery_heat_capacity: float


_CONSTS: dict[int, tuple[VehicleProfile, _Const]] = {}


def _const(profile: VehicleProfile) -> _Const:
    entry = _CONSTS.get(id(profile))
    if entry is not None and entry[0] is profile:
        return entry[1]
    r = profile.wheel_radius_m
    axles = tuple(
        _AxleConst(
            front=a.name == "front",
            power_w=a.motor_peak_power_kw * 1000.0,
            torque_nm=a.motor_peak_torque_nm,
            gear=a.gear_ratio,
            omega_max=a.motor_max_rpm / _RPM_PER_RAD_S,
            motor_per_wheel=a.gear_ratio / r,
            force_per_torque=a.gear_ratio * GEAR_EFFICIENCY / r,
        )
        for a in profile.axles
    )
    inertia = 4.0 * WHEEL_INERTIA_KGM2 + sum(
        ROTOR_INERTIA_KGM2 * a.gear_ratio**2 for a in profile.axles
    )
    n_motors = len(profile.axles)
    const = _Const(
        axles=axles,
        default_mass=profile.mass_with_driver_kg,
        inertia_mass=inertia / (r * r),
        cda=profile.drag_coefficient * profile.frontal_area_m2,
        crr=profile.rolling_resistance,
        grip=profile.tyre_grip,
        h_over_l=profile.cog_height_m / profile.wheelbase_m,
        front_fraction=profile.front_weight_fraction,
        v_limit=profile.top_speed_limit_kmh / 3.6,
        usable_j=profile.usable_battery_kwh * 3.6e6,
        efficiency=profile.drivetrain_efficiency,
        regen_limit_w=profile.regen_limit_kw * 1000.0,
        aux_w=profile.aux_power_w,
        inv_p_1c=1.0 / (profile.usable_battery_kwh * 1000.0),
        motor_heat_capacity=MOTOR_HEAT_CAPACITY_J_PER_K * n_motors,
        motor_conductance=MOTOR_CONDUCTANCE_W_PER_K * n_motors,
        battery_heat_capacity=BATTERY_HEAT_CAPACITY_J_PER_K_PER_KWH * profile.usable_battery_kwh,
    )
    if len(_CONSTS) > 256:
        _CONSTS.clear()
    _CONSTS[id(profile)] = (profile, const)
    return const


def rotational_inertia_factor(profile: VehicleProfile, mass_kg: float | None = None) -> float:
    """``m_eff / m``: the share the spinning wheels and motor rotors add to the car's inertia."""
    c = _const(profile)
    m = c.default_mass if mass_kg is None else mass_kg
    return (m + c.inertia_mass) / m


def initial_state(profile: VehicleProfile, soc_pct: float, ambient_c: float = 20.0) -> MotionState:
    """A car standing still at ``soc_pct`` with motor and battery at ambient temperature."""
    if not 0.0 <= soc_pct <= 100.0:
        raise SimulationInputError(f"soc_pct must be between 0 and 100, got {soc_pct!r}")
    _check_ambient(ambient_c)
    return MotionState(
        time_s=0.0,
        speed_mps=0.0,
        acceleration_mps2=0.0,
        distance_m=0.0,
        soc_pct=float(soc_pct),
        battery_power_kw=0.0,
        motor_power_kw=0.0,
        motor_torque_nm=0.0,
        motor_speed_rpm=0.0,
        motor_temp_c=float(ambient_c),
        battery_temp_c=float(ambient_c),
        energy_used_kwh=0.0,
        energy_regen_kwh=0.0,
    )


def with_speed(state: MotionState, speed_mps: float) -> MotionState:
    """``state`` moved to ``speed_mps`` at once (priming a simulation), not accelerating."""
    if not (math.isfinite(speed_mps) and 0.0 <= speed_mps <= 150.0):
        raise SimulationInputError(f"speed_mps must be between 0 and 150 m/s, got {speed_mps!r}")
    return replace(state, speed_mps=float(speed_mps), acceleration_mps2=0.0)


def with_soc(state: MotionState, soc_pct: float) -> MotionState:
    """``state`` with its state of charge set to ``soc_pct`` (priming a simulation)."""
    if not 0.0 <= soc_pct <= 100.0:
        raise SimulationInputError(f"soc_pct must be between 0 and 100, got {soc_pct!r}")
    return replace(state, soc_pct=float(soc_pct))


def _check_ambient(ambient_c: float) -> None:
    if not -60.0 <= ambient_c <= 70.0:
        raise SimulationInputError(f"ambient_c must be between -60 and 70 °C, got {ambient_c!r}")


def _traction(
    c: _Const, v: float, n_front: float, n_rear: float, mu: float
) -> tuple[float, float, float, str]:
    """Available traction: (total N, front N, rear N, binding constraint)."""
    total = front_f = rear_f = 0.0
    grip_bound = speed_bound = power_bound = False
    for ax in c.axles:
        omega = v * ax.motor_per_wheel
        if omega > 0.0:
            torque = ax.power_w / omega
            if torque < ax.torque_nm:
                power_bound = True
            else:
                torque = ax.torque_nm
            headroom = (ax.omega_max - omega) / (MOTOR_SPEED_TAPER * ax.omega_max)
            if headroom < 1.0:
                speed_bound = True
                torque *= headroom if headroom > 0.0 else 0.0
        else:
            torque = ax.torque_nm
        force = torque * ax.force_per_torque
        grip = mu * (n_front if ax.front else n_rear)
        if grip < force:
            force = grip
            grip_bound = True
        total += force
        if ax.front:
            front_f += force
        else:
            rear_f += force
    if grip_bound:
        limit = "grip"
    elif speed_bound:
        limit = "motor speed"
    elif power_bound:
        limit = "power"
    else:
        limit = "torque"
    return total, front_f, rear_f, limit


def force_limits(
    profile: VehicleProfile,
    state: MotionState,
    road: Road,
    mass_kg: float | None = None,
) -> ForceLimits:
    """Traction and braking force available now, and the road load, at the wheels.

    The controller uses this to turn a wanted acceleration into pedal positions, with the same
    model `step` uses to turn pedal positions into force.
    """
    c = _const(profile)
    m = c.default_mass if mass_kg is None else mass_kg
    v = state.speed_mps
    grade = road.grade_pct * 0.01
    cos_t = 1.0 / math.sqrt(1.0 + grade * grade)
    sin_t = grade * cos_t
    weight_n = m * GRAVITY * cos_t
    v_air = v + road.headwind_mps
    load = 0.5 * road.air_density * c.cda * v_air * abs(v_air) + c.crr * weight_n
    load += m * GRAVITY * sin_t
    mu = c.grip * road.grip_factor
    shift = m * (state.acceleration_mps2 + GRAVITY * sin_t) * c.h_over_l
    n_front = max(weight_n * c.front_fraction - shift, 0.0)
    n_rear = max(weight_n * (1.0 - c.front_fraction) + shift, 0.0)
    traction, _, _, limit = _traction(c, v, n_front, n_rear, mu)
    if state.soc_pct <= 0.0:
        traction, limit = 0.0, "battery"
    return ForceLimits(traction, mu * weight_n, load, limit)


def step(
    profile: VehicleProfile,
    state: MotionState,
    drive: DriveInput,
    road: Road,
    dt: float,
    aux_power_w: float = 0.0,
    ambient_c: float = 20.0,
    mass_kg: float | None = None,
) -> MotionState:
    """Advance ``state`` by ``dt`` seconds under the pedal inputs ``drive`` on ``road``.

    ``aux_power_w`` is drawn from the battery on top of the profile's own auxiliary load (HVAC,
    say). ``mass_kg`` defaults to the curb mass plus a 75 kg driver.
    """
    if not 0.0 < dt <= 10.0:
        raise SimulationInputError(f"dt must be above 0 and at most 10 s, got {dt!r}")
    if not 0.0 <= aux_power_w <= 50_000.0:
        raise SimulationInputError(
            f"aux_power_w must be between 0 and 50000 W, got {aux_power_w!r}"
        )
    c = _const(profile)
    if mass_kg is None:
        m = c.default_mass
    elif 100.0 <= mass_kg <= 20_000.0:
        m = mass_kg
    else:
        raise SimulationInputError(f"mass_kg must be between 100 and 20000 kg, got {mass_kg!r}")
    if not -60.0 <= ambient_c <= 70.0:
        _check_ambient(ambient_c)

    v = state.speed_mps
    soc = state.soc_pct
    m_eff = m + c.inertia_mass

    # Road load.
    grade = road.grade_pct * 0.01
    cos_t = 1.0 / math.sqrt(1.0 + grade * grade)
    sin_t = grade * cos_t
    weight_n = m * GRAVITY * cos_t
    v_air = v + road.headwind_mps
    f_aero = 0.5 * road.air_density * c.cda * v_air * abs(v_air)
    f_roll = c.crr * weight_n
    f_grade = m * GRAVITY * sin_t
    mu = c.grip * road.grip_factor

    # Axle loads with longitudinal weight transfer (from the last step's acceleration).
    shift = m * (state.acceleration_mps2 + GRAVITY * sin_t) * c.h_over_l
    n_front = weight_n * c.front_fraction - shift
    n_rear = weight_n * (1.0 - c.front_fraction) + shift
    if n_front < 0.0:
        n_front = 0.0
    if n_rear < 0.0:
        n_rear = 0.0

    # Traction (brake overrides throttle).
    f_trac = 0.0
    limit = state.traction_limit
    accel_pedal = drive.accelerator
    brake_pedal = drive.brake
    if brake_pedal <= 0.0:
        available, _, _, limit = _traction(c, v, n_front, n_rear, mu)
        if soc <= 0.0:
            available, limit = 0.0, "battery"
        f_trac = accel_pedal * available
        if accel_pedal > 0.0:
            cap = f_aero + f_roll + f_grade + m_eff * (c.v_limit - v) / dt
            if f_trac >= cap:
                f_trac = cap if cap > 0.0 else 0.0
                limit = "limiter"

    # Braking: regeneration first, friction for the rest.
    f_regen = 0.0
    f_brake = 0.0
    if brake_pedal > 0.0:
        f_brake = brake_pedal * mu * weight_n
        if v > 0.0 and soc < 100.0:
            # Under braking the load shifts forwards; the driven axles carry what regen can use.
            axle_cap = 0.0
            for ax in c.axles:
                motor_force = ax.torque_nm * ax.motor_per_wheel / GEAR_EFFICIENCY
                grip = mu * (n_front if ax.front else n_rear)
                axle_cap += motor_force if motor_force < grip else grip
            cap = c.regen_limit_w / (c.efficiency * v)
            if axle_cap < cap:
                cap = axle_cap
            if v < REGEN_FADE_SPEED_MPS:
                cap *= v / REGEN_FADE_SPEED_MPS
            if soc > REGEN_TAPER_SOC_PCT:
                cap *= (100.0 - soc) / (100.0 - REGEN_TAPER_SOC_PCT)
            f_regen = f_brake if f_brake < cap else cap

    # Motion (no reverse; a standing car stays put until the drive overcomes static load).
    if v <= 0.0:
        push = f_trac - f_grade - f_aero
        hold = f_roll + f_brake
        a = (push - hold) / m_eff if push > hold else 0.0
    else:
        a = (f_trac - f_brake - f_aero - f_roll - f_grade) / m_eff
    v_new = v + a * dt
    if v_new < 0.0:
        v_new = 0.0
        a = -v / dt
    v_mean = 0.5 * (v + v_new)

    # Power flows.
    eff = c.efficiency
    p_trac = f_trac * v_mean
    p_regen = f_regen * v_mean
    p_fric = (f_brake - f_regen) * v_mean
    p_aux = c.aux_w + aux_power_w
    p_bat_trac = p_trac / eff
    p_bat_regen = p_regen * eff
    p_bat = p_bat_trac - p_bat_regen + p_aux
    soc_new = soc - p_bat * dt / c.usable_j * 100.0
    if soc_new < 0.0:
        soc_new = 0.0
    elif soc_new > 100.0:
        soc_new = 100.0

    # Motor: torque, speed, power of all motors together.
    omega_wheel = v_new / profile.wheel_radius_m
    motor_rpm = 0.0
    torque = 0.0
    f_net_drive = f_trac - f_regen
    total_gear = 0.0
    for ax in c.axles:
        rpm = omega_wheel * ax.gear * _RPM_PER_RAD_S
        if rpm > motor_rpm:
            motor_rpm = rpm
        total_gear += ax.gear
    if f_net_drive != 0.0:
        mean_gear = total_gear / len(c.axles)
        if f_net_drive > 0.0:
            torque = f_net_drive * profile.wheel_radius_m / (mean_gear * GEAR_EFFICIENCY)
        else:
            torque = f_net_drive * profile.wheel_radius_m * GEAR_EFFICIENCY / mean_gear
    p_motor = p_trac / GEAR_EFFICIENCY - p_regen * GEAR_EFFICIENCY

    # Temperatures: first-order, losses in, conductance to ambient out.
    loss_drive = (p_bat_trac - p_trac) + (p_regen - p_bat_regen)
    t_motor = state.motor_temp_c
    t_motor += (
        (loss_drive - (t_motor - ambient_c) * c.motor_conductance) * dt / c.motor_heat_capacity
    )
    t_bat = state.battery_temp_c
    loss_bat = BATTERY_LOSS_AT_1C * p_bat * p_bat * c.inv_p_1c
    t_bat += (
        (loss_bat - (t_bat - ambient_c) * BATTERY_CONDUCTANCE_W_PER_K)
        * dt
        / c.battery_heat_capacity
    )

    return MotionState(
        time_s=state.time_s + dt,
        speed_mps=v_new,
        acceleration_mps2=a,
        distance_m=state.distance_m + v_mean * dt,
        soc_pct=soc_new,
        battery_power_kw=p_bat * 0.001,
        motor_power_kw=p_motor * 0.001,
        motor_torque_nm=torque,
        motor_speed_rpm=motor_rpm,
        motor_temp_c=t_motor,
        battery_temp_c=t_bat,
        energy_used_kwh=state.energy_used_kwh + (p_bat_trac + p_aux) * dt / 3.6e6,
        energy_regen_kwh=state.energy_regen_kwh + p_bat_regen * dt / 3.6e6,
        regen_power_kw=p_bat_regen * 0.001,
        friction_brake_power_kw=p_fric * 0.001,
        traction_limit=limit,
        energy_charged_kwh=state.energy_charged_kwh,
    )
