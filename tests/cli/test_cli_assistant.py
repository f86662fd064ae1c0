"""The assistant inside `carmind run`, and the interactive `carmind assistant`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

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
