"""Remote commands on the simulated car: what happens, and what the car's rules refuse."""

from __future__ import annotations

import asyncio

import pytest

from carmind.config import load_config
from carmind.connect.executor import (
    ALERT_BUCKET,
    CHARGE_LIMIT,
    CLIMATE_FAN_PCT,
    COMMAND_BUCKET,
    DESTINATION,
    DOOR,
    DOORS,
    HAZARD,
    HVAC,
    Executor,
)
from carmind.connect.protocol import CommandName, ResultStatus
from carmind.vehicle.session import CarSession

NOW = 1_750_000_000.0
TARGET_SPEED = "Vehicle.Carmind.Simulation.TargetSpeed"
CHARGER_POWER = "Vehicle.Carmind.Simulation.ChargerPower"


@pytest.fixture
def session() -> CarSession:
    return CarSession.create(load_config(environ={}))


def targets(session: CarSession, paths: list[str]) -> list[object]:
    out: list[object] = []
    for path in paths:
        datapoint = session.client.get_target(path)
        out.append(None if datapoint is None else datapoint.value)
    return out


def test_lock_and_unlock_all_doors(session: CarSession) -> None:
    executor = Executor(session.client)
    locks = [f"{DOOR}{d}.IsLocked" for d in DOORS]
    assert executor.execute("lock", {}, "cloud", NOW) == (ResultStatus.EXECUTED, "")
    session.advance(2.0)
    assert [session.client.value(p) for p in locks] == [True] * 4
    assert executor.execute("unlock", {}, "cloud", NOW + 1)[0] is ResultStatus.EXECUTED
    session.advance(2.0)
    assert [session.client.value(p) for p in locks] == [False] * 4


def test_unlock_while_moving_is_refused_by_the_car(session: CarSession) -> None:
    executor = Executor(session.client)
    executor.execute("lock", {}, "cloud", NOW)
    session.client.actuate(TARGET_SPEED, 50.0)
    session.advance(15.0)
    assert session.client.value("Vehicle.Speed", 0.0) > 30  # type: ignore[operator]
    status, reason = executor.execute("unlock", {}, "cloud", NOW + 1)
    assert status is ResultStatus.REFUSED
    assert "remote unlock only at or below 6 km/h" in reason
    assert targets(session, [f"{DOOR}{d}.IsLocked" for d in DOORS]) == [True] * 4


def test_the_cars_own_interlocks_come_back_as_the_reason(session: CarSession) -> None:
    executor = Executor(session.client)
    session.client.actuate(f"{DOOR}Row1.DriverSide.IsOpen", True)
    session.advance(3.0)
    status, reason = executor.execute("lock", {}, "cloud", NOW)
    assert status is ResultStatus.REFUSED
    assert reason.startswith("the car refused:") and "open" in reason
    assert targets(session, [f"{DOOR}{d}.IsLocked" for d in DOORS]) == [None] * 4


def test_charge_limit_outside_50_to_100_is_refused_and_changes_nothing(
    session: CarSession,
) -> None:
    executor = Executor(session.client)
    before = session.client.value(CHARGE_LIMIT)
    for bad in (40, 101, "80", 80.5, True):
        status, reason = executor.execute("set_charge_limit", {"percent": bad}, "cloud", NOW)
        assert status is ResultStatus.REFUSED, bad
        assert "percent" in reason or "charge limit" in reason
    assert (
        "allowed 50 to 100 %"
        in executor.execute("set_charge_limit", {"percent": 40}, "cloud", NOW)[1]
    )
    session.advance(1.0)
    assert session.client.value(CHARGE_LIMIT) == before
    assert executor.execute("set_charge_limit", {"percent": 80}, "cloud", NOW)[0] is (
        ResultStatus.EXECUTED
    )
    assert targets(session, [CHARGE_LIMIT]) == [80]


def test_charging_needs_a_charger_and_a_standing_car(session: CarSession) -> None:
    executor = Executor(session.client)
    status, reason = executor.execute("charge_start", {}, "cloud", NOW)
    assert (status, reason) == (ResultStatus.REFUSED, "the car refused: no charger is connected")
    session.client.actuate(CHARGER_POWER, 11.0)
    assert executor.execute("charge_stop", {}, "cloud", NOW)[0] is ResultStatus.EXECUTED
    assert executor.execute("charge_start", {}, "cloud", NOW)[0] is ResultStatus.EXECUTED


