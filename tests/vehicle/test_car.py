"""The simulated car as a provider on the hub, seen as a consumer sees it through a `CarSession`.

Every test drives a fresh car on its own broker with a fixed epoch, so that timestamps (and
everything else) are deterministic, and reads and commands it only through `session.client`,
the way any spoke of carmind would.
"""

from __future__ import annotations

import asyncio
import math
import re

import pytest

from carmind.config import Config, VehicleConfig
from carmind.signals.broker import Datapoint
from carmind.signals.catalog import Value
from carmind.signals.errors import (
    ActuationRefusedError,
    NotAllowedError,
    NotASignalError,
    OutOfRangeError,
    ReadOnlyError,
    SignalError,
    UnknownPathError,
    ValueTypeError,
)
from carmind.vehicle.errors import PrimeError
from carmind.vehicle.session import AssignmentError, CarSession, parse_assignments

EPOCH = 1_700_000_000.0

SPEED = "Vehicle.Speed"
IS_MOVING = "Vehicle.IsMoving"
DISTANCE = "Vehicle.TraveledDistance"
SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
RANGE = "Vehicle.Powertrain.Range"
LATITUDE = "Vehicle.CurrentLocation.Latitude"
LONGITUDE = "Vehicle.CurrentLocation.Longitude"
CABIN_TEMP = "Vehicle.Cabin.HVAC.AmbientAirTemperature"

SIM = "Vehicle.Carmind.Simulation."
TARGET_SPEED = SIM + "TargetSpeed"
FAULT = SIM + "Fault"
CHARGER_POWER = SIM + "ChargerPower"
AMBIENT = SIM + "AmbientTemperature"
ROAD_GRADE = SIM + "RoadGrade"
LAST_REFUSAL = "Vehicle.Carmind.Safety.LastRefusal"
CRASH_DETECTED = "Vehicle.Carmind.Safety.IsCrashDetected"
LOW_VOLTAGE_LOST = "Vehicle.Carmind.Safety.IsLowVoltageLost"
HVAC_POWER = "Vehicle.Carmind.Energy.HVACPower"
LV_VOLTAGE = "Vehicle.LowVoltageBattery.CurrentVoltage"

CRUISE = "Vehicle.ADAS.CruiseControl."
CRUISE_ACTIVE = CRUISE + "IsActive"
CRUISE_ENABLED = CRUISE + "IsEnabled"
CRUISE_SPEED_SET = CRUISE + "SpeedSet"

CHG = "Vehicle.Powertrain.TractionBattery.Charging."
IS_CHARGING = CHG + "IsCharging"
CABLE = CHG + "ChargingPort.AnyPosition.IsChargingCableConnected"
TIME_TO_COMPLETE = CHG + "TimeToComplete"
CHARGE_LIMIT = CHG + "ChargeLimit"
START_STOP = CHG + "StartStopCharging"

DOORS = ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
DOOR_OPEN = [f"Vehicle.Cabin.Door.{d}.IsOpen" for d in DOORS]
DOOR_LOCKED = [f"Vehicle.Cabin.Door.{d}.IsLocked" for d in DOORS]
DRIVER_DOOR_OPEN = DOOR_OPEN[0]
DRIVER_DOOR_LOCKED = DOOR_LOCKED[0]
DRIVER_WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
DRIVER_WINDOW_OPEN = "Vehicle.Cabin.Door.Row1.DriverSide.Window.IsOpen"
REAR_TRUNK_OPEN = "Vehicle.Body.Trunk.Rear.IsOpen"

STATIONS = ("Row1.Driver", "Row1.Passenger", "Row2.Driver", "Row2.Passenger")
STATION = "Vehicle.Cabin.HVAC.Station."
DRIVER_TEMP = STATION + "Row1.Driver.Temperature"
DRIVER_FAN = STATION + "Row1.Driver.FanSpeed"
DRIVER_AIR = STATION + "Row1.Driver.AirDistribution"

