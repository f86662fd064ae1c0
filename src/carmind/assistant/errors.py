"""Errors of the assistant: each names the offending value and what was expected."""

from __future__ import annotations

from collections.abc import Iterable

from carmind.errors import CarmindError


class AssistantError(CarmindError):
    """Base class of the assistant's errors."""


class UnsupportedLanguageError(AssistantError):
    """The language is not one the assistant understands."""

    def __init__(self, lang: object, supported: Iterable[str]) -> None:
        choices = ", ".join(supported)
        super().__init__(f"language {lang!r} is not supported: choose one of {choices}")
        self.lang = lang


class UnknownSeatError(AssistantError):
    """The seat is not one of the car's seats."""

    def __init__(self, seat: object, seats: Iterable[str]) -> None:
        super().__init__(f"seat {seat!r} is not known: choose one of {', '.join(seats)}")
        self.seat = seat


class IntentDataError(AssistantError):
    """The assistant's own sentence templates could not be loaded (a packaging fault)."""


class LLMError(AssistantError):
    """The language-model endpoint could not be used or answered something unusable."""
