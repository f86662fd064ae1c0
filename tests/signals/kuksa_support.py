"""Shared pieces of the KUKSA gRPC tests: a hub served on loopback, the real kuksa-client behind
one awaitable API, raw stubs, and the keys and certificates the security tests need.

Every gRPC call and every wait has a deadline (`CALL_S`), so a server bug fails a test and never
hangs the suite.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kuksa.val.v1 import val_pb2_grpc as v1_grpc
from kuksa.val.v2 import val_pb2_grpc as v2_grpc
from kuksa_client.grpc import VSSClient
from kuksa_client.grpc import aio as kuksa_aio

from carmind.signals.adapters.kuksa.auth import create_token
from carmind.signals.adapters.kuksa.server import GrpcServer, GrpcSettings
from carmind.signals.broker import Broker, Datapoint
from carmind.vehicle.session import CarSession

HOST = "127.0.0.1"
EPOCH = 1_700_000_000.0
CALL_S = 5.0
"""Deadline of every gRPC call and every wait in these tests."""

SPEED = "Vehicle.Speed"
VIN = "Vehicle.VehicleIdentification.VIN"
WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
WINDOW_BRANCH = "Vehicle.Cabin.Door.Row1.DriverSide.Window"
DOOR_OPEN = "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"
FAN = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed"
DAY_NIGHT = "Vehicle.Cabin.Infotainment.HMI.DayNightMode"
TARGET_SPEED = "Vehicle.Carmind.Simulation.TargetSpeed"
TRUNK = "Vehicle.Body.Trunk.Rear.IsOpen"
HORN = "Vehicle.Body.Horn.IsActive"
EYES = "Vehicle.Driver.IsEyesOnRoad"
HANDS = "Vehicle.Driver.IsHandsOnWheel"
HUMIDITY = "Vehicle.Exterior.Humidity"
SEAT_HEIGHT = "Vehicle.Cabin.Seat.Row1.DriverSide.Height"
"""An actuator the simulated car does not provide: actuating it finds no provider."""

type Flavour = Literal["sync", "aio"]
type Snapshot = tuple[dict[str, Datapoint], dict[str, Datapoint]]


def snapshot(broker: Broker) -> Snapshot:
    """Every current and target value the broker holds (to prove a refusal changed nothing)."""
    return dict(broker._values), dict(broker._targets)


def at_epoch(offset_s: float = 0.0) -> datetime.datetime:
    """The aware datetime the kuksa-client gives for a timestamp `offset_s` after `EPOCH`."""
    return datetime.datetime.fromtimestamp(EPOCH + offset_s, datetime.UTC)


# --------------------------------------------------------------------------- serving


@dataclass
class Served:
    """A broker served over gRPC on loopback (and the simulated car on it, when there is one)."""

    broker: Broker
    server: GrpcServer
    port: int
    session: CarSession | None = None

    @property
    def target(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def car(self) -> CarSession:
        assert self.session is not None, "this hub has no simulated car"
        return self.session


@asynccontextmanager
async def serve(
    broker: Broker,
    session: CarSession | None = None,
    *,
    insecure: bool = False,
    jwt_public_key: str = "",
    tls_cert: str = "",
    tls_key: str = "",
) -> AsyncIterator[Served]:
    """Serve `broker` on a free loopback port on the running loop; stop the server afterwards."""
    settings = GrpcSettings(
        address=f"{HOST}:0",
        insecure=insecure,
        jwt_public_key=jwt_public_key,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    server = GrpcServer(broker, settings)
    port = await server.start()
    try:
        yield Served(broker, server, port, session)
    finally:
        await server.stop(0.2)


async def eventually(condition: Callable[[], bool], what: str, within: float = CALL_S) -> None:
    """Wait (on the loop, so the server keeps serving) until `condition()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- kuksa-client


class Kuksa:
    """The kuksa-client, unmodified, behind one awaitable API.

    `sync` is the blocking `kuksa_client.grpc.VSSClient`, called from a worker thread while the
    server runs on the test's loop; `aio` is `kuksa_client.grpc.aio.VSSClient`. A test written
    once against this class runs against both.
    """

    def __init__(self, flavour: Flavour, port: int, **options: Any) -> None:
        self.flavour = flavour
        self.client: Any = (VSSClient if flavour == "sync" else kuksa_aio.VSSClient)(
            HOST, port, **options
        )

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.flavour == "sync":
            return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), CALL_S)
        return await asyncio.wait_for(fn(*args, **kwargs), CALL_S)

    async def __aenter__(self) -> Kuksa:
        await self._run(self.client.connect)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._run(self.client.disconnect)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`client.METHOD(*args, **kwargs)`, awaited (aio) or run in a worker thread (sync)."""
        return await self._run(getattr(self.client, method), *args, **kwargs)

    def stream(
        self, method: str, paths: list[str], until: Callable[[dict[str, Any]], bool]
    ) -> Stream:
        """Start iterating a subscription method in the background until `until(update)`."""
        return Stream(self, method, paths, until)


class Stream:
    """A kuksa-client subscription (`subscribe_current_values`, ...) consumed in the background.

    Its updates collect in `updates`; it ends at the first update `until` accepts. The RPC has a
    deadline, so a stream that never gets there ends with the client's error instead of hanging.
    """

    def __init__(
        self,
        kuksa: Kuksa,
        method: str,
        paths: list[str],
        until: Callable[[dict[str, Any]], bool],
    ) -> None:
        self.updates: list[dict[str, Any]] = []
        subscribe = getattr(kuksa.client, method)
        deadline = 3 * CALL_S

        def consume_blocking() -> None:
            for update in subscribe(paths, timeout=deadline):
                self.updates.append(update)
                if until(update):
                    return

        async def consume_async() -> None:
            updates = subscribe(paths, timeout=deadline)
            try:
                async for update in updates:
                    self.updates.append(update)
                    if until(update):
                        return
            finally:
                await updates.aclose()

        work = asyncio.to_thread(consume_blocking) if kuksa.flavour == "sync" else consume_async()
        self.task = asyncio.create_task(asyncio.wait_for(work, deadline + 1.0))

    async def started(self, count: int = 1) -> None:
        """Wait until `count` updates have arrived (the subscription is in place)."""
        await eventually(
            lambda: len(self.updates) >= count or self.task.done(), f"{count} update(s)"
        )
        if self.task.done() and len(self.updates) < count:
            self.task.result()  # raises the client's error
            raise AssertionError(f"the subscription ended after {self.updates}")

    async def result(self) -> list[dict[str, Any]]:
        """Wait for the accepted update; all updates received, in order."""
        await self.task
        return self.updates


# --------------------------------------------------------------------------- raw stubs


@asynccontextmanager
async def v2_stub(served: Served) -> AsyncIterator[v2_grpc.VALStub]:
    async with grpc.aio.insecure_channel(served.target) as channel:
        yield v2_grpc.VALStub(channel)


@asynccontextmanager
async def v1_stub(served: Served) -> AsyncIterator[v1_grpc.VALStub]:
    async with grpc.aio.insecure_channel(served.target) as channel:
        yield v1_grpc.VALStub(channel)


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The error a unary call (made with `timeout=`) ends with; the call must fail."""
    try:
        await asyncio.wait_for(call, CALL_S + 1.0)
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the call succeeded where it had to fail")


async def read(call: Any, within: float = CALL_S) -> Any:
    """The next message of a streaming call (it must not end)."""
    message = await asyncio.wait_for(call.read(), within)
    assert message is not grpc.aio.EOF, "the stream ended"
    return message


def bearer(token: str) -> tuple[tuple[str, str]]:
    """Call metadata carrying a KUKSA bearer token."""
    return (("authorization", f"Bearer {token}"),)


# --------------------------------------------------------------------------- keys, certificates


@dataclass(frozen=True)
class Keys:
    """An RS256 key pair that signs access tokens for a server verifying with `public`."""

    private: bytes
    public: Path

    def token(self, scope: str, **options: Any) -> str:
        return create_token(self.private, scope, **options)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` / 127.0.0.1 and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = folder / "server.pem"
    key_file = folder / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