type Snapshot = tuple[dict[str, Datapoint], dict[str, Datapoint]]


@pytest.fixture
def session() -> CarSession:
    return CarSession.create(epoch=EPOCH)


def value(session: CarSession, path: str) -> Value:
    """The current value of `path` as a consumer reads it (it must have one)."""
    datapoint = session.client.get(path)
    assert datapoint is not None, f"{path} has no value"
    return datapoint.value


def number(session: CarSession, path: str) -> float:
    v = value(session, path)
    assert isinstance(v, int | float) and not isinstance(v, bool), f"{path} = {v!r}"
    return float(v)


def snapshot(session: CarSession) -> Snapshot:
    return dict(session.broker._values), dict(session.broker._targets)


# --------------------------------------------------------------------------- attach


def test_attributes_are_published_at_attach(session: CarSession) -> None:
    profile = session.car.profile
    vin = value(session, "Vehicle.VehicleIdentification.VIN")
    assert isinstance(vin, str)
    assert re.fullmatch(r"[A-HJ-NPR-Z0-9]{17}", vin), vin
    assert value(session, "Vehicle.VehicleIdentification.Brand") == profile.brand
    assert value(session, "Vehicle.VehicleIdentification.Model") == profile.model
    assert value(session, "Vehicle.Powertrain.Type") == "ELECTRIC"
    assert value(session, SIM + "Profile") == "xiaomi-su7"  # the embedded default profile
    vin_point = session.client.get("Vehicle.VehicleIdentification.VIN")
    assert vin_point is not None and vin_point.timestamp == EPOCH


def test_attach_publishes_initial_state(session: CarSession) -> None:
    assert value(session, SPEED) == 0.0
    assert value(session, IS_MOVING) is False
    assert value(session, SOC) == 80.0  # the embedded default
    assert number(session, RANGE) > 100_000  # metres
    assert value(session, CABIN_TEMP) == 20.0  # the cabin starts at the outside temperature
    for is_open, is_locked in zip(DOOR_OPEN, DOOR_LOCKED, strict=True):
        assert value(session, is_open) is False
        assert value(session, is_locked) is False
    assert value(session, LAST_REFUSAL) == ""
    assert value(session, TARGET_SPEED) == 0.0
    assert value(session, FAULT) == "NONE"


def test_the_car_is_the_provider_of_its_signals(session: CarSession) -> None:
    for path in (SPEED, DRIVER_WINDOW, TARGET_SPEED, "Vehicle.VehicleIdentification.VIN"):
        assert session.broker.provider_of(path) == "vehicle"


# --------------------------------------------------------------------------- driving


def test_driving_to_a_target_speed_and_stopping(session: CarSession) -> None:
    start_lat = number(session, LATITUDE)
    start_lon = number(session, LONGITUDE)

    session.client.actuate(TARGET_SPEED, 50.0)
    session.advance(30)

    assert number(session, SPEED) == pytest.approx(50.0, abs=1.0)
    assert value(session, IS_MOVING) is True
    distance = number(session, DISTANCE)
    assert 0.2 < distance < 0.45  # km: 30 s, mostly at 50 km/h
    assert number(session, SOC) < 80.0
    # heading 0: the car drives north
    assert number(session, LATITUDE) > start_lat
    assert number(session, LONGITUDE) == pytest.approx(start_lon, abs=1e-5)
    moved_m = (number(session, LATITUDE) - start_lat) * 111_320.0
    assert moved_m == pytest.approx(distance * 1000.0, rel=0.05)

    session.client.actuate(TARGET_SPEED, 0.0)
    session.advance(30)
    assert value(session, SPEED) == 0.0
    assert value(session, IS_MOVING) is False
    stopped_at = number(session, DISTANCE)
    assert stopped_at > distance
    session.advance(10)
    assert number(session, DISTANCE) == stopped_at


