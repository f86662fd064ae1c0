"""Comfort limits: ISO 15622 longitudinal bounds and jerk, ISO 11270 lateral bounds."""

from __future__ import annotations

import math

import pytest

from carmind.drive.control import MAX_STEERING_RAD
from carmind.drive.limits import (
    EMERGENCY_DECEL,
    LIMIT_ACCEL,
    LIMIT_DECEL,
    LIMIT_EMERGENCY,
    LIMIT_JERK,
    LIMIT_LATERAL_ACCEL,
    LIMIT_LATERAL_JERK,
    InvalidDriveInput,
    clamp_action,
    lateral_acceleration,
    max_acceleration,
    max_comfort_deceleration,
    max_jerk,
    max_steering,
)
from carmind.drive.types import Action, EgoState
from carmind.errors import CarmindError


def ego(speed: float = 25.0, acceleration: float = 0.0, steering: float = 0.0) -> EgoState:
    return EgoState(
        speed=speed,
        steering=steering,
        acceleration=acceleration,
        lane_offset=0.0,
        heading_error=0.0,
        lane_width=4.0,
        lanes_left=1,
        lanes_right=1,
    )


def test_speed_graded_limits_follow_iso_15622() -> None:
    assert max_acceleration(0.0) == 4.0
    assert max_acceleration(30.0) == 2.0
    assert max_acceleration(12.5) == pytest.approx(3.0)
    assert max_comfort_deceleration(3.0) == 5.0
    assert max_comfort_deceleration(25.0) == 3.5
    assert max_comfort_deceleration(12.5) == pytest.approx(4.25)
    assert max_jerk(1.0) == 5.0
    assert max_jerk(40.0) == 2.5


def test_action_within_limits_passes_unchanged() -> None:
    action = Action(0.3, 0.001)
    out, applied = clamp_action(action, Action(0.2, 0.001), ego(), 0.2)
    assert out is action
    assert applied == []


def test_acceleration_is_capped_at_high_speed() -> None:
    out, applied = clamp_action(Action(2.4, 0.0), Action(2.0, 0.0), ego(), 0.2)
    assert out.acceleration == 2.0
    assert applied == [LIMIT_ACCEL]


def test_comfort_deceleration_is_capped() -> None:
    out, applied = clamp_action(Action(-4.0, 0.0), Action(-3.5, 0.0), ego(), 0.2)
    assert out.acceleration == -3.5
    assert applied == [LIMIT_DECEL]


def test_jerk_limits_the_change_per_step() -> None:
    # 2.5 m/s³ above 20 m/s: at most 0.5 m/s² per 0.2 s step.
    out, applied = clamp_action(Action(-3.0, 0.0), Action(0.0, 0.0), ego(25.0), 0.2)
    assert out.acceleration == pytest.approx(-0.5)
    assert applied == [LIMIT_JERK]
    # 5 m/s³ below 5 m/s.
    out, _ = clamp_action(Action(3.0, 0.0), Action(0.0, 0.0), ego(2.0), 0.2)
    assert out.acceleration == pytest.approx(1.0)


def test_without_previous_action_the_ego_last_command_is_used() -> None:
    out, applied = clamp_action(Action(1.5, 0.0), None, ego(acceleration=1.0), 0.2)
    assert out.acceleration == 1.5
    assert applied == []
    out, applied = clamp_action(Action(1.5, 0.0), None, ego(acceleration=0.0), 0.2)
    assert out.acceleration == pytest.approx(0.5)
    assert applied == [LIMIT_JERK]


def test_emergency_brake_may_exceed_comfort_decel_and_jerk_but_not_the_emergency_limit() -> None:
    out, applied = clamp_action(
        Action(-6.0, 0.0), Action(0.0, 0.0), ego(), 0.2, emergency_brake=True
    )
    assert out.acceleration == -6.0
    assert applied == []
    out, applied = clamp_action(
        Action(-9.0, 0.0), Action(0.0, 0.0), ego(), 0.2, emergency_brake=True
    )
    assert out.acceleration == -EMERGENCY_DECEL
    assert applied == [LIMIT_EMERGENCY]
    # Releasing the brake is still jerk-limited.
    out, _ = clamp_action(Action(1.0, 0.0), Action(-6.0, 0.0), ego(), 0.2, emergency_brake=True)
    assert out.acceleration == pytest.approx(-5.5)


def test_steering_bound_comes_from_the_lateral_acceleration_limit() -> None:
    car = ego(25.0, steering=0.1)
    out, applied = clamp_action(Action(0.0, 0.1), Action(0.0, 0.1), car, 0.2)
    assert out.steering == pytest.approx(math.atan(3.0 * 5.0 / 625.0))
    assert lateral_acceleration(out.steering, 25.0, car.wheelbase) == pytest.approx(3.0)
    assert applied == [LIMIT_LATERAL_ACCEL]
    out, _ = clamp_action(Action(0.0, -0.1), Action(0.0, -0.1), ego(25.0, steering=-0.1), 0.2)
    assert lateral_acceleration(out.steering, 25.0, car.wheelbase) == pytest.approx(-3.0)
    # At walking pace only the mechanical limit applies.
    assert max_steering(0.5, 5.0) == MAX_STEERING_RAD


def test_lateral_jerk_is_limited_unless_the_guard_steers_away() -> None:
    car = ego(25.0)
    out, applied = clamp_action(Action(0.0, 0.02), Action(0.0, 0.0), car, 0.2)
    # 5 m/s³ × 0.2 s: lateral acceleration may rise by 1 m/s² per step.
    assert lateral_acceleration(out.steering, 25.0, car.wheelbase) == pytest.approx(1.0)
    assert applied == [LIMIT_LATERAL_JERK]
    out, applied = clamp_action(Action(0.0, 0.02), Action(0.0, 0.0), car, 0.2, emergency_steer=True)
    assert out.steering == 0.02
    assert applied == []


@pytest.mark.parametrize("dt", [0.0, -0.2, math.nan])
def test_bad_time_step_is_refused(dt: float) -> None:
    with pytest.raises(InvalidDriveInput, match="dt"):
        clamp_action(Action(0.0, 0.0), None, ego(), dt)


def test_non_finite_action_is_refused() -> None:
    with pytest.raises(CarmindError, match=r"action\.acceleration"):
        clamp_action(Action(math.nan, 0.0), None, ego(), 0.2)


def test_a_bend_is_followed_and_too_much_speed_for_it_is_braked_away() -> None:
    from carmind.drive.limits import LIMIT_CURVE_SPEED

    # a 100 m radius left bend at 25 m/s needs 6.25 m/s² of lateral acceleration
    bend = EgoState(25.0, 0.05, 0.0, 0.0, 0.0, 4.0, 1, 1, curvature=0.01)
    needed = math.atan(bend.wheelbase * bend.curvature)
    out, applied = clamp_action(Action(0.5, needed), Action(0.5, needed), bend, 0.2)
    assert out.steering == pytest.approx(needed)  # the road's bend is not refused
    assert out.acceleration < 0 and LIMIT_CURVE_SPEED in applied
    # a swerve on top of the bend is still bounded
    out, applied = clamp_action(Action(0.0, needed + 0.2), Action(0.0, needed), bend, 0.2)
    assert out.steering < needed + 0.2
