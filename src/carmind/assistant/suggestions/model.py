"""The values of smart suggestions: what a suggestion is, a trip, and the errors.

A `Suggestion` carries its text and the reason it was made in every language the assistant
speaks (`carmind.assistant.model.LANGUAGES`), so the cockpit can show *why* next to *what*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from carmind.assistant.model import LANGUAGES, Action, Request
from carmind.errors import CarmindError

type Texts = Mapping[str, str]
"""One text per language of `LANGUAGES` ("en", "zh", "nl")."""


class SuggestionError(CarmindError):
    """A suggestion, trip, store or dismissal was given something it cannot use."""


class Kind(StrEnum):
    """What a suggestion is about; a dismissal may name a kind to silence all of its kind."""

    BATTERY_LOW_FOR_DESTINATION = "battery_low_for_destination"
    TYRE_PRESSURE_LOW = "tyre_pressure_low"
    WINDOW_OPEN_WHEN_LOCKING = "window_open_when_locking"
    DOORS_UNLOCKED_PARKED = "doors_unlocked_parked"
    PRECONDITION_CABIN = "precondition_cabin"
    ROUTINE_DESTINATION = "routine_destination"
    FASTER_ROUTE = "faster_route"


def texts(*, en: str, zh: str, nl: str) -> Texts:
    """A read-only text per language; the keyword names are the language codes."""
    by_lang = {"en": en, "zh": zh, "nl": nl}
    assert tuple(by_lang) == LANGUAGES, "every language of LANGUAGES needs a text"
    return MappingProxyType(by_lang)


def kind_of(key: str) -> Kind:
    """The kind a suggestion id (`kind` or `kind:detail`) or a kind name belongs to."""
    head = key.partition(":")[0]
    try:
        return Kind(head)
    except ValueError:
        kinds = ", ".join(k.value for k in Kind)
        raise SuggestionError(
            f"unknown suggestion {key!r}: expected a suggestion id or one of the kinds {kinds}"
        ) from None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Something the assistant offers unasked, with the facts that made it offer it.

    `id` is stable while the same situation lasts (`kind`, or `kind:detail`), so cooldown and
    dismissal can name it; `priority` orders offers (higher first); `actions` are VSS targets the
    suggestion would set if accepted, `requests` what it would ask of another service.
    """

    id: str
    kind: Kind
    text: Texts
    reason: Texts
    priority: int
    actions: tuple[Action, ...] = ()
    requests: tuple[Request, ...] = ()

    def __post_init__(self) -> None:
        if kind_of(self.id) is not self.kind:
            raise SuggestionError(f"suggestion id {self.id!r} does not start with its kind")
        for name, table in (("text", self.text), ("reason", self.reason)):
            missing = [lang for lang in LANGUAGES if not table.get(lang)]
            if missing:
                raise SuggestionError(f"suggestion {self.id!r} has no {name} in {missing}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "priority": self.priority,
            "text": dict(self.text),
            "reason": dict(self.reason),
            "actions": [a.as_dict() for a in self.actions],
            "requests": [r.as_dict() for r in self.requests],
        }


@dataclass(frozen=True, slots=True)
class Position:
    """A place on Earth in WGS 84 degrees."""

    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        lat, lon = self.latitude, self.longitude
        if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise SuggestionError(f"latitude {lat!r} is not between -90 and 90 degrees")
        if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
            raise SuggestionError(f"longitude {lon!r} is not between -180 and 180 degrees")


@dataclass(frozen=True, slots=True)
class Trip:
    """One drive from the trip log: when, from where, to where, how far (km)."""

    start_time: float
    end_time: float
    start: Position
    end: Position
    distance_km: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_time) and math.isfinite(self.end_time)):
            raise SuggestionError(
                f"trip times must be finite seconds, got {self.start_time!r}..{self.end_time!r}"
            )
        if self.end_time < self.start_time:
            raise SuggestionError(
                f"trip ends ({self.end_time}) before it starts ({self.start_time})"
            )
        if not (math.isfinite(self.distance_km) and self.distance_km >= 0.0):
            raise SuggestionError(
                f"trip distance {self.distance_km!r} km: expected a finite distance >= 0"
            )