def test_cruise_control_is_refused_below_its_minimum_speed(session: CarSession) -> None:
    session.prime({SPEED: 20.0})
    before = snapshot(session)

    with pytest.raises(ActuationRefusedError, match="30 km/h") as info:
        session.client.actuate(CRUISE_ACTIVE, True)

    assert info.value.path == CRUISE_ACTIVE
    assert snapshot(session) == before
    assert session.client.get_target(CRUISE_ACTIVE) is None
    assert value(session, CRUISE_ACTIVE) is False
    session.advance(2)
    assert value(session, CRUISE_ACTIVE) is False
    assert value(session, "Vehicle.ADAS.ActiveAutonomyLevel") == "SAE_0"


def test_cruise_control_engages_at_speed_and_holds_it(session: CarSession) -> None:
    session.prime({SPEED: 80.0})
    session.client.actuate_many({CRUISE_ACTIVE: True, CRUISE_SPEED_SET: 80.0})
    session.client.actuate(ROAD_GRADE, 4.0)  # uphill: cruise control must add power to hold
    session.advance(60)

    assert value(session, CRUISE_ACTIVE) is True
    assert value(session, CRUISE_SPEED_SET) == 80.0
    assert number(session, SPEED) == pytest.approx(80.0, abs=1.0)
    assert value(session, "Vehicle.ADAS.ActiveAutonomyLevel") == "SAE_1"

    session.client.actuate(CRUISE_SPEED_SET, 100.0)  # the set speed, not the driver, leads
    session.advance(30)
    assert number(session, SPEED) == pytest.approx(100.0, abs=1.5)


def test_engaging_cruise_control_without_a_set_speed_does_not_brake_the_car(
    session: CarSession,
) -> None:
    """BUG: IsActive=True alone at 80 km/h makes cruise aim for SpeedSet's default of 0 km/h.

    Real cruise control takes the current speed as its set speed when engaged (or refuses to
    engage without one); carmind's car brakes hard on the motorway instead.
    """
    session.prime({SPEED: 80.0})
    try:
        session.client.actuate(CRUISE_ACTIVE, True)
    except ActuationRefusedError:
        return  # refusing to engage without a set speed is just as safe
    session.advance(5)
    assert number(session, SPEED) > 75.0


def test_switching_cruise_control_off_deactivates_it(session: CarSession) -> None:
    """BUG: IsEnabled=False while cruise is active leaves it active and holding speed."""
    session.prime({SPEED: 80.0})
    session.client.actuate_many({CRUISE_ACTIVE: True, CRUISE_SPEED_SET: 80.0})
    session.advance(1)
    try:
        session.client.actuate(CRUISE_ENABLED, False)
    except ActuationRefusedError:
        return  # refusing is a consistent answer too
    session.advance(2)
    assert value(session, CRUISE_ENABLED) is False
    assert value(session, CRUISE_ACTIVE) is False
    assert value(session, "Vehicle.ADAS.ActiveAutonomyLevel") == "SAE_0"


# --------------------------------------------------------------------------- interlocks


@pytest.mark.parametrize("path", [DRIVER_DOOR_OPEN, DOOR_OPEN[3], REAR_TRUNK_OPEN])
def test_opening_above_walking_speed_is_refused_and_changes_nothing(
    session: CarSession, path: str
) -> None:
    session.prime({SPEED: 80.0})
    before = snapshot(session)

    with pytest.raises(ActuationRefusedError, match="walking speed") as info:
        session.client.actuate(path, True)

    assert info.value.path == path
    assert "80" in info.value.reason
    assert path in str(info.value)
    assert snapshot(session) == before
    assert session.client.get_target(path) is None

    session.advance(1)
    assert value(session, path) is False
    refusal = value(session, LAST_REFUSAL)
    assert isinstance(refusal, str)
    assert refusal.startswith(path + "=")
    assert "walking speed" in refusal


