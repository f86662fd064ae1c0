"""`carmind say`: talk to the assistant in text, against a fresh simulated car.

`carmind say "I'm cold" "a bit more" --seat passenger` runs the turns as one conversation;
`--json` prints one `Turn` object per line; `--batch FILE.jsonl` runs many conversations in one
process (the recogniser loads once), each on its own car.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from carmind.assistant.api import Assistant, as_seat, shared_recognizer
from carmind.assistant.config import AssistantConfig, default_cache_dir
from carmind.assistant.intents.loader import check_language
from carmind.assistant.model import LANGUAGES, Seat, Turn
from carmind.cli.common import config_from
from carmind.config import Config
from carmind.errors import CarmindError
from carmind.signals.catalog import Catalog, Value, load_catalog
from carmind.vehicle.session import CarSession, parse_assignments

ADVANCE_S = 0.5
"""Simulated seconds the car runs after each turn, so that what a turn set takes effect."""


class SayUsageError(CarmindError):
    """`carmind say` was called without anything to say, or with both TEXT and --batch."""


class BatchLineError(CarmindError):
    """A line of a `--batch` file is not a conversation."""


def assistant_config_from_env() -> AssistantConfig:
    """The assistant's settings from `CARMIND_ASSISTANT_*`, with the embeddings cached on disk."""
    config = AssistantConfig.from_env()
    if config.cache_dir is None:
        config = AssistantConfig.from_mapping(
            {**_fields(config), "cache_dir": str(default_cache_dir())}
        )
    return config


def _fields(config: AssistantConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


def run_conversation(
    car_config: Config,
    assistant_config: AssistantConfig,
    turns: Iterable[str],
    lang: str,
    seat: Seat,
    prime: Mapping[str, Value],
) -> Iterator[Turn]:
    session = CarSession.create(car_config)
    try:
        if prime:
            session.prime(prime)
        assistant = Assistant(
            session.client,
            lang=lang,
            config=assistant_config,
            recognizer=shared_recognizer(assistant_config),
        )
        for text in turns:
            yield assistant.handle(text, seat=seat)
            session.advance(ADVANCE_S)
    finally:
        session.stop()


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def say(
    texts: Annotated[
        list[str] | None,
        typer.Argument(
            help="What to say, one turn per argument (one conversation).", show_default=False
        ),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language: en, zh or nl.")] = "en",
    seat: Annotated[
        str,
        typer.Option("--seat", help="Who speaks: driver, passenger, rear-left or rear-right."),
    ] = "driver",
    prime: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Prime the car first: PATH=VALUE (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per turn.")] = False,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch",
            help="JSON lines, one conversation each: {turns, lang, seat, set}; '-' reads stdin.",
        ),
    ] = None,
    config: Annotated[str | None, typer.Option("--config", help="A carmind.toml to read.")] = None,
) -> None:
    """Talk to the in-car assistant in text, against a fresh simulated car."""
    if batch is not None and texts:
        raise SayUsageError("give TEXT arguments or --batch FILE, not both")
    car_config = config_from(config)
    assistant_config = assistant_config_from_env()
    if batch is not None:
        failed = _run_batch(batch, car_config, assistant_config)
        if failed:
            raise typer.Exit(code=2)
        return
    if not texts:
        raise SayUsageError("nothing to say: give one or more TEXT arguments, or --batch FILE")
    language = check_language(lang)
    speaker = as_seat(seat)
    values = parse_assignments(load_catalog(car_config.signals.vss or None), prime or [])
    for turn in run_conversation(car_config, assistant_config, texts, language, speaker, values):
        if as_json:
            _write(_dump(turn.as_dict()))
        else:
            _write(f"you: {turn.text}")
            _write(f"carmind: {turn.reply}")


def _lines(path: Path) -> Iterator[str]:
    if str(path) == "-":
        yield from sys.stdin
        return
    try:
        with path.open(encoding="utf-8") as handle:
            yield from handle
    except OSError as exc:
        raise BatchLineError(f"cannot read the batch file {path}: {exc.strerror}") from None


def _parse_line(number: int, line: str, catalog: Catalog) -> dict[str, Any]:
    where = f"line {number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BatchLineError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise BatchLineError(f"{where}: expected a JSON object, got {type(data).__name__}")
    unknown = set(data) - {"turns", "lang", "seat", "set"}
    if unknown:
        raise BatchLineError(
            f"{where}: unknown keys {sorted(unknown)}; expected turns, lang, seat, set"
        )
    turns = data.get("turns")
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns) or not turns:
        raise BatchLineError(f"{where}: 'turns' must be a non-empty list of strings, got {turns!r}")
    lang = data.get("lang", "en")
    if lang not in LANGUAGES:
        raise BatchLineError(f"{where}: 'lang' {lang!r} is not one of {', '.join(LANGUAGES)}")
    try:
        seat = as_seat(data.get("seat", "driver"))
    except CarmindError as exc:
        raise BatchLineError(f"{where}: {exc}") from None
    raw_set = data.get("set", {})
    if not isinstance(raw_set, dict):
        raise BatchLineError(f"{where}: 'set' must be an object of PATH: VALUE, got {raw_set!r}")
    prime: dict[str, Value] = {}
    for path, value in raw_set.items():
        try:
            prime[path] = catalog.check(path, value)
        except CarmindError as exc:
            raise BatchLineError(f"{where}: {exc}") from None
    return {"turns": turns, "lang": lang, "seat": seat, "set": prime}


def _run_batch(path: Path, car_config: Config, assistant_config: AssistantConfig) -> int:
    """Run every conversation of a batch file; returns how many lines failed."""
    catalog = load_catalog(car_config.signals.vss or None)
    failed = 0
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            job = _parse_line(number, line, catalog)
            turns = list(
                run_conversation(
                    car_config, assistant_config, job["turns"], job["lang"], job["seat"], job["set"]
                )
            )
        except CarmindError as exc:
            failed += 1
            _write(_dump({"error": " ".join(str(exc).split())}))
            continue
        _write(_dump({"turns": [t.as_dict() for t in turns]}))
    return failed
