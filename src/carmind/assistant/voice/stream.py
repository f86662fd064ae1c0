"""A continuous 16 kHz mono stream in, utterances and commands out.

`UtteranceDetector` finds where speech starts and ends with pocketsphinx's voice activity
detector and endpointer (WebRTC-style VAD over 30 ms frames; speech ends after most of a window
of non-speech). `Listener` adds the wake phrase: it spots "hey carmind" with pocketsphinx's
keyphrase search, then takes the next utterance as the command and decodes it against the
command grammar. Feed either any chunk size; both are pure state machines (no threads, no I/O).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from carmind.assistant.voice.audio import SAMPLE_RATE, SAMPLE_WIDTH
from carmind.assistant.voice.errors import VoiceError
from carmind.assistant.voice.recognizer import Recognizer, Transcript

log = logging.getLogger(__name__)

BYTES_PER_S = SAMPLE_RATE * SAMPLE_WIDTH


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """When speech counts as started and as ended."""

    window_s: float = 0.6
    """Length of the decision window: speech ends after about `ratio` of it without speech."""
    ratio: float = 0.9
    vad_mode: int = 0
    """Aggressiveness of the voice activity detector, 0 (loose) to 3 (strict)."""
    max_utterance_s: float = 15.0
    """An utterance is cut here even if speech goes on."""
    min_utterance_s: float = 0.25
    """Shorter bursts (a click, a cough) are not utterances."""
    margin_s: float = 0.3
    """Audio kept before the start and after the end of speech."""

    def __post_init__(self) -> None:
        checks = (
            ("window_s", 0.1 <= self.window_s <= 5.0, "0.1 to 5"),
            ("ratio", 0.1 <= self.ratio <= 1.0, "0.1 to 1"),
            ("vad_mode", self.vad_mode in (0, 1, 2, 3), "0, 1, 2 or 3"),
            ("max_utterance_s", 1.0 <= self.max_utterance_s <= 120.0, "1 to 120"),
            ("min_utterance_s", 0.0 <= self.min_utterance_s < 1.0, "0 to 1"),
            ("margin_s", 0.0 <= self.margin_s <= 1.0, "0 to 1"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise VoiceError(
                    f"endpoint setting {name} = {getattr(self, name)!r}: expected {expected}"
                )


@dataclass(frozen=True, slots=True)
class Utterance:
    """One stretch of speech: 16 kHz mono 16-bit PCM and where it lies in the stream."""

    pcm: bytes
    start_s: float
    end_s: float


class UtteranceDetector:
    """Chunks of a 16 kHz mono 16-bit stream in, `Utterance`s out.

    The endpointer decides where speech starts and ends; the utterance handed on is the stream's
    own audio from `EndpointSettings.margin_s` before the start to as much after the end (the
    decoder needs a little silence around the words, or it hears extra ones).
    """

    def __init__(self, settings: EndpointSettings | None = None) -> None:
        self.settings = settings or EndpointSettings()
        self._endpointer = self._new_endpointer()
        self._frame_bytes = int(self._endpointer.frame_bytes)
        self._frame_s = self._frame_bytes / BYTES_PER_S
        self._pending = bytearray()
        self._raw = bytearray()
        """The stream from `_raw_start_s` to `_position_s`."""
        self._raw_start_s = 0.0
        self._position_s = 0.0
        self._base_s = 0.0
        """Where in the stream the current endpointer started."""
        self._speaking = False

    def _new_endpointer(self) -> Any:
        from pocketsphinx import Endpointer

        s = self.settings
        return Endpointer(window=s.window_s, ratio=s.ratio, vad_mode=s.vad_mode)

    @property
    def in_speech(self) -> bool:
        return self._speaking or bool(self._endpointer.in_speech)

    def feed(self, pcm: bytes) -> list[Utterance]:
        """Take the next chunk; return the utterances that ended in it."""
        self._pending.extend(pcm)
        found: list[Utterance] = []
        fb = self._frame_bytes
        ep = self._endpointer
        while len(self._pending) >= fb:
            frame = bytes(self._pending[:fb])
            del self._pending[:fb]
            self._raw.extend(frame)
            self._position_s += self._frame_s
            if ep.process(frame) is not None:
                self._speaking = True
            start = self._base_s + float(ep.speech_start)
            if self._speaking and not ep.in_speech:
                found.extend(self._emit(start, self._base_s + float(ep.speech_end)))
            elif self._speaking and self._position_s - start >= self.settings.max_utterance_s:
                found.extend(self._emit(start, self._position_s, cut=True))
                ep = self._endpointer
            elif not self._speaking:
                self._forget()
        return found

    def flush(self) -> list[Utterance]:
        """End of the stream: the utterance still open, if any."""
        self._raw.extend(self._pending)
        self._position_s += len(self._pending) / BYTES_PER_S
        self._pending.clear()
        if not self.in_speech:
            return []
        start = self._base_s + float(self._endpointer.speech_start)
        return self._emit(start, self._position_s, cut=True)

    def _forget(self) -> None:
        """Keep only the audio a coming utterance may start in."""
        keep = int((self.settings.margin_s + self.settings.window_s) * SAMPLE_RATE) * 2
        if len(self._raw) > 2 * keep:
            drop = len(self._raw) - keep
            del self._raw[:drop]
            self._raw_start_s += drop / BYTES_PER_S

    def _offset(self, seconds: float) -> int:
        samples = round((seconds - self._raw_start_s) * SAMPLE_RATE)
        return max(0, min(len(self._raw) // 2, samples)) * 2

    def _emit(self, start: float, end: float, cut: bool = False) -> list[Utterance]:
        margin = self.settings.margin_s
        low, high = self._offset(start - margin), self._offset(end + margin)
        pcm = bytes(self._raw[low:high])
        del self._raw[:high]
        self._raw_start_s += high / BYTES_PER_S
        self._speaking = False
        if cut:  # start afresh: the endpointer would otherwise still be inside this speech
            self._endpointer = self._new_endpointer()
            self._base_s = self._position_s
        if end - start < self.settings.min_utterance_s:
            return []
        return [Utterance(pcm, start, end)]


class HeardKind(StrEnum):
    WAKE = "wake"
    """The wake phrase was heard; a command is expected."""
    COMMAND = "command"
    """A command utterance ended and was decoded (see `transcript`)."""
    TIMEOUT = "timeout"
    """The wake phrase was heard but no command followed in time."""


@dataclass(frozen=True, slots=True)
class Heard:
    kind: HeardKind
    at_s: float
    """Seconds into the stream."""
    transcript: Transcript | None = None
    utterance: Utterance | None = None


class Listener:
    """The wake phrase, then a command: a stream in, `Heard` events out.

    With `wake=False` every utterance is decoded as a command (push-to-talk, or a satellite
    that spots the wake word itself).
    """

    SPOT_CHUNK_S = 0.1
    HISTORY_S = 3.0
    COMMAND_TIMEOUT_S = 6.0

    def __init__(
        self,
        recognizer: Recognizer,
        *,
        wake: bool = True,
        endpoint: EndpointSettings | None = None,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        if wake and not recognizer.grammar.wake_phrase:
            raise VoiceError("the recognizer has no wake phrase; expected one, or wake=False")
        self.recognizer = recognizer
        self.wake = wake
        self.endpoint = endpoint or EndpointSettings()
        self.command_timeout_s = command_timeout_s
        self._awake = not wake
        self._awake_at = 0.0
        self._detector = UtteranceDetector(self.endpoint)
        self._history: deque[bytes] = deque()
        self._history_bytes = 0
        self._pending = bytearray()
        self._position = 0

    @property
    def seconds(self) -> float:
        """How much of the stream has been fed."""
        return self._position / BYTES_PER_S

    def feed(self, pcm: bytes) -> list[Heard]:
        """Take the next chunk of the stream; return what was heard in it."""
        heard: list[Heard] = []
        if self._awake:
            return self._command(pcm)
        self._pending.extend(pcm)
        step = int(self.SPOT_CHUNK_S * SAMPLE_RATE) * SAMPLE_WIDTH
        while len(self._pending) >= step and not self._awake:
            piece = bytes(self._pending[:step])
            del self._pending[:step]
            heard.extend(self._spot(piece))
        if self._awake and self._pending:
            rest = bytes(self._pending)
            self._pending.clear()
            heard.extend(self._command(rest))
        return heard

    def flush(self) -> list[Heard]:
        """End of the stream: decode a command still being spoken."""
        heard: list[Heard] = []
        if not self._awake and self._pending:
            heard.extend(self._spot(bytes(self._pending)))
            self._pending.clear()
        if self._awake:
            for utterance in self._detector.flush():
                heard.append(self._decode(utterance))
        self.recognizer.reset_wake()
        return heard

    def _spot(self, piece: bytes) -> list[Heard]:
        self._position += len(piece)
        self._remember(piece)
        tail = self.recognizer.spot_wake(piece)
        if tail is None:
            return []
        log.info("wake phrase at %.2f s", self.seconds)
        self._awake, self._awake_at = True, self.seconds
        self._detector = UtteranceDetector(self.endpoint)
        after = b"".join(self._history)[-tail:] if tail else b""
        self._history.clear()
        self._history_bytes = 0
        self._position -= len(after)  # fed again below, as the start of the command
        return [Heard(HeardKind.WAKE, self.seconds), *self._command(after)]

    def _command(self, pcm: bytes) -> list[Heard]:
        self._position += len(pcm)
        heard = [self._decode(u) for u in self._detector.feed(pcm)]
        if (
            self.wake
            and not heard
            and not self._detector.in_speech
            and self.seconds - self._awake_at > self.command_timeout_s
        ):
            heard.append(Heard(HeardKind.TIMEOUT, self.seconds))
            self._awake = False
        return heard

    def _decode(self, utterance: Utterance) -> Heard:
        transcript = self.recognizer.transcribe(utterance.pcm)
        if self.wake:
            self._awake = False
        return Heard(HeardKind.COMMAND, self.seconds, transcript, utterance)

    def _remember(self, piece: bytes) -> None:
        self._history.append(piece)
        self._history_bytes += len(piece)
        limit = int(self.HISTORY_S * BYTES_PER_S)
        while self._history_bytes - len(self._history[0]) >= limit:
            self._history_bytes -= len(self._history.popleft())