def test_climate_on_off_and_set_temperature(session: CarSession) -> None:
    executor = Executor(session.client)
    assert executor.execute("climate_on", {"celsius": 22.3}, "cloud", NOW)[0] is (
        ResultStatus.EXECUTED
    )
    fans = [f"{HVAC}Station.{s}.FanSpeed" for s in ("Row1.Driver", "Row2.Passenger")]
    temps = [f"{HVAC}Station.{s}.Temperature" for s in ("Row1.Driver", "Row2.Passenger")]
    assert targets(session, fans) == [CLIMATE_FAN_PCT] * 2
    assert targets(session, temps) == [22.5, 22.5]
    assert targets(session, [f"{HVAC}IsAirConditioningActive"]) == [True]
    status, reason = executor.execute("set_temperature", {"celsius": 35}, "cloud", NOW)
    assert status is ResultStatus.REFUSED and "allowed 15 to 30" in reason
    assert targets(session, temps) == [22.5, 22.5]
    assert executor.execute("set_temperature", {"celsius": 19}, "cloud", NOW)[0] is (
        ResultStatus.EXECUTED
    )
    assert targets(session, temps) == [19.0, 19.0]
    assert executor.execute("climate_off", {}, "cloud", NOW)[0] is ResultStatus.EXECUTED
    assert targets(session, fans) == [0, 0]


def test_destination_windows_honk_and_flash(session: CarSession) -> None:
    executor = Executor(session.client)
    params = {"lat": 60.2, "lon": 24.9}
    assert executor.execute("send_destination", params, "cloud", NOW)[0] is ResultStatus.EXECUTED
    assert targets(session, [DESTINATION + "Latitude", DESTINATION + "Longitude"]) == [60.2, 24.9]
    status, reason = executor.execute("send_destination", {"lat": 91, "lon": 0}, "cloud", NOW)
    assert status is ResultStatus.REFUSED and "lat" in reason
    assert executor.execute("close_windows", {}, "cloud", NOW)[0] is ResultStatus.EXECUTED
    assert executor.execute("honk", {}, "cloud", NOW)[0] is ResultStatus.EXECUTED
    assert executor.execute("flash", {}, "cloud", NOW)[0] is ResultStatus.EXECUTED
    assert targets(session, [HAZARD]) == [True]


def test_unknown_commands_and_parameters_are_refused_by_name(session: CarSession) -> None:
    executor = Executor(session.client)
    status, reason = executor.execute("self_destruct", {}, "cloud", NOW)
    assert status is ResultStatus.REFUSED and "unknown command 'self_destruct'" in reason
    status, reason = executor.execute("lock", {"force": True}, "cloud", NOW)
    assert status is ResultStatus.REFUSED and "unknown parameter 'force' for lock" in reason
    status, reason = executor.execute("set_temperature", {}, "cloud", NOW)
    assert status is ResultStatus.REFUSED and "needs parameter 'celsius'" in reason
    assert executor.executed == 0 and executor.refused == 3


def test_rate_limit_protects_the_12v_battery_and_refills(session: CarSession) -> None:
    executor = Executor(session.client)
    capacity, period = COMMAND_BUCKET
    for i in range(capacity):
        assert executor.execute("lock", {}, "cloud", NOW + i * 0.1)[0] is ResultStatus.EXECUTED
    status, reason = executor.execute("lock", {}, "cloud", NOW + 1)
    assert status is ResultStatus.REFUSED and "rate limit" in reason and "12 V" in reason
    # from the car's own screen the limit does not apply
    assert executor.execute("lock", {}, "local", NOW + 1)[0] is ResultStatus.EXECUTED
    refill = period / capacity
    assert executor.execute("lock", {}, "cloud", NOW + 1 + refill)[0] is ResultStatus.EXECUTED


def test_honk_and_flash_have_a_stricter_limit(session: CarSession) -> None:
    executor = Executor(session.client)
    alerts, _ = ALERT_BUCKET
    for i in range(alerts):
        name = CommandName.HONK if i % 2 == 0 else CommandName.FLASH
        assert executor.execute(name, {}, "homeassistant", NOW + i)[0] is ResultStatus.EXECUTED
    status, reason = executor.execute("honk", {}, "homeassistant", NOW + alerts)
    assert status is ResultStatus.REFUSED and "rate limit" in reason
    assert executor.execute("lock", {}, "homeassistant", NOW + alerts)[0] is (ResultStatus.EXECUTED)


async def test_flash_switches_the_hazards_off_again(
    session: CarSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("carmind.connect.executor.FLASH_S", 0.05)
    executor = Executor(session.client)
    assert executor.execute("flash", {}, "cloud", NOW)[0] is ResultStatus.EXECUTED
    assert targets(session, [HAZARD]) == [True]
    await asyncio.sleep(0.2)
    assert targets(session, [HAZARD]) == [False]
