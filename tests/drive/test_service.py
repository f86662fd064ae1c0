"""Assisted driving on the hub: engaged by the (simulated) driver, cancelled and refused through
VSS, the driver monitor's alerts up to the lockout, and episodes that restart.

The service runs on a real broker with the expert behind the safety guard (the learned model is
not shipped yet). Tests call `tick()` directly: each is one 0.2 s step of the highway world, with
a fake clock for the hub's timestamps, so nothing waits for real time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from carmind.config import load_config
from carmind.drive.agents import AgentError, shipped_model
from carmind.drive.assist import KMH, AssistParams
from carmind.drive.monitor import MAX_TERMINAL_ALERTS, MonitorSettings
from carmind.drive.scenarios import ScenarioError
from carmind.drive.service import (
    AUTONOMY_LEVEL,
    DMS_WARNING,
    DRIVE,
    ENGAGE,
    EYES_ON_ROAD,
    SET_SPEED,
    DriveService,
)
from carmind.signals.broker import Broker, Client
from carmind.signals.catalog import Value, load_catalog
from carmind.signals.errors import ActuationRefusedError, OutOfRangeError
from carmind.vehicle.session import CarSession

POLICY = "expert+guard"
SEED = 7


class FakeClock:
    """The hub's clock, advanced by the test: one tick is 0.2 s."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make(
    broker: Broker | None = None, **kwargs: object
) -> tuple[DriveService, Client, Callable[[int], None]]:
    broker = broker or Broker(load_catalog())
    clock = FakeClock()
    service = DriveService(
        broker.client("drive", "read actuate provide"),
        policy=POLICY,
        seed=SEED,
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )
    service.attach()

    def ticks(n: int) -> None:
        for _ in range(n):
            service.tick()
            clock.now += 0.2

    return service, broker.client("driver", "read actuate"), ticks


def value(client: Client, path: str) -> Value | None:
    dp = client.get(path)
    return None if dp is None else dp.value


def test_attaches_publishes_and_the_simulated_driver_engages() -> None:
    service, driver, ticks = make()
    assert value(driver, DRIVE + "Status") == "OFF"
    assert value(driver, DRIVE + "Policy") == POLICY
    assert value(driver, DRIVE + "Scenario") == "highway"
    assert value(driver, DRIVE + "Episode") == 1
    assert value(driver, ENGAGE) is False
    # no car on this hub: the standard driver-monitoring signals are the service's
    assert service.shared_signals == (
        DMS_WARNING,
        EYES_ON_ROAD,
        "Vehicle.Driver.IsHandsOnWheel",
        "Vehicle.Driver.AttentiveProbability",
        AUTONOMY_LEVEL,
    )
    ticks(1)
    assert value(driver, DRIVE + "Status") == "READY"
    assert value(driver, AUTONOMY_LEVEL) == "SAE_0"
    speed = value(driver, DRIVE + "Speed")
    assert isinstance(speed, float) and 60.0 <= speed <= 135.0
    ticks(6)  # READY for a second: the simulated driver presses engage
    assert value(driver, DRIVE + "Status") == "ENGAGED"
    assert value(driver, ENGAGE) is True
    assert value(driver, AUTONOMY_LEVEL) == "SAE_2"
    assert value(driver, DRIVE + "Alert") == "none"
    assert value(driver, DRIVE + "TakeoverRequest") is False
    assert value(driver, DRIVE + "Collisions") == 0
    set_speed = value(driver, SET_SPEED)
    assert isinstance(set_speed, float) and 60.0 <= set_speed <= 135.0
    gap, time_gap = value(driver, DRIVE + "Gap"), value(driver, DRIVE + "TimeGap")
    speed = value(driver, DRIVE + "Speed")
    assert isinstance(gap, float) and isinstance(time_gap, float) and gap >= 0.0
    assert isinstance(speed, float)
    if gap > 0:
        assert time_gap == pytest.approx(gap / (speed * KMH), rel=0.05)


