"""The speed controller follows steps within its comfort bounds, and winds up no integral."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from carmind.vehicle.controller import HOLD_BRAKE, SpeedController
from carmind.vehicle.dynamics import (
    DriveInput,
    MotionState,
    Road,
    SimulationInputError,
    initial_state,
    step,
)
from carmind.vehicle.profiles import VehicleProfile, get_profile

DT = 0.02


@pytest.fixture(scope="module")
def y() -> VehicleProfile:
    return get_profile("tesla-model-y-long-range")


def follow(
    controller: SpeedController,
    profile: VehicleProfile,
    state: MotionState,
    target_mps: float,
    seconds: float,
    road: Road | None = None,
) -> tuple[list[MotionState], list[float]]:
    road = road or Road()
    states, commands = [state], []
    for _ in range(round(seconds / DT)):
        drive = controller.update(target_mps, states[-1], DT)
        commands.append(controller.commanded_accel_mps2)
        states.append(step(profile, states[-1], drive, road, DT))
    return states, commands


def test_follows_a_step_up_within_comfort_bounds(y: VehicleProfile) -> None:
    ctl = SpeedController(y, max_accel_mps2=2.0, max_decel_mps2=3.0, max_jerk_mps3=2.5)
    states, commands = follow(ctl, y, initial_state(y, 80.0), 20.0, 40.0)
    speeds = [s.speed_mps for s in states]
    assert speeds[-1] == pytest.approx(20.0, abs=0.05)
    assert max(speeds) < 20.0 + 0.4  # little overshoot
    t_reach = next(i for i, v in enumerate(speeds) if v >= 19.0) * DT
    assert t_reach < 14.0  # 19 m/s at 2 m/s² plus the jerk ramp is ~10.3 s
    # Commanded acceleration and jerk stay within their bounds.
    assert max(commands) <= 2.0 + 1e-9
    jerks = [abs(b - a) / DT for a, b in itertools.pairwise(commands)]
    assert max(jerks) <= 2.5 + 1e-6
    # The car itself follows: its acceleration and jerk stay close to the bounds.
    accels = [s.acceleration_mps2 for s in states[1:]]
    assert max(accels) <= 2.0 * 1.03
    car_jerks = [abs(b - a) / DT for a, b in itertools.pairwise(accels)]
    assert max(car_jerks) <= 2.5 * 1.2


def test_follows_a_step_down_to_a_stop_and_holds(y: VehicleProfile) -> None:
    ctl = SpeedController(y, max_decel_mps2=3.0, max_jerk_mps3=2.5)
    start = dataclasses.replace(initial_state(y, 80.0), speed_mps=25.0)
    states, commands = follow(ctl, y, start, 0.0, 25.0)
    assert min(commands) >= -3.0 - 1e-9
    assert min(s.acceleration_mps2 for s in states[1:-1] if s.speed_mps > 0.5) >= -3.0 * 1.03
    assert states[-1].speed_mps == 0.0
    assert ctl.update(0.0, states[-1], DT) == DriveInput(0.0, HOLD_BRAKE)


def test_anti_windup_keeps_overshoot_small_after_a_long_saturation() -> None:
    # A 30 % climb: the car cannot reach 40 m/s, the pedal stays floored for a long time.
    su7 = get_profile("xiaomi-su7")
    steep = Road(grade_pct=30.0)
    ctl = SpeedController(su7, kp=0.8, ki=0.5, road=steep)
    state = dataclasses.replace(initial_state(su7, 80.0), speed_mps=15.0)
    states, _ = follow(ctl, su7, state, 40.0, 40.0, road=steep)
    assert states[-1].speed_mps < 35.0
    # Then the road flattens and the target drops to what the car is doing plus a little.
    target = states[-1].speed_mps + 2.0
    ctl.road = Road()
    after, _ = follow(ctl, su7, states[-1], target, 30.0)
    assert max(s.speed_mps for s in after) < target + 0.3
    assert after[-1].speed_mps == pytest.approx(target, abs=0.05)


def test_anti_windup_at_the_electronic_limiter(y: VehicleProfile) -> None:
    ctl = SpeedController(y, kp=0.8, ki=0.5)
    start = dataclasses.replace(initial_state(y, 80.0), speed_mps=55.0)
    states, _ = follow(ctl, y, start, 80.0, 30.0)  # asks for more than the limiter allows
    assert states[-1].speed_kmh == pytest.approx(y.top_speed_limit_kmh)
    after, _ = follow(ctl, y, states[-1], 50.0, 30.0)
    assert min(s.speed_mps for s in after) > 50.0 - 0.3
    assert after[-1].speed_mps == pytest.approx(50.0, abs=0.05)


def test_holds_speed_up_a_hill(y: VehicleProfile) -> None:
    hill = Road(grade_pct=6.0)
    ctl = SpeedController(y, road=hill)
    start = dataclasses.replace(initial_state(y, 80.0), speed_mps=22.0)
    states, _ = follow(ctl, y, start, 22.0, 60.0, road=hill)
    assert all(abs(s.speed_mps - 22.0) < 0.3 for s in states)


def test_passthrough_returns_the_pedals_and_resumes_smoothly(y: VehicleProfile) -> None:
    ctl = SpeedController(y)
    state = initial_state(y, 80.0)
    pedals = DriveInput(0.35, 0.0)
    for _ in range(200):
        assert ctl.passthrough(pedals, state) is pedals
        state = step(y, state, pedals, Road(), DT)
    ctl.update(state.speed_mps, state, DT)
    # The first command after the hand-over starts near the car's own acceleration.
    assert abs(ctl.commanded_accel_mps2 - state.acceleration_mps2) <= 2.5 * DT + 1e-9


def test_reset_forgets_state(y: VehicleProfile) -> None:
    ctl = SpeedController(y)
    follow(ctl, y, initial_state(y, 80.0), 10.0, 2.0)
    assert ctl.commanded_accel_mps2 != 0.0
    ctl.reset()
    assert ctl.commanded_accel_mps2 == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kp": -1.0}, "kp must be a positive number"),
        ({"ki": -0.1}, "ki must be zero or a positive number"),
        ({"max_accel_mps2": 0.0}, "max_accel_mps2 must be a positive number"),
        ({"max_jerk_mps3": float("inf")}, "max_jerk_mps3 must be a positive number"),
        ({"mass_kg": 5.0}, "mass_kg must be between"),
    ],
)
def test_bad_settings_are_refused(y: VehicleProfile, kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(SimulationInputError, match=match):
        SpeedController(y, **kwargs)  # type: ignore[arg-type]


def test_bad_update_inputs_are_refused_and_change_nothing(y: VehicleProfile) -> None:
    ctl = SpeedController(y)
    state = initial_state(y, 80.0)
    ctl.update(5.0, state, DT)
    before = ctl.commanded_accel_mps2
    with pytest.raises(SimulationInputError, match="target_speed_mps must be zero or a positive"):
        ctl.update(-1.0, state, DT)
    with pytest.raises(SimulationInputError, match="dt must be above 0"):
        ctl.update(5.0, state, 0.0)
    with pytest.raises(SimulationInputError, match="target_accel_mps2 must be a finite"):
        ctl.update(5.0, state, DT, float("nan"))
    assert ctl.commanded_accel_mps2 == before
