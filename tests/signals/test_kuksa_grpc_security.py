"""Who may talk to the KUKSA gRPC server, and how: JWT authorization, TLS, and the settings the
server refuses to start with.

Tokens are KUKSA's: RS256, the scopes in the `scope` claim ("read actuate:Vehicle.Cabin"), sent
as `authorization: Bearer ...` (what kuksa-client's `token=` does). Without a key the server runs
only when insecure mode is asked for explicitly.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from kuksa.val.v1 import types_pb2 as t1
from kuksa.val.v1 import val_pb2 as v1
from kuksa.val.v1 import val_pb2_grpc as v1_grpc
from kuksa.val.v2 import types_pb2 as t2
from kuksa.val.v2 import val_pb2 as v2
from kuksa.val.v2 import val_pb2_grpc as v2_grpc
from kuksa_client.grpc import Datapoint, VSSClientError

from carmind.errors import CarmindError
from carmind.signals.adapters.kuksa.auth import generate_keypair
from carmind.signals.adapters.kuksa.server import GrpcConfigError, GrpcServer, GrpcSettings
from carmind.signals.broker import Broker
from carmind.signals.catalog import default_catalog
from carmind.vehicle.session import CarSession
from tests.signals.kuksa_support import (
    CALL_S,
    EPOCH,
    EYES,
    HORN,
    HOST,
    HUMIDITY,
    SPEED,
    TRUNK,
    WINDOW,
    Flavour,
    Keys,
    Kuksa,
    Served,
    bearer,
    read,
    rpc_error,
    self_signed_certificate,
    serve,
    snapshot,
    v2_stub,
)

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED.value[0]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """The key pair the server trusts."""
    private, public = generate_keypair(tmp_path_factory.mktemp("jwt"))
    return Keys(private.read_bytes(), public)


@pytest.fixture(scope="module")
def forger(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """A key pair the server does not trust."""
    private, public = generate_keypair(tmp_path_factory.mktemp("other-jwt"))
    return Keys(private.read_bytes(), public)


@pytest.fixture
async def secured(keys: Keys) -> AsyncIterator[Served]:
    """A simulated car whose hub is served with JWT authorization."""
    session = CarSession.create(epoch=EPOCH)
    async with serve(session.broker, session, jwt_public_key=str(keys.public)) as served:
        yield served


def v2_actuate(path: str, value: t2.Value) -> v2.ActuateRequest:
    return v2.ActuateRequest(signal_id=t2.SignalID(path=path), value=value)


# --------------------------------------------------------------------------- tokens


async def test_a_token_works_within_its_scopes(
    secured: Served, keys: Keys, flavour: Flavour
) -> None:
    token = keys.token("read actuate:Vehicle.Cabin")
    async with Kuksa(flavour, secured.port, token=token) as kuksa:
        speed = await kuksa.call("get_current_values", [SPEED], timeout=CALL_S)
        await kuksa.call("set_target_values", {WINDOW: Datapoint(100)}, timeout=CALL_S)
        before = snapshot(secured.broker)
        with pytest.raises(VSSClientError) as trunk:
            await kuksa.call("set_target_values", {TRUNK: Datapoint(True)}, timeout=CALL_S)
    assert speed[SPEED].value == 0.0
    assert trunk.value.error["code"] == 403
    assert TRUNK in trunk.value.error["message"]
    assert snapshot(secured.broker) == before
    secured.car.advance(4.0)
    assert secured.car.client.value(WINDOW) == 100


def _tokens(keys: Keys, forger: Keys) -> dict[str, str | None]:
    return {
        "none": None,
        "forged": forger.token("read actuate provide"),
        "expired": keys.token("read", now=time.time() - 7200, expires_in_s=60),
        "not-a-jwt": "not-a-jwt",
    }


@pytest.mark.parametrize("which", ["none", "forged", "expired", "not-a-jwt"])
async def test_kuksa_client_without_a_valid_token_is_unauthenticated(
    secured: Served, keys: Keys, forger: Keys, flavour: Flavour, which: str
) -> None:
    token = _tokens(keys, forger)[which]
    async with Kuksa(flavour, secured.port, token=token) as kuksa:
        with pytest.raises(VSSClientError) as reading:
            await kuksa.call("get_current_values", [SPEED], timeout=CALL_S)
        with pytest.raises(VSSClientError) as publishing:
            await kuksa.call("set_current_values", {EYES: Datapoint(True)}, timeout=CALL_S)
    assert reading.value.error["code"] == UNAUTHENTICATED
    assert publishing.value.error["code"] == UNAUTHENTICATED
    assert secured.car.client.get(EYES) is None


@pytest.mark.parametrize("which", ["none", "forged", "expired", "not-a-jwt", "basic-scheme"])
async def test_every_rpc_without_a_valid_token_is_unauthenticated(
    secured: Served, keys: Keys, forger: Keys, which: str
) -> None:
    if which == "basic-scheme":
        metadata: tuple[tuple[str, str], ...] = (("authorization", "Basic dXNlcjpwYXNz"),)
    else:
        token = _tokens(keys, forger)[which]
        metadata = () if token is None else bearer(token)
    before = snapshot(secured.broker)
    async with grpc.aio.insecure_channel(secured.target) as channel:
        stub2 = v2_grpc.VALStub(channel)
        stub1 = v1_grpc.VALStub(channel)
        unary = [
            stub2.GetValue(
                v2.GetValueRequest(signal_id=t2.SignalID(path=SPEED)),
                metadata=metadata,
                timeout=CALL_S,
            ),
            stub2.Actuate(
                v2_actuate(WINDOW, t2.Value(uint32=100)), metadata=metadata, timeout=CALL_S
            ),
            stub2.ListMetadata(
                v2.ListMetadataRequest(root="Vehicle"), metadata=metadata, timeout=CALL_S
            ),
            stub2.GetServerInfo(v2.GetServerInfoRequest(), metadata=metadata, timeout=CALL_S),
            stub1.Get(
                v1.GetRequest(entries=[v1.EntryRequest(path=SPEED, view=t1.VIEW_CURRENT_VALUE)]),
                metadata=metadata,
                timeout=CALL_S,
            ),
        ]
        codes = [(await rpc_error(call)).code() for call in unary]
        subscribe = stub2.Subscribe(
            v2.SubscribeRequest(signal_paths=[SPEED]), metadata=metadata, timeout=CALL_S
        )
        with pytest.raises(grpc.aio.AioRpcError) as streamed:
            await read(subscribe)
    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * len(unary)
    assert streamed.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert snapshot(secured.broker) == before


async def test_a_token_stops_working_when_it_expires(secured: Served, keys: Keys) -> None:
    # whole seconds: the token is valid for at least one more second, and at most two
    issued = math.floor(time.time())
    token = keys.token("read", now=issued, expires_in_s=2)
    request = v2.GetValueRequest(signal_id=t2.SignalID(path=SPEED))
    async with v2_stub(secured) as stub:
        valid = await stub.GetValue(request, metadata=bearer(token), timeout=CALL_S)
        await asyncio.sleep(max(0.0, issued + 2 - time.time()) + 0.05)
        error = await rpc_error(stub.GetValue(request, metadata=bearer(token), timeout=CALL_S))
    assert valid.data_point.value.float == 0.0
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED  # however recently it was accepted


async def test_a_read_only_token_cannot_actuate(
    secured: Served, keys: Keys, flavour: Flavour
) -> None:
    token = keys.token("read")
    before = snapshot(secured.broker)
    async with Kuksa(flavour, secured.port, token=token) as kuksa:
        with pytest.raises(VSSClientError) as v1_set:
            await kuksa.call("set_target_values", {WINDOW: Datapoint(100)}, timeout=CALL_S)
    async with v2_stub(secured) as stub:
        actuate = await rpc_error(
            stub.Actuate(
                v2_actuate(WINDOW, t2.Value(uint32=100)), metadata=bearer(token), timeout=CALL_S
            )
        )
        publish = await rpc_error(
            stub.PublishValue(
                v2.PublishValueRequest(
                    signal_id=t2.SignalID(path=EYES),
                    data_point=t2.Datapoint(value=t2.Value(bool=True)),
                ),
                metadata=bearer(token),
                timeout=CALL_S,
            )
        )
    assert v1_set.value.error["code"] == 403
    assert actuate.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "actuate" in (actuate.details() or "")
    assert publish.code() is grpc.StatusCode.PERMISSION_DENIED
    assert snapshot(secured.broker) == before


async def test_a_provide_scope_allows_publishing_there_only(
    secured: Served, keys: Keys, flavour: Flavour
) -> None:
    token = keys.token("provide:Vehicle.Driver")
    async with Kuksa(flavour, secured.port, token=token) as kuksa:
        await kuksa.call("set_current_values", {EYES: Datapoint(True)}, timeout=CALL_S)
        with pytest.raises(VSSClientError) as outside:
            await kuksa.call("set_current_values", {HUMIDITY: Datapoint(40.0)}, timeout=CALL_S)
    async with v2_stub(secured) as stub:
        publish = await rpc_error(
            stub.PublishValue(
                v2.PublishValueRequest(
                    signal_id=t2.SignalID(path=HUMIDITY),
                    data_point=t2.Datapoint(value=t2.Value(float=40.0)),
                ),
                metadata=bearer(token),
                timeout=CALL_S,
            )
        )
        provider = stub.OpenProviderStream(metadata=bearer(token), timeout=CALL_S)
        await provider.write(
            v2.OpenProviderStreamRequest(
                provide_actuation_request=v2.ProvideActuationRequest(
                    actuator_identifiers=[t2.SignalID(path=HORN)]
                )
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as claim:
            await read(provider)
    assert secured.car.client.value(EYES) is True
    # kuksa-client reads the datatype first (v1 Get), and the scope gives no read there either
    assert outside.value.error["code"] == 403
    assert publish.code() is grpc.StatusCode.PERMISSION_DENIED
    assert claim.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert secured.car.client.get(HUMIDITY) is None
    assert secured.broker.provider_of(HORN) == "vehicle"


async def test_a_read_scope_limits_subscriptions(secured: Served, keys: Keys) -> None:
    token = keys.token("read:Vehicle.Cabin")
    async with v2_stub(secured) as stub:
        allowed = stub.Subscribe(
            v2.SubscribeRequest(signal_paths=[WINDOW]), metadata=bearer(token), timeout=CALL_S
        )
        first = await read(allowed)
        allowed.cancel()
        refused = stub.Subscribe(
            v2.SubscribeRequest(signal_paths=[WINDOW, SPEED]),
            metadata=bearer(token),
            timeout=CALL_S,
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await read(refused)
    assert first.entries[WINDOW].value.uint32 == 0
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert SPEED in (info.value.details() or "")


# --------------------------------------------------------------------------- settings


def test_no_key_and_no_insecure_mode_refuses_to_start() -> None:
    with pytest.raises(CarmindError) as info:
        GrpcServer(Broker(default_catalog()), GrpcSettings(address=f"{HOST}:0"))
    assert type(info.value) is not CarmindError  # a specific error
    assert "--grpc-insecure" in str(info.value)


@pytest.mark.parametrize(
    "address", ["nonsense", "host:99999", "127.0.0.1:-1", "localhost:http", ":55555"]
)
def test_a_bad_address_is_refused(address: str) -> None:
    with pytest.raises(GrpcConfigError) as info:
        GrpcServer(Broker(default_catalog()), GrpcSettings(address=address, insecure=True))
    assert repr(address) in str(info.value)


def test_half_a_tls_configuration_is_refused(tmp_path: Path) -> None:
    cert, _key = self_signed_certificate(tmp_path)
    with pytest.raises(GrpcConfigError) as info:
        GrpcServer(
            Broker(default_catalog()),
            GrpcSettings(address=f"{HOST}:0", insecure=True, tls_cert=str(cert)),
        )
    assert "--tls-key" in str(info.value)


def test_missing_files_are_refused_by_name(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    broker = Broker(default_catalog())
    with pytest.raises(CarmindError) as no_key:
        GrpcServer(broker, GrpcSettings(address=f"{HOST}:0", jwt_public_key=str(missing)))
    with pytest.raises(GrpcConfigError) as no_cert:
        GrpcServer(
            broker,
            GrpcSettings(
                address=f"{HOST}:0", insecure=True, tls_cert=str(missing), tls_key=str(missing)
            ),
        )
    not_pem = tmp_path / "key.pub"
    not_pem.write_text("hello")
    with pytest.raises(CarmindError) as bad_key:
        GrpcServer(broker, GrpcSettings(address=f"{HOST}:0", jwt_public_key=str(not_pem)))
    assert str(missing) in str(no_key.value)
    assert str(missing) in str(no_cert.value)
    assert str(not_pem) in str(bad_key.value)


async def test_a_port_in_use_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = GrpcServer(
            Broker(default_catalog()), GrpcSettings(address=f"{HOST}:{port}", insecure=True)
        )
        with pytest.raises(GrpcConfigError) as info:
            await server.start()
    assert str(port) in str(info.value)


async def test_a_port_another_grpc_server_holds_is_refused(hub: Served) -> None:
    """gRPC servers set SO_REUSEPORT by default: a second server on the same port starts, and the
    kernel then splits connections between the two (another carmind, another car). Starting must
    fail as it does for any other taken port."""
    second = GrpcServer(Broker(default_catalog()), GrpcSettings(address=hub.target, insecure=True))
    try:
        with pytest.raises(GrpcConfigError):
            await second.start()
    finally:
        await second.stop(0)


# --------------------------------------------------------------------------- TLS


@pytest.fixture
async def tls(tmp_path: Path) -> AsyncIterator[tuple[Served, Path]]:
    cert, key = self_signed_certificate(tmp_path)
    session = CarSession.create(epoch=EPOCH)
    async with serve(
        session.broker, session, insecure=True, tls_cert=str(cert), tls_key=str(key)
    ) as served:
        yield served, cert


async def test_kuksa_client_over_tls(tls: tuple[Served, Path], flavour: Flavour) -> None:
    served, cert = tls
    assert served.server.tls
    async with Kuksa(
        flavour, served.port, root_certificates=cert, tls_server_name="localhost"
    ) as kuksa:
        values = await kuksa.call("get_current_values", [SPEED], timeout=CALL_S)
        await kuksa.call("set_target_values", {WINDOW: Datapoint(100)}, timeout=CALL_S)
    assert values[SPEED].value == 0.0
    assert served.car.client.get_target(WINDOW) is not None


async def test_a_plaintext_client_cannot_talk_to_a_tls_server(
    tls: tuple[Served, Path], flavour: Flavour
) -> None:
    served, _cert = tls
    async with Kuksa(flavour, served.port, ensure_startup_connection=False) as kuksa:
        with pytest.raises(VSSClientError) as info:
            await kuksa.call("get_current_values", [SPEED], timeout=CALL_S)
    assert info.value.error["code"] == grpc.StatusCode.UNAVAILABLE.value[0]


async def test_a_client_that_does_not_trust_the_certificate_is_refused(
    tls: tuple[Served, Path], tmp_path: Path, flavour: Flavour
) -> None:
    served, _cert = tls
    other = tmp_path / "other"
    other.mkdir()
    stranger, _key = self_signed_certificate(other)
    async with Kuksa(
        flavour,
        served.port,
        root_certificates=stranger,
        tls_server_name="localhost",
        ensure_startup_connection=False,
    ) as kuksa:
        with pytest.raises(VSSClientError) as info:
            await kuksa.call("get_current_values", [SPEED], timeout=CALL_S)
    assert info.value.error["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
