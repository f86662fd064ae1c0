"""The `kuksa.val.v2` and `kuksa.val.v1` contracts, call by call, through the raw generated stubs.

What a KUKSA client that is not the Python kuksa-client (Velocitas, the Rust or C++ clients) would
send: paths and numeric ids, every status code `val.proto` names, the provider stream, and v1's
per-entry errors. A refused call changes nothing.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf.message import Message
from kuksa.val.v1 import types_pb2 as t1
from kuksa.val.v1 import val_pb2 as v1
from kuksa.val.v2 import types_pb2 as t2
from kuksa.val.v2 import val_pb2 as v2
from kuksa.val.v2 import val_pb2_grpc as v2_grpc

from carmind import __version__
from carmind.signals.catalog import default_catalog
from carmind.signals.errors import ProviderConflictError
from tests.signals.kuksa_support import (
    CALL_S,
    DAY_NIGHT,
    DOOR_OPEN,
    EPOCH,
    EYES,
    FAN,
    HANDS,
    HORN,
    SEAT_HEIGHT,
    SPEED,
    VIN,
    WINDOW,
    WINDOW_BRANCH,
    Served,
    eventually,
    read,
    rpc_error,
    snapshot,
    v1_stub,
    v2_stub,
)

CATALOG = default_catalog()
UNKNOWN = "Vehicle.Cabin.NoSuchThing"
NO_SUCH_ID = len(CATALOG) + 1000
Code = grpc.StatusCode


def by_path(path: str) -> t2.SignalID:
    return t2.SignalID(path=path)


def by_id(path: str) -> t2.SignalID:
    return t2.SignalID(id=CATALOG.id_of(path))


def actuate(signal_id: t2.SignalID, value: t2.Value) -> v2.ActuateRequest:
    return v2.ActuateRequest(signal_id=signal_id, value=value)


async def id_from_server(stub: v2_grpc.VALStub, path: str) -> int:
    """A signal's id as a client learns it: ListMetadata of the leaf."""
    response = await stub.ListMetadata(v2.ListMetadataRequest(root=path), timeout=CALL_S)
    assert [m.path for m in response.metadata] == [path]
    return int(response.metadata[0].id)


# --------------------------------------------------------------------------- v2: reading


async def test_get_value_by_path_and_by_id(car: Served) -> None:
    async with v2_stub(car) as stub:
        speed_id = await id_from_server(stub, SPEED)
        window_id = await id_from_server(stub, WINDOW)
        speed = await stub.GetValue(v2.GetValueRequest(signal_id=by_path(SPEED)), timeout=CALL_S)
        same = await stub.GetValue(
            v2.GetValueRequest(signal_id=t2.SignalID(id=speed_id)), timeout=CALL_S
        )
        window = await stub.GetValue(
            v2.GetValueRequest(signal_id=t2.SignalID(id=window_id)), timeout=CALL_S
        )
    assert speed == same
    assert speed.data_point.value.WhichOneof("typed_value") == "float"
    assert speed.data_point.value.float == 0.0
    assert speed.data_point.timestamp.seconds == int(EPOCH)
    assert window.data_point.value.WhichOneof("typed_value") == "uint32"
    assert window.data_point.value.uint32 == 0


async def test_get_values_keeps_the_request_order(car: Served) -> None:
    request = v2.GetValuesRequest(signal_ids=[by_path(WINDOW), by_id(SPEED), by_path(EYES)])
    async with v2_stub(car) as stub:
        response = await stub.GetValues(request, timeout=CALL_S)
    window, speed, eyes = response.data_points
    assert window.value.uint32 == 0
    assert speed.value.float == 0.0
    assert not eyes.HasField("value")  # a signal without a value: a datapoint without one


