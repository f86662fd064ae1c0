"""The real kuksa-client, unmodified, against carmind's KUKSA gRPC server.

Each test runs twice: with the blocking `kuksa_client.grpc.VSSClient` (in a worker thread while
the server runs on the test's loop) and with `kuksa_client.grpc.aio.VSSClient`. The client picks
its own RPCs: `get_*` and `set_target_values` use `kuksa.val.v1` Get and Set,
`set_current_values` v2 PublishValue, `subscribe_current_values` v2 Subscribe (and ListMetadata to
expand a branch), `subscribe_target_values` v2 OpenProviderStream as a provider.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
import pytest
from kuksa.val.v2 import types_pb2 as t2
from kuksa.val.v2 import val_pb2 as v2
from kuksa_client.grpc import (
    Datapoint,
    DataType,
    EntryType,
    Metadata,
    MetadataField,
    ServerInfo,
    VSSClientError,
)

from carmind import __version__
from tests.signals.kuksa_support import (
    CALL_S,
    DAY_NIGHT,
    DOOR_OPEN,
    EYES,
    FAN,
    HORN,
    SEAT_HEIGHT,
    SPEED,
    TARGET_SPEED,
    VIN,
    WINDOW,
    WINDOW_BRANCH,
    Flavour,
    Kuksa,
    Served,
    at_epoch,
    eventually,
    rpc_error,
    snapshot,
    v2_stub,
)


def _value(update: dict[str, Any], path: str) -> Any:
    """The value of `path` in a kuksa-client subscription update (None: not in it)."""
    datapoint = update.get(path)
    return None if datapoint is None else datapoint.value


# --------------------------------------------------------------------------- reading


async def test_get_current_values(car: Served, flavour: Flavour) -> None:
    async with Kuksa(flavour, car.port) as kuksa:
        values = await kuksa.call("get_current_values", [SPEED, WINDOW, VIN], timeout=CALL_S)
    assert values == {
        SPEED: Datapoint(0.0, at_epoch()),
        WINDOW: Datapoint(0, at_epoch()),
        VIN: Datapoint(car.car.client.value(VIN), at_epoch()),
    }


async def test_get_current_values_of_a_branch_lists_every_leaf(
    car: Served, flavour: Flavour
) -> None:
    async with Kuksa(flavour, car.port) as kuksa:
        values = await kuksa.call("get_current_values", [WINDOW_BRANCH], timeout=CALL_S)
    expected = [s.path for s in car.broker.catalog.match(WINDOW_BRANCH)]
    assert list(values) == expected
    assert WINDOW in values


async def test_get_target_values(car: Served, flavour: Flavour) -> None:
    # no `timeout=` here: kuksa-client 0.6.0's aio get_target_values passes its rpc kwargs to
    # EntryRequest (a TypeError); the helper's own deadline bounds the call instead
    async with Kuksa(flavour, car.port) as kuksa:
        before = await kuksa.call("get_target_values", [WINDOW])
        car.car.client.actuate(WINDOW, 40)
        after = await kuksa.call("get_target_values", [WINDOW])
    assert before == {WINDOW: None}  # no target was ever set: an empty datapoint
    assert after == {WINDOW: Datapoint(40, at_epoch())}


async def test_get_metadata(car: Served, flavour: Flavour) -> None:
    catalog = car.broker.catalog
    async with Kuksa(flavour, car.port) as kuksa:
        metadata = await kuksa.call(
            "get_metadata", [WINDOW, DAY_NIGHT, TARGET_SPEED, SPEED, VIN], timeout=CALL_S
        )

    window = metadata[WINDOW]
    assert (window.data_type, window.entry_type) == (DataType.UINT8, EntryType.ACTUATOR)
    assert window.unit == "percent"
    assert window.description == catalog.get(WINDOW).description
    assert (window.value_restriction.min, window.value_restriction.max) == (0, 100)

    mode = metadata[DAY_NIGHT]
    assert (mode.data_type, mode.entry_type) == (DataType.STRING, EntryType.ACTUATOR)
    assert mode.value_restriction.allowed_values == ["DAY", "NIGHT"]

    target = metadata[TARGET_SPEED]
    assert target.data_type is DataType.FLOAT
    assert target.unit == "km/h"
    assert (target.value_restriction.min, target.value_restriction.max) == (0.0, 400.0)

    assert (metadata[SPEED].data_type, metadata[SPEED].entry_type) == (
        DataType.FLOAT,
        EntryType.SENSOR,
    )
    assert (metadata[VIN].data_type, metadata[VIN].entry_type) == (
        DataType.STRING,
        EntryType.ATTRIBUTE,
    )


async def test_get_server_info(car: Served, flavour: Flavour) -> None:
    async with Kuksa(flavour, car.port) as kuksa:
        info = await kuksa.call("get_server_info", timeout=CALL_S)
    assert info == ServerInfo(name="carmind", version=__version__)


# --------------------------------------------------------------------------- actuating


async def test_set_metadata_is_refused(car: Served, flavour: Flavour) -> None:
    async with Kuksa(flavour, car.port) as kuksa:
        with pytest.raises(VSSClientError) as info:
            await kuksa.call(
                "set_metadata", {WINDOW: Metadata(unit="mm")}, MetadataField.UNIT, timeout=CALL_S
            )
        metadata = await kuksa.call("get_metadata", [WINDOW], timeout=CALL_S)
    assert info.value.error["code"] == 400
    assert "metadata" in info.value.error["message"]
    assert metadata[WINDOW].unit == "percent"


async def test_set_target_values_the_car_carries_out(car: Served, flavour: Flavour) -> None:
    async with Kuksa(flavour, car.port) as kuksa:
        await kuksa.call("set_target_values", {WINDOW: Datapoint(100)}, timeout=CALL_S)
        assert car.car.client.get_target(WINDOW) is not None
        moving = await kuksa.call("get_current_values", [WINDOW], timeout=CALL_S)
        car.car.advance(4.0)
        done = await kuksa.call("get_current_values", [WINDOW], timeout=CALL_S)
    assert moving[WINDOW].value == 0  # a window takes time to move
    assert done[WINDOW].value == 100


async def test_set_target_values_of_several_actuators(car: Served, flavour: Flavour) -> None:
    async with Kuksa(flavour, car.port) as kuksa:
        await kuksa.call(
            "set_target_values",
            {WINDOW: Datapoint(30), FAN: Datapoint(60), DAY_NIGHT: Datapoint("NIGHT")},
            timeout=CALL_S,
        )
        car.car.advance(4.0)
        values = await kuksa.call("get_current_values", [WINDOW, FAN, DAY_NIGHT], timeout=CALL_S)
    assert {p: dp.value for p, dp in values.items()} == {WINDOW: 30, FAN: 60, DAY_NIGHT: "NIGHT"}


REFUSED_ACTUATIONS = [
    # (what, updates, v1 error code)
    ("unknown path", {"Vehicle.Cabin.NoSuchThing": Datapoint(1)}, 404),
    ("out of range", {WINDOW: Datapoint(101)}, 400),
    ("not an allowed value", {DAY_NIGHT: Datapoint("DUSK")}, 400),
    ("a sensor", {SPEED: Datapoint(50.0)}, 400),
    ("no provider", {SEAT_HEIGHT: Datapoint(300)}, 503),
    ("one bad entry in a batch", {FAN: Datapoint(50), WINDOW: Datapoint(101)}, 400),
]


@pytest.mark.parametrize(
    ("updates", "code"),
    [pytest.param(u, c, id=w) for w, u, c in REFUSED_ACTUATIONS],
)
async def test_set_target_values_refused_changes_nothing(
    car: Served, flavour: Flavour, updates: dict[str, Datapoint], code: int
) -> None:
    before = snapshot(car.broker)
    async with Kuksa(flavour, car.port) as kuksa:
        with pytest.raises(VSSClientError) as info:
            await kuksa.call("set_target_values", updates, timeout=CALL_S)
    assert info.value.error["code"] == code, info.value.to_dict()
    assert info.value.error["message"]
    assert snapshot(car.broker) == before


async def test_set_target_values_refused_by_the_car_says_why(car: Served, flavour: Flavour) -> None:
    car.car.prime({SPEED: 80.0})
    before = snapshot(car.broker)
    async with Kuksa(flavour, car.port) as kuksa:
        with pytest.raises(VSSClientError) as info:
            await kuksa.call("set_target_values", {DOOR_OPEN: Datapoint(True)}, timeout=CALL_S)
    assert info.value.error["code"] == 412
    assert "walking speed" in info.value.error["message"]
    assert snapshot(car.broker) == before


# --------------------------------------------------------------------------- subscribing


async def test_subscribe_current_values_sees_the_car_speed_up(
    car: Served, flavour: Flavour
) -> None:
    async with Kuksa(flavour, car.port) as kuksa:
        stream = kuksa.stream(
            "subscribe_current_values", [SPEED], until=lambda u: u[SPEED].value > 30.0
        )
        await stream.started()  # the first update holds the current value
        await kuksa.call("set_target_values", {TARGET_SPEED: Datapoint(50.0)}, timeout=CALL_S)
        for _ in range(8):  # 8 simulated seconds, the server streaming in between
            car.car.advance(1.0)
            await asyncio.sleep(0.02)
        updates = await stream.result()
    speeds = [u[SPEED].value for u in updates]
    assert updates[0] == {SPEED: Datapoint(0.0, at_epoch())}
    assert speeds == sorted(speeds)  # accelerating: every update faster than the last
    assert speeds[-1] > 30.0
    assert updates[-1][SPEED].timestamp > at_epoch()


async def test_subscribe_current_values_of_a_branch(car: Served, flavour: Flavour) -> None:
    # v2 Subscribe takes signals only (NOT_FOUND for a branch, as KUKSA answers); the client then
    # expands the branch with ListMetadata and subscribes to its leaves
    leaves = [s.path for s in car.broker.catalog.match(WINDOW_BRANCH)]
    async with Kuksa(flavour, car.port) as kuksa:
        stream = kuksa.stream(
            "subscribe_current_values", [WINDOW_BRANCH], until=lambda u: _value(u, WINDOW) == 100
        )
        await stream.started()
        await kuksa.call("set_target_values", {WINDOW: Datapoint(100)}, timeout=CALL_S)
        for _ in range(5):
            car.car.advance(1.0)
            await asyncio.sleep(0.02)
        updates = await stream.result()
    assert set(updates[0]) == set(leaves)
    assert updates[-1][WINDOW].value == 100


# --------------------------------------------------------------------------- providing


async def test_set_current_values_publishes_an_unclaimed_sensor(
    car: Served, flavour: Flavour
) -> None:
    assert car.broker.provider_of(EYES) is None
    async with Kuksa(flavour, car.port) as kuksa:
        await kuksa.call("set_current_values", {EYES: Datapoint(True)}, timeout=CALL_S)
        values = await kuksa.call("get_current_values", [EYES], timeout=CALL_S)
    assert values[EYES].value is True
    assert car.car.client.value(EYES) is True


async def test_set_current_values_of_a_signal_the_car_provides_is_refused(
    car: Served, flavour: Flavour
) -> None:
    before = snapshot(car.broker)
    async with Kuksa(flavour, car.port) as kuksa:
        with pytest.raises(VSSClientError) as info:
            await kuksa.call("set_current_values", {SPEED: Datapoint(99.0)}, timeout=CALL_S)
    assert info.value.error["code"] == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert "vehicle" in info.value.error["message"]  # names the provider
    assert snapshot(car.broker) == before


async def test_subscribe_target_values_makes_the_client_a_provider(
    hub: Served, flavour: Flavour
) -> None:
    """The kuksa-client provides the horn; another client's actuation reaches it, and only
    while it is connected: before and after, actuating finds no provider."""

    async def actuate_horn(consumer: Kuksa) -> None:
        await consumer.call("set_target_values", {HORN: Datapoint(True)}, timeout=CALL_S)

    async with Kuksa(flavour, hub.port) as consumer:
        with pytest.raises(VSSClientError) as before:
            await actuate_horn(consumer)
        async with v2_stub(hub) as stub:
            request = v2.ActuateRequest(signal_id=t2.SignalID(path=HORN), value=t2.Value(bool=True))
            unavailable = await rpc_error(stub.Actuate(request, timeout=CALL_S))

        async with Kuksa(flavour, hub.port) as provider:
            stream = provider.stream("subscribe_target_values", [HORN], until=lambda u: True)
            await eventually(lambda: hub.broker.provider_of(HORN) is not None, "provider claim")
            await actuate_horn(consumer)
            received = await stream.result()
        await eventually(lambda: hub.broker.provider_of(HORN) is None, "claim released")

        with pytest.raises(VSSClientError) as after:
            await actuate_horn(consumer)

    assert before.value.error["code"] == 503
    assert unavailable.code() is grpc.StatusCode.UNAVAILABLE
    assert received == [{HORN: Datapoint(True)}]
    assert hub.broker.client("check").get_target(HORN) is not None
    assert after.value.error["code"] == 503


async def test_two_kuksa_providers_cannot_provide_the_same_actuator(
    hub: Served, flavour: Flavour
) -> None:
    async with Kuksa(flavour, hub.port) as first, Kuksa(flavour, hub.port) as second:
        holder = first.stream("subscribe_target_values", [HORN], until=lambda u: True)
        await eventually(lambda: hub.broker.provider_of(HORN) is not None, "first claim")
        owner = hub.broker.provider_of(HORN)
        rival = second.stream("subscribe_target_values", [HORN], until=lambda u: True)
        with pytest.raises(VSSClientError) as info:
            await rival.result()
        assert hub.broker.provider_of(HORN) == owner
        holder.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holder.task
    assert info.value.error["code"] == grpc.StatusCode.ALREADY_EXISTS.value[0]
