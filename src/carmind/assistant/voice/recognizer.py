"""Offline speech recognition: pocketsphinx decoding against the command grammar, and the wake
phrase spotted with pocketsphinx's keyphrase search.

One `Recognizer` holds one loaded decoder (acoustic model, dictionary, the command grammar and the
wake phrase search) and is reused for every utterance: loading costs about half a second and tens
of megabytes; decoding an utterance costs about a tenth of a second. A lock makes it safe to share
between threads (one decode at a time).

A grammar always finds *some* command in any speech, so every hypothesis is checked: the same
audio is decoded again as free phones (no grammar), and when the grammar's path fits the audio
much worse than free phones do (`DecoderSettings.min_fit`, log-likelihood per 10 ms frame), the
speech was not a command and the transcript is empty. This rejects most out-of-grammar speech
(see docs/voice.md for the measured rates), not all of it.
"""

from __future__ import annotations

import itertools
import logging
import math
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from carmind.assistant.voice.audio import SAMPLE_RATE, SAMPLE_WIDTH, is_silent, read_wav
from carmind.assistant.voice.errors import AudioError, SpeechEngineError
from carmind.assistant.voice.grammar import Grammar, join_transcript
from carmind.assistant.voice.pronounce import model_dir

log = logging.getLogger(__name__)

FRAME_S = 0.01
"""pocketsphinx's frame step: 10 ms."""
COMMAND_SEARCH = "command"
WAKE_SEARCH = "wake"
MAX_WAKE_VARIANTS = 4
"""Pronunciations of the wake phrase the keyphrase search listens for."""
WAKE_RESTART_FRAMES = 6_000
"""The wake phrase search starts afresh after this many frames (60 s) of a stream."""


@dataclass(frozen=True, slots=True)
class DecoderSettings:
    """pocketsphinx search settings (beams are pocketsphinx's defaults: wider ones cost seconds
    per utterance with carmind's grammar and did not recognise more)."""

    beam: float = 1e-48
    wbeam: float = 7e-29
    pbeam: float = 1e-48
    kws_threshold: float = 1e-50
    """Keyphrase detection threshold: lower finds more wake phrases and more false ones."""
    noise_floor: float = 30.0
    """Standard deviation (in 16-bit steps) of the faint noise added before decoding: digital
    silence (exact zeros, as synthetic or gated audio has) otherwise upsets the feature
    normalisation. 0 turns it off."""
    min_fit: float = -5.5
    """Reject a hypothesis whose acoustic log-likelihood per frame is this much (in nats) below
    that of free phones; -inf accepts everything."""
    lw: float = 6.5
    """Language weight: how much the grammar's path probabilities count against acoustics."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the recognizer heard in one utterance."""

    text: str
    """The command heard, wake phrase removed; "" when none was (or it was rejected)."""
    heard: str
    """The grammar's best path, even when rejected (for diagnosis)."""
    confidence: float
    """pocketsphinx's posterior probability of the path, 0 to 1."""
    fit: float | None
    """Acoustic fit of the path against free phones, nats per frame (None: not measured)."""
    audio_s: float
    decode_s: float
    wake: bool = False
    """The utterance began with the wake phrase."""

    @property
    def rejected(self) -> bool:
        return bool(self.heard) and not self.text

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "heard": self.heard,
            "rejected": self.rejected,
            "confidence": round(self.confidence, 4),
            "fit": None if self.fit is None else round(self.fit, 3),
            "audio_s": round(self.audio_s, 3),
            "decode_s": round(self.decode_s, 4),
            "wake": self.wake,
        }


