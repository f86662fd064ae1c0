"""Assistant latency and memory: text command to actions on the simulated car.

- Template-matched commands in English, Chinese and Dutch (single commands and several in one
  sentence), end to end through `Assistant.handle`: recognition, dialogue, planning and the
  all-or-nothing actuation through the hub. The recogniser's per-sentence cache is cleared
  before every call, so each one is a first-time sentence.
- Peer in the same run: recognition alone (`Recognizer.recognize_templates`) on the same
  sentences, so the ratio shows what dialogue, planning and the hub add.
- The semantic fallback (MiniLM) on paraphrases no template covers, with the model loaded and
  the example embeddings built; the one-off costs (model load, example embeddings from scratch
  and from the disk cache) are reported too.
- Resident memory of the process after loading the templates of all three languages, and after
  loading the semantic model.

Target (issue: the AI voice assistant): text command to actions p50 below 20 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile, report

from carmind.assistant.api import Assistant, Recognizer
from carmind.assistant.config import AssistantConfig
from carmind.assistant.intents.semantic import SemanticFallback
from carmind.assistant.model import LANGUAGES
from carmind.vehicle.session import CarSession

REPEATS = 5
TARGET_P50_MS = 20.0

TEMPLATE_COMMANDS = {
    "en": [
        "set the temperature to 21",
        "I'm cold",
        "open the windows halfway",
        "close all windows and turn on the AC",
        "turn on my seat heating",
        "play some jazz",
        "navigate to the airport",
        "take me home",
        "what's my range",
        "lock the car",
        "set the fan to level 3",
        "turn up the volume",
        "call mom",
        "turn on the living room lights",
        "set the temperature to 22 and play some jazz",
        "navigate to the nearest charging station and turn off the AC",
    ],
    "zh": [
        "把温度调到二十二度",
        "我有点冷",
        "关窗然后打开空调",
        "导航到北京西站",
        "打开座椅加热",
        "音量调到三十",
        "打开后备箱",
        "电量还有多少",
    ],
    "nl": [
        "zet de temperatuur op tweeëntwintig graden",
        "ik heb het koud",
        "doe de ramen dicht en zet de airco aan",
        "navigeer naar Schiphol",
        "zet de stoelverwarming aan",
        "zet het volume op dertig",
        "open de kofferbak",
        "hoe vol is de accu",
    ],
}

PARAPHRASES = [
    "make the fan stronger",
    "get the air conditioning going",
    "lock everything up",
    "how much juice is left",
    "what is the charge level of the battery",
    "could you make the cabin a little cooler",
    "it's like an oven in here",
    "purple monkey dishwasher",
]


def rss_mib() -> float:
    """Resident set size of this process now (MiB), from /proc; 0 where unavailable."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def end_to_end(recognizer: Recognizer) -> tuple[list[float], list[float]]:
    """(handle, recognition only) latencies in ms for the template-matched commands."""
    handle_ms: list[float] = []
    recognize_ms: list[float] = []
    for _ in range(REPEATS):
        for lang, commands in TEMPLATE_COMMANDS.items():
            session = CarSession.create()
            assistant = Assistant(session.client, lang=lang, recognizer=recognizer)
            for text in commands:
                recognizer._cache.clear()
                start = time.perf_counter()
                turn = assistant.handle(text)
                handle_ms.append((time.perf_counter() - start) * 1000)
                assert turn.intents, text
                recognizer._cache.clear()
                start = time.perf_counter()
                recognizer.recognize_templates(text, lang)
                recognize_ms.append((time.perf_counter() - start) * 1000)
                assistant.reset()
            session.stop()
    return handle_ms, recognize_ms


def semantic(cache_dir: str) -> tuple[list[float], float, float, float, float]:
    """(paraphrase latencies ms, model load s, index cold s, index from disk s, RSS MiB)."""
    config = AssistantConfig(cache_dir=cache_dir)
    fallback = SemanticFallback(config)
    start = time.perf_counter()
    _ = fallback.model
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    fallback.index("en")
    cold_s = time.perf_counter() - start
    again = SemanticFallback(config)
    again._model = fallback.model
    start = time.perf_counter()
    again.index("en")
    disk_s = time.perf_counter() - start
    recognizer = Recognizer(config)
    recognizer._semantic = fallback
    session = CarSession.create()
    assistant = Assistant(session.client, config=config, recognizer=recognizer)
    latencies: list[float] = []
    for _ in range(REPEATS):
        for text in PARAPHRASES:
            recognizer._cache.clear()
            start = time.perf_counter()
            assistant.handle(text)
            latencies.append((time.perf_counter() - start) * 1000)
            assistant.reset()
    return latencies, load_s, cold_s, disk_s, rss_mib()


def main() -> None:
    base_rss = rss_mib()
    recognizer = Recognizer(AssistantConfig(semantic_enabled=False))
    start = time.perf_counter()
    for lang in LANGUAGES:
        recognizer.warm(lang)
    load_s = time.perf_counter() - start
    templates_rss = rss_mib()
    handle_ms, recognize_ms = end_to_end(recognizer)
    with tempfile.TemporaryDirectory() as cache_dir:
        sem_ms, model_s, cold_s, disk_s, model_rss = semantic(cache_dir)
    p50 = percentile(handle_ms, 0.5)
    rec_p50 = percentile(recognize_ms, 0.5)
    rows = [
        {
            "metric": "template command -> actions p50",
            "value": p50,
            "unit": "ms",
            "target": f"< {TARGET_P50_MS:g} ms",
            "met": p50 < TARGET_P50_MS,
        },
        {
            "metric": "template command -> actions p99",
            "value": percentile(handle_ms, 0.99),
            "unit": "ms",
        },
        {"metric": "template recognition alone p50 (peer)", "value": rec_p50, "unit": "ms"},
        {"metric": "end to end / recognition (p50 ratio)", "value": p50 / rec_p50, "unit": "x"},
        {
            "metric": "semantic fallback -> reply p50",
            "value": percentile(sem_ms, 0.5),
            "unit": "ms",
        },
        {
            "metric": "semantic fallback -> reply p99",
            "value": percentile(sem_ms, 0.99),
            "unit": "ms",
        },
        {
            "metric": "semantic / template (p50 ratio)",
            "value": percentile(sem_ms, 0.5) / p50,
            "unit": "x",
        },
        {"metric": "templates load, 3 languages (once)", "value": load_s, "unit": "s"},
        {"metric": "MiniLM model load (once)", "value": model_s, "unit": "s"},
        {"metric": "example embeddings, cold (once)", "value": cold_s, "unit": "s"},
        {"metric": "example embeddings, from disk cache", "value": disk_s, "unit": "s"},
        {"metric": "RSS before loading", "value": base_rss, "unit": "MiB"},
        {"metric": "RSS with templates (3 languages)", "value": templates_rss, "unit": "MiB"},
        {"metric": "RSS with the semantic model", "value": model_rss, "unit": "MiB"},
    ]
    notes = (
        f"{len(handle_ms)} template-matched turns ({REPEATS} rounds of "
        f"{sum(len(c) for c in TEMPLATE_COMMANDS.values())} commands, en/zh/nl), "
        f"{len(sem_ms)} semantic-fallback turns; mean end to end "
        f"{statistics.fmean(handle_ms):.2f} ms; cpus={os.cpu_count()}"
    )
    report("assistant", rows, notes)


if __name__ == "__main__":
    main()
