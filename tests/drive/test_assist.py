"""The engagement state machine: ODD, override, takeover, lockout, and a simulated driver."""

from __future__ import annotations

import math

import pytest

from carmind.drive.assist import (
    KMH,
    TAKEOVER_DECEL_MPS2,
    AssistState,
    DriveAssist,
    DriverInputs,
    SimulatedDriver,
    Status,
)
from carmind.drive.limits import InvalidDriveInput
from carmind.drive.monitor import DISTRACTED_TIME_S, MAX_TERMINAL_ALERTS

DT = 0.2
CRUISE = 100.0 * KMH
ATTENTIVE = DriverInputs(
    eyes_on_road=True,
    hands_on_wheel=True,
    steering_torque=0.0,
    brake_pedal=False,
    accelerator_pedal=False,
)
DISTRACTED = DriverInputs(False, True, 0.0, False, False)
BRAKE = DriverInputs(True, True, 0.0, True, False)
GAS = DriverInputs(True, True, 0.0, False, True)


def steer(torque: float) -> DriverInputs:
    return DriverInputs(True, True, torque, False, False)


def engaged(speed: float = CRUISE) -> DriveAssist:
    assist = DriveAssist()
    assist.update(DT, ATTENTIVE, speed, True)
    assert assist.request_engage() is None
    assert assist.state.status == Status.ENGAGED
    return assist


def status_of(assist: DriveAssist) -> Status:
    return assist.state.status


def drive(
    assist: DriveAssist,
    seconds: float,
    inputs: DriverInputs = ATTENTIVE,
    speed: float = CRUISE,
    lanes: bool = True,
) -> AssistState:
    state = assist.state
    for _ in range(round(seconds / DT)):
        state = assist.update(DT, inputs, speed, lanes)
    return state


def test_starts_off_then_ready_inside_the_domain() -> None:
    assist = DriveAssist()
    assert assist.state.status == Status.OFF
    assert assist.request_engage() == "system off: no vehicle data yet"
    state = assist.update(DT, ATTENTIVE, CRUISE, True)
    assert state.status == Status.READY
    assert not state.engaged


def test_engage_sets_the_speed_and_lets_the_policy_drive() -> None:
    assist = engaged()
    state = assist.state
    assert state.engaged
    assert state.set_speed == pytest.approx(CRUISE)
    assert state.alert == "none"
    assert assist.request_engage(110.0 * KMH) is None
    assert assist.state.set_speed == pytest.approx(110.0 * KMH)


@pytest.mark.parametrize(
    ("speed", "lanes", "inputs", "expected"),
    [
        (40.0 * KMH, True, ATTENTIVE, "speed 40 km/h is outside the operating range 60–135 km/h"),
        (150.0 * KMH, True, ATTENTIVE, "speed 150 km/h is outside the operating range"),
        (CRUISE, False, ATTENTIVE, "lane markings not detected"),
        (CRUISE, True, BRAKE, "release the brake pedal to engage"),
    ],
)
def test_engage_outside_the_domain_is_refused_with_a_reason(
    speed: float, lanes: bool, inputs: DriverInputs, expected: str
) -> None:
    assist = DriveAssist()
    state = assist.update(DT, inputs, speed, lanes)
    if inputs is ATTENTIVE:
        assert state.status == Status.UNAVAILABLE
    reason = assist.request_engage()
    assert reason is not None
    assert reason.startswith(expected)
    assert not assist.state.engaged


def test_set_speed_outside_the_range_is_refused() -> None:
    assist = DriveAssist()
    assist.update(DT, ATTENTIVE, CRUISE, True)
    reason = assist.request_engage(200.0 * KMH)
    assert reason == "set speed 200 km/h is outside 60–135 km/h"
    assert assist.state.status == Status.READY
    with pytest.raises(InvalidDriveInput, match="set_speed"):
        assist.request_engage(math.nan)


def test_speed_hysteresis_holds_engagement_then_requests_takeover() -> None:
    assist = engaged(61.0 * KMH)
    assert drive(assist, 1.0, speed=56.0 * KMH).status == Status.ENGAGED
    state = drive(assist, DT, speed=54.0 * KMH)
    assert state.status == Status.TAKEOVER
    assert state.takeover_request
    assert state.alert == "terminal"
    assert "54 km/h" in state.alert_text
    assert state.max_acceleration == -TAKEOVER_DECEL_MPS2
    assert state.engaged  # the system keeps the lane while slowing down

    upper = engaged(130.0 * KMH)
    assert drive(upper, 1.0, speed=139.0 * KMH).status == Status.ENGAGED
    assert drive(upper, DT, speed=141.0 * KMH).status == Status.TAKEOVER


def test_inside_the_band_but_outside_the_engage_range_cannot_engage() -> None:
    assist = DriveAssist()
    assist.update(DT, ATTENTIVE, 57.0 * KMH, True)
    assert assist.request_engage() is not None


def test_lane_markings_may_vanish_briefly() -> None:
    assist = engaged()
    assert drive(assist, 1.0, lanes=False).status == Status.ENGAGED
    state = drive(assist, 0.4, lanes=False)
    assert state.status == Status.TAKEOVER
    assert "lane markings lost" in state.alert_text


