"""Comfort and safety limits on what the driving stack may command, each next to its source.

Longitudinal limits follow ISO 15622:2018 (Adaptive Cruise Control), which grades them with
speed: generous below 5 m/s, tighter above 20 m/s, linear in between. Lateral limits follow
ISO 11270:2014 (Lane Keeping Assistance) and UN R79 (ACSF, lateral acceleration ≤ 3 m/s²,
lateral jerk ≤ 5 m/s³). openpilot's car interfaces use the same numbers (ACCEL_MAX = 2.0,
ACCEL_MIN = -3.5 m/s²).

Only the safety guard may exceed the comfort deceleration and the jerk limits, and only to brake:
an emergency brake is bounded by `EMERGENCY_DECEL`.

Steering is bounded through the lateral acceleration of a kinematic bicycle model: the yaw rate
is v·tan(δ)/L and the lateral acceleration v²·tan(δ)/L, with L the wheelbase.
"""

from __future__ import annotations

import math

from carmind.drive.control import MAX_STEERING_RAD
from carmind.drive.types import Action, EgoState
from carmind.errors import CarmindError


class InvalidDriveInput(CarmindError, ValueError):
    """A value given to the driving stack (time step, speed, action) is not usable."""


LOW_SPEED_MPS = 5.0
"""ISO 15622:2018: the low-speed end of the speed-graded limits."""
HIGH_SPEED_MPS = 20.0
"""ISO 15622:2018: the high-speed end of the speed-graded limits."""

ACCEL_MAX_LOW_SPEED = 4.0
"""m/s², ISO 15622:2018 maximum acceleration below 5 m/s."""
ACCEL_MAX_HIGH_SPEED = 2.0
"""m/s², ISO 15622:2018 maximum acceleration above 20 m/s; openpilot's ACCEL_MAX."""
DECEL_COMFORT_LOW_SPEED = 5.0
"""m/s², ISO 15622:2018 maximum automatic deceleration below 5 m/s."""
DECEL_COMFORT_HIGH_SPEED = 3.5
"""m/s², ISO 15622:2018 maximum average deceleration above 20 m/s; openpilot's ACCEL_MIN."""
JERK_MAX_LOW_SPEED = 5.0
"""m/s³, ISO 15622:2018 maximum jerk below 5 m/s."""
JERK_MAX_HIGH_SPEED = 2.5
"""m/s³, ISO 15622:2018 maximum jerk above 20 m/s."""

LATERAL_ACCEL_MAX = 3.0
"""m/s², ISO 11270:2014 (LKA) and UN R79 ACSF: lateral acceleration while assisting."""
LATERAL_JERK_MAX = 5.0
"""m/s³, ISO 11270:2014 and UN R79: lateral jerk while assisting."""

EMERGENCY_DECEL = 6.0
"""m/s², the guard's emergency braking bound: highway-env's IDMVehicle.ACC_MAX clips every
vehicle to ±6 m/s², so no car in the simulator brakes harder; it is also below the 0.774 g full
braking of UN R157's careful-and-competent driver model, so a real car can deliver it."""

MIN_SPEED_FOR_LATERAL_MPS = 1.0
"""Below this the lateral-acceleration bound is meaningless (v² → 0); only the mechanical
steering limit applies."""

LIMIT_ACCEL = "accel_max"
LIMIT_DECEL = "decel_comfort"
LIMIT_EMERGENCY = "decel_emergency"
LIMIT_JERK = "jerk"
LIMIT_LATERAL_ACCEL = "lateral_accel"
LIMIT_CURVE_SPEED = "curve_speed"
"""Braking because the lane's bend at this speed exceeds LATERAL_ACCEL_MAX."""
LIMIT_LATERAL_JERK = "lateral_jerk"


def _graded(speed: float, low: float, high: float) -> float:
    """Interpolate a speed-graded ISO 15622 limit: `low` below 5 m/s, `high` above 20 m/s."""
    v = abs(speed)
    if v <= LOW_SPEED_MPS:
        return low
    if v >= HIGH_SPEED_MPS:
        return high
    share = (v - LOW_SPEED_MPS) / (HIGH_SPEED_MPS - LOW_SPEED_MPS)
    return low + share * (high - low)


def max_acceleration(speed: float) -> float:
    """m/s², the largest forward acceleration allowed at this speed."""
    return _graded(speed, ACCEL_MAX_LOW_SPEED, ACCEL_MAX_HIGH_SPEED)


def max_comfort_deceleration(speed: float) -> float:
    """m/s² (positive), the largest deceleration outside an emergency at this speed."""
    return _graded(speed, DECEL_COMFORT_LOW_SPEED, DECEL_COMFORT_HIGH_SPEED)