class Recognizer:
    """A loaded pocketsphinx decoder for one grammar (see the module docstring)."""

    def __init__(self, grammar: Grammar, settings: DecoderSettings | None = None) -> None:
        self.grammar = grammar
        self.settings = settings or DecoderSettings()
        self._lock = threading.Lock()
        started = time.perf_counter()
        s = self.settings
        # cepstral mean normalisation per utterance ("batch"): the same recording always gives
        # the same transcript, whatever was decoded before (pocketsphinx's "live" mean carries
        # over from one utterance to the next)
        self._decoder: Any = self._new_decoder(
            cmn="batch", beam=s.beam, wbeam=s.wbeam, pbeam=s.pbeam
        )
        try:
            with tempfile.TemporaryDirectory(prefix="carmind-voice-") as tmp:
                path = Path(tmp) / "command.fsg"
                path.write_text(grammar.fsg, encoding="utf-8")
                self._decoder.add_fsg(COMMAND_SEARCH, self._decoder.read_fsg(str(path)))
        except (ValueError, RuntimeError) as exc:
            raise SpeechEngineError(f"pocketsphinx rejected the command grammar: {exc}") from exc
        self._decoder.activate_search(COMMAND_SEARCH)
        self._phones: Any = None
        if s.min_fit > -math.inf:
            model = model_dir()
            self._phones = _decoder_class()(
                hmm=str(model / "en-us"),
                allphone=str(model / "en-us-phone.lm.bin"),
                lm=None,
                samprate=SAMPLE_RATE,
                cmn="batch",
                beam=1e-20,
                pbeam=1e-20,
                lw=2.0,
                loglevel="FATAL",
            )
        self._wake: Any = None
        """The keyphrase search's own decoder (a stream needs the live mean), made when needed."""
        self._wake_open = False
        self._wake_frames = 0
        self._wake_rng = np.random.default_rng(0)
        self.load_s = time.perf_counter() - started
        log.info(
            "recognizer loaded in %.2f s: %d sentences, %d words", self.load_s,
            grammar.sentences, len(grammar.vocabulary),
        )  # fmt: skip

    def _new_decoder(self, **options: Any) -> Any:
        """A decoder with the US English model, CMUdict and the grammar's extra words."""
        model = model_dir()
        decoder = _decoder_class()(
            hmm=str(model / "en-us"),
            dict=str(model / "cmudict-en-us.dict"),
            lm=None,
            samprate=SAMPLE_RATE,
            lw=self.settings.lw,
            loglevel="FATAL",
            **options,
        )
        for token, prons in self.grammar.pronunciations.items():
            have = 0 if decoder.lookup_word(token) is None else _count_prons(decoder, token)
            for i, pron in enumerate(prons, start=have + 1):
                decoder.add_word(token if i == 1 else f"{token}({i})", pron, False)
        return decoder

    def _wake_decoder(self) -> Any:
        if self._wake is None:
            decoder = self._new_decoder(kws_threshold=self.settings.kws_threshold)
            with tempfile.TemporaryDirectory(prefix="carmind-voice-") as tmp:
                path = Path(tmp) / "wake.kws"
                path.write_text(self._wake_lines(decoder, self.grammar.wake_phrase), "utf-8")
                decoder.add_kws(WAKE_SEARCH, str(path))
            decoder.activate_search(WAKE_SEARCH)
            self._wake = decoder
        return self._wake

    def _wake_lines(self, decoder: Any, phrase: str) -> str:
        """The keyphrase file: the wake phrase in each of its pronunciations (the keyphrase search
        uses a word's first pronunciation only, so the others become words of their own)."""
        spellings: list[list[str]] = []
        for word in phrase.split():
            variants = [word]
            for i in range(2, MAX_WAKE_VARIANTS + 1):
                phones = decoder.lookup_word(f"{word}({i})")
                if phones is None:
                    break
                alias = f"{word}__{i}"
                if decoder.lookup_word(alias) is None:
                    decoder.add_word(alias, phones, False)
                variants.append(alias)
            spellings.append(variants)
        lines = [
            f"{' '.join(words)} /{self.settings.kws_threshold:g}/"
            for words in itertools.islice(itertools.product(*spellings), MAX_WAKE_VARIANTS)
        ]
        return "\n".join(lines) + "\n"

    # -- commands --------------------------------------------------------------------------

    def transcribe(self, pcm: bytes) -> Transcript:
        """Decode one whole utterance of 16 kHz mono 16-bit PCM against the command grammar."""
        started = time.perf_counter()
        audio = self._condition(pcm)
        with self._lock:
            decoder = self._decoder
            decoder.start_utt()
            decoder.process_raw(audio, False, True)
            decoder.end_utt()
            hyp = decoder.hyp()
            words = hyp.hypstr.split() if hyp is not None else []
            confidence = float(hyp.prob) if hyp is not None else 0.0
            fit = self._fit(audio) if words and self._phones is not None else None
        wake_words = self.grammar.wake_phrase.split()
        wake = bool(wake_words) and words[: len(wake_words)] == wake_words
        if wake:
            words = words[len(wake_words) :]
        heard = join_transcript(words)
        accepted = fit is None or fit >= self.settings.min_fit
        if not accepted:
            log.info("rejected %r: fit %.2f below %.2f", heard, fit, self.settings.min_fit)
        return Transcript(
            text=heard if accepted else "",
            heard=heard,
            confidence=confidence if words else 0.0,
            fit=fit,
            audio_s=len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH),
            decode_s=time.perf_counter() - started,
            wake=wake,
        )

    def _fit(self, audio: bytes) -> float:
        """Per-frame acoustic log-likelihood of the grammar path minus that of free phones."""
        grammar_ln = _ascore_ln(self._decoder)
        frames = max(1, int(self._decoder.n_frames()))
        phones = self._phones
        phones.start_utt()
        phones.process_raw(audio, False, True)
        phones.end_utt()
        return (grammar_ln - _ascore_ln(phones)) / frames

    def _condition(self, pcm: bytes, rng: np.random.Generator | None = None) -> bytes:
        """Add the noise floor (`DecoderSettings.noise_floor`)."""
        floor = self.settings.noise_floor
        if floor <= 0:
            return pcm
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
        # reproducible: the same utterance always gets the same noise
        rng = rng if rng is not None else np.random.default_rng(len(pcm))
        samples += rng.normal(0.0, floor, samples.size)
        return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()

    def transcribe_wav(self, data: bytes, *, name: str = "audio") -> Transcript:
        """Decode a WAV file (any rate, any channels: converted); silence is an `AudioError`."""
        audio = read_wav(data, name=name)
        if audio.samples.shape[0] == 0:
            raise AudioError(f"{name} holds no audio (0 samples); expected a spoken command")
        pcm = audio.to_speech_pcm()
        if is_silent(pcm):
            raise AudioError(f"{name} is silent ({audio.seconds:.1f} s); expected a spoken command")
        return self.transcribe(pcm)

    # -- wake phrase -----------------------------------------------------------------------

    def spot_wake(self, pcm: bytes) -> int | None:
        """Feed the next chunk of a continuous 16 kHz stream to the wake phrase search.

        Returns None, or, when the wake phrase was heard, how many bytes of the stream came after
        it (possibly more than this chunk: detection can lag the phrase by a few frames); those
        are the start of the command. The search then starts afresh.
        """
        if not self.grammar.wake_phrase:
            raise SpeechEngineError("this recognizer has no wake phrase; expected one to spot")
        frame_bytes = int(SAMPLE_RATE * FRAME_S) * SAMPLE_WIDTH
        with self._lock:
            decoder = self._wake_decoder()
            if self._wake_open and self._wake_frames >= WAKE_RESTART_FRAMES:
                self._close_wake()  # a long stream: bound the search's memory
            if not self._wake_open:
                self._wake_rng = np.random.default_rng(0)
                decoder.start_utt()
                self._wake_open = True
                self._wake_frames = 0
            decoder.process_raw(self._condition(pcm, self._wake_rng), False, False)
            self._wake_frames += len(pcm) // frame_bytes
            if decoder.hyp() is None:
                return None
            ends = [seg.end_frame for seg in decoder.seg()]
            end_frame = max(ends) if ends else self._wake_frames - 1
            tail = max(0, self._wake_frames - end_frame - 1) * frame_bytes
            self._close_wake()
        return tail

    def reset_wake(self) -> None:
        """Forget the stream the wake phrase search has heard so far."""
        with self._lock:
            self._close_wake()

    def _close_wake(self) -> None:
        if self._wake_open:
            self._wake.end_utt()
            self._wake_open = False


def _decoder_class() -> Any:
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:  # pragma: no cover - an assistant dependency
        raise SpeechEngineError(
            "pocketsphinx is not installed; expected it with carmind[assistant]"
        ) from exc
    return Decoder


def _ascore_ln(decoder: Any) -> float:
    """The acoustic log-likelihood (nats) of a decoder's last best path."""
    logmath = decoder.get_logmath()
    return float(sum(logmath.log_to_ln(logmath.log(seg.ascore)) for seg in decoder.seg() or ()))


def _count_prons(decoder: Any, word: str) -> int:
    count = 1
    while decoder.lookup_word(f"{word}({count + 1})") is not None:
        count += 1
    return count
