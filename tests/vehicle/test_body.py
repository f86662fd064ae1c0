"""The body model: delays, interlocks, emergency unlock, change reporting, determinism."""

from __future__ import annotations

import pytest

from carmind.errors import CarmindError
from carmind.vehicle.body import (
    AUTO_LOCK_SPEED_KMH,
    CRASH_UNLOCK_PATHS,
    DOORS,
    HORN_HONK_S,
    LID_TRAVEL_S,
    LOCK_ACTUATION_S,
    LOW_VOLTAGE_DEBOUNCE_S,
    LOW_VOLTAGE_THRESHOLD_V,
    SEAT_INITIAL_MM,
    SEAT_SPEED_MM_PER_S,
    SEAT_TRAVEL_MM,
    WALKING_SPEED_KMH,
    WINDOW_TRAVEL_S,
    Body,
    BodyError,
    Refusal,
    Value,
)

DRIVER = "Vehicle.Cabin.Door.Row1.DriverSide."
REAR_LEFT = "Vehicle.Cabin.Door.Row2.DriverSide."
TRUNK = "Vehicle.Body.Trunk.Rear."
FRUNK = "Vehicle.Body.Trunk.Front."
SEAT = "Vehicle.Cabin.Seat.Row1.DriverSide."
HORN = "Vehicle.Body.Horn.IsActive"
HAZARD = "Vehicle.Body.Lights.Hazard.IsSignaling"
LEFT = "Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling"
RIGHT = "Vehicle.Body.Lights.DirectionIndicator.Right.IsSignaling"
OK_V = 13.8  # a healthy 12 V system with the DC-DC converter running


def run(
    body: Body,
    seconds: float,
    *,
    dt: float = 0.1,
    speed: float = 0.0,
    volts: float = OK_V,
    crash: bool = False,
) -> None:
    for _ in range(round(seconds / dt)):
        body.step(dt, speed, volts, crash)


def value(body: Body, path: str) -> object:
    return body.current_values()[path]


def number(body: Body, path: str) -> int:
    v = body.current_values()[path]
    assert type(v) is int, (path, v)
    return v


def accept(body: Body, path: str, v: object, speed: float = 0.0) -> None:
    assert body.apply(path, v, speed) is None


# --- Catalogue --------------------------------------------------------------------------------


def test_publishes_every_owned_path_with_vss_datatypes() -> None:
    values = Body().current_values()
    assert set(values) == Body.PATHS
    assert Body.ACTUATORS < Body.PATHS
    assert len(values) == 41
    for path, v in values.items():
        if path.endswith(("Window.Position", "Trunk.Rear.Position", "Trunk.Front.Position")):
            assert type(v) is int and 0 <= v <= 100, path  # uint8 percent
        elif path.endswith(("Seat.Row1.DriverSide.Position", "Seat.Row1.PassengerSide.Position")):
            assert type(v) is int and 0 <= v <= SEAT_TRAVEL_MM, path  # uint16 mm
        elif path.endswith("HeatingCooling"):
            assert type(v) is int and -100 <= v <= 100, path  # int8 percent
        else:
            assert type(v) is bool, path
    assert f"{DRIVER}IsChildLockActive" not in Body.ACTUATORS  # a VSS sensor


def test_unknown_path_sensor_path_and_wrong_type_raise_and_change_nothing() -> None:
    body = Body()
    before = body.current_values()
    with pytest.raises(BodyError, match="not a body actuator"):
        body.apply("Vehicle.Cabin.Sunroof.Position", 10, 0.0)
    with pytest.raises(BodyError, match="sensor"):
        body.apply(f"{REAR_LEFT}IsChildLockActive", True, 0.0)
    with pytest.raises(CarmindError, match="boolean"):
        body.apply(f"{DRIVER}IsLocked", "yes", 0.0)
    with pytest.raises(BodyError, match="whole number"):
        body.apply(f"{DRIVER}Window.Position", 12.5, 0.0)
    with pytest.raises(BodyError, match="dt"):
        body.step(-0.1, 0.0, OK_V, False)
    run(body, 1.0)
    assert body.current_values() == before