def test_a_batch_with_one_refused_actuation_changes_nothing(session: CarSession) -> None:
    session.prime({SPEED: 80.0})
    before = snapshot(session)

    with pytest.raises(ActuationRefusedError):
        session.client.actuate_many({DRIVER_WINDOW: 100, REAR_TRUNK_OPEN: True})

    assert snapshot(session) == before
    session.advance(2)
    assert value(session, DRIVER_WINDOW) == 0
    assert value(session, REAR_TRUNK_OPEN) is False


def test_at_standstill_a_locked_door_opens_once_unlocked(session: CarSession) -> None:
    session.client.actuate(DRIVER_DOOR_LOCKED, True)
    assert session.follow(DRIVER_DOOR_LOCKED, 2.0).reached_after_s is not None
    assert value(session, DRIVER_DOOR_LOCKED) is True

    before = snapshot(session)
    with pytest.raises(ActuationRefusedError, match="unlock it first"):
        session.client.actuate(DRIVER_DOOR_OPEN, True)
    assert snapshot(session) == before

    session.client.actuate(DRIVER_DOOR_LOCKED, False)
    assert session.follow(DRIVER_DOOR_LOCKED, 2.0).reached_after_s is not None
    session.client.actuate(DRIVER_DOOR_OPEN, True)
    reached = session.follow(DRIVER_DOOR_OPEN, 2.0).reached_after_s
    assert reached is not None and reached <= 1.0
    assert value(session, DRIVER_DOOR_OPEN) is True


def test_rear_trunk_opens_at_standstill(session: CarSession) -> None:
    session.client.actuate(REAR_TRUNK_OPEN, True)
    reached = session.follow(REAR_TRUNK_OPEN, 5.0).reached_after_s
    assert reached is not None and reached <= 1.0  # open as soon as the lid lifts
    session.advance(5)
    assert value(session, REAR_TRUNK_OPEN) is True


# --------------------------------------------------------------------------- windows


def test_window_travels_fully_in_about_three_and_a_half_seconds(session: CarSession) -> None:
    session.client.actuate(DRIVER_WINDOW, 100)
    opened = session.follow(DRIVER_WINDOW, 10).reached_after_s
    assert opened is not None and 3.0 <= opened <= 4.0
    assert value(session, DRIVER_WINDOW) == 100
    assert value(session, DRIVER_WINDOW_OPEN) is True

    session.client.actuate(DRIVER_WINDOW, 0)
    closed = session.follow(DRIVER_WINDOW, 10).reached_after_s
    assert closed is not None and 3.0 <= closed <= 4.0
    assert value(session, DRIVER_WINDOW_OPEN) is False


def test_window_halfway_takes_half_the_time(session: CarSession) -> None:
    session.client.actuate(DRIVER_WINDOW, 50)
    reached = session.follow(DRIVER_WINDOW, 10).reached_after_s
    assert reached is not None and 1.5 <= reached <= 2.0


# --------------------------------------------------------------------------- faults


def _lock_all_doors(session: CarSession) -> None:
    session.client.actuate_many(dict.fromkeys(DOOR_LOCKED, True))
    session.advance(1)
    assert [value(session, p) for p in DOOR_LOCKED] == [True] * 4


def test_crash_unlocks_every_door_until_the_fault_clears(session: CarSession) -> None:
    _lock_all_doors(session)

    session.client.actuate(FAULT, "CRASH")
    session.advance(2)
    assert [value(session, p) for p in DOOR_LOCKED] == [False] * 4
    assert value(session, CRASH_DETECTED) is True
    assert value(session, FAULT) == "CRASH"

    before = snapshot(session)
    with pytest.raises(ActuationRefusedError, match="crash") as info:
        session.client.actuate(DRIVER_DOOR_LOCKED, True)
    assert info.value.path == DRIVER_DOOR_LOCKED
    assert snapshot(session) == before
    session.advance(2)  # the fault holds: still unlocked, still refused
    assert value(session, DRIVER_DOOR_LOCKED) is False
    with pytest.raises(ActuationRefusedError):
        session.client.actuate(DRIVER_DOOR_LOCKED, True)

    session.client.actuate(FAULT, "NONE")
    session.advance(2)
    assert value(session, CRASH_DETECTED) is False
    session.client.actuate(DRIVER_DOOR_LOCKED, True)
    assert session.follow(DRIVER_DOOR_LOCKED, 2.0).reached_after_s is not None
    assert value(session, DRIVER_DOOR_LOCKED) is True


