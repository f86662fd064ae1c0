"""From text to intents: templates first, then the semantic and language-model fallbacks.

One sentence may hold several commands ("close all windows and turn on the AC"). The recogniser
first tries the whole utterance; when that fails or a wildcard slot swallowed a conjunction, it
looks for the split at conjunctions ("and", "然后", "en") into pieces that each match a template,
preferring the split whose wildcards (destinations, contacts, songs) capture the least text.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hassil import RecognizeResult, recognize_best

from carmind.assistant.config import AssistantConfig
from carmind.assistant.intents.loader import check_language, load_home, load_intents
from carmind.assistant.intents.slots import normalize_slots
from carmind.assistant.model import LANGUAGES, Intent, Source

if TYPE_CHECKING:
    from carmind.assistant.intents.semantic import SemanticFallback
    from carmind.assistant.llm import LLMFallback

log = logging.getLogger(__name__)

_CONJUNCTIONS = {
    "en": re.compile(
        r"\s*,?\s*\b(?:and then|and also|and|then|also|plus|after that|as well as)\b\s*"
        r"|\s*[,;]\s*",
        re.IGNORECASE,
    ),
    "zh": re.compile(r"然后再|然后|接着|并且|同时|顺便|而且|还有|再|和|并|[,，;；。]"),
    "nl": re.compile(
        r"\s*,?\s*\b(?:en dan|en daarna|en ook|en|dan|daarna|ook|plus)\b\s*|\s*[,;]\s*",
        re.IGNORECASE,
    ),
}
MAX_SPLITS = 8
"""At most this many conjunctions are considered as split points (the search is quadratic)."""

_CACHE_SIZE = 4096
_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'", "“": '"', "”": '"'})
_CJK = re.compile(r"[\u3400-\u9fff]")


def clean_text(text: str) -> str:
    """Unicode-normalised text with straight quotes and single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return " ".join(text.split()).strip(" .!?。！？")


@dataclass(frozen=True, slots=True)
class _Match:
    intent: Intent
    wildcard_chars: int


@dataclass(frozen=True, slots=True)
class Recognition:
    """What the recogniser made of an utterance: intents in order, and pieces it did not get."""

    intents: tuple[Intent, ...]
    unmatched: tuple[str, ...] = ()


