"""The broker: VSS semantics, validation that changes nothing, access control, subscriptions."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from carmind.signals.broker import Broker, Datapoint, Field
from carmind.signals.catalog import Value, default_catalog
from carmind.signals.errors import (
    AccessDeniedError,
    ActuationRefusedError,
    NotAllowedError,
    NotAnActuatorError,
    OutOfRangeError,
    ProviderConflictError,
    ProviderUnavailableError,
    ReadOnlyError,
    UnknownPathError,
    ValueTypeError,
)

TEMP = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
FAN = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed"
WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
TRUNK = "Vehicle.Body.Trunk.Rear.IsOpen"


class Recorder:
    """An actuation provider that records what it was asked and can refuse by rule."""

    def __init__(self, refuse: Mapping[str, str] | None = None) -> None:
        self.calls: list[dict[str, Value]] = []
        self.refuse = dict(refuse or {})

    def check_actuation(self, values: Mapping[str, Value]) -> Mapping[str, str]:
        return {p: r for p, r in self.refuse.items() if p in values}

    def actuate(self, values: Mapping[str, Value]) -> None:
        self.calls.append(dict(values))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def broker() -> Broker:
    return Broker(default_catalog(), clock=Clock())


def snapshot(broker: Broker) -> tuple[dict[str, Datapoint], dict[str, Datapoint]]:
    return dict(broker._values), dict(broker._targets)


def test_publish_and_get_carry_timestamps(broker: Broker) -> None:
    car = broker.client("car")
    car.publish("Vehicle.Speed", 42)
    assert car.get("Vehicle.Speed") == Datapoint(42.0, 1000.0)
    car.publish("Vehicle.Speed", 43.5, timestamp=5.0)
    assert car.get("Vehicle.Speed") == Datapoint(43.5, 5.0)
    assert car.get("Vehicle.TraveledDistance") is None


def test_actuation_reaches_the_provider_and_records_the_target(broker: Broker) -> None:
    car = broker.client("car")
    recorder = Recorder()
    car.provide("Vehicle.Cabin", recorder)
    app = broker.client("app", "read actuate")
    app.actuate(TEMP, 21)
    assert recorder.calls == [{TEMP: 21.0}]
    assert app.get_target(TEMP) == Datapoint(21.0, 1000.0)
    assert app.get(TEMP) is None  # the current value is the provider's to publish


def test_actuation_without_provider_is_refused_and_never_queued(broker: Broker) -> None:
    app = broker.client("app")
    with pytest.raises(ProviderUnavailableError, match="refused, not queued"):
        app.actuate(WINDOW, 100)
    assert app.get_target(WINDOW) is None
    # a provider that arrives later receives nothing of the earlier attempt
    recorder = Recorder()
    broker.client("car").provide("Vehicle.Cabin.Door", recorder)
    assert recorder.calls == []


def test_actuation_after_provider_leaves_fails(broker: Broker) -> None:
    handle = broker.client("car").provide("Vehicle.Cabin", Recorder())
    handle.close()
    with pytest.raises(ProviderUnavailableError):
        broker.client("app").actuate(TEMP, 20)


def test_batch_actuation_is_all_or_nothing(broker: Broker) -> None:
    recorder = Recorder()
    broker.client("car").provide("Vehicle.Cabin", recorder)
    app = broker.client("app")
    before = snapshot(broker)
    with pytest.raises(OutOfRangeError):
        app.actuate_many({TEMP: 22, FAN: 150})
    with pytest.raises(ProviderUnavailableError):
        app.actuate_many({TEMP: 22, TRUNK: True})  # the trunk has no provider
    assert snapshot(broker) == before
    assert recorder.calls == []
    app.actuate_many({TEMP: 22, FAN: 50})
    assert recorder.calls == [{TEMP: 22.0, FAN: 50}]


def test_provider_refusal_changes_nothing(broker: Broker) -> None:
    recorder = Recorder(refuse={TRUNK: "the car is moving at 80 km/h"})
    broker.client("car").provide(["Vehicle.Body", "Vehicle.Cabin"], recorder)
    app = broker.client("app")
    before = snapshot(broker)
    with pytest.raises(ActuationRefusedError, match="moving at 80 km/h"):
        app.actuate_many({TEMP: 20, TRUNK: True})
    assert snapshot(broker) == before
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("Vehicle.Nope", 1, UnknownPathError),
        ("Vehicle.Speed", 10.0, ReadOnlyError),  # a sensor
        ("Vehicle.VehicleIdentification.VIN", "X", ReadOnlyError),  # an attribute
        (FAN, "fast", ValueTypeError),
        (FAN, 101, OutOfRangeError),
        ("Vehicle.Cabin.HVAC.Station.Row1.Driver.AirDistribution", "LEFT", NotAllowedError),
    ],
)
def test_bad_actuations_raise_and_change_nothing(
    broker: Broker, path: str, value: object, error: type[Exception]
) -> None:
    recorder = Recorder()
    broker.client("car").provide("Vehicle", recorder)
    before = snapshot(broker)
    with pytest.raises(error) as info:
        broker.client("app").actuate(path, value)
    assert path in str(info.value)
    assert snapshot(broker) == before
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("Vehicle.Nope", 1, UnknownPathError),
        ("Vehicle.Speed", "fast", ValueTypeError),
        ("Vehicle.CurrentLocation.Latitude", 95.0, OutOfRangeError),
        ("Vehicle.Powertrain.Type", "STEAM", NotAllowedError),
    ],
)
def test_bad_publishes_raise_and_change_nothing(
    broker: Broker, path: str, value: object, error: type[Exception]
) -> None:
    car = broker.client("car")
    car.publish("Vehicle.Speed", 10.0)
    before = snapshot(broker)
    with pytest.raises(error):
        car.publish_many({"Vehicle.TraveledDistance": 5.0, path: value})
    assert snapshot(broker) == before


def test_sensors_are_written_only_by_their_provider(broker: Broker) -> None:
    car = broker.client("car")
    car.provide("Vehicle.Speed")
    car.publish("Vehicle.Speed", 50.0)
    other = broker.client("other")
    with pytest.raises(ProviderConflictError, match="already provided by 'car'"):
        other.publish("Vehicle.Speed", 0.0)
    with pytest.raises(ProviderConflictError):
        other.provide("Vehicle.Speed")
    assert car.value("Vehicle.Speed") == 50.0


def test_actuation_provider_must_claim_an_actuator(broker: Broker) -> None:
    with pytest.raises(NotAnActuatorError):
        broker.client("car").provide("Vehicle.Speed", Recorder())


def test_access_control_checks_every_call(broker: Broker) -> None:
    recorder = Recorder()
    broker.client("car").provide(["Vehicle.Cabin", "Vehicle.Body"], recorder)
    climate = broker.client("climate-app", "actuate:Vehicle.Cabin.HVAC")
    climate.actuate(TEMP, 20)  # actuate implies read on the same signals
    assert climate.get_target(TEMP) is not None
    with pytest.raises(
        AccessDeniedError, match=r"may not actuate Vehicle\.Body\.Trunk\.Rear\.IsOpen"
    ):
        climate.actuate(TRUNK, True)
    with pytest.raises(AccessDeniedError, match=r"may not read Vehicle\.Speed"):
        climate.get("Vehicle.Speed")
    with pytest.raises(AccessDeniedError):
        climate.publish("Vehicle.Speed", 1.0)
    with pytest.raises(AccessDeniedError):
        climate.subscribe("Vehicle")
    reader = broker.client("dash", "read")
    with pytest.raises(AccessDeniedError, match="may not actuate"):
        reader.actuate(TEMP, 22)
    assert recorder.calls == [{TEMP: 20.0}]
    speed_only = broker.client("speedo", "provide:Vehicle.Speed")
    speed_only.publish("Vehicle.Speed", 3.0)
    with pytest.raises(AccessDeniedError):
        speed_only.publish("Vehicle.TraveledDistance", 3.0)


def test_metadata_is_filtered_by_scope(broker: Broker) -> None:
    client = broker.client("x", "read:Vehicle.Cabin.HVAC")
    assert all(
        s.path.startswith("Vehicle.Cabin.HVAC") for s in client.metadata("Vehicle.Cabin.HVAC")
    )
    with pytest.raises(AccessDeniedError):
        client.metadata("Vehicle.Cabin")


async def test_subscription_gets_snapshot_then_updates(broker: Broker) -> None:
    car = broker.client("car")
    car.publish("Vehicle.Speed", 10.0)
    sub = broker.client("app").subscribe(["Vehicle.Speed", "Vehicle.TraveledDistance"])
    assert await sub.next_batch() == {"Vehicle.Speed": Datapoint(10.0, 1000.0)}
    car.publish("Vehicle.TraveledDistance", 1.5)
    car.publish("Vehicle.CurrentLocation.Latitude", 60.0)  # not subscribed
    batch = await asyncio.wait_for(sub.next_batch(), 1)
    assert list(batch) == ["Vehicle.TraveledDistance"]
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await sub.next_batch()


async def test_wildcard_subscription_and_targets(broker: Broker) -> None:
    broker.client("car").provide("Vehicle.Cabin", Recorder())
    app = broker.client("app")
    values = app.subscribe("Vehicle.Cabin.HVAC.**")
    targets = app.subscribe("Vehicle.Cabin.HVAC.**", field=Field.TARGET)
    app.actuate(TEMP, 23)
    assert await asyncio.wait_for(targets.next_batch(), 1) == {TEMP: Datapoint(23.0, 1000.0)}
    assert values.poll() == {}


async def test_slow_subscriber_coalesces_and_stays_bounded(broker: Broker) -> None:
    car = broker.client("car")
    sub = broker.client("slow").subscribe(["Vehicle.Speed", "Vehicle.TraveledDistance"])
    for i in range(100_000):
        car.publish_many({"Vehicle.Speed": float(i % 250), "Vehicle.TraveledDistance": float(i)})
    batch = await sub.next_batch()
    assert len(batch) == 2  # one entry per path, however many updates came
    assert batch["Vehicle.TraveledDistance"].value == 99_999.0
    assert sub.coalesced == 2 * 100_000 - 2
    assert len(sub._pending) == 0


async def test_callback_subscription_and_failure_isolation(broker: Broker) -> None:
    car = broker.client("car")
    got: list[dict[str, Datapoint]] = []
    done = asyncio.Event()

    def on_batch(batch: dict[str, Datapoint]) -> None:
        got.append(batch)
        done.set()

    def broken(batch: dict[str, Datapoint]) -> None:
        raise RuntimeError("consumer bug")

    sub = broker.client("a").subscribe("Vehicle.Speed", callback=on_batch)
    bad = broker.client("b").subscribe("Vehicle.Speed", callback=broken)
    car.publish("Vehicle.Speed", 12.0)
    await asyncio.wait_for(done.wait(), 1)
    await asyncio.sleep(0)
    assert got == [{"Vehicle.Speed": Datapoint(12.0, 1000.0)}]
    assert bad.closed  # a failing consumer is closed, the publisher and others carry on
    car.publish("Vehicle.Speed", 13.0)
    sub.close()