def max_jerk(speed: float) -> float:
    """m/s³, the largest change of longitudinal acceleration per second at this speed."""
    return _graded(speed, JERK_MAX_LOW_SPEED, JERK_MAX_HIGH_SPEED)


def lateral_acceleration(steering: float, speed: float, wheelbase: float) -> float:
    """m/s², a kinematic bicycle's lateral acceleration v²·tan(δ)/L (left positive)."""
    return speed * speed * math.tan(steering) / wheelbase


def steering_for_lateral_acceleration(a_lat: float, speed: float, wheelbase: float) -> float:
    """rad, the front-wheel angle that gives lateral acceleration `a_lat` (inverse of above)."""
    v = max(abs(speed), MIN_SPEED_FOR_LATERAL_MPS)
    return math.atan(a_lat * wheelbase / (v * v))


def max_steering(speed: float, wheelbase: float) -> float:
    """rad, the largest front-wheel angle that keeps |a_lat| ≤ LATERAL_ACCEL_MAX."""
    if abs(speed) < MIN_SPEED_FOR_LATERAL_MPS:
        return MAX_STEERING_RAD
    return min(
        MAX_STEERING_RAD, steering_for_lateral_acceleration(LATERAL_ACCEL_MAX, speed, wheelbase)
    )


def _check(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise InvalidDriveInput(f"{name} must be a finite number, got {value!r}")


def clamp_action(
    action: Action,
    previous: Action | None,
    ego: EgoState,
    dt: float,
    *,
    emergency_brake: bool = False,
    emergency_steer: bool = False,
) -> tuple[Action, list[str]]:
    """The action within the comfort limits, and the names of the limits that changed it.

    `previous` is the action sent one step (`dt` seconds) ago; without one, the ego's last
    commanded acceleration and current steering stand in. With `emergency_brake` (set by the
    safety guard only) the deceleration may reach EMERGENCY_DECEL and braking harder is not
    jerk-limited; with `emergency_steer` the lateral jerk limit is lifted (the lateral
    acceleration bound still holds). Jerk limits come first and the bounds last, so a bound is
    never exceeded to honour a jerk limit.
    """
    if not (math.isfinite(dt) and dt > 0.0):
        raise InvalidDriveInput(f"dt must be a positive number of seconds, got {dt!r}")
    _check("action.acceleration", action.acceleration)
    _check("action.steering", action.steering)
    _check("ego.speed", ego.speed)
    applied: list[str] = []
    speed = ego.speed

    prev_acc = previous.acceleration if previous is not None else ego.acceleration
    prev_steer = previous.steering if previous is not None else ego.steering

    # Longitudinal: jerk, then the acceleration bounds.
    acc = action.acceleration
    step = max_jerk(speed) * dt
    high = prev_acc + step
    low = -math.inf if emergency_brake else prev_acc - step
    if acc > high or acc < low:
        acc = min(high, max(low, acc))
        applied.append(LIMIT_JERK)
    upper = max_acceleration(speed)
    if acc > upper:
        acc = upper
        applied.append(LIMIT_ACCEL)
    lower = -(EMERGENCY_DECEL if emergency_brake else max_comfort_deceleration(speed))
    if acc < lower:
        acc = lower
        applied.append(LIMIT_EMERGENCY if emergency_brake else LIMIT_DECEL)

    # Lateral: jerk (as a change of lateral acceleration), then the lateral-acceleration bound,
    # both on what the car does beyond following its lane: the road's own bend is not refused
    # (steering less than a bend needs leaves the road); too much speed for it is braked away.
    steer = action.steering
    wheelbase = ego.wheelbase
    bend = math.atan(wheelbase * ego.curvature)
    if abs(speed) >= MIN_SPEED_FOR_LATERAL_MPS:
        bend_accel = speed * speed * abs(ego.curvature)
        if bend_accel > LATERAL_ACCEL_MAX and acc > -max_comfort_deceleration(speed):
            acc = -max_comfort_deceleration(speed)
            applied.append(LIMIT_CURVE_SPEED)
        if not emergency_steer:
            a_bend = lateral_acceleration(bend, speed, wheelbase)
            a_prev = lateral_acceleration(prev_steer, speed, wheelbase) - a_bend
            a_new = lateral_acceleration(steer, speed, wheelbase) - a_bend
            a_step = LATERAL_JERK_MAX * dt
            if abs(a_new - a_prev) > a_step:
                a_new = min(a_prev + a_step, max(a_prev - a_step, a_new))
                steer = steering_for_lateral_acceleration(a_new + a_bend, speed, wheelbase)
                applied.append(LIMIT_LATERAL_JERK)
    bound = max_steering(speed, wheelbase)
    if abs(steer - bend) > bound:
        steer = bend + math.copysign(bound, steer - bend)
        applied.append(LIMIT_LATERAL_ACCEL)

    if not applied:
        return action, applied
    return Action(acc, steer), applied
