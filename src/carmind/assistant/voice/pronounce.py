"""Pronunciations for the words of the grammar, without a grapheme-to-phoneme model.

Every word the recognizer may hear needs an ARPAbet pronunciation. Most come from CMUdict (the
dictionary in pocketsphinx's wheel); the rest are built from words it does know:

1. carmind's own words (`CUSTOM`: the product name, spelled acronyms such as "EV");
2. numbers ("21", "21.5") from their English words ("twenty one point five");
3. symbols ("%" is "percent", "°" is "degrees");
4. ordinals ("1st", "3rd") from their English words ("first", "third");
5. a known word with a common prefix or suffix ("recirculate" = "re" + "circulate",
   "defroster" = "defrost" + "er", "brights" = "bright" + "s");
6. compounds split into known words ("carmind" = "car" + "mind", "seatbelt" = "seat" + "belt");
7. short all-letter words not in the dictionary are spelled letter by letter ("usb").

A word none of these covers is reported as missing, and the grammar leaves its sentence out.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from unicode_rbnf import RbnfEngine

from carmind.assistant.voice.errors import SpeechEngineError

log = logging.getLogger(__name__)

LETTERS: Mapping[str, str] = {
    "a": "EY", "b": "B IY", "c": "S IY", "d": "D IY", "e": "IY", "f": "EH F", "g": "JH IY",
    "h": "EY CH", "i": "AY", "j": "JH EY", "k": "K EY", "l": "EH L", "m": "EH M", "n": "EH N",
    "o": "OW", "p": "P IY", "q": "K Y UW", "r": "AA R", "s": "EH S", "t": "T IY", "u": "Y UW",
    "v": "V IY", "w": "D AH B AH L Y UW", "x": "EH K S", "y": "W AY", "z": "Z IY",
}  # fmt: skip
"""The names of the letters, for spelled-out acronyms."""

CUSTOM: Mapping[str, tuple[str, ...]] = {
    "carmind": ("K AA R M AY N D", "K AA M AY N D"),
    "ev": ("IY V IY",),
    "evs": ("IY V IY Z",),
    "hvac": ("EY CH V IY EY S IY", "EY CH V AE K"),
    "usb": ("Y UW EH S B IY",),
    "hud": ("EY CH Y UW D IY", "HH AH D"),
    "adas": ("EY D AE S", "EY D IY EY EH S"),
    "nav": ("N AE V",),
    "wifi": ("W AY F AY",),
    "frunk": ("F R AH NG K",),
    "recirc": ("R IY S ER K",),
    "shush": ("SH AH SH",),
    "draughty": ("D R AE F T IY",),
    "cosier": ("K OW Z IY ER",),
    "aircon": ("EH R K AA N",),
    "kmh": ("K EY EH M EY CH",),
    "kph": ("K EY P IY EY CH",),
}
"""Words carmind says that CMUdict lacks or says differently; these come first."""

SYMBOLS: Mapping[str, str] = {
    "%": "percent",
    "°": "degrees",
    "°c": "degrees celsius",
    "°f": "degrees fahrenheit",
    "&": "and",
    "+": "plus",
}
"""Symbols as the words a speaker says for them."""

PREFIXES: Mapping[str, str] = {
    "re": "R IY", "de": "D IY", "un": "AH N", "pre": "P R IY", "dis": "D IH S", "non": "N AA N",
}  # fmt: skip
SUFFIXES: Mapping[str, str] = {
    "'s": "Z", "s": "Z", "es": "IH Z", "er": "ER", "ers": "ER Z", "ing": "IH NG", "ed": "D",
    "ly": "L IY",
}  # fmt: skip
"""Suffix pronunciations ("s" and "ed" change after voiceless consonants and sibilants)."""
_VOICELESS = frozenset({"P", "T", "K", "F", "TH"})
_SIBILANT = frozenset({"S", "Z", "SH", "ZH", "CH", "JH"})

MAX_SPELLED = 4
"""Longest unknown all-letter word spelled out letter by letter (an acronym, not a name)."""
MAX_VARIANTS = 4
"""At most this many pronunciations per word."""

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_WORD = re.compile(r"^[a-z][a-z']*$")


def model_dir() -> Path:
    """The directory of pocketsphinx's bundled US English model."""
    try:
        import pocketsphinx
    except ImportError as exc:  # pragma: no cover - pocketsphinx is an assistant dependency
        raise SpeechEngineError(
            "pocketsphinx is not installed; expected it with carmind[assistant]"
        ) from exc
    return Path(pocketsphinx.get_model_path()) / "en-us"


@functools.cache
def _cmudict(path: Path) -> dict[str, tuple[str, ...]]:
    entries: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            word, _, phones = line.strip().partition(" ")
            if not phones:
                continue
            base = word.split("(", 1)[0]
            entries.setdefault(base, []).append(phones.strip())
    return {word: tuple(prons) for word, prons in entries.items()}


@functools.cache
def _english_numbers() -> RbnfEngine:
    return RbnfEngine.for_language("en")


def number_words(token: str) -> list[list[str]]:
    """The ways to say a number token in English, as word lists ("21" -> [["twenty", "one"]])."""
    value: float = float(token) if "." in token else int(token)
    result = _english_numbers().format_number(value)
    spoken: list[list[str]] = []
    for text in dict.fromkeys(result.text_by_ruleset.values()):
        if "ordinal" in text:
            continue
        words = text.replace("-", " ").split()
        if words not in spoken:
            spoken.append(words)
    if isinstance(value, int) and value >= 100 and len(spoken) < MAX_VARIANTS:
        # "one hundred five" is also said "one hundred and five"
        for words in list(spoken):
            if "hundred" in words and words[-1] != "hundred":
                i = words.index("hundred") + 1
                spoken.append([*words[:i], "and", *words[i:]])
    return spoken