async def test_list_metadata_of_a_branch(car: Served) -> None:
    async with v2_stub(car) as stub:
        response = await stub.ListMetadata(
            v2.ListMetadataRequest(root=WINDOW_BRANCH), timeout=CALL_S
        )
    paths = [m.path for m in response.metadata]
    assert paths == [s.path for s in CATALOG.match(WINDOW_BRANCH)]
    assert WINDOW in paths
    assert [m.id for m in response.metadata] == [CATALOG.id_of(p) for p in paths]
    window = next(m for m in response.metadata if m.path == WINDOW)
    assert window.data_type == t2.DATA_TYPE_UINT8
    assert window.entry_type == t2.ENTRY_TYPE_ACTUATOR
    assert window.unit == "percent"
    assert (window.min.uint32, window.max.uint32) == (0, 100)
    assert window.description == CATALOG.get(WINDOW).description


async def test_list_metadata_of_a_leaf_a_wildcard_and_everything(car: Served) -> None:
    async with v2_stub(car) as stub:
        leaf = await stub.ListMetadata(v2.ListMetadataRequest(root=DAY_NIGHT), timeout=CALL_S)
        doors = await stub.ListMetadata(
            v2.ListMetadataRequest(root="Vehicle.Cabin.Door.*.*.IsOpen"), timeout=CALL_S
        )
        everything = await stub.ListMetadata(v2.ListMetadataRequest(root=""), timeout=CALL_S)
    [mode] = leaf.metadata
    assert (mode.path, mode.id) == (DAY_NIGHT, CATALOG.id_of(DAY_NIGHT))
    assert mode.data_type == t2.DATA_TYPE_STRING
    assert list(mode.allowed_values.string_array.values) == ["DAY", "NIGHT"]
    assert len(doors.metadata) == 4
    assert all(m.path.endswith(".IsOpen") for m in doors.metadata)
    assert len(everything.metadata) == len(CATALOG)
    assert len({m.id for m in everything.metadata}) == len(CATALOG)


async def test_get_server_info(car: Served) -> None:
    async with v2_stub(car) as stub:
        info = await stub.GetServerInfo(v2.GetServerInfoRequest(), timeout=CALL_S)
    assert (info.name, info.version) == ("carmind", __version__)


# --------------------------------------------------------------------------- v2: actuating


async def test_actuate_reaches_the_car(car: Served) -> None:
    async with v2_stub(car) as stub:
        await stub.Actuate(actuate(by_path(WINDOW), t2.Value(uint32=100)), timeout=CALL_S)
        target = car.car.client.get_target(WINDOW)
        car.car.advance(4.0)
        now = await stub.GetValue(v2.GetValueRequest(signal_id=by_id(WINDOW)), timeout=CALL_S)
    assert target is not None and target.value == 100
    assert now.data_point.value.uint32 == 100


async def test_batch_actuate(car: Served) -> None:
    request = v2.BatchActuateRequest(
        actuate_requests=[
            actuate(by_path(WINDOW), t2.Value(uint32=50)),
            actuate(by_id(FAN), t2.Value(uint32=70)),
        ]
    )
    async with v2_stub(car) as stub:
        await stub.BatchActuate(request, timeout=CALL_S)
    car.car.advance(4.0)
    assert car.car.client.value(WINDOW) == 50
    assert car.car.client.value(FAN) == 70


async def test_batch_actuate_is_all_or_nothing(car: Served) -> None:
    request = v2.BatchActuateRequest(
        actuate_requests=[
            actuate(by_path(WINDOW), t2.Value(uint32=50)),
            actuate(by_path(FAN), t2.Value(uint32=101)),  # out of range
        ]
    )
    before = snapshot(car.broker)
    async with v2_stub(car) as stub:
        error = await rpc_error(stub.BatchActuate(request, timeout=CALL_S))
    assert error.code() is Code.INVALID_ARGUMENT
    assert FAN in (error.details() or "")
    assert snapshot(car.broker) == before
    car.car.advance(4.0)
    assert car.car.client.value(WINDOW) == 0  # the good half was not carried out either


