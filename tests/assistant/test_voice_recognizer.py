"""Speech in and out with the real engines: espeak-ng speaks, pocketsphinx listens.

Needs espeak-ng: skipped where it is missing, a failure under CI=true.
"""

from __future__ import annotations

import numpy as np
import pytest

from carmind.assistant.voice.audio import SAMPLE_RATE, float_to_pcm16, read_wav, wav_bytes
from carmind.assistant.voice.errors import AudioError, SpeechEngineError, VoiceError
from carmind.assistant.voice.recognizer import Recognizer
from carmind.assistant.voice.speech import check_speech_language, shared_recognizer
from carmind.assistant.voice.stream import (
    EndpointSettings,
    HeardKind,
    Listener,
    UtteranceDetector,
)
from carmind.assistant.voice.tts import VOICES, Synthesizer

VOICE = "en-us+klatt"


def _silence(seconds: float) -> bytes:
    return b"\0\0" * int(SAMPLE_RATE * seconds)


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return shared_recognizer()


def _say(synthesizer: Synthesizer, text: str, voice: str = VOICE) -> bytes:
    return synthesizer.speak(text, voice=voice, speed=150, rate=SAMPLE_RATE).pcm


# -- recognition -----------------------------------------------------------------------------


def test_a_spoken_command_is_transcribed(synthesizer: Synthesizer, recognizer: Recognizer) -> None:
    transcript = recognizer.transcribe(_say(synthesizer, "set the temperature to 21.5 degrees"))
    # "the" and "that" sound alike to the decoder (and mean the same to the assistant)
    assert transcript.text.endswith("temperature to 21.5 degrees"), transcript
    assert transcript.text.startswith("set ")
    assert not transcript.rejected and not transcript.wake
    assert transcript.fit is not None and 0 < transcript.confidence <= 1
    assert 2 < transcript.audio_s < 5 and transcript.decode_s > 0


def test_the_wake_phrase_is_taken_off_the_transcript(
    synthesizer: Synthesizer, recognizer: Recognizer
) -> None:
    transcript = recognizer.transcribe(_say(synthesizer, "hey carmind turn on the ac"))
    assert (transcript.text, transcript.wake) == ("turn on the ac", True)


def test_any_wav_format_is_converted(synthesizer: Synthesizer, recognizer: Recognizer) -> None:
    wav = synthesizer.synthesize("close all windows", voice=VOICE)
    assert read_wav(wav).rate == 22050  # espeak-ng's own rate
    assert recognizer.transcribe_wav(wav).text == "close all windows"
    audio = read_wav(wav)
    stereo = np.repeat(audio.samples, 2, axis=1).reshape(-1)
    assert recognizer.transcribe_wav(wav_bytes(float_to_pcm16(stereo), 22050, 2)).text == (
        "close all windows"
    )


def test_silent_and_empty_audio_are_errors(recognizer: Recognizer) -> None:
    with pytest.raises(AudioError, match=r"quiet\.wav is silent"):
        recognizer.transcribe_wav(wav_bytes(_silence(1.0)), name="quiet.wav")
    with pytest.raises(AudioError, match="no audio"):
        recognizer.transcribe_wav(wav_bytes(b""), name="empty.wav")


def test_noise_and_most_other_speech_are_not_commands(
    synthesizer: Synthesizer, recognizer: Recognizer
) -> None:
    rng = np.random.default_rng(7)
    noise = float_to_pcm16(rng.normal(0, 0.1, SAMPLE_RATE * 2).astype(np.float32))
    assert recognizer.transcribe(noise).text == ""
    chatter = [
        "the quick brown fox jumps over the lazy dog",
        "what is the weather like in paris",
        "i think we should order pizza tonight",
        "did you see the game last night",
        "my sister lives in amsterdam",
        "this is a test of the emergency broadcast system",
    ]
    heard = [recognizer.transcribe(_say(synthesizer, text)).text for text in chatter]
    assert sum(text == "" for text in heard) >= len(chatter) // 2, heard


def test_only_english_is_recognised() -> None:
    assert check_speech_language("en") == "en"
    with pytest.raises(VoiceError, match="does not speak 'zh'"):
        check_speech_language("zh")


# -- streams: endpointing and the wake phrase ------------------------------------------------


def test_a_stream_becomes_utterances(synthesizer: Synthesizer) -> None:
    first, second = _say(synthesizer, "open the trunk"), _say(synthesizer, "turn on the ac")
    stream = _silence(0.5) + first + _silence(1.5) + second + _silence(1.5)
    detector = UtteranceDetector()
    found = []
    for i in range(0, len(stream), 777):  # odd chunk sizes on purpose
        found += detector.feed(stream[i : i + 777])
    found += detector.flush()
    assert len(found) == 2
    assert found[0].start_s < 0.8 < found[0].end_s < 2.5 < found[1].start_s
    assert 0.8 * len(second) < len(found[1].pcm) < len(second) + SAMPLE_RATE * 2


