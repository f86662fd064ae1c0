"""`carmind signals get|set|watch --grpc`: the CLI reaching a running carmind over KUKSA gRPC."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest

from carmind.cli.main import main
from carmind.signals.adapters.kuksa.server import GrpcServer, GrpcSettings
from carmind.vehicle.session import CarSession

WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"


@pytest.fixture
def running_carmind() -> Iterator[str]:
    """A live simulated car served over gRPC on its own event loop, in a thread."""
    ready = threading.Event()
    address: list[str] = []
    loop = asyncio.new_event_loop()
    session = CarSession.create()

    async def serve() -> None:
        server = GrpcServer(session.broker, GrpcSettings(address="127.0.0.1:0", insecure=True))
        port = await server.start()
        address.append(f"127.0.0.1:{port}")
        ready.set()
        try:
            await session.run_realtime(speed_factor=10)
        finally:
            await server.stop(0)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield address[0]
    loop.call_soon_threadsafe(session.stop)
    thread.join(10)


def test_get_set_and_watch_a_running_car(
    running_carmind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["signals", "get", "Vehicle.Speed", "--grpc", running_carmind, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["Vehicle.Speed"]["value"] == 0.0

    assert main(["signals", "set", WINDOW, "100", "--grpc", running_carmind, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accepted"] and result["after"] == 100 and result["reached_after_s"] is not None

    assert main(["signals", "set", "Vehicle.Carmind.Simulation.TargetSpeed", "40",
                 "--grpc", running_carmind, "--settle", "0"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["signals", "watch", "Vehicle.Speed", "--grpc", running_carmind,
                 "--duration", "1.5", "--json"]) == 0  # fmt: skip
    speeds = [json.loads(line)["value"] for line in capsys.readouterr().out.splitlines()]
    assert len(speeds) >= 3 and speeds[-1] > speeds[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "Vehicle.Nope"], "unknown signal path 'Vehicle.Nope'"),
        (["set", "Vehicle.Speed", "3"], "is a sensor"),
        (["set", WINDOW, "150"], "out of range"),
        (["get", "Vehicle.Speed", "--after", "3"], "--after applies to a fresh simulated car"),
        (["get", "Vehicle.Speed", "--set", "Vehicle.Speed=1"], "--set applies"),
    ],
)
def test_remote_errors_are_one_line(
    running_carmind: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["signals", *args, "--grpc", running_carmind]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_unreachable_server_and_bad_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["signals", "get", "Vehicle.Speed", "--grpc", "127.0.0.1:1"]) == 2
    assert "127.0.0.1:1" in capsys.readouterr().err
    assert main(["signals", "get", "Vehicle.Speed", "--grpc", "nowhere"]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err
    assert main(["signals", "get", "Vehicle.Speed", "--token", "x"]) == 2
    assert "need --grpc" in capsys.readouterr().err
