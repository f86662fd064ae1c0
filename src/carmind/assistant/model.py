"""The values the assistant's parts pass to each other: intents, actions, requests, turns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from carmind.signals.catalog import Value

LANGUAGES = ("en", "zh", "nl")
"""Languages the assistant understands and answers in."""


class Seat(StrEnum):
    """Who speaks: the seat the utterance came from (microphone array or the caller's choice)."""

    DRIVER = "driver"
    PASSENGER = "passenger"
    REAR_LEFT = "rear-left"
    REAR_RIGHT = "rear-right"


class Source(StrEnum):
    """How an intent was recognised."""

    TEMPLATE = "template"
    SEMANTIC = "semantic"
    LLM = "llm"
    CONTEXT = "context"


@dataclass(frozen=True, slots=True)
class Intent:
    """What the user asked for: an intent name and its slots (already resolved to car terms)."""

    name: str
    slots: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""
    """The part of the utterance this intent came from."""
    score: float = 1.0
    source: Source = Source.TEMPLATE

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "slots": dict(self.slots)}


@dataclass(frozen=True, slots=True)
class Action:
    """A VSS actuator target the turn set on the car."""

    path: str
    value: Value

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "value": list(self.value) if isinstance(self.value, tuple) else self.value,
        }


@dataclass(frozen=True, slots=True)
class Request:
    """Something handed to another service (navigation, phone, smart home, media library)."""

    service: str
    action: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "action": self.action, **dict(self.data)}


@dataclass(frozen=True, slots=True)
class Turn:
    """One utterance and what the assistant made of it: the `carmind say --json` line."""

    text: str
    lang: str
    intents: tuple[Intent, ...] = ()
    actions: tuple[Action, ...] = ()
    requests: tuple[Request, ...] = ()
    reply: str = ""
    handled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "lang": self.lang,
            "intents": [i.as_dict() for i in self.intents],
            "actions": [a.as_dict() for a in self.actions],
            "requests": [r.as_dict() for r in self.requests],
            "reply": self.reply,
            "handled": self.handled,
        }
