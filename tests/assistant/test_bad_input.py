"""Bad input: a clear reply or a specific error, never a crash, and nothing actuated."""

from __future__ import annotations

import time

import pytest

from carmind.assistant.api import Recognizer
from carmind.assistant.errors import AssistantError, UnknownSeatError, UnsupportedLanguageError
from carmind.assistant.model import Seat
from carmind.errors import CarmindError
from carmind.vehicle.session import CarSession
from tests.assistant.conftest import MakeAssistant, targets


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "...", "!?"])
def test_empty_text_gets_a_reply_and_changes_nothing(
    make_assistant: MakeAssistant, session: CarSession, text: str
) -> None:
    before = targets(session)
    turn = make_assistant().handle(text)
    assert not turn.handled and not turn.intents and not turn.actions
    assert turn.reply == "I didn't hear anything."
    assert targets(session) == before


def test_very_long_text_is_declined_quickly(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    before = targets(session)
    text = "open the windows and " * 500  # 10,500 characters
    started = time.perf_counter()
    turn = make_assistant().handle(text[:10_000])
    assert time.perf_counter() - started < 1.0
    assert not turn.handled and not turn.actions
    assert "too long" in turn.reply
    assert targets(session) == before


@pytest.mark.parametrize("lang", ["fr", "", "EN", "zh-CN", 3])
def test_unknown_language_is_an_error_naming_it(
    make_assistant: MakeAssistant, session: CarSession, lang: object
) -> None:
    assistant = make_assistant()
    before = targets(session)
    with pytest.raises(UnsupportedLanguageError, match=repr(lang)) as info:
        assistant.handle("turn on the AC", lang=lang)  # type: ignore[arg-type]
    assert isinstance(info.value, CarmindError)
    assert "en, zh, nl" in str(info.value)
    assert targets(session) == before


def test_unknown_language_at_construction(session: CarSession) -> None:
    from carmind.assistant.api import Assistant

    with pytest.raises(UnsupportedLanguageError, match="'de'"):
        Assistant(session.client, lang="de")


def test_unknown_seat_and_non_text_are_errors(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    assistant = make_assistant()
    before = targets(session)
    with pytest.raises(UnknownSeatError, match="'trunk'"):
        assistant.handle("I'm cold", seat="trunk")  # type: ignore[arg-type]
    with pytest.raises(AssistantError, match="string"):
        assistant.handle(b"turn on the AC")  # type: ignore[arg-type]
    assert targets(session) == before
    assert assistant.handle("I'm cold", seat="rear-left").handled  # type: ignore[arg-type]
    assert assistant.handle("I'm cold", seat=Seat.REAR_RIGHT).handled


@pytest.mark.parametrize(
    "text",
    [
        "purple monkey dishwasher",
        "asdkjh qwe zxcmn",
        "🚗🔥💨",
        "\x00\x01\x02",
        "and and and and and and and and and and and and",
        ", , , ; ; then then",
        "set the temperature to",
        "open the",
        "call",
        "navigate to",
    ],
)
def test_nonsense_is_not_understood_and_changes_nothing(
    make_assistant: MakeAssistant, session: CarSession, text: str
) -> None:
    before = targets(session)
    turn = make_assistant().handle(text)
    assert not turn.handled and not turn.actions and not turn.requests
    assert targets(session) == before


@pytest.mark.parametrize(
    ("lang", "text", "named"),
    [
        ("en", "zet de airco aan", "Dutch"),
        ("en", "打开空调", "Chinese"),
        ("zh", "turn on the AC", "英语"),
        ("nl", "打开空调", "Chinees"),
    ],
)
def test_other_language_text_is_recognised_but_not_acted_on(
    make_assistant: MakeAssistant, session: CarSession, lang: str, text: str, named: str
) -> None:
    before = targets(session)
    turn = make_assistant(lang).handle(text)
    assert not turn.handled and not turn.actions
    assert named in turn.reply
    assert targets(session) == before


def test_partly_understood_sentence_does_what_it_understood_and_says_what_not(
    make_assistant: MakeAssistant,
) -> None:
    turn = make_assistant().handle("open the sunroof and turn on the AC")
    assert [i.name for i in turn.intents] == ["ClimateSetAC"]
    assert not turn.handled
    assert 'I didn\'t catch "open the sunroof"' in turn.reply


def test_no_provider_is_a_failure_reply_not_a_crash() -> None:
    from carmind.assistant.api import Assistant
    from carmind.assistant.config import AssistantConfig
    from carmind.signals.broker import Broker
    from carmind.signals.catalog import default_catalog

    hub = Broker(default_catalog())  # no car provides anything
    assistant = Assistant(hub.client("test"), config=AssistantConfig(semantic_enabled=False))
    turn = assistant.handle("turn on the AC")
    assert not turn.handled and not turn.actions
    assert "didn't work" in turn.reply and "no provider" in turn.reply
    assert "can't read" in assistant.handle("what's my battery level").reply


def test_the_recognizer_alone_declines_very_long_text(fast_recognizer: Recognizer) -> None:
    started = time.perf_counter()
    assert fast_recognizer.recognize("turn on the AC and " * 600, "en") == []
    assert time.perf_counter() - started < 1.0