def test_low_voltage_loss_unlocks_every_door_after_the_debounce(session: CarSession) -> None:
    _lock_all_doors(session)

    session.client.actuate(FAULT, "LOW_VOLTAGE_LOSS")
    session.advance(0.25)  # shorter than the 0.5 s debounce: nothing happens yet
    assert [value(session, p) for p in DOOR_LOCKED] == [True] * 4
    assert value(session, LOW_VOLTAGE_LOST) is False

    session.advance(2)
    assert value(session, LV_VOLTAGE) == 0.0
    assert value(session, LOW_VOLTAGE_LOST) is True
    assert [value(session, p) for p in DOOR_LOCKED] == [False] * 4

    before = snapshot(session)
    with pytest.raises(ActuationRefusedError, match="12 V"):
        session.client.actuate(DRIVER_DOOR_LOCKED, True)
    assert snapshot(session) == before
    with pytest.raises(ActuationRefusedError, match="no power"):
        session.client.actuate(DRIVER_WINDOW, 100)  # the window motor has no power either

    session.client.actuate(FAULT, "NONE")
    session.advance(2)
    assert number(session, LV_VOLTAGE) > 12.0
    assert value(session, LOW_VOLTAGE_LOST) is False
    session.client.actuate(DRIVER_DOOR_LOCKED, True)
    assert session.follow(DRIVER_DOOR_LOCKED, 2.0).reached_after_s is not None


# --------------------------------------------------------------------------- charging


def test_plugging_in_while_moving_is_refused(session: CarSession) -> None:
    session.prime({SPEED: 80.0})
    before = snapshot(session)

    with pytest.raises(ActuationRefusedError, match="moving") as info:
        session.client.actuate(CHARGER_POWER, 150.0)

    assert info.value.path == CHARGER_POWER
    assert snapshot(session) == before
    session.advance(2)
    assert value(session, CABLE) is False
    assert value(session, IS_CHARGING) is False


def test_charging_at_standstill_stops_at_the_charge_limit(session: CarSession) -> None:
    session.client.actuate(CHARGE_LIMIT, 85)
    session.client.actuate(CHARGER_POWER, 150.0)
    session.advance(2)

    assert value(session, IS_CHARGING) is True
    assert value(session, CABLE) is True
    assert value(session, START_STOP) == "START"
    assert number(session, TIME_TO_COMPLETE) > 0
    assert value(session, SPEED) == 0.0

    session.advance(60)
    assert 80.5 < number(session, SOC) < 85.0

    session.advance(600)
    assert value(session, IS_CHARGING) is False
    assert value(session, START_STOP) == "STOP"
    assert value(session, TIME_TO_COMPLETE) == 0
    assert value(session, CABLE) is True  # still plugged in
    assert number(session, SOC) == pytest.approx(85.0, abs=0.2)


@pytest.mark.parametrize("limit", [40, 49])
def test_a_charge_limit_below_fifty_percent_is_refused(session: CarSession, limit: int) -> None:
    before = snapshot(session)
    with pytest.raises(ActuationRefusedError, match="50") as info:
        session.client.actuate(CHARGE_LIMIT, limit)
    assert info.value.path == CHARGE_LIMIT
    assert snapshot(session) == before
    session.advance(1)
    assert value(session, CHARGE_LIMIT) == 90


def test_a_charge_limit_of_fifty_percent_is_accepted(session: CarSession) -> None:
    session.client.actuate(CHARGE_LIMIT, 50)
    assert session.follow(CHARGE_LIMIT, 1.0).reached_after_s is not None


