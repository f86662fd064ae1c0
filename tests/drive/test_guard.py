"""The RSS safety guard: safe distances, braking, cut-ins, aborted lane changes, the log."""

from __future__ import annotations

import logging
import math

import pytest

from carmind.drive.guard import (
    ABORT_LANE_CHANGE,
    BRAKE,
    HIGHWAY_RSS,
    RssParams,
    SafetyGuard,
    safe_lateral_distance,
    safe_longitudinal_distance,
)
from carmind.drive.limits import LIMIT_DECEL, InvalidDriveInput
from carmind.drive.types import Action, EgoState, TrackedObject

# A parameter set in the style of the paper's discussion: human response time 1 s.
PAPER_LIKE = RssParams(
    response_time=1.0,
    accel_max=3.0,
    brake_min=4.0,
    brake_max=8.0,
    lat_accel_max=0.2,
    lat_brake_min=0.8,
    lat_margin=0.1,
    path_margin=0.3,
    emergency_brake=8.0,
)


def ego(
    speed: float = 25.0,
    *,
    lane_offset: float = 0.0,
    heading_error: float = 0.0,
    steering: float = 0.0,
    acceleration: float = 0.0,
) -> EgoState:
    return EgoState(
        speed=speed,
        steering=steering,
        acceleration=acceleration,
        lane_offset=lane_offset,
        heading_error=heading_error,
        lane_width=4.0,
        lanes_left=1,
        lanes_right=1,
    )


def car(
    x: float, y: float = 0.0, vx: float = 25.0, vy: float = 0.0, ident: int = 1
) -> TrackedObject:
    return TrackedObject(x=x, y=y, vx=vx, vy=vy, ident=ident)


# -- the paper's formulas ---------------------------------------------------------------------


def test_longitudinal_safe_distance_by_hand() -> None:
    # ρ=0.2, a_acc=2, b_min=4.5, b_max=6, v_r=v_f=30:
    # 30·0.2 + ½·2·0.04 + 30.4²/9 − 30²/12 = 6 + 0.04 + 102.684… − 75
    assert safe_longitudinal_distance(30.0, 30.0, HIGHWAY_RSS) == pytest.approx(
        6.0 + 0.04 + 30.4**2 / 9.0 - 75.0
    )
    assert safe_longitudinal_distance(30.0, 30.0, HIGHWAY_RSS) == pytest.approx(33.7244, abs=1e-4)
    # ρ=1, a_acc=3, b_min=4, b_max=8, 20 m/s each: 20 + 1.5 + 23²/8 − 20²/16 = 62.625
    assert safe_longitudinal_distance(20.0, 20.0, PAPER_LIKE) == pytest.approx(62.625)
    # The bracket [·]₊: a fast car ahead of a stopped one needs no gap.
    assert safe_longitudinal_distance(0.0, 30.0, HIGHWAY_RSS) == 0.0
    # Standing still behind a standing car: only what the response time allows.
    assert safe_longitudinal_distance(0.0, 0.0, HIGHWAY_RSS) == pytest.approx(0.04 + 0.4**2 / 9.0)


def test_lateral_safe_distance_by_hand() -> None:
    # μ=0.5, ρ=0.2, a=3, b=3. Neither moving: each may drift ρ²a/2 + (ρa)²/(2b) = 0.12 m.
    assert safe_lateral_distance(0.0, 0.0, HIGHWAY_RSS) == pytest.approx(0.74)
    # The left car moving right (toward the other) at 1 m/s:
    # (2·1 + 0.6)·0.1 + 1.6²/6 + 0.12 + μ
    assert safe_lateral_distance(-1.0, 0.0, HIGHWAY_RSS) == pytest.approx(
        0.26 + 1.6**2 / 6.0 + 0.12 + 0.5
    )
    # Moving apart at 2 m/s each: only the margin μ remains.
    assert safe_lateral_distance(2.0, -2.0, HIGHWAY_RSS) == pytest.approx(0.5)
    # The paper-like set: μ + 2·(0.2·1²/2 + 0.2²/1.6) = 0.1 + 0.25
    assert safe_lateral_distance(0.0, 0.0, PAPER_LIKE) == pytest.approx(0.35)


