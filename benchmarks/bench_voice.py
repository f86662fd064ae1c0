"""Voice: end of speech to actions, speech synthesis, the loaded decoder's size, and accuracy.

The utterances are the 60 commands of the spoken tests, spoken by espeak-ng (en-us+klatt,
150 words per minute), resampled to 16 kHz and held in memory.

- End of speech to actions: from the moment the endpointer closes an utterance to the `Turn`
  with its actions: decoding the utterance (grammar pass and the free-phone check) plus the
  assistant's text pipeline acting on a running simulated car. The endpointer's own wait
  (`EndpointSettings.window_s` x `ratio` of non-speech) comes before and is a setting, not work.
- Speech synthesis: espeak-ng for each reply the assistant gave, and its real-time factor.
- The decoder: memory (resident set growth) and load time of a `Recognizer`, the grammar's build
  time uncached and cached. Same-run peer: pocketsphinx compiling the same grammar from JSGF
  itself (what the minimal FSG replaces).
- Accuracy: commands whose recording produced exactly the typed actions, per espeak-ng voice.

Target (issue: the AI voice assistant, part 4): end of speech to actions p50 < 500 ms.
"""

from __future__ import annotations

import gc
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "assistant"))

from common import percentile, report
from test_voice_spoken import COMMANDS

from carmind.assistant.api import Assistant
from carmind.assistant.model import Seat
from carmind.assistant.voice.grammar import build_grammar
from carmind.assistant.voice.pronounce import Lexicon, model_dir
from carmind.assistant.voice.recognizer import Recognizer
from carmind.assistant.voice.speech import command_sources, load_grammar
from carmind.assistant.voice.tts import Synthesizer
from carmind.cli.say import assistant_config_from_env, run_conversation
from carmind.config import Config
from carmind.vehicle.session import CarSession

VOICE = ("en-us+klatt", 150)
ACCURACY_VOICES = (
    ("en-us+klatt", 150),
    ("en-us+klatt2", 170),
    ("en-us+f2", 140),
    ("en-us", 150),
    ("en-us+f3", 140),
    ("en-gb", 170),
)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def latency(recognizer: Recognizer, synthesizer: Synthesizer) -> tuple[list[dict[str, Any]], str]:
    session = CarSession.create()
    assistant = Assistant(session.client, lang="en")
    for warm_up in ("turn on the ac", "sing me a song about fish"):  # load the text pipeline's
        assistant.handle(warm_up)  # models (templates, the semantic fallback) before timing
    recordings = [
        synthesizer.speak(text, voice=VOICE[0], speed=VOICE[1], rate=16000).pcm for text in COMMANDS
    ]
    decode: list[float] = []
    text_path: list[float] = []
    total: list[float] = []
    replies: list[str] = []
    for pcm in recordings:
        gc.collect()
        start = time.perf_counter()
        transcript = recognizer.transcribe(pcm)
        heard = time.perf_counter()
        turn = assistant.handle(transcript.text, seat=Seat.DRIVER)
        done = time.perf_counter()
        session.advance(0.5)
        decode.append(heard - start)
        text_path.append(done - heard)
        total.append(done - start)
        replies.append(turn.reply)
    session.stop()
    synth: list[float] = []
    rtf: list[float] = []
    for reply in replies:
        start = time.perf_counter()
        speech = synthesizer.speak(reply or "Sorry.", lang="en")
        synth.append(time.perf_counter() - start)
        rtf.append(synth[-1] / max(speech.seconds, 1e-6))
    audio_s = sum(len(p) for p in recordings) / 32000 / len(recordings)
    rows = [
        {
            "metric": "end of speech to actions p50",
            "value": ms(percentile(total, 0.5)),
            "unit": "ms",
            "target": "< 500",
            "met": percentile(total, 0.5) < 0.5,
        },
        {
            "metric": "end of speech to actions p99",
            "value": ms(percentile(total, 0.99)),
            "unit": "ms",
        },
        {"metric": "  decoding p50", "value": ms(percentile(decode, 0.5)), "unit": "ms"},
        {"metric": "  decoding p99", "value": ms(percentile(decode, 0.99)), "unit": "ms"},
        {"metric": "  text pipeline p50", "value": ms(percentile(text_path, 0.5)), "unit": "ms"},
        {"metric": "  text pipeline p99", "value": ms(percentile(text_path, 0.99)), "unit": "ms"},
        {"metric": "utterance length, mean", "value": round(audio_s, 2), "unit": "s"},
        {"metric": "synthesis of a reply p50", "value": ms(percentile(synth, 0.5)), "unit": "ms"},
        {"metric": "synthesis of a reply p99", "value": ms(percentile(synth, 0.99)), "unit": "ms"},
        {
            "metric": "synthesis real-time factor p50",
            "value": round(percentile(rtf, 0.5), 3),
            "unit": "x",
        },
    ]
    return rows, f"{len(recordings)} utterances"


