"""From hassil templates to a recognition grammar: the conversion, pronunciations, the cache.

Most tests use a small stand-in template set written here; the last ones check the real English
templates: every sentence they can produce (wildcards aside) is a path through the grammar.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hassil.intents import Intents
from hassil.sample import sample_intents

from carmind.assistant.voice import grammar as grammar_module
from carmind.assistant.voice.errors import GrammarError
from carmind.assistant.voice.grammar import (
    TemplateSource,
    build_grammar,
    grammar_digest,
    join_transcript,
    tokenize,
)
from carmind.assistant.voice.pronounce import Lexicon, number_words
from carmind.assistant.voice.speech import command_sources, load_grammar

STAND_IN = """
language: en
skip_words: ["please", "could you"]
expansion_rules:
  the: "(the|my)"
  deg: "[ ](degrees|°)"
lists:
  temperature:
    range: {from: 16, to: 18, fractions: halves}
  zone:
    values:
      - in: "driver[ side]"
        out: driver
      - in: passenger
        out: passenger
  contact:
    wildcard: true
  contacts:
    values: ["Anna Schmidt", "Bob"]
  query:
    wildcard: true
intents:
  SetTemperature:
    data:
      - sentences:
          - "set [<the>] temperature to {temperature}[<deg>]"
  OpenWindow:
    data:
      - sentences:
          - "open [<the>] {zone} window[s]"
          - "(open;the sunroof)"
  Call:
    data:
      - sentences:
          - "call {contact}"
          - "phone {contact}'s mobile"
  Play:
    data:
      - sentences:
          - "play {query}"
  Level:
    data:
      - sentences:
          - "seat level {level}"
        lists:
          level:
            range: {from: 1, to: 3}
  Strange:
    data:
      - sentences:
          - "frobnicate the zyxxy"
