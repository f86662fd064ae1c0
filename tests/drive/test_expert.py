"""The expert planner: its decisions on hand-built situations, then closed loop."""

from __future__ import annotations

from carmind.drive.env import make_env
from carmind.drive.expert import Expert
from carmind.drive.rollout import run_episode
from carmind.drive.types import EgoState, TrackedObject

W = 4.0


def ego(speed: float = 28.0, offset: float = 0.0, left: int = 1, right: int = 1) -> EgoState:
    return EgoState(speed, 0.0, 0.0, offset, 0.0, W, left, right)


def car(x: float, lane: int = 0, vx: float = 20.0, vy: float = 0.0) -> TrackedObject:
    return TrackedObject(x=x, y=lane * W, vx=vx, vy=vy)


def fresh() -> Expert:
    e = Expert()
    e._since_change = 1e9
    return e


def test_free_road_accelerates_to_the_desired_speed() -> None:
    plan = fresh().plan(ego(speed=20.0), [], v0=30.0, dt=0.2)
    assert plan.acceleration > 0.5 and plan.lane == 0


def test_it_follows_a_slower_car_when_it_cannot_pass() -> None:
    # a slow car ahead, cars alongside on both sides: brake, stay in lane
    objs = [car(30.0, 0, 20.0), car(0.0, 1, 28.0), car(0.0, -1, 28.0)]
    plan = fresh().plan(ego(), objs, v0=30.0, dt=0.2)
    assert plan.lane == 0
    assert plan.acceleration < 0


def test_it_passes_a_slower_car_when_the_left_lane_is_free() -> None:
    plan = fresh().plan(ego(), [car(40.0, 0, 20.0)], v0=30.0, dt=0.2)
    assert plan.lane in (1, -1)
    assert plan.lateral_offset * plan.lane > 0  # it moves toward the chosen lane


def test_no_lane_change_into_a_car_alongside_or_closing_from_behind() -> None:
    blocked_left = [car(40.0, 0, 20.0), car(-2.0, 1, 28.0)]
    fast_behind = [car(40.0, 0, 20.0), car(-15.0, 1, 38.0)]
    for objs in (blocked_left, fast_behind):
        plan = fresh().plan(ego(right=0), objs, v0=30.0, dt=0.2)
        assert plan.lane != 1


def test_no_lane_change_off_the_road() -> None:
    plan = fresh().plan(ego(left=0, right=0), [car(40.0, 0, 20.0)], v0=30.0, dt=0.2)
    assert plan.lane == 0


def test_a_car_cutting_in_makes_it_brake() -> None:
    calm = fresh().plan(ego(), [car(25.0, 1, 26.0)], v0=30.0, dt=0.2)
    cutting = fresh().plan(ego(), [car(25.0, 1, 26.0, vy=-2.5)], v0=30.0, dt=0.2)
    assert cutting.acceleration < calm.acceleration - 0.5


def test_a_collapsing_gap_brings_emergency_braking() -> None:
    e = fresh()
    plan = e.plan(ego(speed=30.0, left=0, right=0), [car(14.0, 0, 10.0)], v0=30.0, dt=0.2)
    assert plan.acceleration <= -5.0


def test_comfortable_acceleration_is_jerk_limited() -> None:
    e = fresh()
    first = e.plan(ego(speed=10.0), [], v0=30.0, dt=0.2)
    assert first.acceleration <= 4.0 * 0.2 + 1e-9  # from 0 m/s² at 4 m/s³ over 0.2 s


def test_it_drives_the_merge_scenario_without_fault() -> None:
    env = make_env("merge", rig=None)
    for seed in (11, 12):
        result = run_episode(env, Expert(), seed)
        assert not result.at_fault
        assert not result.offroad
        assert result.progress_m > 250.0  # the ramp is passed