async def test_the_car_refusing_is_failed_precondition_with_its_reason(car: Served) -> None:
    car.car.prime({SPEED: 80.0})
    before = snapshot(car.broker)
    async with v2_stub(car) as stub:
        single = await rpc_error(
            stub.Actuate(actuate(by_path(DOOR_OPEN), t2.Value(bool=True)), timeout=CALL_S)
        )
        batch = await rpc_error(
            stub.BatchActuate(
                v2.BatchActuateRequest(
                    actuate_requests=[
                        actuate(by_path(WINDOW), t2.Value(uint32=50)),
                        actuate(by_path(DOOR_OPEN), t2.Value(bool=True)),
                    ]
                ),
                timeout=CALL_S,
            )
        )
    for error in (single, batch):
        assert error.code() is Code.FAILED_PRECONDITION
        assert "80.0 km/h" in (error.details() or "")
        assert "walking speed" in (error.details() or "")
    assert snapshot(car.broker) == before


async def test_publish_value_to_an_unclaimed_sensor(car: Served) -> None:
    stamp = t2.Datapoint(value=t2.Value(bool=True))
    stamp.timestamp.FromNanoseconds(int((EPOCH + 12.5) * 1e9))
    async with v2_stub(car) as stub:
        await stub.PublishValue(
            v2.PublishValueRequest(signal_id=by_path(EYES), data_point=stamp), timeout=CALL_S
        )
        back = await stub.GetValue(v2.GetValueRequest(signal_id=by_id(EYES)), timeout=CALL_S)
    assert back.data_point.value.bool is True
    assert back.data_point.timestamp == stamp.timestamp


# --------------------------------------------------------------------------- v2: status codes


def _value(**field: object) -> t2.Value:
    return t2.Value(**field)


UNARY_FAILURES: list[tuple[str, str, Message, grpc.StatusCode]] = [
    (
        "get-unknown-path",
        "GetValue",
        v2.GetValueRequest(signal_id=by_path(UNKNOWN)),
        Code.NOT_FOUND,
    ),
    (
        "get-unknown-id",
        "GetValue",
        v2.GetValueRequest(signal_id=t2.SignalID(id=NO_SUCH_ID)),
        Code.NOT_FOUND,
    ),
    (
        "get-branch",
        "GetValue",
        v2.GetValueRequest(signal_id=by_path(WINDOW_BRANCH)),
        Code.NOT_FOUND,
    ),
    (
        "get-values-one-unknown",
        "GetValues",
        v2.GetValuesRequest(signal_ids=[by_path(SPEED), by_path(UNKNOWN)]),
        Code.NOT_FOUND,
    ),
    ("actuate-unknown", "Actuate", actuate(by_path(UNKNOWN), _value(bool=True)), Code.NOT_FOUND),
    (
        "actuate-wrong-type",
        "Actuate",
        actuate(by_path(WINDOW), _value(string="open")),
        Code.INVALID_ARGUMENT,
    ),
    (
        "actuate-fraction-for-integer",
        "Actuate",
        actuate(by_path(WINDOW), _value(float=50.5)),
        Code.INVALID_ARGUMENT,
    ),
    (
        "actuate-out-of-range",
        "Actuate",
        actuate(by_path(WINDOW), _value(uint32=101)),
        Code.INVALID_ARGUMENT,
    ),
    (
        "actuate-not-allowed",
        "Actuate",
        actuate(by_path(DAY_NIGHT), _value(string="DUSK")),
        Code.INVALID_ARGUMENT,
    ),
    ("actuate-no-value", "Actuate", actuate(by_path(WINDOW), t2.Value()), Code.INVALID_ARGUMENT),
    (
        "actuate-a-sensor",
        "Actuate",
        actuate(by_path(SPEED), _value(float=50.0)),
        Code.INVALID_ARGUMENT,
    ),
    (
        "actuate-an-attribute",
        "Actuate",
        actuate(by_path(VIN), _value(string="X")),
        Code.INVALID_ARGUMENT,
    ),
    (
        "actuate-no-provider",
        "Actuate",
        actuate(by_path(SEAT_HEIGHT), _value(uint32=300)),
        Code.UNAVAILABLE,
    ),
    (
        "batch-one-unknown",
        "BatchActuate",
        v2.BatchActuateRequest(
            actuate_requests=[
                actuate(by_path(WINDOW), _value(uint32=10)),
                actuate(by_path(UNKNOWN), _value(bool=True)),
            ]
        ),
        Code.NOT_FOUND,
    ),
    (
        "publish-a-signal-the-car-provides",
        "PublishValue",
        v2.PublishValueRequest(
            signal_id=by_path(SPEED), data_point=t2.Datapoint(value=_value(float=99.0))
        ),
        Code.ALREADY_EXISTS,
    ),
    (
        "publish-wrong-type",
        "PublishValue",
        v2.PublishValueRequest(
            signal_id=by_path(EYES), data_point=t2.Datapoint(value=_value(string="yes"))
        ),
        Code.INVALID_ARGUMENT,
    ),
    (
        "publish-unknown",
        "PublishValue",
        v2.PublishValueRequest(
            signal_id=by_path(UNKNOWN), data_point=t2.Datapoint(value=_value(bool=True))
        ),
        Code.NOT_FOUND,
    ),
    ("list-unknown-root", "ListMetadata", v2.ListMetadataRequest(root=UNKNOWN), Code.NOT_FOUND),
    (
        "list-malformed-wildcard",
        "ListMetadata",
        v2.ListMetadataRequest(root="Vehicle..Speed"),
        Code.INVALID_ARGUMENT,
    ),
]


