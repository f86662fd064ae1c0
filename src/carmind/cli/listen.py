"""`carmind listen FILE.wav`: speak to the assistant, from a recording, against a fresh car.

The WAV is decoded offline (pocketsphinx and carmind's command grammar, English), then the
transcript takes exactly the path of `carmind say`: a fresh simulated car, the same `Turn`, with
`"transcript"` (and the recogniser's `"speech"` figures) added. A WAV at any sample rate or channel
count is converted (resampled to 16 kHz, channels averaged). A missing file, a file that is not a
WAV, an empty or silent recording, and a language other than English are one-line errors (exit
status 2); speech that matches no command gets the assistant's "didn't understand" reply. Either
way nothing on the car is touched.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from carmind.assistant.api import as_seat
from carmind.assistant.config import AssistantConfig
from carmind.assistant.intents.loader import check_language
from carmind.assistant.model import Seat, Turn
from carmind.assistant.voice.errors import AudioError
from carmind.assistant.voice.recognizer import Recognizer, Transcript
from carmind.assistant.voice.speech import check_speech_language, shared_recognizer
from carmind.cli.common import config_from
from carmind.cli.say import assistant_config_from_env, run_conversation
from carmind.config import Config
from carmind.signals.catalog import Value, load_catalog
from carmind.vehicle.session import parse_assignments


def read_audio_file(path: Path) -> bytes:
    """The bytes of a recording, or an `AudioError` that says why not."""
    if not path.exists():
        raise AudioError(f"{path}: no such file; expected a WAV recording")
    if path.is_dir():
        raise AudioError(f"{path} is a directory; expected a WAV recording")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AudioError(f"cannot read {path}: {exc.strerror}; expected a readable WAV") from None


def listen_turn(
    data: bytes,
    *,
    name: str,
    recognizer: Recognizer,
    car_config: Config,
    assistant_config: AssistantConfig,
    lang: str = "en",
    seat: Seat = Seat.DRIVER,
    prime: Mapping[str, Value] | None = None,
) -> tuple[Transcript, Turn]:
    """Decode a WAV recording and hand the transcript to the assistant on a fresh car."""
    transcript = recognizer.transcribe_wav(data, name=name)
    turns = list(
        run_conversation(
            car_config, assistant_config, [transcript.text], lang, seat, dict(prime or {})
        )
    )
    return transcript, turns[0]


def turn_json(transcript: Transcript, turn: Turn) -> dict[str, Any]:
    """`carmind say --json`'s object with the transcript added."""
    return {**turn.as_dict(), "transcript": transcript.text, "speech": transcript.as_dict()}


def listen(
    file: Annotated[Path, typer.Argument(help="A WAV recording of one spoken command.")],
    lang: Annotated[str, typer.Option("--lang", help="Language spoken (English only).")] = "en",
    seat: Annotated[
        str,
        typer.Option("--seat", help="Who speaks: driver, passenger, rear-left or rear-right."),
    ] = "driver",
    prime: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Prime the car first: PATH=VALUE (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the turn as JSON.")] = False,
    config: Annotated[str | None, typer.Option("--config", help="A carmind.toml to read.")] = None,
) -> None:
    """Speak to the in-car assistant from a WAV recording, against a fresh simulated car."""
    language = check_speech_language(check_language(lang))
    speaker = as_seat(seat)
    car_config = config_from(config)
    values = parse_assignments(load_catalog(car_config.signals.vss or None), prime or [])
    data = read_audio_file(file)
    transcript, turn = listen_turn(
        data,
        name=str(file),
        recognizer=shared_recognizer(),
        car_config=car_config,
        assistant_config=assistant_config_from_env(),
        lang=language,
        seat=speaker,
        prime=values,
    )
    if as_json:
        sys.stdout.write(json.dumps(turn_json(transcript, turn), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(f"heard: {transcript.text or '(nothing recognised)'}\n")
        sys.stdout.write(f"carmind: {turn.reply}\n")
    sys.stdout.flush()