# --- Delays -----------------------------------------------------------------------------------


def test_window_full_travel_takes_its_travel_time() -> None:
    body = Body()
    accept(body, f"{DRIVER}Window.Position", 100)
    run(body, WINDOW_TRAVEL_S - 0.1)
    assert 95 <= number(body, f"{DRIVER}Window.Position") < 100
    assert value(body, f"{DRIVER}Window.IsOpen") is True
    run(body, 0.1)
    assert value(body, f"{DRIVER}Window.Position") == 100
    # Half travel back takes half the time; IsOpen closes the window fully.
    accept(body, f"{DRIVER}Window.Position", 50)
    run(body, WINDOW_TRAVEL_S / 2)
    assert value(body, f"{DRIVER}Window.Position") == 50
    accept(body, f"{DRIVER}Window.IsOpen", False)
    run(body, WINDOW_TRAVEL_S / 2)
    assert value(body, f"{DRIVER}Window.Position") == 0
    assert value(body, f"{DRIVER}Window.IsOpen") is False


def test_lock_settles_after_its_actuation_time() -> None:
    body = Body()
    accept(body, f"{DRIVER}IsLocked", True)
    run(body, LOCK_ACTUATION_S - 0.1)
    assert value(body, f"{DRIVER}IsLocked") is False
    run(body, 0.1)
    assert value(body, f"{DRIVER}IsLocked") is True
    assert body.door("Row1.DriverSide").is_locked


def test_trunk_lid_travels_in_about_four_seconds() -> None:
    body = Body()
    accept(body, f"{TRUNK}IsOpen", True)
    run(body, 0.1)
    assert value(body, f"{TRUNK}IsOpen") is True  # VSS: true as soon as partly open
    run(body, LID_TRAVEL_S - 0.2)
    assert number(body, f"{TRUNK}Position") < 100
    run(body, 0.1)
    assert value(body, f"{TRUNK}Position") == 100
    accept(body, f"{TRUNK}IsOpen", False)
    run(body, LID_TRAVEL_S - 0.1)
    assert value(body, f"{TRUNK}IsOpen") is True
    run(body, 0.1)
    assert value(body, f"{TRUNK}IsOpen") is False
    assert value(body, f"{TRUNK}Position") == 0


def test_lights_and_seat_heating_take_effect_on_the_next_step() -> None:
    body = Body()
    accept(body, "Vehicle.Body.Lights.Beam.Low.IsOn", True)
    accept(body, f"{SEAT}HeatingCooling", -60)  # VSS: negative is ventilation
    accept(body, "Vehicle.Cabin.Seat.Row1.PassengerSide.HeatingCooling", 100)
    assert value(body, "Vehicle.Body.Lights.Beam.Low.IsOn") is False
    body.step(0.02, 0.0, OK_V, False)
    assert value(body, "Vehicle.Body.Lights.Beam.Low.IsOn") is True
    assert value(body, f"{SEAT}HeatingCooling") == -60
    assert value(body, "Vehicle.Cabin.Seat.Row1.PassengerSide.HeatingCooling") == 100
    assert body.seat("Row1.DriverSide").heating_cooling == -60


def test_seat_moves_at_motor_speed_and_refuses_beyond_its_travel() -> None:
    body = Body()
    accept(body, f"{SEAT}Position", SEAT_INITIAL_MM + 50)
    run(body, 1.0)
    assert value(body, f"{SEAT}Position") == SEAT_INITIAL_MM + round(SEAT_SPEED_MM_PER_S)
    run(body, 1.0)
    assert body.seat("Row1.DriverSide").position_mm == SEAT_INITIAL_MM + 50
    refusal = body.apply(f"{SEAT}Position", SEAT_TRAVEL_MM + 1, 0.0)
    assert refusal is not None and "travel" in refusal.reason
    run(body, 1.0)
    assert value(body, f"{SEAT}Position") == SEAT_INITIAL_MM + 50