def test_driving_off_while_plugged_in_is_refused(session: CarSession) -> None:
    session.client.actuate(CHARGER_POWER, 150.0)
    session.advance(1)
    before = snapshot(session)

    with pytest.raises(ActuationRefusedError, match="unplug") as info:
        session.client.actuate(TARGET_SPEED, 30.0)

    assert info.value.path == TARGET_SPEED
    assert snapshot(session) == before
    session.advance(5)
    assert value(session, SPEED) == 0.0

    session.client.actuate(CHARGER_POWER, 0.0)  # unplug, then drive
    session.client.actuate(TARGET_SPEED, 30.0)
    session.advance(10)
    assert number(session, SPEED) > 10.0
    assert value(session, IS_CHARGING) is False
    assert value(session, CABLE) is False


def test_the_car_never_drives_off_with_the_cable_connected(session: CarSession) -> None:
    """BUG: plugging in is checked against the speed only, not against the driver's target.

    Set TargetSpeed 50 at standstill, plug in before the car has moved: the plug is accepted,
    the car charges to its limit and then drives away with the cable still connected.
    """
    session.client.actuate(TARGET_SPEED, 50.0)
    try:
        session.client.actuate(CHARGER_POWER, 150.0)
    except ActuationRefusedError:
        return  # refusing the plug while the driver wants to move is the other safe answer
    for _ in range(12):
        session.advance(60)
        if value(session, CABLE) is True:
            assert value(session, SPEED) == 0.0, "driving with the charging cable connected"


# --------------------------------------------------------------------------- climate


def _cold_car(hvac_on: bool) -> CarSession:
    session = CarSession.create(epoch=EPOCH)
    session.client.actuate(AMBIENT, -10.0)
    session.prime({CABIN_TEMP: -10.0})  # a car that stood out in the cold
    if hvac_on:
        session.client.actuate_many(
            {
                **{f"{STATION}{s}.Temperature": 24.0 for s in STATIONS},
                **{f"{STATION}{s}.FanSpeed": 100 for s in STATIONS},
            }
        )
    return session


def test_heating_warms_a_cold_cabin_and_costs_energy() -> None:
    heated = _cold_car(hvac_on=True)
    cold = _cold_car(hvac_on=False)
    assert value(heated, CABIN_TEMP) == -10.0

    heated.advance(300)
    halfway = number(heated, CABIN_TEMP)
    heated.advance(300)
    cold.advance(600)

    assert value(heated, "Vehicle.Exterior.AirTemperature") == -10.0
    assert -10.0 < halfway < number(heated, CABIN_TEMP)
    assert number(heated, CABIN_TEMP) > 10.0
    assert number(heated, CABIN_TEMP) <= 24.5
    assert number(heated, HVAC_POWER) > 0
    for s in STATIONS:
        assert value(heated, f"{STATION}{s}.Temperature") == 24.0
        assert value(heated, f"{STATION}{s}.FanSpeed") == 100

    assert number(cold, CABIN_TEMP) == pytest.approx(-10.0, abs=0.5)
    assert value(cold, HVAC_POWER) == 0
    # both stood still for ten minutes; heating drew noticeably more from the battery
    assert number(heated, SOC) < number(cold, SOC) - 0.3


