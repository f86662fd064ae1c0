"""Speech synthesis with espeak-ng: text in the assistant's languages to 16-bit PCM WAV bytes.

espeak-ng runs as a subprocess per utterance (tens of milliseconds), reads the text from stdin
(so no text is ever taken for an option) and writes a WAV to stdout. Its output is 22 050 Hz
mono; `rate=` converts it (for example to 16 000 Hz for a voice satellite).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from carmind.assistant.model import LANGUAGES
from carmind.assistant.voice.audio import float_to_pcm16, read_wav, resample, wav_bytes
from carmind.assistant.voice.errors import SpeechEngineError, VoiceError

VOICES = {"en": "en-us", "zh": "cmn", "nl": "nl"}
"""The espeak-ng voice for each of the assistant's languages."""
DEFAULT_SPEED = 160
"""Words per minute."""
MIN_SPEED, MAX_SPEED = 80, 450
MAX_TEXT_CHARS = 2_000
TIMEOUT_S = 30.0
_VOICE_NAME = re.compile(r"^[A-Za-z0-9_-]+(?:\+[A-Za-z0-9_-]+)?$")


@dataclass(frozen=True, slots=True)
class Speech:
    """Synthesised speech: 16-bit mono PCM and its rate."""

    pcm: bytes
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.rate

    def wav(self) -> bytes:
        return wav_bytes(self.pcm, self.rate)


def voice_for(lang: str) -> str:
    """The espeak-ng voice that speaks `lang`."""
    if lang not in VOICES:
        raise VoiceError(f"no voice for language {lang!r}: expected one of {', '.join(LANGUAGES)}")
    return VOICES[lang]


class Synthesizer:
    """espeak-ng, found once on PATH (or given as `executable`)."""

    def __init__(self, executable: str | None = None) -> None:
        found = executable or shutil.which("espeak-ng")
        if found is None:
            raise SpeechEngineError(
                "espeak-ng is not installed: expected it on PATH ('make deps' installs it, or "
                "'apt-get install espeak-ng')"
            )
        self.executable = found

    def speak(
        self,
        text: str,
        *,
        lang: str = "en",
        voice: str | None = None,
        speed: int = DEFAULT_SPEED,
        rate: int | None = None,
    ) -> Speech:
        """Speak `text` in `lang` (or in espeak-ng `voice`, such as "en-gb" or "en-us+f3")."""
        name = voice if voice is not None else voice_for(lang)
        if not _VOICE_NAME.match(name):
            raise VoiceError(f"voice {name!r} is not a voice name; expected e.g. en-us or en-us+f3")
        if not isinstance(text, str) or not text.strip():
            raise VoiceError(f"nothing to say: the text {text!r} is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise VoiceError(
                f"the text is {len(text)} characters long; expected at most {MAX_TEXT_CHARS}"
            )
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise VoiceError(
                f"speed {speed} words per minute is out of range; expected {MIN_SPEED} to "
                f"{MAX_SPEED}"
            )
        command = [self.executable, "-v", name, "-s", str(speed), "--stdin", "--stdout"]
        try:
            done = subprocess.run(
                command,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SpeechEngineError(f"espeak-ng could not run: {exc}") from exc
        if done.returncode != 0 or not done.stdout:
            message = " ".join(done.stderr.decode("utf-8", "replace").split()) or "no output"
            raise SpeechEngineError(f"espeak-ng failed for voice {name!r}: {message}")
        audio = read_wav(done.stdout, name="espeak-ng output")
        mono = audio.samples[:, 0]
        if rate is not None and rate != audio.rate:
            return Speech(float_to_pcm16(resample(mono, audio.rate, rate)), rate)
        return Speech(float_to_pcm16(mono), audio.rate)

    def synthesize(
        self,
        text: str,
        *,
        lang: str = "en",
        voice: str | None = None,
        speed: int = DEFAULT_SPEED,
        rate: int | None = None,
    ) -> bytes:
        """`speak`, as WAV file bytes (16-bit PCM, mono)."""
        return self.speak(text, lang=lang, voice=voice, speed=speed, rate=rate).wav()