def test_horn_sounds_for_the_honk_duration_then_stops_by_itself() -> None:
    body = Body()
    accept(body, HORN, True)
    body.step(0.1, 0.0, OK_V, False)
    assert value(body, HORN) is True
    run(body, HORN_HONK_S - 0.1)
    assert value(body, HORN) is True
    run(body, 0.1)
    assert value(body, HORN) is False
    accept(body, HORN, True)
    body.step(0.1, 0.0, OK_V, False)
    accept(body, HORN, False)
    body.step(0.1, 0.0, OK_V, False)
    assert value(body, HORN) is False


def test_hazards_and_direction_indicators() -> None:
    body = Body()
    accept(body, HAZARD, True)
    accept(body, LEFT, True)
    body.step(0.1, 0.0, OK_V, False)
    assert value(body, HAZARD) is True and value(body, LEFT) is True
    accept(body, RIGHT, True)  # one stalk: right cancels left
    body.step(0.1, 0.0, OK_V, False)
    assert value(body, RIGHT) is True and value(body, LEFT) is False
    accept(body, HAZARD, False)
    body.step(0.1, 0.0, OK_V, False)
    assert value(body, HAZARD) is False and value(body, RIGHT) is True


# --- Interlocks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [f"{DRIVER}IsOpen", f"{TRUNK}IsOpen", f"{FRUNK}IsOpen", "Vehicle.Body.Hood.IsOpen"]
)
def test_openings_refused_above_walking_speed_change_nothing(path: str) -> None:
    body = Body(auto_lock=False)
    body.changed_values()
    for speed in (WALKING_SPEED_KMH + 0.1, 50.0, -10.0):  # reversing counts too
        refusal = body.apply(path, True, speed)
        assert isinstance(refusal, Refusal)
        assert (refusal.path, refusal.value) == (path, True)
        assert "walking speed" in refusal.reason
    run(body, 5.0, speed=50.0)
    assert body.changed_values() == {}
    assert value(body, path) is False


@pytest.mark.parametrize("path", [f"{DRIVER}IsOpen", f"{TRUNK}IsOpen", f"{FRUNK}IsOpen"])
def test_openings_allowed_at_walking_pace(path: str) -> None:
    body = Body()
    accept(body, path, True, speed=5.0)
    accept(body, path, False, speed=WALKING_SPEED_KMH)
    accept(body, path, True, speed=WALKING_SPEED_KMH)
    run(body, LID_TRAVEL_S, speed=5.0)
    assert value(body, path) is True


def test_trunk_position_refused_at_speed_but_closing_is_always_allowed() -> None:
    body = Body()
    accept(body, f"{TRUNK}Position", 40)
    run(body, LID_TRAVEL_S)
    refusal = body.apply(f"{TRUNK}Position", 80, 30.0)
    assert refusal is not None and refusal.path == f"{TRUNK}Position" and refusal.value == 80
    accept(body, f"{TRUNK}IsOpen", False, speed=30.0)
    run(body, LID_TRAVEL_S * 0.2)  # on its way down past 30 %: stopping at 10 % is no opening
    accept(body, f"{TRUNK}Position", 10, speed=30.0)
    run(body, LID_TRAVEL_S)
    assert value(body, f"{TRUNK}Position") == 10
    accept(body, f"{TRUNK}IsOpen", False, speed=30.0)
    run(body, LID_TRAVEL_S)
    assert value(body, f"{TRUNK}IsOpen") is False


def test_locked_door_does_not_open_and_open_door_does_not_lock() -> None:
    body = Body()
    accept(body, f"{DRIVER}IsLocked", True)
    refusal = body.apply(f"{DRIVER}IsOpen", True, 0.0)
    assert refusal is not None and "locked" in refusal.reason
    # Unlock and open at once: the door opens once the lock has released.
    accept(body, f"{DRIVER}IsLocked", False)
    accept(body, f"{DRIVER}IsOpen", True)
    run(body, 1.0)
    assert value(body, f"{DRIVER}IsOpen") is True
    refusal = body.apply(f"{DRIVER}IsLocked", True, 0.0)
    assert refusal is not None and "open" in refusal.reason
    # Close and lock at once: the lock engages once the door is shut.
    accept(body, f"{DRIVER}IsOpen", False)
    accept(body, f"{DRIVER}IsLocked", True)
    run(body, 1.0)
    assert body.door("Row1.DriverSide").is_locked
    assert not body.door("Row1.DriverSide").is_open


