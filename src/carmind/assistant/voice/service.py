"""Wyoming servers: carmind's speech recognition, speech synthesis and assistant for Home Assistant
and Rhasspy voice satellites.

One server offers any of the three services; `Describe` answers with what it offers:

- ASR: `Transcribe`, `AudioStart`, `AudioChunk`..., `AudioStop` -> `Transcript` (any rate, width
  and channel count: converted to 16 kHz mono; English only);
- TTS: `Synthesize` -> `AudioStart`, `AudioChunk`..., `AudioStop` (espeak-ng; the voice by name,
  such as "en-us+f3", or by language: en, zh, nl);
- intent handling: `Recognize` -> `Intent` / `NotRecognized`, and `Transcript` -> `Handled` /
  `NotHandled`, both through the assistant, which acts on its car; the reply is the event's text.

Bad requests get a Wyoming `Error` event naming the bad value; the connection stays open.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    Describe,
    HandleModel,
    HandleProgram,
    Info,
    IntentModel,
    IntentProgram,
    TtsProgram,
    TtsVoice,
)
from wyoming.intent import Entity, NotRecognized, Recognize
from wyoming.intent import Intent as WyomingIntent
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize

from carmind import __version__
from carmind.assistant.model import LANGUAGES, Seat, Turn
from carmind.assistant.voice.audio import MAX_SECONDS, decode_pcm, is_silent
from carmind.assistant.voice.errors import VoiceError
from carmind.assistant.voice.recognizer import Recognizer
from carmind.assistant.voice.speech import SPEECH_LANGUAGES
from carmind.assistant.voice.tts import VOICES, Synthesizer
from carmind.errors import CarmindError

log = logging.getLogger(__name__)

DEFAULT_URI = "tcp://127.0.0.1:10300"
AUDIO_CHUNK_SAMPLES = 1024
"""Samples per `AudioChunk` of synthesised speech."""
_ATTRIBUTION = Attribution(name="carmind", url="https://github.com/carmind")


class TurnHandler(Protocol):
    """What the intent service needs: `carmind.assistant.api.Assistant` is one."""

    def handle(self, text: str, *, lang: str | None = None, seat: Seat = Seat.DRIVER) -> Turn: ...


@dataclass
class VoiceServices:
    """What a server offers; a service left None is not offered (and not described)."""

    recognizer: Recognizer | None = None
    synthesizer: Synthesizer | None = None
    assistant: TurnHandler | None = None
    seat: Seat = Seat.DRIVER
    """The seat utterances to the intent service come from."""
    after_turn: Callable[[], None] | None = None
    """Called after each assistant turn (the server's simulated car catches up with time)."""
    turn_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def info(self) -> Info:
        def artifact(name: str, description: str) -> dict[str, Any]:
            return {
                "name": name,
                "attribution": _ATTRIBUTION,
                "installed": True,
                "description": description,
                "version": __version__,
            }

        info = Info()
        if self.recognizer is not None:
            model = AsrModel(
                **artifact("carmind-grammar-en", "pocketsphinx with carmind's command grammar"),
                languages=list(SPEECH_LANGUAGES),
            )
            info.asr = [
                AsrProgram(**artifact("carmind-asr", "carmind speech recognition"), models=[model])
            ]
        if self.synthesizer is not None:
            voices = [
                TtsVoice(**artifact(voice, f"espeak-ng {voice}"), languages=[lang])
                for lang, voice in VOICES.items()
            ]
            info.tts = [TtsProgram(**artifact("carmind-tts", "espeak-ng"), voices=voices)]
        if self.assistant is not None:
            langs = list(LANGUAGES)
            info.handle = [
                HandleProgram(
                    **artifact("carmind-assistant", "carmind in-car assistant"),
                    models=[HandleModel(**artifact("carmind", "templates"), languages=langs)],
                    supports_home_control=True,
                )
            ]
            info.intent = [
                IntentProgram(
                    **artifact("carmind-intent", "carmind in-car assistant"),
                    models=[IntentModel(**artifact("carmind", "templates"), languages=langs)],
                )
            ]
        return info


class VoiceEventHandler(AsyncEventHandler):
    """One client connection."""

    def __init__(
        self,
        services: VoiceServices,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(reader, writer)
        self.services = services
        self._language: str | None = None
        self._format: AudioStart | None = None
        self._audio = bytearray()

    async def handle_event(self, event: Event) -> bool:
        try:
            await self._dispatch(event)
        except CarmindError as exc:
            await self.write_event(
                Error(text=" ".join(str(exc).split()), code="bad-request").event()
            )
        return True

    async def _dispatch(self, event: Event) -> None:
        services = self.services
        if Describe.is_type(event.type):
            await self.write_event(services.info().event())
        elif Transcribe.is_type(event.type):
            self._require(services.recognizer, "speech recognition (asr)")
            self._language = Transcribe.from_event(event).language
            self._audio.clear()
        elif AudioStart.is_type(event.type):
            self._format = AudioStart.from_event(event)
            self._audio.clear()
        elif AudioChunk.is_type(event.type):
            self._chunk(AudioChunk.from_event(event))
        elif AudioStop.is_type(event.type):
            await self._transcribe()
        elif Synthesize.is_type(event.type):
            await self._synthesize(Synthesize.from_event(event))
        elif Recognize.is_type(event.type):
            recognize = Recognize.from_event(event)
            await self._recognize(recognize.text, _language(recognize.context))
        elif Transcript.is_type(event.type):
            transcript = Transcript.from_event(event)
            await self._handle(transcript.text, transcript.language)
        else:
            log.debug("ignoring Wyoming event %s", event.type)

    # -- ASR --------------------------------------------------------------------------------

    def _chunk(self, chunk: AudioChunk) -> None:
        fmt = self._format
        if fmt is None:
            self._format = fmt = AudioStart(
                rate=chunk.rate, width=chunk.width, channels=chunk.channels
            )
        if (chunk.rate, chunk.width, chunk.channels) != (fmt.rate, fmt.width, fmt.channels):
            raise VoiceError(
                f"audio chunk format {chunk.rate} Hz/{chunk.width} B/{chunk.channels} ch differs "
                f"from audio-start's {fmt.rate} Hz/{fmt.width} B/{fmt.channels} ch"
            )
        limit = int(MAX_SECONDS * fmt.rate * fmt.width * fmt.channels)
        if len(self._audio) + len(chunk.audio) > limit:
            self._audio.clear()
            raise VoiceError(
                f"the audio stream is longer than {MAX_SECONDS:.0f} s; expected a command"
            )
        self._audio.extend(chunk.audio)

    async def _transcribe(self) -> None:
        recognizer = self._require(self.services.recognizer, "speech recognition (asr)")
        language = (self._language or "en").split("-")[0].lower()
        if language not in SPEECH_LANGUAGES:
            raise VoiceError(
                f"speech recognition does not speak {self._language!r}; expected "
                f"{', '.join(SPEECH_LANGUAGES)}"
            )
        fmt = self._format
        raw = bytes(self._audio)
        self._audio.clear()
        self._format = None
        text = ""
        if fmt is not None and raw:
            audio = decode_pcm(
                raw, rate=fmt.rate, width=fmt.width, channels=fmt.channels, name="audio stream"
            )
            pcm = audio.to_speech_pcm()
            if not is_silent(pcm):
                result = await asyncio.to_thread(recognizer.transcribe, pcm)
                text = result.text
        log.info("transcript: %r", text)
        await self.write_event(Transcript(text=text, language="en").event())

    # -- TTS --------------------------------------------------------------------------------

    async def _synthesize(self, request: Synthesize) -> None:
        synthesizer = self._require(self.services.synthesizer, "speech synthesis (tts)")
        voice, lang = None, "en"
        if request.voice is not None and request.voice.name:
            voice = request.voice.name
        elif request.voice is not None and request.voice.language:
            lang = request.voice.language.split("-")[0].lower()
        speech = await asyncio.to_thread(synthesizer.speak, request.text, lang=lang, voice=voice)
        fmt = {"rate": speech.rate, "width": 2, "channels": 1}
        await self.write_event(AudioStart(**fmt).event())
        step = AUDIO_CHUNK_SAMPLES * 2
        for i in range(0, len(speech.pcm), step):
            await self.write_event(AudioChunk(audio=speech.pcm[i : i + step], **fmt).event())
        await self.write_event(AudioStop().event())

    # -- intents ----------------------------------------------------------------------------

    async def _turn(self, text: str, language: str | None) -> Turn:
        assistant = self._require(self.services.assistant, "the assistant (intent handling)")
        lang = (language or "en").split("-")[0].lower()
        if lang not in LANGUAGES:
            raise VoiceError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
        async with self.services.turn_lock:
            turn = await asyncio.to_thread(
                assistant.handle, text, lang=lang, seat=self.services.seat
            )
            if self.services.after_turn is not None:
                self.services.after_turn()
        return turn

    async def _recognize(self, text: str, language: str | None) -> None:
        turn = await self._turn(text, language)
        context = {"turn": _json_safe(turn.as_dict())}
        if not turn.intents:
            await self.write_event(NotRecognized(text=turn.reply, context=context).event())
            return
        first = turn.intents[0]
        entities = [Entity(name=k, value=_json_safe(v)) for k, v in first.slots.items()]
        intent = WyomingIntent(name=first.name, entities=entities, text=turn.reply, context=context)
        await self.write_event(intent.event())

    async def _handle(self, text: str, language: str | None) -> None:
        turn = await self._turn(text, language)
        context = {"turn": _json_safe(turn.as_dict())}
        reply = Handled if turn.handled else NotHandled
        await self.write_event(reply(text=turn.reply, context=context).event())

    @staticmethod
    def _require[T](service: T | None, what: str) -> T:
        if service is None:
            raise VoiceError(f"this server does not offer {what}")
        return service


def _language(context: dict[str, Any] | None) -> str | None:
    value = (context or {}).get("language")
    return value if isinstance(value, str) else None


def _json_safe(value: Any) -> Any:
    result: Any = json.loads(json.dumps(value, ensure_ascii=False, default=str))
    return result


def parse_uri(uri: str) -> tuple[str, int]:
    """`tcp://HOST:PORT` as (host, port); port 0 picks a free one."""
    parsed = urlparse(uri)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme != "tcp" or not parsed.hostname or port is None:
        raise VoiceError(f"Wyoming address {uri!r} is not usable; expected tcp://HOST:PORT")
    return parsed.hostname, port


class VoiceServer:
    """A Wyoming TCP server for `services`; `start()` returns once it listens."""

    def __init__(self, services: VoiceServices, uri: str = DEFAULT_URI) -> None:
        self.host, self.port = parse_uri(uri)
        self.services = services
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], VoiceEventHandler] = {}

    @property
    def uri(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("Wyoming server on %s", self.uri)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await asyncio.gather(*(h.stop() for h in self._handlers.values()), return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = VoiceEventHandler(self.services, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = handler
        try:
            await handler.run()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            log.info("Wyoming client went away or sent garbage: %s", exc)
        finally:
            self._handlers.pop(task, None)
