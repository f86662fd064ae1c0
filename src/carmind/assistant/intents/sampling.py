"""Example sentences sampled from the templates, and the slot lists as gazetteers.

A seeded random walk through each template gives varied phrasings, each with the intent and
slots it stands for, and which slots came from a list (so that a paraphrase can name a different
value of that list) or from a number range. `Gazetteer` finds list values named in free text
("... for the rear right seat" names the zone `rear-right`), longest phrase first.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hassil import Intents, RangeSlotList, TextSlotList, sample_expression
from hassil.expression import (
    Alternative,
    Expression,
    ListReference,
    Permutation,
    RuleReference,
    Sequence,
    TextChunk,
)

from carmind.assistant.intents.loader import load_intents
from carmind.assistant.intents.schema import CONTEXT_INTENTS
from carmind.assistant.intents.slots import normalize_slots

SAMPLES_PER_TEMPLATE = 4
SEED = 20240601
EXCLUDED = CONTEXT_INTENTS | {"ConversationCancel", "ConversationRepeat"}
"""Short context-bound replies ("yes", "more") are never guessed from similarity."""

_MAX_SURFACES = 400
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True, slots=True)
class Example:
    """One sampled sentence and what it means."""

    text: str
    intent: str
    slots: dict[str, Any]
    numeric_slot: str | None = None
    """The slot whose value the sentence's number carries (from a range list)."""
    list_slots: dict[str, str] = field(default_factory=dict)
    """Slots whose value came from a text list, with the list's name."""


class _Skip(Exception):
    """The template cannot be sampled (a wildcard slot)."""


@dataclass
class _Walk:
    rng: random.Random
    slots: dict[str, Any] = field(default_factory=dict)
    lists: dict[str, str] = field(default_factory=dict)
    numeric: str | None = None


def _sample(expr: Expression, intents: Intents, walk: _Walk) -> str:
    if isinstance(expr, TextChunk):
        return expr.original_text
    if isinstance(expr, Alternative):
        return _sample(walk.rng.choice(expr.items), intents, walk)
    if isinstance(expr, Permutation):
        items = list(expr.items)
        walk.rng.shuffle(items)
        return " ".join(_sample(item, intents, walk) for item in items)
    if isinstance(expr, Sequence):
        return "".join(_sample(item, intents, walk) for item in expr.items)
    if isinstance(expr, RuleReference):
        return _sample(intents.expansion_rules[expr.rule_name].expression, intents, walk)
    if isinstance(expr, ListReference):
        slot_list = intents.slot_lists.get(expr.list_name)
        if isinstance(slot_list, TextSlotList):
            value = walk.rng.choice(slot_list.values)
            walk.slots[expr.slot_name] = value.value_out
            walk.lists[expr.slot_name] = expr.list_name
            return _sample(value.text_in, intents, walk)
        if isinstance(slot_list, RangeSlotList):
            numbers = list(slot_list.get_numbers())
            number = numbers[walk.rng.randrange(len(numbers))]
            walk.slots[expr.slot_name] = number
            walk.numeric = expr.slot_name
            return str(number)
    raise _Skip


@cache
def sample_examples(lang: str, per_template: int = SAMPLES_PER_TEMPLATE) -> tuple[Example, ...]:
    """Example sentences for every template of `lang` (deterministic for a given template set)."""
    intents = load_intents(lang)
    seen: set[str] = set()
    out: list[Example] = []
    for name, intent in intents.intents.items():
        if name in EXCLUDED:
            continue
        for data in intent.data:
            for sentence in data.sentences:
                rng = random.Random(_seed(name, sentence.text or ""))
                for _ in range(per_template):
                    walk = _Walk(rng)
                    try:
                        text = " ".join(_sample(sentence.expression, intents, walk).split())
                    except _Skip:
                        break
                    resolved = normalize_slots(name, {**data.slots, **walk.slots})
                    if resolved is None or not text or text in seen:
                        continue
                    numeric = walk.numeric
                    if numeric == "level" and name == "ClimateSetFanSpeed":
                        numeric = None  # a level becomes a percentage: not substitutable
                    lists = {s: n for s, n in walk.lists.items() if s in resolved}
                    seen.add(text)
                    out.append(Example(text, name, resolved, numeric, lists))
    return tuple(out)


def _seed(intent: str, template: str) -> int:
    """A seed per template, so that editing one template leaves the others' samples alone."""
    digest = hashlib.sha256(f"{SEED}:{intent}:{template}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Gazetteer:
    """The phrases of one text slot list, to find which of its values a sentence names."""

    def __init__(self, phrases: dict[str, Any], whole_words: bool) -> None:
        self.phrases = sorted(phrases.items(), key=lambda item: -len(item[0]))
        self.whole_words = whole_words

    def find(self, text: str) -> list[Any]:
        """The distinct values named in `text` (longest phrases win, no overlaps)."""
        haystack = " ".join(re.sub(r"[^\w'\s-]", " ", text.casefold()).split())
        if self.whole_words:
            haystack = f" {haystack} "
        taken: list[tuple[int, int]] = []
        values: list[Any] = []
        for phrase, value in self.phrases:
            needle = f" {phrase} " if self.whole_words else phrase
            start = haystack.find(needle)
            while start >= 0:
                end = start + len(needle)
                if all(end <= a or start >= b for a, b in taken):
                    taken.append((start, end))
                    if value not in values:
                        values.append(value)
                start = haystack.find(needle, end)
        return values


@cache
def gazetteer(lang: str, list_name: str) -> Gazetteer | None:
    """A gazetteer for a text slot list of `lang` (None for other kinds of list)."""
    intents = load_intents(lang)
    slot_list = intents.slot_lists.get(list_name)
    if not isinstance(slot_list, TextSlotList):
        return None
    phrases: dict[str, Any] = {}
    for value in slot_list.values:
        for count, surface in enumerate(
            sample_expression(value.text_in, intents.slot_lists, intents.expansion_rules)
        ):
            if count >= _MAX_SURFACES:
                break
            phrase = " ".join(surface.casefold().split())
            if phrase:
                phrases.setdefault(phrase, value.value_out)
    return Gazetteer(phrases, whole_words=not intents.settings.ignore_whitespace)


def reslot(lang: str, example: Example, text: str) -> dict[str, Any] | None:
    """The example's slots with its list slots re-read from `text` (None: `text` lacks one)."""
    slots = dict(example.slots)
    for slot, list_name in example.list_slots.items():
        found = gazetteer(lang, list_name)
        values = found.find(text) if found is not None else []
        if len(values) == 1:
            slots[slot] = values[0]
        elif not values and slot in ("zone", "window"):
            slots.pop(slot)  # not said: the speaker's seat, as for a template match
        elif len(values) != 1:
            return None
    return normalize_slots(example.intent, slots)
