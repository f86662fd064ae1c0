"""The assistant's Python API.

```python
from carmind.assistant.api import Assistant
from carmind.vehicle.session import CarSession

session = CarSession.create()
assistant = Assistant(session.client, lang="en")
turn = assistant.handle("close all windows and turn on the AC")
turn.reply          # "Closing the windows. Air conditioning on."
turn.actions        # (Action(path=..., value=0), ..., Action("...IsAirConditioningActive", True))
```

`Recognizer` works on its own (`recognize(text, lang) -> list[Intent]`); `load_intents(lang)` and
`template_sentences(lang)` give the templates to other engines (a speech recogniser's grammar).
"""

from __future__ import annotations

import logging

import hassil

from carmind.assistant.actions import CarActions, Outcome
from carmind.assistant.config import AssistantConfig
from carmind.assistant.dialogue import Dialogue
from carmind.assistant.errors import AssistantError, UnknownSeatError
from carmind.assistant.intents.loader import check_language
from carmind.assistant.intents.loader import load_intents as _load_intents
from carmind.assistant.intents.loader import template_sentences as _template_sentences
from carmind.assistant.intents.recognizer import Recognition, Recognizer, clean_text
from carmind.assistant.model import Intent, Seat, Turn
from carmind.assistant.replies import Message, render, table
from carmind.signals.broker import Client

__all__ = [
    "Assistant",
    "AssistantConfig",
    "Recognizer",
    "example_sentences",
    "load_intents",
    "shared_recognizer",
    "template_sentences",
]

log = logging.getLogger(__name__)

_RECOGNIZERS: dict[AssistantConfig, Recognizer] = {}


def load_intents(lang: str) -> hassil.Intents:
    """The car intents of `lang` as `hassil.Intents` (sentence templates, lists, rules)."""
    return _load_intents(check_language(lang))


def template_sentences(lang: str) -> list[str]:
    """Every car sentence template of `lang` in hassil syntax (see `load_intents` for lists)."""
    return _template_sentences(check_language(lang))


def example_sentences(lang: str, per_template: int = 4) -> list[str]:
    """Concrete example sentences sampled from the templates (seeded, so always the same)."""
    from carmind.assistant.intents.sampling import sample_examples

    return [e.text for e in sample_examples(check_language(lang), per_template)]


def shared_recognizer(config: AssistantConfig | None = None) -> Recognizer:
    """One recogniser per configuration for the whole process: templates and models load once."""
    key = config or AssistantConfig()
    found = _RECOGNIZERS.get(key)
    if found is None:
        found = _RECOGNIZERS[key] = Recognizer(key)
    return found


def as_seat(seat: Seat | str) -> Seat:
    """A `Seat` from itself or its name ("passenger", "rear-left", ...)."""
    try:
        return Seat(seat)
    except ValueError:
        raise UnknownSeatError(seat, [s.value for s in Seat]) from None


class Assistant:
    """One conversation with one car: text in, a `Turn` out (intents, actions, requests, reply)."""

    def __init__(
        self,
        client: Client,
        *,
        lang: str = "en",
        config: AssistantConfig | None = None,
        recognizer: Recognizer | None = None,
    ) -> None:
        self.lang = check_language(lang)
        self.config = config or AssistantConfig()
        self.recognizer = recognizer or shared_recognizer(self.config)
        self.actions = CarActions(client, self.config)
        self.dialogue = Dialogue(self.actions, self.config)

    def reset(self) -> None:
        """Forget the conversation (context, pending confirmation, last reply)."""
        self.dialogue.reset()

    def handle(self, text: str, *, lang: str | None = None, seat: Seat = Seat.DRIVER) -> Turn:
        """Understand `text`, act on the car through the hub, and reply in the user's language.

        An unsupported language or seat raises (naming the value); any text, however empty,
        long or strange, gets a reply and changes nothing it did not understand.
        """
        lang = check_language(self.lang if lang is None else lang)
        speaker = as_seat(seat)
        if not isinstance(text, str):
            raise AssistantError(f"text must be a string, got {type(text).__name__}")
        cleaned = clean_text(text)
        if not cleaned:
            return self._turn(text, lang, [], [Message("empty")], handled=False)
        if len(cleaned) > self.config.max_text_chars:
            return self._turn(text, lang, [], [Message("too_long")], handled=False)
        recognition = self.recognizer.analyse(cleaned, lang)
        if not recognition.intents:
            return self._turn(text, lang, [], [self._not_understood(cleaned, lang)], False)
        if [i.name for i in recognition.intents] == ["ConversationRepeat"]:
            return self._repeat(text, lang, recognition.intents[0])
        outcomes = [
            self.dialogue.step(intent, speaker)
            for intent in recognition.intents
            if intent.name != "ConversationRepeat"
        ]
        messages = [m for o in outcomes for m in o.messages]
        messages.extend(Message("not_understood_part", {"text": t}) for t in recognition.unmatched)
        handled = all(o.ok for o in outcomes) and not recognition.unmatched
        return self._turn(text, lang, outcomes, messages, handled)

    def recognize(self, text: str, lang: str | None = None) -> Recognition:
        """What the assistant understands in `text`, without acting."""
        return self.recognizer.analyse(text, check_language(self.lang if lang is None else lang))

    def _not_understood(self, text: str, lang: str) -> Message:
        other = self.recognizer.other_language(text, lang)
        if other is not None:
            name = table(lang)["languages"][other]
            return Message("other_language", {"language": name})
        return Message("not_understood")

    def _repeat(self, text: str, lang: str, intent: Intent) -> Turn:
        last = self.dialogue.state.last_reply
        reply = last or render(lang, [Message("repeat_nothing")])
        return Turn(text, lang, (intent,), reply=reply, handled=bool(last))

    def _turn(
        self,
        text: str,
        lang: str,
        outcomes: list[Outcome],
        messages: list[Message],
        handled: bool,
    ) -> Turn:
        reply = render(lang, messages)
        self.dialogue.state.last_reply = reply
        turn = Turn(
            text=text,
            lang=lang,
            intents=tuple(o.intent for o in outcomes),
            actions=tuple(a for o in outcomes for a in o.actions),
            requests=tuple(r for o in outcomes for r in o.requests),
            reply=reply,
            handled=handled,
        )
        log.debug("turn: %s", turn.as_dict())
        return turn