class Recognizer:
    """Turns text into intents for the assistant's languages; loads templates lazily."""

    def __init__(self, config: AssistantConfig | None = None) -> None:
        self.config = config or AssistantConfig()
        self._cache: OrderedDict[tuple[str, str], _Match | None] = OrderedDict()
        self._semantic: SemanticFallback | None = None
        self._llm: LLMFallback | None = None

    # ------------------------------------------------------------------ public

    def recognize(self, text: str, lang: str = "en") -> list[Intent]:
        """The intents in `text` (empty when nothing was understood)."""
        return list(self.analyse(text, lang).intents)

    def analyse(self, text: str, lang: str = "en") -> Recognition:
        """Intents by template, then semantic similarity, then the language model (if on)."""
        check_language(lang)
        text = clean_text(text)
        if not text:
            return Recognition(())
        if len(text) > self.config.max_text_chars:
            return Recognition((), (text,))  # a letter, not a command: not worth seconds
        found = self.recognize_templates(text, lang)
        if found:
            return Recognition(tuple(found))
        pieces = self._pieces(text, lang)
        intents: list[Intent] = []
        unmatched: list[str] = []
        for piece in pieces:
            intent = self._template_or_semantic(piece, lang)
            if intent is None:
                unmatched.append(piece)
            else:
                intents.append(intent)
        if intents:
            return Recognition(tuple(intents), tuple(unmatched))
        whole = self._semantic_match(text, lang) if len(pieces) > 1 else None
        if whole is not None:
            return Recognition((whole,))
        llm = self._llm_intents(text, lang)
        if llm:
            return Recognition(tuple(llm))
        return Recognition((), (text,))

    def recognize_templates(self, text: str, lang: str) -> list[Intent]:
        """Template matches only: the whole text, or its best split at conjunctions."""
        check_language(lang)
        text = clean_text(text)
        if not text:
            return []
        whole = self._match(text, lang)
        if whole is not None and whole.wildcard_chars == 0:
            return [whole.intent]
        best = self._best_split(text, lang)
        if best is None:
            return [whole.intent] if whole is not None else []
        chars, matches = best
        if whole is not None and whole.wildcard_chars <= chars:
            return [whole.intent]
        return [m.intent for m in matches]

    def other_language(self, text: str, lang: str) -> str | None:
        """Another of the assistant's languages whose templates match `text`, if any."""
        text = clean_text(text)
        if not text:
            return None
        candidates = [other for other in LANGUAGES if other != lang]
        if _CJK.search(text):
            candidates.sort(key=lambda other: other != "zh")
        for other in candidates:
            if self._match(text, other) is not None:
                return other
        return None

    def warm(self, lang: str) -> None:
        """Load the templates of `lang` now rather than on the first utterance."""
        check_language(lang)
        self._match_uncached("-", lang)  # parses every template and its literal-text filter

    # ------------------------------------------------------------------ matching

    def _match(self, text: str, lang: str) -> _Match | None:
        key = (lang, text)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        found = self._match_uncached(text, lang)
        self._cache[key] = found
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return found

    def _match_uncached(self, text: str, lang: str) -> _Match | None:
        car = recognize_best(text, load_intents(lang), language=lang)
        car_match = _to_match(car, text)
        if car_match is not None and car_match.wildcard_chars == 0:
            return car_match
        home = load_home(lang)
        if home is not None:
            found = recognize_best(
                text,
                home.intents,
                slot_lists=home.slot_lists,
                language=lang,
                best_slot_name="name",
            )
            home_match = _to_match(found, text)
            if home_match is not None:
                return home_match
        return car_match

    def _pieces(self, text: str, lang: str) -> list[str]:
        bounds = [0]
        for found in list(_CONJUNCTIONS[lang].finditer(text))[:MAX_SPLITS]:
            bounds.extend((found.start(), found.end()))
        bounds.append(len(text))
        pieces = [text[bounds[i] : bounds[i + 1]].strip() for i in range(0, len(bounds), 2)]
        return [p for p in pieces if p] or [text]

    def _best_split(self, text: str, lang: str) -> tuple[int, list[_Match]] | None:
        spans = [(m.start(), m.end()) for m in _CONJUNCTIONS[lang].finditer(text)][:MAX_SPLITS]
        if not spans:
            return None
        starts = [0] + [end for _, end in spans]
        ends = [start for start, _ in spans] + [len(text)]
        count = len(spans) + 1
        # best[j]: the cheapest way to cover text[:ends[j-1]] (node j), as (cost, pieces, matches)
        best: list[tuple[int, int, list[_Match]] | None] = [None] * (count + 1)
        best[0] = (0, 0, [])
        for j in range(1, count + 1):
            for i in range(j):
                prev = best[i]
                if prev is None:
                    continue
                piece = text[starts[i] : ends[j - 1]].strip()
                if not piece:
                    continue
                found = self._match(piece, lang)
                if found is None:
                    continue
                cost = (prev[0] + found.wildcard_chars, prev[1] + 1)
                current = best[j]
                if current is None or cost < (current[0], current[1]):
                    best[j] = (cost[0], cost[1], [*prev[2], found])
        final = best[count]
        if final is None or final[1] < 2:
            return None
        return final[0], final[2]

    # ------------------------------------------------------------------ fallbacks

    def _template_or_semantic(self, piece: str, lang: str) -> Intent | None:
        found = self._match(piece, lang)
        if found is not None:
            return found.intent
        return self._semantic_match(piece, lang)

    def _semantic_match(self, text: str, lang: str) -> Intent | None:
        config = self.config
        if not config.semantic_enabled or lang not in config.semantic_languages:
            return None
        if lang == "en" and _CJK.search(text):
            return None
        if self._semantic is None:
            from carmind.assistant.intents.semantic import SemanticFallback

            self._semantic = SemanticFallback(config)
        return self._semantic.match(text, lang)

    def _llm_intents(self, text: str, lang: str) -> list[Intent]:
        if not self.config.llm_enabled:
            return []
        if self._llm is None:
            from carmind.assistant.llm import LLMFallback

            self._llm = LLMFallback(self.config)
        return self._llm.intents(text, lang)

    @property
    def semantic(self) -> SemanticFallback | None:
        """The semantic fallback once it has been used (for tests and benchmarks)."""
        return self._semantic


def _to_match(result: RecognizeResult | None, text: str) -> _Match | None:
    if result is None:
        return None
    raw = {name: entity.value for name, entity in result.entities.items()}
    slots = normalize_slots(result.intent.name, raw)
    if slots is None:
        return None
    wildcard_chars = sum(len(e.text or "") for e in result.entities_list if e.is_wildcard)
    intent = Intent(result.intent.name, slots, text=text, source=Source.TEMPLATE)
    return _Match(intent, wildcard_chars)
