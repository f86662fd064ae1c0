"""Shared fixtures for the assistant's tests: cars, assistants, recognisers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from carmind.assistant.api import Assistant, Recognizer
from carmind.assistant.config import AssistantConfig
from carmind.assistant.voice.tts import Synthesizer
from carmind.signals.catalog import NodeType
from carmind.vehicle.session import CarSession

FAST = AssistantConfig(semantic_enabled=False)
"""Templates only: the tests that do not test the semantic fallback need no model."""


def need_espeak() -> None:
    """Skip where espeak-ng is missing (make deps installs it); under CI=true that is a failure."""
    if shutil.which("espeak-ng") is None:
        reason = "espeak-ng is not installed (make deps installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def synthesizer() -> Synthesizer:
    """espeak-ng speech for the voice tests."""
    need_espeak()
    return Synthesizer()


@pytest.fixture(scope="session")
def fast_recognizer() -> Recognizer:
    return Recognizer(FAST)


@pytest.fixture(scope="session")
def semantic_recognizer(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Recognizer:
    """Templates and the MiniLM fallback; example embeddings cached in pytest's cache folder."""
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("carmind-semantic") if cache is not None else None
    folder = folder or tmp_path_factory.mktemp("carmind-semantic")
    return Recognizer(AssistantConfig(cache_dir=str(folder)))


@pytest.fixture
def session() -> Iterator[CarSession]:
    car = CarSession.create()
    yield car
    car.stop()


type MakeAssistant = Callable[..., Assistant]


@pytest.fixture
def make_assistant(session: CarSession, fast_recognizer: Recognizer) -> MakeAssistant:
    def make(lang: str = "en", **prime: Any) -> Assistant:
        if prime:
            session.prime(prime)
        return Assistant(session.client, lang=lang, config=FAST, recognizer=fast_recognizer)

    return make


def targets(session: CarSession) -> dict[str, Any]:
    """Every actuator's target value now (to prove that nothing changed)."""
    out: dict[str, Any] = {}
    for signal in session.catalog.match(""):
        if signal.type is NodeType.ACTUATOR:
            datapoint = session.client.get_target(signal.path)
            out[signal.path] = None if datapoint is None else datapoint.value
    return out


def target(session: CarSession, path: str) -> Any:
    datapoint = session.client.get_target(path)
    return None if datapoint is None else datapoint.value