def decoder_cost() -> list[dict[str, Any]]:
    sources = command_sources("en")
    start = time.perf_counter()
    grammar = build_grammar(sources, Lexicon())
    built = time.perf_counter() - start
    load_grammar(sources)  # make sure the cache holds it
    start = time.perf_counter()
    load_grammar(sources)
    cached = time.perf_counter() - start
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    recognizer = Recognizer(grammar)
    loaded = time.perf_counter() - start
    ours_mb = rss_mb() - before
    arcs = grammar.fsg.count("TRANSITION")

    # peer: the same grammar handed to pocketsphinx as JSGF (it builds its own FSG)
    from pocketsphinx import Decoder

    model = model_dir()
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    peer = Decoder(hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"), lm=None)
    for token, prons in grammar.pronunciations.items():
        if peer.lookup_word(token) is None:
            for i, pron in enumerate(prons, start=1):
                peer.add_word(token if i == 1 else f"{token}({i})", pron, False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.gram"
        path.write_text(grammar.jsgf, encoding="utf-8")
        peer.add_jsgf_file("command", str(path))
    peer_s = time.perf_counter() - start
    peer_mb = rss_mb() - before
    del peer, recognizer
    return [
        {"metric": "grammar: sentence templates", "value": grammar.sentences, "unit": ""},
        {"metric": "grammar: FSG states", "value": grammar.states, "unit": ""},
        {"metric": "grammar: FSG arcs", "value": arcs, "unit": ""},
        {"metric": "grammar build (uncached)", "value": ms(built), "unit": "ms"},
        {"metric": "grammar load (disk cache)", "value": ms(cached), "unit": "ms"},
        {"metric": "recognizer load", "value": ms(loaded), "unit": "ms"},
        {"metric": "recognizer memory (RSS growth)", "value": round(ours_mb, 1), "unit": "MB"},
        {"metric": "peer: pocketsphinx JSGF load", "value": ms(peer_s), "unit": "ms"},
        {"metric": "peer: pocketsphinx JSGF memory", "value": round(peer_mb, 1), "unit": "MB"},
        {
            "metric": "load time, peer / ours",
            "value": round(peer_s / loaded, 1),
            "unit": "x",
        },
        {
            "metric": "memory, peer / ours",
            "value": round(peer_mb / max(ours_mb, 0.1), 1),
            "unit": "x",
        },
    ]


def accuracy(recognizer: Recognizer, synthesizer: Synthesizer) -> list[dict[str, Any]]:
    car, config = Config(), assistant_config_from_env()

    def outcome(text: str) -> tuple[Any, Any]:
        (turn,) = run_conversation(car, config, [text], "en", Seat.DRIVER, {})
        data = turn.as_dict()
        return data["actions"], data["requests"]

    expected = {text: outcome(text) for text in COMMANDS}
    rows = []
    for voice, speed in ACCURACY_VOICES:
        hits = 0
        for text in COMMANDS:
            speech = synthesizer.speak(text, voice=voice, speed=speed, rate=16000)
            hits += outcome(recognizer.transcribe(speech.pcm).text) == expected[text]
        rows.append(
            {
                "metric": f"accuracy {voice} @ {speed} wpm",
                "value": round(100 * hits / len(COMMANDS), 1),
                "unit": "%",
                "target": ">= 90" if (voice, speed) == VOICE else None,
                "met": hits / len(COMMANDS) >= 0.9 if (voice, speed) == VOICE else None,
            }
        )
    return rows


def main() -> None:
    logging.disable(logging.WARNING)
    synthesizer = Synthesizer()
    rows = decoder_cost()
    recognizer = Recognizer(load_grammar())
    timing, what = latency(recognizer, synthesizer)
    rows = timing + rows + accuracy(recognizer, synthesizer)
    report(
        "voice",
        rows,
        notes=(
            f"{what} of the spoken-test commands, espeak-ng {VOICE[0]} @ {VOICE[1]} wpm, "
            "decoded against carmind's English grammar (car and home templates); the text "
            "pipeline acts on a running simulated car. Accuracy: exactly the typed actions."
        ),
    )


if __name__ == "__main__":
    main()