def test_the_end_of_a_stream_ends_its_utterance(synthesizer: Synthesizer) -> None:
    detector = UtteranceDetector()
    assert detector.feed(_silence(0.3) + _say(synthesizer, "next song")) == []
    assert len(detector.flush()) == 1


def test_an_endless_utterance_is_cut(synthesizer: Synthesizer) -> None:
    speech = _say(synthesizer, "set the temperature to twenty degrees") * 3
    settings = EndpointSettings(max_utterance_s=2.0)
    detector = UtteranceDetector(settings)
    cut = detector.feed(speech) + detector.flush()
    assert len(cut) >= 2
    longest = settings.max_utterance_s + 2 * settings.margin_s + 0.05
    assert all(u.end_s - u.start_s <= settings.max_utterance_s + 0.05 for u in cut)
    assert all(len(u.pcm) <= longest * SAMPLE_RATE * 2 for u in cut)


def test_endpoint_settings_are_checked() -> None:
    with pytest.raises(VoiceError, match="vad_mode = 7"):
        EndpointSettings(vad_mode=7)


def test_the_wake_phrase_opens_a_command(synthesizer: Synthesizer, recognizer: Recognizer) -> None:
    stream = (
        _silence(0.5)
        + _say(synthesizer, "open the trunk")  # no wake phrase: ignored
        + _silence(1.0)
        + _say(synthesizer, "hey carmind")
        + _silence(0.3)
        + _say(synthesizer, "turn on the ac")
        + _silence(1.5)
    )
    listener = Listener(recognizer)
    heard = []
    for i in range(0, len(stream), 1600):
        heard += listener.feed(stream[i : i + 1600])
    heard += listener.flush()
    assert [h.kind for h in heard] == [HeardKind.WAKE, HeardKind.COMMAND]
    command = heard[1].transcript
    assert command is not None and command.text == "turn on the ac"
    assert heard[0].at_s < heard[1].at_s <= listener.seconds


def test_a_wake_phrase_with_no_command_times_out(
    synthesizer: Synthesizer, recognizer: Recognizer
) -> None:
    listener = Listener(recognizer, command_timeout_s=2.0)
    heard = listener.feed(_silence(0.5) + _say(synthesizer, "hey carmind") + _silence(3.0))
    assert [h.kind for h in heard] == [HeardKind.WAKE, HeardKind.TIMEOUT]


def test_without_the_wake_phrase_every_utterance_is_a_command(
    synthesizer: Synthesizer, recognizer: Recognizer
) -> None:
    listener = Listener(recognizer, wake=False)
    heard = listener.feed(_silence(0.3) + _say(synthesizer, "next song") + _silence(1.5))
    heard += listener.flush()
    assert [(h.kind, h.transcript.text if h.transcript else None) for h in heard] == [
        (HeardKind.COMMAND, "next song")
    ]


# -- synthesis -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "text"), [("en", "Air conditioning on."), ("zh", "空调已打开"), ("nl", "Airco aan.")]
)
def test_each_language_has_a_voice(synthesizer: Synthesizer, lang: str, text: str) -> None:
    wav = synthesizer.synthesize(text, lang=lang)
    audio = read_wav(wav)
    assert audio.rate == 22050 and audio.channels == 1 and audio.seconds > 0.3
    assert lang in VOICES


def test_speech_can_be_had_at_another_rate(synthesizer: Synthesizer) -> None:
    speech = synthesizer.speak("hello", rate=16000)
    assert speech.rate == 16000 and read_wav(speech.wav()).rate == 16000


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"text": ""}, VoiceError, "nothing to say"),
        ({"text": "hi", "lang": "fr"}, VoiceError, "no voice for language 'fr'"),
        ({"text": "hi", "voice": "en; rm -rf /"}, VoiceError, "not a voice name"),
        ({"text": "hi", "speed": 5}, VoiceError, "speed 5"),
        ({"text": "x" * 3000}, VoiceError, "at most 2000"),
        ({"text": "hi", "voice": "xx-nonexistent"}, SpeechEngineError, "xx-nonexistent"),
    ],
)
def test_bad_synthesis_requests(
    synthesizer: Synthesizer, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        synthesizer.speak(**kwargs)  # type: ignore[arg-type]


def test_a_missing_espeak_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SpeechEngineError, match="espeak-ng is not installed"):
        Synthesizer()