def test_params_are_checked() -> None:
    with pytest.raises(InvalidDriveInput, match="brake_min"):
        RssParams(0.2, 2.0, 7.0, 6.0, 3.0, 3.0, 0.5, 0.3)
    with pytest.raises(InvalidDriveInput, match="response_time"):
        RssParams(0.0, 2.0, 4.5, 6.0, 3.0, 3.0, 0.5, 0.3)


# -- longitudinal -----------------------------------------------------------------------------


def test_brakes_when_following_too_close(caplog: pytest.LogCaptureFixture) -> None:
    guard = SafetyGuard()
    # 15 m bumper to bumper at 25 m/s each; the safe distance is 24.6 m.
    with caplog.at_level(logging.INFO, logger="carmind.drive.guard"):
        result = guard.filter(ego(), [car(20.0, ident=4)], Action(0.5, 0.0))
    assert [i.kind for i in result.interventions] == [BRAKE]
    assert result.interventions[0].ident == 4
    assert result.action.acceleration <= -HIGHWAY_RSS.brake_min
    assert guard.counts == {BRAKE: 1}
    assert any(
        "brake" in r.getMessage() and r.name == "carmind.drive.guard" for r in caplog.records
    )
    # The guard's brake is not a comfort limit: it may exceed 3.5 m/s² and the jerk limit.
    assert LIMIT_DECEL not in result.limits


def test_brakes_harder_when_the_gap_needs_it_up_to_the_emergency_limit() -> None:
    guard = SafetyGuard()
    # 5 m gap, ego 25 m/s, car ahead 15 m/s: stopping needs 25²/(2·(5 + 15²/12)) ≈ 13 m/s².
    result = guard.filter(ego(), [car(10.0, vx=15.0)], Action(0.0, 0.0))
    assert result.action.acceleration == pytest.approx(-HIGHWAY_RSS.emergency_brake)


def test_no_brake_when_the_gap_is_safe() -> None:
    guard = SafetyGuard()
    action = Action(0.5, 0.0)
    result = guard.filter(ego(acceleration=0.5), [car(40.0)], action)
    assert result.interventions == ()
    assert result.action == action
    assert guard.counts == {}


def test_no_brake_for_a_car_behind_or_far_to_the_side() -> None:
    guard = SafetyGuard()
    behind = car(-8.0, vx=35.0, ident=1)  # tailgating and closing fast
    beside_far = car(2.0, y=8.0, ident=2)  # two lanes away
    adjacent_ahead = car(15.0, y=4.0, ident=3)  # next lane, keeping its lane
    action = Action(0.0, 0.0)
    result = guard.filter(ego(), [behind, beside_far, adjacent_ahead], action)
    assert result.interventions == ()
    assert result.action == action


def test_cut_in_triggers_braking() -> None:
    guard = SafetyGuard()
    # Half a lane across, 15 m ahead, slower, moving into the ego's lane at 2 m/s.
    cut_in = car(20.0, y=3.5, vx=20.0, vy=-2.0, ident=9)
    result = guard.filter(ego(), [cut_in], Action(0.0, 0.0))
    assert [i.kind for i in result.interventions] == [BRAKE]
    assert "cutting in" in result.interventions[0].reason
    assert result.action.acceleration <= -HIGHWAY_RSS.brake_min
    # The same car holding its lane is no reason to brake.
    steady = car(20.0, y=3.5, vx=20.0, vy=0.0, ident=9)
    assert SafetyGuard().filter(ego(), [steady], Action(0.0, 0.0)).interventions == ()