def test_the_cars_own_signals_are_left_to_the_car() -> None:
    session = CarSession.create(load_config(environ={}))
    service, driver, ticks = make(session.broker)
    assert AUTONOMY_LEVEL not in service.shared_signals  # the car reports it from its cruise
    assert session.broker.provider_of(AUTONOMY_LEVEL) == "vehicle"
    assert session.broker.provider_of(EYES_ON_ROAD) == "drive"
    ticks(8)
    assert value(driver, DRIVE + "Status") == "ENGAGED"
    assert value(driver, AUTONOMY_LEVEL) == "SAE_0"  # still the car's: nothing fought over it
    assert isinstance(value(driver, EYES_ON_ROAD), bool)


def test_engage_false_cancels_and_engage_true_engages_again() -> None:
    service, driver, ticks = make()
    ticks(8)
    assert value(driver, DRIVE + "Status") == "ENGAGED"
    driver.actuate(ENGAGE, False)
    assert value(driver, DRIVE + "Status") == "READY"
    assert value(driver, ENGAGE) is False
    ticks(10)  # the hub's driver has taken charge: the simulated one no longer engages
    assert value(driver, DRIVE + "Status") == "READY"
    driver.actuate_many({SET_SPEED: 100.0, ENGAGE: True})
    assert value(driver, DRIVE + "Status") == "ENGAGED"
    assert value(driver, SET_SPEED) == 100.0
    assert service.state.set_speed == pytest.approx(100.0 * KMH)
    driver.actuate(SET_SPEED, 120.0)  # a new set speed while engaged
    assert service.state.set_speed == pytest.approx(120.0 * KMH)
    ticks(1)
    assert value(driver, DRIVE + "Status") == "ENGAGED"


def test_refusals_name_the_reason_and_change_nothing() -> None:
    service, driver, ticks = make()
    with pytest.raises(ActuationRefusedError, match="no vehicle data"):
        driver.actuate(ENGAGE, True)  # before the first tick the system is OFF
    assert value(driver, DRIVE + "Status") == "OFF"
    assert driver.get_target(ENGAGE) is None
    ticks(8)
    for bad in (200.0, 30.0):
        with pytest.raises(OutOfRangeError, match="60 to 135 km/h"):
            driver.actuate(SET_SPEED, bad)
    # the service checks the range too, for a hub whose catalog gives none
    assert "outside 60–135 km/h" in service.check_actuation({SET_SPEED: 150.0})[SET_SPEED]
    assert service.state.set_speed is not None and service.state.set_speed < 136.0 * KMH
    assert driver.get_target(SET_SPEED) is None


def test_a_distracted_driver_is_alerted_asked_to_take_over_and_locked_out() -> None:
    # The real timers need ~700 ticks for three terminal alerts; shorter budgets (same order of
    # pre, prompt and terminal) exercise the same path in a fraction of the time.
    quick = MonitorSettings(
        distracted_time=2.0,
        distracted_pre=1.5,
        distracted_prompt=1.0,
        hands_off_time=4.0,
        hands_off_pre=3.0,
        hands_off_prompt=2.0,
    )
    service, driver, ticks = make(distracted_driver=True, assist_params=AssistParams(monitor=quick))
    seen: list[tuple[object, object]] = []
    for _ in range(400):
        ticks(1)
        seen.append((value(driver, DRIVE + "Status"), value(driver, DRIVE + "Alert")))
        if seen[-1][0] == "LOCKOUT":
            break
    statuses = [s for s, _ in seen]
    alerts = [a for _, a in seen]
    assert statuses[-1] == "LOCKOUT", seen[-20:]
    first_terminal = alerts.index("terminal")
    assert "pre" in alerts[:first_terminal] and "prompt" in alerts[:first_terminal]
    assert statuses[first_terminal] == "TAKEOVER"
    assert statuses.count("TAKEOVER") >= MAX_TERMINAL_ALERTS
    assert service.state.terminal_alerts == MAX_TERMINAL_ALERTS
    assert value(driver, DMS_WARNING) is False
    assert "locked out" in str(value(driver, DRIVE + "AlertText")).lower()
    with pytest.raises(ActuationRefusedError, match="locked out after 3 terminal alerts"):
        driver.actuate(ENGAGE, True)
    ticks(10)  # and the simulated driver cannot engage either
    assert value(driver, DRIVE + "Status") == "LOCKOUT"