"""


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon()


@pytest.fixture
def stand_in(tmp_path: Path) -> Intents:
    path = tmp_path / "templates.yaml"
    path.write_text(STAND_IN, encoding="utf-8")
    with path.open(encoding="utf-8") as handle:
        return Intents.from_yaml(handle)


class _Fsg:
    """An FSG text read back, to ask which word sequences it accepts."""

    def __init__(self, text: str) -> None:
        self.arcs: dict[int, list[tuple[str, int]]] = {}
        self.empty: dict[int, list[int]] = {}
        for line in text.splitlines():
            parts = line.split()
            if parts[0] == "START_STATE":
                self.start = int(parts[1])
            elif parts[0] == "FINAL_STATE":
                self.final = int(parts[1])
            elif parts[0] == "TRANSITION" and len(parts) == 5:
                self.arcs.setdefault(int(parts[1]), []).append((parts[4], int(parts[2])))
                assert 0 < float(parts[3]) <= 1
            elif parts[0] == "TRANSITION":
                self.empty.setdefault(int(parts[1]), []).append(int(parts[2]))

    def _close(self, states: set[int]) -> set[int]:
        todo = list(states)
        while todo:
            for nxt in self.empty.get(todo.pop(), []):
                if nxt not in states:
                    states.add(nxt)
                    todo.append(nxt)
        return states

    def accepts(self, words: list[str]) -> bool:
        states = self._close({self.start})
        for word in words:
            states = self._close(
                {dst for state in states for w, dst in self.arcs.get(state, []) if w == word}
            )
        return self.final in states

    @property
    def arc_count(self) -> int:
        return sum(len(v) for v in self.arcs.values())


def _accepts(fsg: str, text: str) -> bool:
    return _Fsg(fsg).accepts(text.split())


def test_tokens_keep_what_the_matcher_reads() -> None:
    assert tokenize("What's the temperature? 21.5°") == [
        "what's",
        "the",
        "temperature",
        "21.5",
        "°",
    ]
    assert tokenize("21degrees 1st a/c") == ["21", "degrees", "1st", "a", "c"]
    assert join_transcript(["set", "it", "to", "21.5", "°"]) == "set it to 21.5°"
    assert join_transcript(["volume", "50", "%"]) == "volume 50%"


def test_templates_become_a_grammar_of_exactly_their_sentences(
    stand_in: Intents, lexicon: Lexicon
) -> None:
    grammar = build_grammar(stand_in, lexicon)
    fsg = grammar.fsg
    accepted = [
        "set temperature to 16",
        "set the temperature to 17.5 degrees",
        "set my temperature to 18.5 °",
        "open the driver side windows",  # list value with an optional part, glued [s]
        "open passenger window",
        "open the sunroof",  # permutation, both orders
        "the sunroof open",
        "call anna schmidt",  # wildcard: the values of "contacts"
        "phone bob's mobile",  # glued possessive
        "seat level 3",  # a list local to its intent
        "please open the sunroof please",  # skip words around
        "could you call bob",
        "hey carmind call bob",  # the wake phrase may open a command
    ]
    for text in accepted:
        assert _accepts(fsg, text), text
    for text in ["set temperature to 19", "open the windows", "call carol", "play something", ""]:
        assert not _accepts(fsg, text), text
    assert "set [<" in grammar.jsgf and "public <command>" in grammar.jsgf


def test_numbers_are_digits_said_as_words(lexicon: Lexicon) -> None:
    assert number_words("21") == [["twenty", "one"]]
    assert ["twenty", "one", "point", "five"] in number_words("21.5")
    assert ["one", "hundred", "and", "five"] in number_words("105")
    twenty_one = lexicon.pronounce("21")
    assert twenty_one and twenty_one[0] == " ".join(
        [lexicon.known("twenty")[0], lexicon.known("one")[0]]
    )
    assert lexicon.pronounce("2nd")[0] == lexicon.known("second")[0]


def test_missing_words_are_built_or_reported(stand_in: Intents, lexicon: Lexicon) -> None:
    assert lexicon.pronounce("carmind")  # carmind's own words
    assert lexicon.pronounce("recirculation")  # "re" + a known word
    assert lexicon.pronounce("defroster")  # a known word + "er"
    assert lexicon.pronounce("bob's")[0].endswith(" Z")
    assert lexicon.pronounce("usb")  # spelled out
    assert lexicon.pronounce("zyxxy") == ()
    grammar = build_grammar(stand_in, lexicon)
    assert "zyxxy" in grammar.missing
    assert any("Strange" in s for s in grammar.skipped)
    assert any("Play" in s for s in grammar.skipped)  # a wildcard with no finite list
    for token in grammar.vocabulary:
        assert lexicon.pronounce(token), token
    assert set(grammar.pronunciations) <= grammar.vocabulary
    assert "16.5" in grammar.pronunciations


def test_wildcard_values_can_be_given(stand_in: Intents, lexicon: Lexicon) -> None:
    grammar = build_grammar(stand_in, lexicon, wildcard_values={"query": ["jazz", "the news"]})
    assert _accepts(grammar.fsg, "play the news")
    assert not any("Play" in s for s in grammar.skipped)


def test_templates_with_no_usable_sentence_are_an_error(tmp_path: Path, lexicon: Lexicon) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "language: en\nintents:\n  X:\n    data:\n      - sentences: ['qqqzz vvvxx']\n",
        encoding="utf-8",
    )
    with path.open(encoding="utf-8") as handle, pytest.raises(GrammarError, match="none of the 1"):
        build_grammar(Intents.from_yaml(handle), lexicon)


def test_the_automaton_is_minimal_for_shared_endings(lexicon: Lexicon, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "language: en\nintents:\n  X:\n    data:\n      - sentences:\n"
        "          - '(open|close|lock) the (door|window|trunk)'\n",
        encoding="utf-8",
    )
    with path.open(encoding="utf-8") as handle:
        grammar = build_grammar(Intents.from_yaml(handle), lexicon, wake_phrase="")
    # start -(3 verbs)-> s1 -the-> s2 -(3 nouns)-> end: 4 states and 7 arcs for 9 sentences
    assert grammar.states == 4
    assert _Fsg(grammar.fsg).arc_count == 7
    assert all(
        _accepts(grammar.fsg, f"{verb} the {noun}")
        for verb in ("open", "close", "lock")
        for noun in ("door", "window", "trunk")
    )


def test_the_digest_is_stable_and_follows_the_templates(stand_in: Intents) -> None:
    sources = [TemplateSource(stand_in)]
    assert grammar_digest(sources) == grammar_digest(sources)
    assert grammar_digest(sources) != grammar_digest(sources, wake_phrase="ok car")


def test_the_grammar_is_cached_on_disk(
    stand_in: Intents, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = [TemplateSource(stand_in)]
    first = load_grammar(sources, cache=tmp_path)
    cached = list(tmp_path.glob("grammar-*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["digest"] == first.digest

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached grammar should have been used")

    monkeypatch.setattr("carmind.assistant.voice.speech.build_grammar", no_build)
    assert load_grammar(sources, cache=tmp_path) == first
    cached[0].write_text("{not json", encoding="utf-8")  # a damaged cache is rebuilt
    monkeypatch.setattr(
        "carmind.assistant.voice.speech.build_grammar", grammar_module.build_grammar
    )
    assert load_grammar(sources, cache=tmp_path).digest == first.digest


# -- the real templates ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> tuple[list[TemplateSource], str]:
    sources = command_sources("en")
    return sources, load_grammar(sources).fsg


def test_every_english_template_sentence_is_in_the_grammar(
    real: tuple[list[TemplateSource], str],
) -> None:
    sources, fsg = real
    automaton = _Fsg(fsg)
    checked = 0
    failures = []
    for source in sources:
        samples = sample_intents(
            source.intents,
            slot_lists=dict(source.lists),
            max_sentences_per_intent=40,
            language="en",
            expand_ranges=False,
        )
        for intent, text in itertools.islice(samples, 4000):
            if "{" in text:  # a range or wildcard left unexpanded
                continue
            checked += 1
            if not automaton.accepts(tokenize(text)):
                failures.append(f"{intent}: {text!r}")
    assert checked > 500
    assert not failures, failures[:20]


def test_the_english_grammar_has_every_word_pronounced(
    real: tuple[list[TemplateSource], str],
) -> None:
    grammar = load_grammar(real[0])
    assert not grammar.missing
    assert grammar.sentences > 400
    assert grammar.states < 20_000