@pytest.mark.parametrize(
    ("rpc", "request_", "code"),
    [pytest.param(rpc, req, code, id=name) for name, rpc, req, code in UNARY_FAILURES],
)
async def test_v2_status_codes(
    car: Served, rpc: str, request_: Message, code: grpc.StatusCode
) -> None:
    before = snapshot(car.broker)
    async with v2_stub(car) as stub:
        error = await rpc_error(getattr(stub, rpc)(request_, timeout=CALL_S))
    assert error.code() is code, error.details()
    assert error.details()  # a message that names what was wrong
    assert snapshot(car.broker) == before


async def test_get_value_of_an_empty_request_is_invalid_argument(car: Served) -> None:
    """val.proto: GetValue answers INVALID_ARGUMENT 'if the request is empty'."""
    async with v2_stub(car) as stub:
        error = await rpc_error(stub.GetValue(v2.GetValueRequest(), timeout=CALL_S))
    assert error.code() is Code.INVALID_ARGUMENT, (error.code(), error.details())


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(v2.SubscribeRequest(signal_paths=[SPEED, UNKNOWN]), id="subscribe-unknown"),
        pytest.param(v2.SubscribeRequest(signal_paths=[WINDOW_BRANCH]), id="subscribe-branch"),
        pytest.param(
            v2.SubscribeByIdRequest(signal_ids=[CATALOG.id_of(SPEED), NO_SUCH_ID]),
            id="subscribe-by-unknown-id",
        ),
    ],
)
async def test_subscribing_to_what_is_not_a_signal_is_not_found(
    car: Served, request_: Message
) -> None:
    async with v2_stub(car) as stub:
        rpc = stub.Subscribe if isinstance(request_, v2.SubscribeRequest) else stub.SubscribeById
        call = rpc(request_, timeout=CALL_S)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await asyncio.wait_for(call.read(), CALL_S)
    assert info.value.code() is Code.NOT_FOUND


# --------------------------------------------------------------------------- v2: subscribing