def test_a_climate_set_point_outside_the_cars_range_is_refused(session: CarSession) -> None:
    before = snapshot(session)
    with pytest.raises(ActuationRefusedError, match="set-points") as info:
        session.client.actuate(DRIVER_TEMP, 40.0)
    assert info.value.path == DRIVER_TEMP
    assert snapshot(session) == before
    session.advance(1)
    assert value(session, DRIVER_TEMP) == 21.0


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("path", "bad", "error"),
    [
        pytest.param(STATION + "Row1.Driver.Tempreature", 21.0, UnknownPathError, id="unknown"),
        pytest.param("Vehicle.Cabin.HVAC", 21.0, NotASignalError, id="branch"),
        pytest.param(DRIVER_TEMP, "warm", ValueTypeError, id="wrong-datatype"),
        pytest.param(DRIVER_WINDOW, True, ValueTypeError, id="bool-for-uint8"),
        pytest.param(TARGET_SPEED, math.nan, ValueTypeError, id="nan"),
        pytest.param(DRIVER_FAN, 150, OutOfRangeError, id="out-of-range"),
        pytest.param(TARGET_SPEED, -5.0, OutOfRangeError, id="negative-speed"),
        pytest.param(DRIVER_AIR, "SIDE", NotAllowedError, id="not-allowed"),
        pytest.param(FAULT, "FIRE", NotAllowedError, id="unknown-fault"),
        pytest.param(SPEED, 50.0, ReadOnlyError, id="sensor"),
        pytest.param("Vehicle.VehicleIdentification.VIN", "X" * 17, ReadOnlyError, id="attribute"),
    ],
)
def test_bad_actuation_raises_its_error_and_changes_nothing(
    session: CarSession, path: str, bad: object, error: type[SignalError]
) -> None:
    session.advance(1)
    before = snapshot(session)
    settings = dict(session.car.settings)

    with pytest.raises(error) as info:
        session.client.actuate(path, bad)

    assert info.value.path == path
    assert path in str(info.value)
    assert snapshot(session) == before
    assert session.car.settings == settings


def test_a_batch_with_one_invalid_value_changes_nothing(session: CarSession) -> None:
    before = snapshot(session)
    with pytest.raises(NotAllowedError):
        session.client.actuate_many({DRIVER_FAN: 50, DRIVER_WINDOW: 100, DRIVER_AIR: "SIDE"})
    assert snapshot(session) == before
    session.advance(5)
    assert value(session, DRIVER_FAN) == 0
    assert value(session, DRIVER_WINDOW) == 0


def test_priming_a_derived_sensor_raises_prime_error(session: CarSession) -> None:
    path = "Vehicle.Powertrain.ElectricMotor.Power"
    before = snapshot(session)
    with pytest.raises(PrimeError, match=re.escape(path)) as info:
        session.prime({path: 50.0})
    assert info.value.path == path
    assert "Vehicle.Speed" in str(info.value)  # names what can be primed
    assert snapshot(session) == before


def test_priming_an_unknown_path_raises_unknown_path_error(session: CarSession) -> None:
    before = snapshot(session)
    with pytest.raises(UnknownPathError):
        session.prime({"Vehicle.Sped": 80.0})
    assert snapshot(session) == before


def test_a_prime_with_one_bad_entry_changes_nothing(session: CarSession) -> None:
    """BUG: `prime` applies entries one by one, so a bad entry leaves the earlier ones applied.

    The house rule is that a bad input raises and changes nothing; `prime` should check every
    entry (known, primeable or an actuator) before applying any.
    """
    before = snapshot(session)
    with pytest.raises(PrimeError):
        session.prime({SPEED: 80.0, "Vehicle.Powertrain.ElectricMotor.Power": 50.0})
    assert value(session, SPEED) == 0.0, "the valid first entry was applied"
    assert snapshot(session) == before


def test_prime_puts_sensors_and_actuators_into_a_state(session: CarSession) -> None:
    session.prime({SPEED: 80.0, SOC: 42.0, DRIVER_WINDOW: 30})
    assert value(session, SPEED) == 80.0
    assert value(session, SOC) == 42.0
    assert value(session, DRIVER_WINDOW) == 30
    assert session.client.get_target(DRIVER_WINDOW) is not None


def test_parse_assignments_types_values_in_order(session: CarSession) -> None:
    parsed = parse_assignments(
        session.catalog, ["Vehicle.Speed=80", f" {DRIVER_DOOR_OPEN} = true ", f"{DRIVER_AIR}=UP"]
    )
    assert parsed == {SPEED: 80.0, DRIVER_DOOR_OPEN: True, DRIVER_AIR: "UP"}
    assert list(parsed) == [SPEED, DRIVER_DOOR_OPEN, DRIVER_AIR]


