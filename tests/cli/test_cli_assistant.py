"""The assistant inside `carmind run`, and the interactive `carmind assistant`."""

from __future__ import annotations

import asyncio
import io
import socket
import sys
from pathlib import Path

import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled

from carmind.cli.main import main

LOW_TYRE = "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure=180"


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARMIND_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def test_run_offers_suggestions(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--drive", "park", "--plain", "--duration", "1.5", "--set", LOW_TYRE]
    assert main(args) == 0
    assert "suggestion=tyre_pressure_low" in capsys.readouterr().out


def test_run_without_the_assistant(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--drive", "park", "--plain", "--duration", "1.5", "--set", LOW_TYRE]
    assert main([*args, "--no-assistant"]) == 0
    assert "suggestion=" not in capsys.readouterr().out


def test_run_refuses_an_unknown_language(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--plain", "--duration", "0", "--lang", "fr"]) == 2
    assert "fr" in capsys.readouterr().err


def converse(monkeypatch: pytest.MonkeyPatch, lines: list[str], *args: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    return main(["assistant", "--speed-factor", "20", *args])


def test_an_interactive_conversation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        "set the temperature to 21",
        "a bit warmer",
        "/seat passenger",
        "I'm cold",
        "/lang nl",
        "zet de airco aan",
        "/seat captain",
        "/quit",
        "never read",
    ]
    assert converse(monkeypatch, lines) == 0
    out = capsys.readouterr().out
    assert "Row1.Driver.Temperature = 22.0" in out
    assert "Row1.Passenger.Temperature" in out  # the speaking seat sets the zone
    assert "IsAirConditioningActive = True" in out
    assert "captain" in out  # a bad seat is explained, the conversation goes on
    assert "never read" not in out


async def test_run_serves_the_live_cars_assistant_over_wyoming(tmp_path: Path) -> None:
    """`carmind run --wyoming`: a voice satellite's transcript acts on the running car."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "carmind.cli.main", "run", "--drive", "park", "--plain",
        "--duration", "60", "--wyoming", f"tcp://127.0.0.1:{port}",
        "--grpc", "127.0.0.1:0", "--grpc-insecure",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        client = AsyncTcpClient("127.0.0.1", port, connect_timeout=5, read_timeout=20)
        for _ in range(200):  # until the server listens
            try:
                await client.connect()
                break
            except OSError:
                await asyncio.sleep(0.1)
        await client.write_event(Transcript(text="turn on the air conditioning").event())
        answer = await client.read_event()
        await client.disconnect()
        assert answer is not None and Handled.is_type(answer.type)
        assert "air conditioning" in (Handled.from_event(answer).text or "").lower()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)


def test_wyoming_needs_the_assistant(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--plain", "--duration", "0", "--no-assistant", "--wyoming", "tcp://127.0.0.1:0"]
    assert main(args) == 2
    assert "--no-assistant" in capsys.readouterr().err