async def test_subscribe_starts_with_current_values_then_changes(car: Served) -> None:
    async with v2_stub(car) as stub:
        call = stub.Subscribe(v2.SubscribeRequest(signal_paths=[SPEED, WINDOW]), timeout=CALL_S)
        first = await read(call)
        car.car.client.actuate(WINDOW, 100)
        car.car.advance(1.0)
        later = await read(call)
        call.cancel()
    assert set(first.entries) == {SPEED, WINDOW}
    assert first.entries[SPEED].value.float == 0.0
    assert first.entries[WINDOW].value.uint32 == 0
    assert first.entries[WINDOW].timestamp.seconds == int(EPOCH)
    assert 0 < later.entries[WINDOW].value.uint32 < 100  # on its way
    assert later.entries[WINDOW].timestamp.ToNanoseconds() > int(EPOCH * 1e9)


async def test_subscribe_by_id(car: Served) -> None:
    speed_id, window_id = CATALOG.id_of(SPEED), CATALOG.id_of(WINDOW)
    async with v2_stub(car) as stub:
        call = stub.SubscribeById(
            v2.SubscribeByIdRequest(signal_ids=[speed_id, window_id]), timeout=CALL_S
        )
        first = await read(call)
        car.car.client.actuate(WINDOW, 100)
        car.car.advance(4.0)
        later = await read(call)
        call.cancel()
    assert set(first.entries) == {speed_id, window_id}
    assert first.entries[window_id].value.uint32 == 0
    assert later.entries[window_id].value.uint32 == 100


async def test_subscribe_first_message_lists_signals_without_a_value(hub: Served) -> None:
    """val.proto: 'When subscribing, Databroker shall immediately return the value for all
    subscribed entries. If a value isn't available when subscribing to it, it should return
    None'. A client waiting for that first message (kuksa-client's SubscriberManager does) must
    get it even for a signal nothing has published yet."""
    hub.broker.client("feeder").publish(EYES, True)
    async with v2_stub(hub) as stub:
        call = stub.Subscribe(v2.SubscribeRequest(signal_paths=[EYES, HANDS]), timeout=CALL_S)
        first = await read(call)
        call.cancel()
    assert first.entries[EYES].value.bool is True
    assert set(first.entries) == {EYES, HANDS}
    assert not first.entries[HANDS].HasField("value")


async def test_subscribe_to_nothing_is_invalid_argument(hub: Served) -> None:
    """val.proto: Subscribe answers INVALID_ARGUMENT 'if the request is empty'."""
    async with v2_stub(hub) as stub:
        call = stub.Subscribe(v2.SubscribeRequest(), timeout=1.0)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await asyncio.wait_for(call.read(), CALL_S)
    assert info.value.code() is Code.INVALID_ARGUMENT, info.value.code()


# --------------------------------------------------------------------------- v2: providers


def provide_actuation(*paths: str) -> v2.OpenProviderStreamRequest:
    return v2.OpenProviderStreamRequest(
        provide_actuation_request=v2.ProvideActuationRequest(
            actuator_identifiers=[by_path(p) for p in paths]
        )
    )


def publish_values(request_id: int, values: dict[str, t2.Value]) -> v2.OpenProviderStreamRequest:
    return v2.OpenProviderStreamRequest(
        publish_values_request=v2.PublishValuesRequest(
            request_id=request_id,
            data_points={CATALOG.id_of(p): t2.Datapoint(value=v) for p, v in values.items()},
        )
    )


async def test_provider_stream_provides_an_actuator(hub: Served) -> None:
    horn_id = CATALOG.id_of(HORN)
    check = hub.broker.client("check")
    async with v2_stub(hub) as stub:
        provider = stub.OpenProviderStream(timeout=3 * CALL_S)
        await provider.write(provide_actuation(HORN))
        ack = await read(provider)
        assert ack.WhichOneof("action") == "provide_actuation_response"
        assert hub.broker.provider_of(HORN) is not None

        await stub.Actuate(actuate(by_path(HORN), t2.Value(bool=True)), timeout=CALL_S)
        request = await read(provider)
        assert request.WhichOneof("action") == "batch_actuate_stream_request"
        [item] = request.batch_actuate_stream_request.actuate_requests
        assert item.signal_id.WhichOneof("signal") == "id"
        assert item.signal_id.id == horn_id
        assert item.value.bool is True

        # the provider acknowledges, makes it real, and publishes the current value
        await provider.write(
            v2.OpenProviderStreamRequest(
                batch_actuate_stream_response=v2.BatchActuateStreamResponse(
                    signal_id=t2.SignalID(id=horn_id), error=t2.Error(code=t2.ERROR_CODE_OK)
                )
            )
        )
        await provider.write(publish_values(1, {HORN: t2.Value(bool=True)}))
        await eventually(lambda: check.value(HORN) is True, "the published horn state")
        back = await stub.GetValue(v2.GetValueRequest(signal_id=by_id(HORN)), timeout=CALL_S)
        provider.cancel()
    assert back.data_point.value.bool is True


