"""`carmind listen FILE.wav`: a recording in, the `carmind say` turn (plus transcript) out.

Every bad input is a one-line error with exit status 2 and no turn at all (so nothing on the
car is touched); speech that is no command gets the assistant's reply and no actions.
Needs espeak-ng to make the recordings: skipped where it is missing, a failure under CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from carmind.assistant.voice.audio import float_to_pcm16, read_wav, wav_bytes
from carmind.assistant.voice.tts import Synthesizer
from carmind.cli.main import main

VOICE = "en-us+klatt"
AC = "Vehicle.Cabin.HVAC.IsAirConditioningActive"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No carmind.toml from the working directory and no CARMIND_* variables leak in."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("CARMIND_") and name != "CARMIND_VOICE_CACHE":
            monkeypatch.delenv(name)


def _recording(synthesizer: Synthesizer, tmp_path: Path, text: str, name: str = "cmd.wav") -> Path:
    path = tmp_path / name
    path.write_bytes(synthesizer.synthesize(text, voice=VOICE, speed=150))
    return path


def _listen(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["listen", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _turn(out: str) -> dict[str, Any]:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    data: dict[str, Any] = json.loads(lines[0])
    return data


def test_a_spoken_command_acts_like_the_typed_one(
    synthesizer: Synthesizer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = _recording(synthesizer, tmp_path, "turn on the ac")
    code, out, err = _listen(capsys, str(wav), "--json")
    assert code == 0, err
    turn = _turn(out)
    assert turn["transcript"] == "turn on the ac" == turn["text"]
    assert turn["actions"] == [{"path": AC, "value": True}]
    assert turn["handled"] is True and turn["reply"]
    assert turn["speech"]["rejected"] is False and turn["speech"]["audio_s"] > 0.5
    code, typed, _ = (main(["say", "turn on the ac", "--json"]), *capsys.readouterr())
    assert code == 0
    assert {k: v for k, v in turn.items() if k not in ("transcript", "speech")} == _turn(typed)


def test_plain_output(
    synthesizer: Synthesizer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _listen(capsys, str(_recording(synthesizer, tmp_path, "next song")))
    assert code == 0
    assert out.splitlines() == ["heard: next song", "carmind: Next track."]


def test_other_rates_and_stereo_are_resampled(
    synthesizer: Synthesizer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = read_wav(synthesizer.synthesize("turn on the ac", voice=VOICE))
    from carmind.assistant.voice.audio import resample

    mono = resample(audio.samples[:, 0], audio.rate, 44100)
    stereo = np.stack([mono, mono], axis=1).reshape(-1)
    path = tmp_path / "stereo44k.wav"
    path.write_bytes(wav_bytes(float_to_pcm16(stereo), 44100, 2))
    code, out, err = _listen(capsys, str(path), "--json")
    assert code == 0, err
    assert _turn(out)["actions"] == [{"path": AC, "value": True}]


def test_seat_and_priming_take_the_say_path(
    synthesizer: Synthesizer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = _recording(synthesizer, tmp_path, "turn on seat heating")
    code, out, err = _listen(
        capsys, str(wav), "--seat", "passenger", "--set", f"{AC}=true", "--json"
    )
    assert code == 0, err
    paths = [a["path"] for a in _turn(out)["actions"]]
    assert paths == ["Vehicle.Cabin.Seat.Row1.PassengerSide.HeatingCooling"]


def test_speech_that_is_no_command_is_answered_not_acted_on(
    synthesizer: Synthesizer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = _recording(synthesizer, tmp_path, "this is a test of the emergency broadcast system")
    code, out, err = _listen(capsys, str(wav), "--json")
    assert code == 0, err
    turn = _turn(out)
    assert turn["transcript"] == "" and turn["actions"] == [] and turn["requests"] == []
    assert turn["handled"] is False and turn["reply"]


def _silent_wav(path: Path, seconds: float) -> Path:
    path.write_bytes(wav_bytes(b"\0\0" * int(16000 * seconds)))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.wav", "missing.wav: no such file"),
        (lambda p: p, "is a directory"),
        (lambda p: (p / "a.wav").write_text("not audio") and p / "a.wav", "is not a WAV file"),
        (lambda p: _silent_wav(p / "empty.wav", 0), "holds no audio"),
        (lambda p: _silent_wav(p / "silent.wav", 2), "is silent"),
    ],
)
def test_bad_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    code, out, err = _listen(capsys, str(make(tmp_path)), "--json")
    assert code == 2
    assert out == ""  # no turn: nothing was actuated
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lang", "zh"], "speech recognition does not speak 'zh'"),
        (["--lang", "fr"], "fr"),
        (["--seat", "roof"], "roof"),
        (["--set", "Vehicle.Nope=1"], "Vehicle.Nope"),
    ],
)
def test_bad_options_are_one_line_errors(
    synthesizer: Synthesizer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    wav = _recording(synthesizer, tmp_path, "turn on the ac")
    code, out, err = _listen(capsys, str(wav), *args)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_the_installed_command_exits_2_on_a_missing_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "carmind.cli.main", "listen", str(tmp_path / "none.wav")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == "" and "none.wav: no such file" in done.stderr
    assert "Traceback" not in done.stderr