def ordinal_words(number: int) -> list[str]:
    """The English ordinal of a number as words (3 -> ["third"])."""
    from unicode_rbnf import FormatPurpose

    text = _english_numbers().format_number(number, FormatPurpose.ORDINAL).text
    return text.replace("-", " ").split()


def rules_fingerprint() -> str:
    """What pronunciations depend on besides the words: the rules here and the dictionary."""
    path = model_dir() / "cmudict-en-us.dict"
    size = path.stat().st_size if path.is_file() else -1
    return repr((sorted(CUSTOM.items()), sorted(SYMBOLS.items()), PREFIXES, SUFFIXES, size))


class Lexicon:
    """Pronunciations by word: CMUdict, carmind's words, and the rules in the module docstring."""

    def __init__(self, dictionary: Path | None = None) -> None:
        self.path = dictionary if dictionary is not None else model_dir() / "cmudict-en-us.dict"
        if not self.path.is_file():
            raise SpeechEngineError(
                f"pronunciation dictionary {self.path} is missing; expected pocketsphinx's "
                "bundled cmudict-en-us.dict"
            )
        self._dict = _cmudict(self.path)
        self._cache: dict[str, tuple[str, ...]] = {}

    def known(self, word: str) -> tuple[str, ...]:
        """Pronunciations the base dictionary has for `word` (lower case), or ()."""
        return self._dict.get(word, ())

    def pronounce(self, token: str) -> tuple[str, ...]:
        """All pronunciations of a grammar token, or () when none can be made."""
        found = self._cache.get(token)
        if found is None:
            found = self._cache[token] = self._make(token)
        return found

    def _make(self, token: str) -> tuple[str, ...]:
        if token in CUSTOM:
            return CUSTOM[token]
        known = self.known(token)
        if known:
            return known[:MAX_VARIANTS]
        if token in SYMBOLS:
            return self._phrase(SYMBOLS[token].split())
        if _NUMBER.match(token):
            variants: list[str] = []
            for words in number_words(token):
                variants.extend(self._phrase(words))
            return tuple(dict.fromkeys(variants))[:MAX_VARIANTS]
        ordinal = _ORDINAL.match(token)
        if ordinal:
            return self._phrase(ordinal_words(int(ordinal.group(1))))
        if _WORD.match(token):
            affixed = self._affixed(token)
            if affixed:
                return affixed
            parts = self._split(token.replace("'", ""))
            if parts:
                return self._phrase(parts)
            letters = token.replace("'", "")
            if len(letters) <= MAX_SPELLED:
                return (" ".join(LETTERS[c] for c in letters),)
        return ()

    def added(self, token: str) -> tuple[str, ...]:
        """The pronunciations the decoder must be given for `token` (those CMUdict lacks)."""
        base = set(self.known(token))
        return tuple(p for p in self.pronounce(token) if p not in base)

    def _phrase(self, words: Iterable[str]) -> tuple[str, ...]:
        """Pronunciations of a word sequence: the first of each word, joined; () if one lacks."""
        phones: list[str] = []
        for word in words:
            pron = CUSTOM.get(word) or self.known(word)
            if not pron:
                return ()
            phones.append(pron[0])
        return (" ".join(phones),)

    def _affixed(self, word: str) -> tuple[str, ...]:
        """A known word with one of `PREFIXES` before it or one of `SUFFIXES` after it."""
        prefixed = self._prefixed(word)
        if prefixed:
            return prefixed
        for suffix, ending in sorted(SUFFIXES.items(), key=lambda kv: -len(kv[0])):
            stem = word[: -len(suffix)]
            if not word.endswith(suffix) or len(stem) < 2:
                continue
            base = self._base(stem) or self._prefixed(stem)
            if not base and stem[-1:] == stem[-2:-1]:  # fogger -> fog
                base = self._base(stem[:-1]) or self._prefixed(stem[:-1])
            if base:
                last = base[0].split()[-1]
                if suffix in ("s", "'s"):
                    ending = "IH Z" if last in _SIBILANT else "S" if last in _VOICELESS else "Z"
                elif suffix == "ed":
                    ending = "IH D" if last in ("T", "D") else "T" if last in _VOICELESS else "D"
                return (f"{base[0]} {ending}",)
        return ()

    def _prefixed(self, word: str) -> tuple[str, ...]:
        for prefix, phones in PREFIXES.items():
            stem = word[len(prefix) :]
            if word.startswith(prefix) and len(stem) >= 3 and self._base(stem):
                return (f"{phones} {self._base(stem)[0]}",)
        return ()

    def _base(self, word: str) -> tuple[str, ...]:
        return CUSTOM.get(word) or self.known(word)

    def _split(self, word: str) -> list[str]:
        """The fewest known words (of 3+ letters each, at most 3) that spell `word`, or []."""
        n = len(word)
        best: list[list[str] | None] = [None] * (n + 1)
        best[0] = []
        for end in range(3, n + 1):
            for start in range(0, end - 2):
                head = best[start]
                piece = word[start:end]
                if head is None or len(head) >= 3 or piece not in self._dict:
                    continue
                current = best[end]
                if current is None or len(head) + 1 < len(current):
                    best[end] = [*head, piece]
        found = best[n]
        return found if found and len(found) > 1 else []