async def test_provider_stream_provides_a_sensor(hub: Served) -> None:
    eyes_id, hands_id = CATALOG.id_of(EYES), CATALOG.id_of(HANDS)
    check = hub.broker.client("check")
    async with v2_stub(hub) as stub:
        provider = stub.OpenProviderStream(timeout=3 * CALL_S)
        await provider.write(
            v2.OpenProviderStreamRequest(
                provide_signal_request=v2.ProvideSignalRequest(
                    signals_sample_intervals={eyes_id: t2.SampleInterval(interval_ms=100)}
                )
            )
        )
        ack = await read(provider)
        assert ack.WhichOneof("action") == "provide_signal_response"

        await provider.write(publish_values(1, {EYES: t2.Value(bool=True)}))
        await eventually(lambda: check.value(EYES) is True, "the published value")

        # a bad value is reported in the stream, by signal id; the stream stays open
        await provider.write(publish_values(2, {HANDS: t2.Value(string="yes")}))
        while True:
            answer = await read(provider)
            if answer.publish_values_response.request_id == 2:
                break
        assert answer.publish_values_response.status[hands_id].code == (
            t2.ERROR_CODE_INVALID_ARGUMENT
        )
        assert check.get(HANDS) is None

        # the claim holds: nobody else may publish the sensor
        error = await rpc_error(
            stub.PublishValue(
                v2.PublishValueRequest(
                    signal_id=by_path(EYES), data_point=t2.Datapoint(value=t2.Value(bool=False))
                ),
                timeout=CALL_S,
            )
        )
        provider.cancel()
    assert error.code() is Code.ALREADY_EXISTS
    assert check.value(EYES) is True


async def test_a_provider_leaving_takes_its_claims_with_it(hub: Served) -> None:
    async with v2_stub(hub) as stub:
        provider = stub.OpenProviderStream(timeout=3 * CALL_S)
        await provider.write(provide_actuation(HORN))
        await read(provider)
        provider.cancel()
        await eventually(lambda: hub.broker.provider_of(HORN) is None, "the claim released")
        error = await rpc_error(
            stub.Actuate(actuate(by_path(HORN), t2.Value(bool=True)), timeout=CALL_S)
        )
    assert error.code() is Code.UNAVAILABLE  # never queued for a provider that may come back
    assert hub.broker.client("check").get_target(HORN) is None


@pytest.mark.parametrize(
    ("path", "code"),
    [
        pytest.param(WINDOW, Code.ALREADY_EXISTS, id="provided-by-the-car"),
        pytest.param(EYES, Code.INVALID_ARGUMENT, id="a-sensor"),
        pytest.param(UNKNOWN, Code.NOT_FOUND, id="unknown"),
    ],
)
async def test_provide_actuation_refused(car: Served, path: str, code: grpc.StatusCode) -> None:
    async with v2_stub(car) as stub:
        provider = stub.OpenProviderStream(timeout=CALL_S)
        await provider.write(provide_actuation(path))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await asyncio.wait_for(provider.read(), CALL_S)
    assert info.value.code() is code, info.value.details()
    assert car.broker.provider_of(WINDOW) == "vehicle"
    if code is Code.ALREADY_EXISTS:
        assert str(ProviderConflictError(WINDOW, "vehicle")) == info.value.details()