def test_accelerator_or_light_steering_overrides_and_the_system_yields() -> None:
    assist = engaged()
    state = assist.update(DT, GAS, CRUISE, True)
    assert state.status == Status.OVERRIDE
    assert not state.engaged
    assert assist.update(DT, ATTENTIVE, CRUISE, True).status == Status.ENGAGED
    assert assist.update(DT, steer(1.5), CRUISE, True).status == Status.OVERRIDE
    assert assist.update(DT, steer(0.3), CRUISE, True).status == Status.ENGAGED


def test_strong_steering_disengages_at_once() -> None:
    assist = engaged()
    state = assist.update(DT, steer(-4.0), CRUISE, True)
    assert state.status == Status.READY
    assert state.reason == "driver steered"
    assert not state.engaged


@pytest.mark.parametrize("setup", ["engaged", "override", "takeover"])
def test_the_brake_pedal_disengages_from_any_active_state(setup: str) -> None:
    assist = engaged()
    if setup == "override":
        assist.update(DT, GAS, CRUISE, True)
        assert assist.state.status == Status.OVERRIDE
    elif setup == "takeover":
        drive(assist, DISTRACTED_TIME_S, DISTRACTED)
        assert assist.state.status == Status.TAKEOVER
    state = assist.update(DT, BRAKE, CRUISE, True)
    assert state.status == Status.READY
    assert not state.engaged
    assert not state.takeover_request
    assert state.alert == "none"


def test_cancel_disengages() -> None:
    assist = engaged()
    assist.request_cancel()
    assert assist.state.status == Status.READY
    assert assist.state.reason == "cancelled by the driver"


def test_monitor_alerts_reach_the_driver_and_terminal_requests_takeover() -> None:
    assist = engaged()
    assert drive(assist, 3.0, DISTRACTED).alert == "pre"
    assert drive(assist, 2.0, DISTRACTED).alert == "prompt"
    state = drive(assist, DISTRACTED_TIME_S - 5.0, DISTRACTED)
    assert state.status == Status.TAKEOVER
    assert state.alert == "terminal"
    assert state.terminal_alerts == 1
    reason = assist.request_engage()
    assert reason is not None and reason.startswith("take over first")


def test_three_terminal_alerts_lock_out_until_parked() -> None:
    assist = engaged()
    for n in range(1, MAX_TERMINAL_ALERTS + 1):
        drive(assist, DISTRACTED_TIME_S, DISTRACTED)
        assert assist.state.terminal_alerts == n
        state = assist.update(DT, BRAKE, CRUISE, True)  # the driver takes over
        if n < MAX_TERMINAL_ALERTS:
            assert state.status == Status.READY
            assert assist.request_engage() == "release the brake pedal to engage"
            assist.update(DT, ATTENTIVE, CRUISE, True)
            assert assist.request_engage() is None
    assert assist.state.status == Status.LOCKOUT
    assert drive(assist, 5.0).status == Status.LOCKOUT
    assert assist.request_engage() == "locked out after 3 terminal alerts: park the car to reset"
    assist.park()
    assert status_of(assist) == Status.OFF
    assert assist.update(DT, ATTENTIVE, CRUISE, True).status == Status.READY
    assert assist.request_engage() is None


def test_bad_inputs_are_refused_and_change_nothing() -> None:
    assist = engaged()
    with pytest.raises(InvalidDriveInput, match="speed"):
        assist.update(DT, ATTENTIVE, -1.0, True)
    with pytest.raises(InvalidDriveInput, match="dt"):
        assist.update(0.0, ATTENTIVE, CRUISE, True)
    assert assist.state.status == Status.ENGAGED


def _simulate(driver: SimulatedDriver, seconds: float) -> tuple[DriveAssist, list[AssistState]]:
    assist = DriveAssist()
    states: list[AssistState] = []
    state = assist.update(DT, ATTENTIVE, CRUISE, True)
    for _ in range(round(seconds / DT)):
        if state.status == Status.READY:
            assist.request_engage()
            state = assist.state
        state = assist.update(DT, driver.step(DT, state), CRUISE, True)
        states.append(state)
    return assist, states


def test_simulated_attentive_driver_glances_but_never_reaches_a_terminal_alert() -> None:
    driver = SimulatedDriver(seed=1)
    inputs = [driver.step(DT) for _ in range(3000)]
    assert any(not i.eyes_on_road for i in inputs)
    assert any(not i.hands_on_wheel for i in inputs)
    assert sum(i.eyes_on_road for i in inputs) > 0.8 * len(inputs)
    assist, states = _simulate(SimulatedDriver(seed=1), 600.0)
    assert assist.state.terminal_alerts == 0
    assert all(s.status == Status.ENGAGED for s in states)


def test_simulated_distracted_driver_is_locked_out() -> None:
    assist, states = _simulate(SimulatedDriver(seed=2, distracted=True), 600.0)
    assert any(s.alert == "prompt" for s in states)
    assert any(s.status == Status.TAKEOVER for s in states)
    assert assist.state.status == Status.LOCKOUT
    assert assist.state.terminal_alerts == MAX_TERMINAL_ALERTS


def test_simulated_driver_is_reproducible() -> None:
    a = SimulatedDriver(seed=5)
    b = SimulatedDriver(seed=5)
    assert [a.step(DT) for _ in range(500)] == [b.step(DT) for _ in range(500)]