def test_central_locking_is_all_or_nothing() -> None:
    body = Body()
    accept(body, f"{TRUNK}IsOpen", True)
    run(body, LID_TRAVEL_S)
    before = body.current_values()
    refusals = body.central_lock(True)
    assert [r.path for r in refusals] == [f"{TRUNK}IsLocked"]
    run(body, 1.0)
    assert body.current_values() == before
    accept(body, f"{TRUNK}IsOpen", False)
    assert body.central_lock(True) == []  # a closing lid locks once shut
    run(body, LID_TRAVEL_S + 1.0)
    assert all(value(body, p) is True for p in CRASH_UNLOCK_PATHS)
    assert body.central_lock(False) == []
    run(body, 1.0)
    assert all(value(body, p) is False for p in CRASH_UNLOCK_PATHS)


def test_child_lock_blocks_the_inside_handle_only() -> None:
    body = Body()
    body.set_child_lock("Row2.DriverSide", True)
    assert value(body, f"{REAR_LEFT}IsChildLockActive") is True
    refusal = body.open_from_inside("Row2.DriverSide", 0.0)
    assert refusal is not None and "child lock" in refusal.reason
    assert body.open_from_inside("Row2.PassengerSide", 0.0) is None
    accept(body, f"{REAR_LEFT}IsOpen", True)  # from outside, or by the driver's app
    run(body, 1.0)
    assert body.door("Row2.DriverSide").is_open
    with pytest.raises(BodyError, match="child locks exist on"):
        body.set_child_lock("Row1.DriverSide", True)


def test_auto_lock_above_its_speed_and_rearms_below_walking_speed() -> None:
    body = Body()
    run(body, 1.0, speed=AUTO_LOCK_SPEED_KMH - 1.0)
    assert value(body, f"{DRIVER}IsLocked") is False
    run(body, 1.0, speed=AUTO_LOCK_SPEED_KMH)
    assert all(body.door(d).is_locked for d in DOORS)
    assert body.central_lock(False) == []
    run(body, 1.0, speed=50.0)  # unlocked on the move: stays unlocked
    assert not body.door("Row1.DriverSide").is_locked
    run(body, 1.0, speed=0.0)
    run(body, 1.0, speed=30.0)
    assert body.door("Row1.DriverSide").is_locked
    manual = Body(auto_lock=False)
    run(manual, 1.0, speed=50.0)
    assert not manual.door("Row1.DriverSide").is_locked


def sample_value(path: str) -> object:
    if ".Seat." in path and path.endswith(".Position"):
        return 200  # mm
    if path.endswith(("Position", "HeatingCooling")):
        return 60  # percent
    return True


@pytest.mark.parametrize("speed", [0.0, 50.0])
def test_check_agrees_with_apply_and_changes_nothing(speed: float) -> None:
    checked, applied = locked_body(), locked_body()
    checked.changed_values()
    applied.changed_values()
    before = checked.current_values()
    for path in sorted(Body.ACTUATORS):
        v = sample_value(path)
        assert checked.check(path, v, speed) == applied.apply(path, v, speed), path
    run(checked, 5.0, speed=speed)
    assert checked.current_values() == before
    assert checked.changed_values() == {}
    with pytest.raises(BodyError):
        checked.check("Vehicle.Body.Mirrors.DriverSide.IsFolded", True, 0.0)


# --- Crash and 12 V loss ----------------------------------------------------------------------


def locked_body() -> Body:
    body = Body()
    assert body.central_lock(True) == []
    run(body, 1.0)
    assert all(value(body, p) is True for p in CRASH_UNLOCK_PATHS)
    return body