@pytest.mark.parametrize("item", ["nonsense", "=80", "  =true", ""])
def test_parse_assignments_rejects_malformed_items(session: CarSession, item: str) -> None:
    with pytest.raises(AssignmentError, match="PATH=VALUE"):
        parse_assignments(session.catalog, [item])


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ("Vehicle.Speed=fast", ValueTypeError),
        (f"{DRIVER_FAN}=150", OutOfRangeError),
        (f"{DRIVER_AIR}=SIDE", NotAllowedError),
        (f"{DRIVER_DOOR_OPEN}=maybe", ValueTypeError),
        ("Vehicle.Sped=80", UnknownPathError),
    ],
)
def test_parse_assignments_raises_the_catalogs_error(
    session: CarSession, item: str, error: type[SignalError]
) -> None:
    with pytest.raises(error):
        parse_assignments(session.catalog, [item])


# --------------------------------------------------------------------------- determinism


def _scripted_drive(seed: int) -> CarSession:
    config = Config(vehicle=VehicleConfig(seed=seed))
    session = CarSession.create(config, epoch=EPOCH)
    client = session.client
    client.actuate(TARGET_SPEED, 60.0)
    client.actuate_many({DRIVER_TEMP: 23.0, DRIVER_FAN: 60})
    session.advance(40)
    client.actuate(ROAD_GRADE, 3.0)
    client.actuate(DRIVER_WINDOW, 40)
    session.advance(40)
    client.actuate(TARGET_SPEED, 20.0)
    session.advance(40)
    return session


def test_same_epoch_seed_and_actions_give_identical_values() -> None:
    first = _scripted_drive(seed=7)
    second = _scripted_drive(seed=7)
    assert first.car.clock.elapsed == pytest.approx(120.0)
    assert first.broker._values == second.broker._values
    assert first.broker._targets == second.broker._targets
    speed = first.client.get(SPEED)
    assert speed is not None and EPOCH < speed.timestamp <= EPOCH + 120.0


# --------------------------------------------------------------------------- asyncio


async def test_a_subscriber_sees_the_speed_while_driving(session: CarSession) -> None:
    sub = session.client.subscribe(SPEED)
    try:
        first = await asyncio.wait_for(sub.next_batch(), 1.0)
        assert first == {SPEED: Datapoint(0.0, EPOCH)}

        session.client.actuate(TARGET_SPEED, 50.0)
        seen: list[Datapoint] = []
        for _ in range(20):
            session.advance(1.0)
            batch = await asyncio.wait_for(sub.next_batch(), 1.0)
            assert set(batch) == {SPEED}
            seen.append(batch[SPEED])
    finally:
        sub.close()

    speeds = [float(d.value) for d in seen]  # type: ignore[arg-type]
    stamps = [d.timestamp for d in seen]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert 0.0 < speeds[0] < speeds[5] < speeds[10]
    assert speeds[-1] == pytest.approx(50.0, abs=2.0)
    assert sub.coalesced > 0  # ten publishes a second, one batch: only the newest is delivered


async def test_run_realtime_advances_simulated_time_until_stopped(session: CarSession) -> None:
    session.client.actuate(TARGET_SPEED, 30.0)
    updates: list[dict[str, Datapoint]] = []
    sub = session.client.subscribe(SPEED, callback=updates.append)

    task = asyncio.create_task(session.run_realtime(speed_factor=50))
    await asyncio.sleep(0.3)
    session.stop()
    await asyncio.wait_for(task, 5.0)
    sub.close()

    assert task.done() and task.exception() is None
    elapsed = session.car.clock.elapsed
    assert elapsed >= 5.0
    assert number(session, SPEED) > 5.0
    assert len(updates) >= 2
    session_speed = session.client.get(SPEED)
    assert session_speed is not None and session_speed.timestamp > EPOCH

    await asyncio.sleep(0.05)  # stopped means stopped
    assert session.car.clock.elapsed == elapsed
