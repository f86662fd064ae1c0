"""`carmind say`, in-process through `carmind.cli.main.main(argv)`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carmind.cli.main import main


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No carmind.toml or CARMIND_* leaks in; templates only (fast); caches in tmp."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    import os

    for key in list(os.environ):
        if key.startswith("CARMIND_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CARMIND_ASSISTANT_SEMANTIC_ENABLED", "false")


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_say_json_one_object_per_turn(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["say", "set the temperature to 21", "a bit warmer", "--json"])
    assert status == 0
    first, second = _json_lines(capsys.readouterr().out)
    assert set(first) == {"text", "lang", "intents", "actions", "requests", "reply", "handled"}
    assert first["actions"] == [
        {"path": "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature", "value": 21.0}
    ]
    assert second["intents"] == [
        {
            "name": "ClimateAdjustTemperature",
            "slots": {"direction": "up", "zone": "driver", "delta": 1.0},
        }
    ]
    assert second["actions"][0]["value"] == 22.0 and second["handled"] is True


def test_say_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["say", "turn on the AC", "turn it off"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "you: turn on the AC",
        "carmind: Air conditioning on.",
        "you: turn it off",
        "carmind: Air conditioning off.",
    ]


def test_say_language_seat_and_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["say", "我有点冷", "--lang", "zh", "--seat", "passenger", "--json"]) == 0
    (turn,) = _json_lines(capsys.readouterr().out)
    assert turn["lang"] == "zh" and turn["reply"] == "已调高，副驾现在22度。"
    assert turn["actions"][0]["path"].endswith("Row1.Passenger.Temperature")
    assert main(["say", "open the trunk", "--set", "Vehicle.Speed=80", "--json"]) == 0
    (refused,) = _json_lines(capsys.readouterr().out)
    assert refused["actions"] == [] and refused["handled"] is False
    assert "80 km/h" in refused["reply"]


def test_actions_take_effect_before_the_next_turn(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["say", "lock the car", "are the doors locked", "--json"]) == 0
    _, status = _json_lines(capsys.readouterr().out)
    assert status["reply"] == "All doors are closed and locked."


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["say", "hello", "--lang", "fr"], "language 'fr' is not supported"),
        (["say", "hello", "--seat", "roof"], "seat 'roof' is not known"),
        (["say"], "nothing to say"),
        (["say", "hi", "--set", "Vehicle.Nope=1"], "Vehicle.Nope"),
        (["say", "hi", "--set", "Vehicle.Speed"], "expected PATH=VALUE"),
    ],
)
def test_say_usage_errors_are_one_line_with_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1


def test_batch_runs_conversations_in_order_and_reports_bad_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    batch = tmp_path / "talk.jsonl"
    lines: list[object] = [
        {"turns": ["set the temperature to 21", "and for the passenger too"]},
        "not json",
        {"turns": ["I'm cold"], "seat": "passenger"},
        {"turns": ["zet de airco aan"], "lang": "nl", "set": {"Vehicle.Speed": 80}},
        {"turns": "one string"},
        {"turns": ["hi"], "lang": "fr"},
        {"turns": ["hi"], "set": {"Vehicle.Speed": "fast"}},
        {"turns": ["hi"], "extra": 1},
        {"turns": ["are the doors locked"]},
    ]
    text = "\n".join(json.dumps(x) if isinstance(x, dict) else str(x) for x in lines) + "\n\n"
    batch.write_text(text, encoding="utf-8")
    assert main(["say", "--batch", str(batch)]) == 2
    out = _json_lines(capsys.readouterr().out)
    assert len(out) == 9
    assert out[0]["turns"][1]["actions"] == [
        {"path": "Vehicle.Cabin.HVAC.Station.Row1.Passenger.Temperature", "value": 21.0}
    ]
    assert out[1] == {"error": "line 2: not valid JSON (Expecting value)"}
    assert out[2]["turns"][0]["intents"][0]["slots"]["zone"] == "passenger"
    assert out[3]["turns"][0]["reply"] == "Airco aan."
    assert "line 5" in out[4]["error"] and "turns" in out[4]["error"]
    assert "line 6" in out[5]["error"] and "'fr'" in out[5]["error"]
    assert "line 7" in out[6]["error"] and "Vehicle.Speed" in out[6]["error"]
    assert "line 8" in out[7]["error"] and "extra" in out[7]["error"]
    # a fresh car per conversation: the first conversation's settings are gone
    assert out[8]["turns"][0]["reply"] == "All doors are closed; the car is unlocked."


def test_batch_all_good_exits_0_and_missing_file_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    batch = tmp_path / "ok.jsonl"
    batch.write_text(json.dumps({"turns": ["turn on the AC"]}) + "\n", encoding="utf-8")
    assert main(["say", "--batch", str(batch)]) == 0
    assert _json_lines(capsys.readouterr().out)[0]["turns"][0]["handled"] is True
    assert main(["say", "--batch", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read the batch file" in capsys.readouterr().err
    assert main(["say", "hi", "--batch", str(batch)]) == 2
    assert "not both" in capsys.readouterr().err