def test_crash_unlocks_everything_turns_hazards_on_and_refuses_locking() -> None:
    body = locked_body()
    run(body, LOCK_ACTUATION_S, crash=True)
    assert all(value(body, p) is False for p in CRASH_UNLOCK_PATHS)
    assert value(body, HAZARD) is True
    assert body.emergency == "crash detected"
    refusal = body.apply(f"{DRIVER}IsLocked", True, 0.0)
    assert refusal is not None and "crash" in refusal.reason
    assert len(body.central_lock(True)) == len(CRASH_UNLOCK_PATHS)
    accept(body, f"{DRIVER}IsOpen", True)  # openable
    # Still refused after the crash signal clears, until the car is reset.
    run(body, 1.0)
    assert body.apply(f"{REAR_LEFT}IsLocked", True, 0.0) is not None
    body.reset_emergency()
    assert body.emergency is None
    accept(body, f"{REAR_LEFT}IsLocked", True)


def test_reset_refused_while_the_crash_signal_is_present() -> None:
    body = locked_body()
    run(body, 1.0, crash=True)
    with pytest.raises(BodyError, match="crash signal"):
        body.reset_emergency()
    assert body.emergency == "crash detected"


def test_short_12v_dip_is_ignored() -> None:
    body = locked_body()
    run(body, LOW_VOLTAGE_DEBOUNCE_S - 0.1, volts=LOW_VOLTAGE_THRESHOLD_V - 1.0)
    run(body, 1.0)
    assert body.emergency is None and body.is_powered
    assert all(value(body, p) is True for p in CRASH_UNLOCK_PATHS)


def test_12v_loss_unlocks_stops_motors_and_refuses_locking_until_reset() -> None:
    body = locked_body()
    accept(body, f"{DRIVER}Window.Position", 100)
    run(body, LOW_VOLTAGE_DEBOUNCE_S + LOCK_ACTUATION_S, volts=6.0)
    assert not body.is_powered
    assert body.emergency is not None and "12 V" in body.emergency
    assert all(value(body, p) is False for p in CRASH_UNLOCK_PATHS)
    stopped = value(body, f"{DRIVER}Window.Position")
    run(body, 2.0, volts=6.0)
    assert value(body, f"{DRIVER}Window.Position") == stopped
    refusal = body.apply(f"{DRIVER}Window.Position", 0, 0.0)
    assert refusal is not None and "12 V" in refusal.reason
    assert body.apply(f"{TRUNK}IsLocked", True, 0.0) is not None
    with pytest.raises(BodyError, match="12 V"):
        body.reset_emergency()
    run(body, 0.1)  # power back: motors work, locking still refused until reset
    accept(body, f"{DRIVER}Window.Position", 0)
    assert body.apply(f"{TRUNK}IsLocked", True, 0.0) is not None
    body.reset_emergency()
    accept(body, f"{TRUNK}IsLocked", True)


# --- Change reporting and determinism ---------------------------------------------------------


def test_changed_values_reports_only_changes() -> None:
    body = Body()
    assert body.changed_values() == body.current_values()  # the first call: everything
    assert body.changed_values() == {}
    run(body, 1.0)
    assert body.changed_values() == {}
    accept(body, f"{DRIVER}Window.Position", 100)
    body.step(0.1, 0.0, OK_V, False)
    assert body.changed_values() == {
        f"{DRIVER}Window.Position": 3,
        f"{DRIVER}Window.IsOpen": True,
    }
    run(body, WINDOW_TRAVEL_S)
    assert body.changed_values() == {f"{DRIVER}Window.Position": 100}
    assert body.is_idle
    body.set_child_lock("Row2.PassengerSide", True)
    assert body.changed_values() == {
        "Vehicle.Cabin.Door.Row2.PassengerSide.IsChildLockActive": True
    }


def script(body: Body) -> list[dict[str, Value]]:
    log: list[dict[str, Value]] = []
    commands = {
        0: (f"{DRIVER}Window.Position", 70),
        3: (f"{TRUNK}IsOpen", True),
        5: (f"{SEAT}Position", 10),
        9: (HORN, True),
        20: (f"{TRUNK}IsOpen", False),
        30: ("Vehicle.Body.Lights.Fog.Rear.IsOn", True),
    }
    for tick in range(120):
        if tick in commands:
            body.apply(*commands[tick], 0.0)
        body.step(0.05, 20.0 if tick > 100 else 0.0, OK_V, tick == 110)
        log.append(body.changed_values())
    return log


def test_deterministic() -> None:
    assert script(Body()) == script(Body())
