"""Providers in their own processes, tokens from the CLI, and `carmind run --grpc`."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import jwt
import pytest
from kuksa.val.v2 import types_pb2 as t2
from kuksa.val.v2 import val_pb2 as v2
from kuksa.val.v2 import val_pb2_grpc
from kuksa_client.grpc import Datapoint, VSSClient

from carmind.cli.main import main
from carmind.signals.adapters.kuksa.auth import generate_keypair
from carmind.signals.adapters.kuksa.server import GrpcServer, GrpcSettings
from carmind.signals.broker import Broker
from carmind.signals.catalog import default_catalog
from carmind.vehicle.session import CarSession

HORN = "Vehicle.Body.Horn.IsActive"
WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
CARMIND = [sys.executable, "-m", "carmind.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def hub_without_car() -> AsyncIterator[tuple[Broker, int]]:
    broker = Broker(default_catalog())
    server = GrpcServer(broker, GrpcSettings(address="127.0.0.1:0", insecure=True))
    port = await server.start()
    yield broker, port
    await server.stop(0)


async def test_the_simulated_car_provides_from_its_own_process(
    hub_without_car: tuple[Broker, int],
) -> None:
    broker, port = hub_without_car
    consumer = broker.client("test")
    process = await asyncio.create_subprocess_exec(
        *CARMIND, "sim", "provide", "--grpc", f"127.0.0.1:{port}", "--duration", "60",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await wait_for(lambda: broker.provider_of(WINDOW) is not None)
        await wait_for(lambda: consumer.get("Vehicle.Speed") is not None)
        assert (
            consumer.value("Vehicle.VehicleIdentification.Brand") is None
        )  # attributes stay local

        def remote_consumer() -> object:
            with VSSClient("127.0.0.1", port) as client:
                client.set_target_values({WINDOW: Datapoint(100)}, timeout=10)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    value = client.get_current_values([WINDOW], timeout=10)[WINDOW].value
                    if value == 100:
                        return value
                    time.sleep(0.1)
                return client.get_current_values([WINDOW], timeout=10)[WINDOW].value

        assert await asyncio.to_thread(remote_consumer) == 100
        # the car in the other process applies its own rules; KUKSA forwards, the car refuses
        consumer.actuate("Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature", 40.0)
        await wait_for(
            lambda: (
                "climate set-points"
                in str(consumer.value("Vehicle.Carmind.Safety.LastRefusal", ""))
            )
        )
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)
    # the provider is gone: its actuators fail at once again, nothing is queued
    await wait_for(lambda: broker.provider_of(WINDOW) is None)
    with pytest.raises(Exception, match="no provider"):
        consumer.actuate(WINDOW, 0)


PROVIDER_SCRIPT = textwrap.dedent(
    """
    import sys
    from kuksa_client.grpc import VSSClient
    with VSSClient("127.0.0.1", int(sys.argv[1])) as client:
        print("ready", flush=True)
        for updates in client.subscribe_target_values([sys.argv[2]]):
            for path, datapoint in updates.items():
                print(path, datapoint.value, flush=True)
    """
)


async def test_an_external_provider_takes_over_an_actuator_from_the_simulator() -> None:
    session = CarSession.create(exclude=(HORN,))
    server = GrpcServer(session.broker, GrpcSettings(address="127.0.0.1:0", insecure=True))
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = val_pb2_grpc.VALStub(channel)
    honk = v2.ActuateRequest(signal_id=t2.SignalID(path=HORN), value=t2.Value(bool=True))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Actuate(honk, timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # the car left the horn out
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PROVIDER_SCRIPT, str(port), HORN,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line.strip() == b"ready"
            await wait_for(lambda: session.broker.provider_of(HORN) is not None)
            await stub.Actuate(honk, timeout=5)
            received = await asyncio.wait_for(process.stdout.readline(), 15)
            assert received.decode().split() == [HORN, "True"]
            # the simulator still provides everything else
            assert session.broker.provider_of(WINDOW) == "vehicle"
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 15)
    finally:
        await channel.close()
        await server.stop(0)


def test_token_keygen_and_create(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "keygen", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    key = tmp_path / "jwt.key"
    assert main(["token", "create", "--scope", "read actuate:Vehicle.Cabin", "--key", str(key),
                 "--expires", "15m"]) == 0  # fmt: skip
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(
        token, (tmp_path / "jwt.key.pub").read_bytes(), algorithms=["RS256"],
        options={"verify_aud": False},
    )  # fmt: skip
    assert claims["scope"] == "read actuate:Vehicle.Cabin"
    assert 14 * 60 <= claims["exp"] - claims["iat"] <= 15 * 60


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "read", "--expires", "soon"], "bad duration"),
        (["--scope", "fly:Vehicle"], "unknown scope action"),
        (["--scope", "read", "--key", "/nonexistent/jwt.key"], "not found"),
    ],
)
def test_token_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    generate_keypair(tmp_path)
    if "--key" not in args:
        args = [*args, "--key", str(tmp_path / "jwt.key")]
    assert main(["token", "create", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_token_needs_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["token", "create", "--scope", "read"]) == 2
    assert "carmind token keygen" in capsys.readouterr().err


def test_run_serves_grpc_to_the_kuksa_client() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*CARMIND, "run", "--grpc", f"127.0.0.1:{port}", "--grpc-insecure", "--plain",
         "--duration", "30", "--speed-factor", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        speed = None
        while time.monotonic() < deadline:
            try:
                with VSSClient("127.0.0.1", port) as client:
                    speed = client.get_current_values(["Vehicle.Speed"], timeout=5)["Vehicle.Speed"]
                    break
            except Exception:
                time.sleep(0.2)
        assert speed is not None and speed.value is not None
    finally:
        process.terminate()
        process.wait(15)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grpc", "127.0.0.1:0"], "--grpc-insecure"),
        (["--grpc-insecure"], "need --grpc"),
        (["--grpc", "nonsense", "--grpc-insecure"], "HOST:PORT"),
        (["--no-car", "--set", "Vehicle.Speed=10"], "need the simulated car"),
        (["--car-exclude", "Vehicle.Nothing"], "unknown signal path"),
        (["--grpc", "127.0.0.1:0", "--jwt-public-key", "/nonexistent.pub"], "not found"),
    ],
)
def test_run_refuses_bad_grpc_options(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["run", "--duration", "0", "--plain", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