async def test_provide_actuation_of_nothing_is_answered(hub: Served) -> None:
    """An empty ProvideActuationRequest must get an answer (an acknowledgement or
    INVALID_ARGUMENT), never silence: a provider waiting for its acknowledgement would hang."""
    async with v2_stub(hub) as stub:
        provider = stub.OpenProviderStream(timeout=CALL_S)
        await provider.write(
            v2.OpenProviderStreamRequest(provide_actuation_request=v2.ProvideActuationRequest())
        )
        try:
            answer = await asyncio.wait_for(provider.read(), 1.0)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is Code.INVALID_ARGUMENT, exc.details()
        except TimeoutError:
            pytest.fail("no answer to an empty ProvideActuationRequest: the stream hangs")
        else:
            assert answer.WhichOneof("action") == "provide_actuation_response"
        finally:
            provider.cancel()


# --------------------------------------------------------------------------- v1


def get_request(path: str, view: int, *fields: int) -> v1.GetRequest:
    return v1.GetRequest(entries=[v1.EntryRequest(path=path, view=view, fields=list(fields))])


async def test_v1_get_of_a_branch_returns_every_leaf_below(car: Served) -> None:
    async with v1_stub(car) as stub:
        branch = await stub.Get(
            get_request(WINDOW_BRANCH, t1.VIEW_CURRENT_VALUE, t1.FIELD_VALUE), timeout=CALL_S
        )
        doors = await stub.Get(
            get_request("Vehicle.Cabin.Door.*.*.IsOpen", t1.VIEW_CURRENT_VALUE, t1.FIELD_VALUE),
            timeout=CALL_S,
        )
    assert [e.path for e in branch.entries] == [s.path for s in CATALOG.match(WINDOW_BRANCH)]
    assert not branch.errors
    window = next(e for e in branch.entries if e.path == WINDOW)
    assert window.value.uint32 == 0
    assert window.value.timestamp.seconds == int(EPOCH)
    assert len(doors.entries) == 4
    assert all(e.value.bool is False for e in doors.entries)


async def test_v1_get_all_of_an_actuator(car: Served) -> None:
    car.car.client.actuate(WINDOW, 60)
    async with v1_stub(car) as stub:
        response = await stub.Get(get_request(WINDOW, t1.VIEW_ALL), timeout=CALL_S)
    [entry] = response.entries
    assert entry.value.uint32 == 0
    assert entry.actuator_target.uint32 == 60
    assert entry.metadata.data_type == t1.DATA_TYPE_UINT8
    assert entry.metadata.entry_type == t1.ENTRY_TYPE_ACTUATOR
    assert entry.metadata.value_restriction.unsigned.max == 100


async def test_v1_get_of_an_unknown_path_is_404(car: Served) -> None:
    async with v1_stub(car) as stub:
        response = await stub.Get(
            get_request(UNKNOWN, t1.VIEW_CURRENT_VALUE, t1.FIELD_VALUE), timeout=CALL_S
        )
    [error] = response.errors
    assert (error.path, error.error.code) == (UNKNOWN, 404)
    assert response.error.code == 404
    assert UNKNOWN in error.error.message


def set_target(path: str, value: t1.Datapoint) -> v1.EntryUpdate:
    return v1.EntryUpdate(
        entry=t1.DataEntry(path=path, actuator_target=value), fields=[t1.FIELD_ACTUATOR_TARGET]
    )


async def test_v1_set_target(car: Served) -> None:
    request = v1.SetRequest(updates=[set_target(WINDOW, t1.Datapoint(uint32=100))])
    async with v1_stub(car) as stub:
        response = await stub.Set(request, timeout=CALL_S)
    assert not response.errors and not response.HasField("error")
    car.car.advance(4.0)
    assert car.car.client.value(WINDOW) == 100


