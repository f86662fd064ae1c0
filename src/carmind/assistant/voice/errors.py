"""Errors of the voice subsystem: each names the offending value and what was expected."""

from __future__ import annotations

from carmind.errors import CarmindError


class VoiceError(CarmindError):
    """Base class of the voice subsystem's errors."""


class AudioError(VoiceError):
    """Audio carmind cannot use: not a WAV file, an unsupported encoding, empty or silent."""


class SpeechEngineError(VoiceError):
    """A speech engine (espeak-ng, pocketsphinx) is missing or failed."""


class GrammarError(VoiceError):
    """The sentence templates cannot be turned into a recognition grammar."""