def test_braking_never_reverses_a_stopped_car() -> None:
    guard = SafetyGuard()
    result = guard.filter(ego(0.0), [car(5.05, vx=0.0)], Action(1.0, 0.0))
    assert [i.kind for i in result.interventions] == [BRAKE]
    assert result.action.acceleration == 0.0


# -- lateral ----------------------------------------------------------------------------------

# Mid lane change to the left: 1 m left of the lane centre, heading 0.06 rad left (1.5 m/s).
CHANGING_LEFT = ego(lane_offset=1.0, heading_error=0.06, steering=0.02)
LANE_CHANGE = Action(0.0, 0.02)


def test_lane_change_into_a_free_lane_passes_unchanged() -> None:
    guard = SafetyGuard()
    result = guard.filter(CHANGING_LEFT, [], LANE_CHANGE)
    assert result.action == LANE_CHANGE
    assert result.interventions == ()
    assert result.limits == ()


def test_lane_change_toward_a_car_alongside_is_aborted() -> None:
    guard = SafetyGuard()
    alongside = car(0.0, y=3.0, ident=7)  # centre of the left lane, level with the ego
    result = guard.filter(CHANGING_LEFT, [alongside], LANE_CHANGE)
    assert [i.kind for i in result.interventions] == [ABORT_LANE_CHANGE]
    assert result.interventions[0].ident == 7
    assert result.action.steering < 0.0  # steering back to the right
    assert "-1.0 m" in result.interventions[0].reason  # the centre of the lane it came from
    assert guard.counts == {ABORT_LANE_CHANGE: 1}
    # No braking for a car beside.
    assert result.action.acceleration == 0.0


def test_lane_change_in_front_of_a_faster_car_behind_is_aborted() -> None:
    guard = SafetyGuard()
    closing = car(-6.0, y=3.0, vx=30.0, ident=5)
    result = guard.filter(CHANGING_LEFT, [closing], LANE_CHANGE)
    assert [i.kind for i in result.interventions] == [ABORT_LANE_CHANGE]
    assert result.action.steering < 0.0


def test_lane_change_to_the_right_is_aborted_by_steering_left() -> None:
    guard = SafetyGuard()
    changing_right = ego(lane_offset=-1.0, heading_error=-0.06, steering=-0.02)
    alongside = car(1.0, y=-3.0, ident=8)
    result = guard.filter(changing_right, [alongside], Action(0.0, -0.02))
    assert [i.kind for i in result.interventions] == [ABORT_LANE_CHANGE]
    assert result.action.steering > 0.0


def test_lane_keeping_next_to_a_car_alongside_is_left_alone() -> None:
    guard = SafetyGuard()
    action = Action(0.0, 0.0)
    result = guard.filter(ego(), [car(0.0, y=4.0), car(0.0, y=-4.0)], action)
    assert result.interventions == ()
    assert result.action == action


# -- bookkeeping ------------------------------------------------------------------------------


def test_counts_accumulate_and_reset_clears_them() -> None:
    guard = SafetyGuard()
    for _ in range(3):
        guard.filter(ego(), [car(20.0)], Action(0.0, 0.0))
    assert guard.counts == {BRAKE: 3}
    guard.reset()
    assert guard.counts == {}


def test_comfort_limits_are_reported_apart_from_interventions() -> None:
    guard = SafetyGuard()
    result = guard.filter(ego(), [], Action(3.0, 0.0))
    assert result.interventions == ()
    assert result.action.acceleration == pytest.approx(0.5)  # jerk from 0 at 2.5 m/s³
    assert result.limits == ("jerk",)


def test_bad_inputs_are_refused_and_change_nothing() -> None:
    guard = SafetyGuard()
    with pytest.raises(InvalidDriveInput, match="dt"):
        guard.filter(ego(), [car(20.0)], Action(0.0, 0.0), dt=0.0)
    with pytest.raises(InvalidDriveInput, match="action"):
        guard.filter(ego(), [car(20.0)], Action(math.inf, 0.0))
    assert guard.counts == {}