@pytest.mark.parametrize(
    "field",
    [t1.FIELD_METADATA, t1.FIELD_METADATA_UNIT, t1.FIELD_METADATA_VALUE_RESTRICTION],
)
async def test_v1_set_of_metadata_is_refused(car: Served, field: int) -> None:
    update = v1.EntryUpdate(
        entry=t1.DataEntry(path=WINDOW, metadata=t1.Metadata(unit="mm")),
        fields=[field],
    )
    before = snapshot(car.broker)
    async with v1_stub(car) as stub:
        response = await stub.Set(v1.SetRequest(updates=[update]), timeout=CALL_S)
        metadata = await stub.Get(get_request(WINDOW, t1.VIEW_METADATA), timeout=CALL_S)
    [error] = response.errors
    assert (error.path, error.error.code) == (WINDOW, 400)
    assert "metadata" in error.error.message
    assert metadata.entries[0].metadata.unit == "percent"
    assert snapshot(car.broker) == before


async def test_v1_set_of_several_targets_is_all_or_nothing(car: Served) -> None:
    request = v1.SetRequest(
        updates=[
            set_target(WINDOW, t1.Datapoint(uint32=50)),
            set_target(SEAT_HEIGHT, t1.Datapoint(uint32=300)),  # no provider
        ]
    )
    before = snapshot(car.broker)
    async with v1_stub(car) as stub:
        response = await stub.Set(request, timeout=CALL_S)
    assert [(e.path, e.error.code) for e in response.errors] == [(SEAT_HEIGHT, 503)]
    assert snapshot(car.broker) == before


async def test_v1_set_of_values_and_targets_is_all_or_nothing(hub: Served) -> None:
    """A Set that publishes a current value and sets a target either does both or neither: when
    the target finds no provider, the current value must not have been published."""
    request = v1.SetRequest(
        updates=[
            v1.EntryUpdate(
                entry=t1.DataEntry(path=EYES, value=t1.Datapoint(bool=True)),
                fields=[t1.FIELD_VALUE],
            ),
            set_target(HORN, t1.Datapoint(bool=True)),  # no provider on a bare hub
        ]
    )
    before = snapshot(hub.broker)
    async with v1_stub(hub) as stub:
        response = await stub.Set(request, timeout=CALL_S)
    assert [(e.path, e.error.code) for e in response.errors] == [(HORN, 503)]
    assert snapshot(hub.broker) == before, "EYES was published although the Set failed"


async def test_v1_subscribe_to_values_and_targets(car: Served) -> None:
    request = v1.SubscribeRequest(
        entries=[
            v1.SubscribeEntry(
                path=WINDOW,
                view=t1.VIEW_FIELDS,
                fields=[t1.FIELD_VALUE, t1.FIELD_ACTUATOR_TARGET],
            )
        ]
    )
    async with v1_stub(car) as stub:
        call = stub.Subscribe(request, timeout=CALL_S)
        first = await read(call)
        car.car.client.actuate(WINDOW, 100)
        seen: dict[int, int] = {}
        for _ in range(5):
            car.car.advance(1.0)
            await asyncio.sleep(0.01)
        while seen.get(t1.FIELD_VALUE) != 100 or t1.FIELD_ACTUATOR_TARGET not in seen:
            response = await read(call)
            for update in response.updates:
                [field] = update.fields
                datapoint = (
                    update.entry.value
                    if field == t1.FIELD_VALUE
                    else (update.entry.actuator_target)
                )
                seen[field] = datapoint.uint32
        call.cancel()
    [update] = first.updates
    assert (update.entry.path, list(update.fields)) == (WINDOW, [t1.FIELD_VALUE])
    assert update.entry.value.uint32 == 0
    assert seen == {t1.FIELD_VALUE: 100, t1.FIELD_ACTUATOR_TARGET: 100}


async def test_v1_get_server_info(car: Served) -> None:
    async with v1_stub(car) as stub:
        info = await stub.GetServerInfo(v1.GetServerInfoRequest(), timeout=CALL_S)
    assert (info.name, info.version) == ("carmind", __version__)
