"""The assistant's corpus: utterances with the intents, slots, VSS actions and requests expected.

Each line of `corpus/<lang>.jsonl` is one utterance on a fresh simulated car (`set` primes it,
`seat` says who speaks). An utterance counts as correct when its intents (names and slots, in
order), its actions (in any order) and its requests (in order) all match exactly. Accuracy must
be at least 97 % per language; the failures are printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carmind.assistant.api import Assistant, Recognizer
from carmind.assistant.model import LANGUAGES, Seat
from carmind.vehicle.session import CarSession

CORPUS = Path(__file__).parent / "corpus"
MIN_ACCURACY = 0.97
MINIMUM_SIZE = {"en": 300, "zh": 100, "nl": 100}


def load(lang: str) -> list[dict[str, Any]]:
    lines = (CORPUS / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _actions(items: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(a, sort_keys=True) for a in items)


def run_case(case: dict[str, Any], lang: str, recognizer: Recognizer) -> tuple[bool, str]:
    session = CarSession.create()
    if case.get("set"):
        session.prime(
            {path: session.catalog.check(path, value) for path, value in case["set"].items()}
        )
    assistant = Assistant(session.client, lang=lang, recognizer=recognizer)
    turn = assistant.handle(case["text"], seat=Seat(case.get("seat", "driver"))).as_dict()
    problems = []
    if turn["intents"] != case["intents"]:
        problems.append(f"intents {turn['intents']} != {case['intents']}")
    if _actions(turn["actions"]) != _actions(case["actions"]):
        problems.append(f"actions {turn['actions']} != {case['actions']}")
    if turn["requests"] != case["requests"]:
        problems.append(f"requests {turn['requests']} != {case['requests']}")
    return not problems, "; ".join(problems) + f" (reply: {turn['reply']!r})"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_corpus_accuracy(lang: str, semantic_recognizer: Recognizer) -> None:
    cases = load(lang)
    assert len(cases) >= MINIMUM_SIZE[lang], f"the {lang} corpus is too small"
    failures: list[str] = []
    for case in cases:
        ok, why = run_case(case, lang, semantic_recognizer)
        if not ok:
            failures.append(f"  {case['text']!r} (seat={case.get('seat', 'driver')}): {why}")
    accuracy = 1 - len(failures) / len(cases)
    print(f"\n{lang}: {len(cases) - len(failures)}/{len(cases)} correct ({accuracy:.1%})")
    print("\n".join(failures))
    assert accuracy >= MIN_ACCURACY, f"{lang} accuracy {accuracy:.1%} < {MIN_ACCURACY:.0%}"
