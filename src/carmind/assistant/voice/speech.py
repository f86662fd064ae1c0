"""The English command grammar of the active templates, cached on disk, and one shared recognizer.

Building the grammar from carmind's templates (and Home Assistant's home intents) takes a second
or two, so it is cached in `$XDG_CACHE_HOME/carmind/voice/` under a hash of everything it is built
from: templates, slot lists, wake phrase, wildcard values and the conversion's version. A changed
template gives a new hash and a rebuild; an unwritable cache folder only costs the rebuild.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from carmind.assistant.voice.errors import VoiceError
from carmind.assistant.voice.grammar import (
    DEFAULT_WAKE_PHRASE,
    Grammar,
    TemplateSource,
    build_grammar,
    grammar_digest,
)
from carmind.assistant.voice.pronounce import Lexicon
from carmind.assistant.voice.recognizer import DecoderSettings, Recognizer

log = logging.getLogger(__name__)

SPEECH_LANGUAGES = ("en",)
"""Languages carmind recognises speech in: pocketsphinx's wheel ships an English model only."""
CACHE_ENV = "CARMIND_VOICE_CACHE"
"""A folder for the grammar cache instead of `$XDG_CACHE_HOME/carmind/voice`; "off" disables it."""

_LOCK = threading.Lock()
_RECOGNIZERS: dict[tuple[object, ...], Recognizer] = {}


def check_speech_language(lang: object) -> str:
    if lang not in SPEECH_LANGUAGES:
        raise VoiceError(
            f"speech recognition does not speak {lang!r}: expected one of "
            f"{', '.join(SPEECH_LANGUAGES)} (pocketsphinx ships an English model only; "
            "type the command with 'carmind say --lang ...' instead)"
        )
    return str(lang)


def command_sources(lang: str = "en") -> list[TemplateSource]:
    """The templates the assistant matches text with: the car's and, if present, the home's."""
    from carmind.assistant.api import load_intents
    from carmind.assistant.intents.loader import load_home

    sources = [TemplateSource(load_intents(lang))]
    home = load_home(lang)
    if home is not None:
        sources.append(TemplateSource(home.intents, home.slot_lists))
    return sources


def cache_dir() -> Path | None:
    """Where grammars are cached, or None when caching is off."""
    configured = os.environ.get(CACHE_ENV, "")
    if configured.lower() == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carmind" / "voice"


def load_grammar(
    sources: Sequence[TemplateSource] | None = None,
    *,
    wake_phrase: str = DEFAULT_WAKE_PHRASE,
    wildcard_values: Mapping[str, Sequence[str]] | None = None,
    cache: Path | None = None,
    use_cache: bool = True,
) -> Grammar:
    """The grammar of `sources` (default: the English command templates), from the disk cache
    when it holds one for exactly these inputs, else built and stored there."""
    sources = command_sources("en") if sources is None else list(sources)
    wildcards = {name: tuple(values) for name, values in (wildcard_values or {}).items()}
    digest = grammar_digest(sources, wake_phrase=wake_phrase, wildcards=wildcards, skip_words=True)
    folder = (cache or cache_dir()) if use_cache else None
    path = folder / f"grammar-{digest[:32]}.json" if folder is not None else None
    if path is not None and path.is_file():
        try:
            grammar = _from_json(path.read_text(encoding="utf-8"))
            if grammar.digest == digest:
                log.info("grammar from cache %s", path)
                return grammar
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable grammar cache %s: %s", path, exc)
    grammar = build_grammar(sources, Lexicon(), wake_phrase=wake_phrase, wildcard_values=wildcards)
    if path is not None:
        _store(path, grammar)
    return grammar


def shared_recognizer(
    *,
    wake_phrase: str = DEFAULT_WAKE_PHRASE,
    wildcard_values: Mapping[str, Sequence[str]] | None = None,
    settings: DecoderSettings | None = None,
) -> Recognizer:
    """One loaded recognizer per configuration for the whole process (thread-safe)."""
    settings = settings or DecoderSettings()
    values = tuple(sorted((k, tuple(v)) for k, v in (wildcard_values or {}).items()))
    key = (wake_phrase, values, settings)
    with _LOCK:
        found = _RECOGNIZERS.get(key)
        if found is None:
            grammar = load_grammar(wake_phrase=wake_phrase, wildcard_values=wildcard_values)
            found = _RECOGNIZERS[key] = Recognizer(grammar, settings)
        return found


def _store(path: Path, grammar: Grammar) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(_to_json(grammar), encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        log.warning("cannot cache the grammar in %s: %s", path.parent, exc)


def _to_json(grammar: Grammar) -> str:
    data = asdict(grammar)
    data["vocabulary"] = sorted(grammar.vocabulary)
    data["missing"] = sorted(grammar.missing)
    return json.dumps(data, ensure_ascii=False)


def _from_json(text: str) -> Grammar:
    data = json.loads(text)
    return Grammar(
        jsgf=str(data["jsgf"]),
        fsg=str(data["fsg"]),
        states=int(data["states"]),
        pronunciations={str(k): tuple(v) for k, v in data["pronunciations"].items()},
        vocabulary=frozenset(data["vocabulary"]),
        missing=frozenset(data["missing"]),
        skipped=tuple(data["skipped"]),
        sentences=int(data["sentences"]),
        wake_phrase=str(data["wake_phrase"]),
        digest=str(data["digest"]),
    )