def test_during_a_takeover_request_the_takeover_is_published() -> None:
    quick = MonitorSettings(
        distracted_time=2.0,
        distracted_pre=1.5,
        distracted_prompt=1.0,
        hands_off_time=4.0,
        hands_off_pre=3.0,
        hands_off_prompt=2.0,
    )
    service, driver, ticks = make(distracted_driver=True, assist_params=AssistParams(monitor=quick))
    for _ in range(200):
        ticks(1)
        if value(driver, DRIVE + "Status") == "TAKEOVER":
            break
    assert value(driver, DRIVE + "TakeoverRequest") is True
    assert value(driver, DRIVE + "Alert") == "terminal"
    assert str(value(driver, DRIVE + "AlertText")).startswith("Take over now")
    assert value(driver, DMS_WARNING) is True
    assert value(driver, AUTONOMY_LEVEL) == "SAE_2_DISENGAGING"
    assert service.state.max_acceleration is not None and service.state.max_acceleration < 0


def test_an_episode_that_ends_is_followed_by_the_next_seed() -> None:
    service, driver, ticks = make()
    service.env.core.config["duration"] = 1  # highway-env truncates the episode after 1 s
    ticks(4)
    assert value(driver, DRIVE + "Episode") == 1
    ticks(2)
    assert value(driver, DRIVE + "Episode") == 2
    assert service.seed == SEED + 1
    assert value(driver, DRIVE + "Collisions") == 0


def test_a_collision_is_counted_and_a_new_episode_starts(caplog: pytest.LogCaptureFixture) -> None:
    service, driver, ticks = make()
    ticks(8)
    assert value(driver, DRIVE + "Status") == "ENGAGED"
    service.env.core.vehicle.crashed = True  # as highway-env marks a car that hit another
    with caplog.at_level(logging.WARNING, logger="carmind.drive.service"):
        ticks(1)
    assert value(driver, DRIVE + "Collisions") == 1
    assert value(driver, DRIVE + "Episode") == 2
    assert value(driver, DRIVE + "Status") == "READY"  # a crash disengages
    assert "collision in episode 1" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"policy": "nonsense"}, AgentError, "nonsense"),
        ({"scenario": "moonbase"}, ScenarioError, "moonbase"),
    ],
)
def test_unknown_names_are_refused_before_anything_is_claimed(
    kwargs: dict[str, str], error: type[Exception], names: str
) -> None:
    broker = Broker(load_catalog())
    with pytest.raises(error, match=names):
        DriveService(broker.client("drive", "read actuate provide"), **kwargs)  # type: ignore[arg-type]
    assert broker.provider_of(DRIVE + "Status") is None


def test_the_default_policy_is_the_shipped_model_behind_the_guard() -> None:
    assert shipped_model().is_file()
    broker = Broker(load_catalog())
    service = DriveService(broker.client("drive", "read actuate provide"), seed=SEED)
    assert service.agent.name == "learned+guard"
    assert service.env.rig is not None  # the network reads the sensors


def test_the_default_policy_falls_back_to_the_expert_while_no_model_is_shipped(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import carmind.drive.agents
    import carmind.drive.service

    missing = tmp_path / "policy.onnx"
    monkeypatch.setattr(carmind.drive.service, "shipped_model", lambda: missing)
    monkeypatch.setattr(carmind.drive.agents, "shipped_model", lambda: missing)
    broker = Broker(load_catalog())
    with caplog.at_level(logging.WARNING, logger="carmind.drive.service"):
        service = DriveService(broker.client("drive", "read actuate provide"), seed=SEED)
    assert service.agent.name == "expert+guard"
    assert "expert+guard drives instead of learned+guard" in caplog.text
    with pytest.raises(AgentError, match="shipped model is missing"):  # only the default falls back
        DriveService(broker.client("drive2", "read actuate provide"), policy="learned")


async def test_run_steps_in_a_worker_thread_and_stops() -> None:
    service, driver, _ = make()
    task = asyncio.create_task(service.run())
    loop_turns = 0
    for _ in range(60):  # the event loop stays free while the world steps
        await asyncio.sleep(0.02)
        loop_turns += 1
        if service.ticks >= 3:
            break
    assert service.ticks >= 3
    assert loop_turns > service.ticks
    service.stop()
    await asyncio.wait_for(task, 2.0)
    assert value(driver, DRIVE + "Status") in ("READY", "ENGAGED")
