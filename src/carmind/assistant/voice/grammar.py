"""The recognition grammar, made from hassil sentence templates: the recognizer hears only commands.

The template trees map onto a grammar one to one: a sequence is a sequence, `(a|b)` an
alternative, `[a]` an optional part, `(a;b)` a permutation (every order, as alternatives),
`<rule>` a rule and `{list}` a rule of the list's values. Lists become finite sets of words:

- text lists: their values (which may be templates themselves);
- range lists: every number, as a digit token ("21", "21.5") that the dictionary says as words
  ("twenty one point five"), so the transcript carries the digits the template matcher reads;
  lists with `digits: false` get the words themselves;
- wildcard lists (free text: a contact, a destination, a song): the values given in
  `wildcard_values`, else those of a finite list the templates define for it (`WILDCARD_LISTS`:
  {destination} takes the values of {place}; else NAME + "s", so {contact} takes {contacts}).
  A wildcard with no finite list leaves its sentences out (listed in `Grammar.skipped`).

Parts written without a space between them ("light[s]", "{name}'s") are spelled out in full, as
alternatives of whole words. Words with no pronunciation (see `pronounce`) leave their branch out
(`Grammar.missing`). Skip words ("please", "can you") may open a command, those ending in
"please" may also close it, and the wake phrase may open it.

The grammar is kept twice: as JSGF text, to read, and as the minimal automaton of the same
language in pocketsphinx's FSG format (see `fsg`), to decode with.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from hassil.expression import (
    Alternative,
    Expression,
    Group,
    ListReference,
    Permutation,
    RuleReference,
    Sentence,
    TextChunk,
)
from hassil.intents import Intents, RangeSlotList, SlotList, TextSlotList, WildcardSlotList

from carmind.assistant.voice.errors import GrammarError
from carmind.assistant.voice.fsg import (
    EMPTY,
    Node,
    Ref,
    Words,
    alt,
    automaton,
    render,
    seq,
)
from carmind.assistant.voice.pronounce import Lexicon, number_words, rules_fingerprint

log = logging.getLogger(__name__)

GRAMMAR_VERSION = 2
"""Bumped whenever the conversion changes, so cached grammars are rebuilt."""
MAX_GLUED = 400
"""Most spellings one run of space-less parts ("{name}'s") may expand to."""
MAX_PERMUTED = 5
"""Permutations of more parts than this keep their written order only (5! = 120 orders)."""
MAX_RANGE = 1_000
"""Most numbers one range list contributes."""
TOP_RULE = "command"
DEFAULT_WAKE_PHRASE = "hey carmind"
TRAILING_SKIP = frozenset({"please"})
"""Skip words may open a command; only those ending in these words may also close it (more
would let noise at the end of a command match a skip word)."""
WILDCARD_LISTS: Mapping[str, tuple[str, ...]] = {
    "destination": ("destinations", "places", "place"),
    "contact": ("contacts", "contact_names"),
    "query": ("queries", "songs", "artists"),
}
"""Finite lists that stand in for a wildcard slot, tried in order (then NAME + "s")."""

_TOKEN = re.compile(
    r"\d+(?:st|nd|rd|th)(?![^\W\d_])"  # ordinals: 1st, 2nd
    r"|\d+(?:\.\d+)?"  # numbers: 21, 21.5
    r"|[^\W\d_]+(?:'[^\W\d_]+)*"  # words, with inner apostrophes: what's
    r"|[%°&+]"  # symbols that are said
)
_LETTER = re.compile(r"[^\W\d_]|'")


_Rules = Callable[[str], Sentence | None]


@dataclass(frozen=True)
class Grammar:
    """The command grammar (as JSGF to read, as a minimal FSG to decode with) and the words the
    decoder's dictionary must be given for it."""

    jsgf: str
    fsg: str
    """The same language as a minimal automaton in pocketsphinx's FSG format."""
    states: int
    pronunciations: Mapping[str, tuple[str, ...]]
    """Pronunciations to add to the decoder, by token (those CMUdict lacks)."""
    vocabulary: frozenset[str]
    missing: frozenset[str]
    """Template words with no pronunciation; their branches were left out."""
    skipped: tuple[str, ...]
    """Templates left out entirely, each with the reason."""
    sentences: int
    """Templates in the grammar."""
    wake_phrase: str
    digest: str
    """Hash of everything the grammar was built from (the cache key)."""


def tokenize(text: str) -> list[str]:
    """The grammar tokens of template text: lower case, punctuation gone, symbols kept."""
    return _TOKEN.findall(text.lower().replace("’", "'"))


def join_transcript(tokens: Sequence[str]) -> str:
    """Grammar tokens back to text: "21 °" reads "21°", "50 %" reads "50%"."""
    text = " ".join(tokens)
    return re.sub(r"(\d) ([%°])", r"\1\2", text)


def grammar_digest(sources: Sequence[TemplateSource], **extra: object) -> str:
    """A stable hash of template sets and of everything else a grammar depends on."""
    h = hashlib.sha256(f"v{GRAMMAR_VERSION}".encode())
    h.update(rules_fingerprint().encode())
    for source in sources:
        h.update(repr(_canonical(source.intents)).encode())
        h.update(repr(_canonical(dict(source.lists))).encode())
    for key in sorted(extra):
        h.update(f"{key}={_canonical(extra[key])!r}".encode())
    return h.hexdigest()


def _canonical(value: object, depth: int = 0) -> object:
    """`value` as nested tuples with sets and mappings sorted: its repr is the same in every
    process (a set's order is not, with hash randomisation)."""
    if depth > 64:
        raise GrammarError("template data nests deeper than 64 levels; expected no cycles")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple(
                (f.name, _canonical(getattr(value, f.name), depth + 1))
                for f in dataclasses.fields(value)
                if f.repr and f.compare and f.name != "parent"
            ),
        )
    if isinstance(value, Mapping):
        items = [
            (repr(_canonical(k, depth + 1)), _canonical(v, depth + 1)) for k, v in value.items()
        ]
        return ("map", tuple(sorted(items, key=lambda kv: kv[0])))
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted(repr(_canonical(v, depth + 1)) for v in value)))
    if isinstance(value, list | tuple):
        return tuple(_canonical(v, depth + 1) for v in value)
    if isinstance(value, re.Pattern):
        return ("re", value.pattern)
    if isinstance(value, Enum):
        return value.value
    return value


@dataclass(frozen=True)
class TemplateSource:
    """One template set and slot lists it is recognised with (Home Assistant's home intents come
    with the user's entity names, say)."""

    intents: Intents
    lists: Mapping[str, SlotList] = field(default_factory=dict)


@dataclass
class _Scope:
    tag: str
    """Names this scope's rules: the source, and the intent block for local rules."""
    source: TemplateSource
    rules: Mapping[str, Sentence] = field(default_factory=dict)
    lists: Mapping[str, SlotList] = field(default_factory=dict)

    @property
    def source_tag(self) -> str:
        return self.tag.split("_", 1)[0]


@dataclass
class _Builder:
    lexicon: Lexicon
    wildcard_values: Mapping[str, Sequence[str]]
    rules: dict[str, Node | None] = field(default_factory=dict)
    in_progress: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    vocabulary: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    # -- words -----------------------------------------------------------------------------

    def words(self, text: str) -> Node | None:
        tokens = tokenize(text)
        unknown = {token for token in tokens if not self.lexicon.pronounce(token)}
        if unknown:
            self.missing.update(unknown)
            return None
        self.vocabulary.update(tokens)
        return Words(tuple(tokens)) if tokens else EMPTY

    # -- expressions -----------------------------------------------------------------------

    def convert(self, expr: Expression, scope: _Scope) -> Node | None:
        if isinstance(expr, TextChunk):
            return self.words(expr.text)
        if isinstance(expr, Alternative):
            return alt([self.convert(item, scope) for item in expr.items], expr.is_optional)
        if isinstance(expr, Permutation):
            return self.permutation(expr, scope)
        if isinstance(expr, Group):
            return self.sequence(expr.items, scope)
        if isinstance(expr, RuleReference):
            return self.rule(expr.rule_name, scope)
        if isinstance(expr, ListReference):
            return self.slot_list(expr, scope)
        raise GrammarError(f"template part {expr!r} is of an unknown kind; expected hassil's")

    def sequence(self, items: Sequence[Expression], scope: _Scope) -> Node | None:
        parts: list[Node | None] = [
            self.convert(run[0], scope) if len(run) == 1 else self.spelled(run, scope)
            for run in _glued_runs(items, lambda name: self.find_rule(name, scope))
        ]  # all converted, so that every missing word is reported
        present = [part for part in parts if part is not None]
        return seq(present) if len(present) == len(parts) else None

    def permutation(self, expr: Permutation, scope: _Scope) -> Node | None:
        items = [self.convert(item, scope) for item in expr.items]
        if any(item is None for item in items):
            return None
        present = [item for item in items if item is not None]
        if len(present) > MAX_PERMUTED:
            self.problems.append(f"a permutation of {len(present)} parts keeps its written order")
            return seq(present)
        return alt([seq(list(order)) for order in itertools.permutations(present)])

    def spelled(self, run: Sequence[Expression], scope: _Scope) -> Node | None:
        """Parts with no space between them, as alternatives of whole spellings."""
        spellings: list[str] = []
        for pieces in itertools.product(*(list(self.strings(e, scope)) for e in run)):
            spellings.append("".join(pieces))
            if len(spellings) >= MAX_GLUED:
                self.problems.append(f"space-less parts spelled {MAX_GLUED}+ ways were cut")
                break
        return alt([self.words(text) for text in dict.fromkeys(spellings)])

    def strings(self, expr: Expression, scope: _Scope, depth: int = 0) -> Iterator[str]:
        """Every text an expression can stand for (for space-less runs; bounded by the caller)."""
        if depth > 24:
            raise GrammarError("expansion rules nest deeper than 24; expected no recursion")
        if isinstance(expr, TextChunk):
            yield expr.text
        elif isinstance(expr, Alternative):
            for item in expr.items:
                yield from self.strings(item, scope, depth + 1)
        elif isinstance(expr, Group):
            parts = [list(self.strings(item, scope, depth + 1)) for item in expr.items]
            orders = itertools.permutations(parts) if isinstance(expr, Permutation) else [parts]
            for order in orders:
                for pieces in itertools.product(*order):
                    yield "".join(pieces)
        elif isinstance(expr, RuleReference):
            rule = self.find_rule(expr.rule_name, scope)
            if rule is not None:
                yield from self.strings(rule.expression, scope, depth + 1)
        elif isinstance(expr, ListReference):
            yield from self.list_texts(expr, scope)

    def list_texts(self, ref: ListReference, scope: _Scope) -> Iterator[str]:
        slot_list = self.find_list(ref.list_name, scope)
        if isinstance(slot_list, TextSlotList):
            for value in slot_list.values:
                yield from self.strings(value.text_in, scope)
        elif isinstance(slot_list, RangeSlotList):
            yield from _range_tokens(slot_list)
        elif isinstance(slot_list, WildcardSlotList):
            yield from self.wildcard_texts(ref.list_name, scope)

    # -- rules and lists -------------------------------------------------------------------

    def find_rule(self, name: str, scope: _Scope) -> Sentence | None:
        return scope.rules.get(name) or scope.source.intents.expansion_rules.get(name)

    def rule(self, name: str, scope: _Scope) -> Node | None:
        shared = scope.source.intents.expansion_rules
        if name in scope.rules:
            key, body = f"{scope.tag}_{name}", scope.rules[name]
        elif name in shared:
            key, body = f"{scope.source_tag}_{name}", shared[name]
        else:
            self.problems.append(f"expansion rule <{name}> is not defined")
            return None
        return self.define(key, lambda: self.convert(body.expression, scope))

    def slot_list(self, ref: ListReference, scope: _Scope) -> Node | None:
        name = ref.list_name
        if ref.is_inline_range:
            bounds = ref.get_inline_range()
            assert bounds is not None
            start, stop, step = bounds
            inline = RangeSlotList(name=None, start=start, stop=stop, step=step)
            return self.define(f"range_{start}_{stop}_{step}", lambda: self.range_node(inline))
        slot_list = self.find_list(name, scope)
        key = f"{scope.tag if name in scope.lists else scope.source_tag}_list_{name}"
        if isinstance(slot_list, TextSlotList):
            text_list = slot_list
            return self.define(
                key, lambda: alt([self.convert(v.text_in, scope) for v in text_list.values])
            )
        if isinstance(slot_list, RangeSlotList):
            range_list = slot_list
            return self.define(key, lambda: self.range_node(range_list))
        if isinstance(slot_list, WildcardSlotList):
            texts = list(self.wildcard_texts(name, scope))
            if not texts:
                self.problems.append(f"wildcard {{{name}}} has no finite list of values")
                return None
            return self.define(key, lambda: alt([self.words(text) for text in texts]))
        self.problems.append(f"slot list {{{name}}} is not defined")
        return None

    def find_list(self, name: str, scope: _Scope) -> SlotList | None:
        return (
            scope.lists.get(name)
            or scope.source.lists.get(name)
            or scope.source.intents.slot_lists.get(name)
        )

    def wildcard_texts(self, name: str, scope: _Scope) -> Iterator[str]:
        if name in self.wildcard_values:
            yield from self.wildcard_values[name]
            return
        candidates = (*WILDCARD_LISTS.get(name, ()), f"{name}s", f"{name}_names", f"{name}_values")
        for candidate in candidates:
            finite = self.find_list(candidate, scope)
            if isinstance(finite, TextSlotList):
                for value in finite.values:
                    yield from self.strings(value.text_in, scope)
                return

    def range_node(self, range_list: RangeSlotList) -> Node | None:
        return alt([self.words(token) for token in _range_tokens(range_list)])

    def define(self, key: str, build: Callable[[], Node | None]) -> Node | None:
        rule = re.sub(r"[^A-Za-z0-9_]", "_", key)
        if rule not in self.rules:
            if rule in self.in_progress:
                raise GrammarError(f"expansion rule {key} refers to itself; expected no recursion")
            self.in_progress.add(rule)
            node = build()
            self.in_progress.discard(rule)
            self.rules[rule] = node
        return None if self.rules[rule] is None else Ref(rule)


def build_grammar(
    sources: Intents | Sequence[TemplateSource],
    lexicon: Lexicon,
    *,
    wake_phrase: str = DEFAULT_WAKE_PHRASE,
    wildcard_values: Mapping[str, Sequence[str]] | None = None,
    skip_words: bool = True,
) -> Grammar:
    """The grammar of every sentence of `sources` (see the module docstring)."""
    if isinstance(sources, Intents):
        sources = [TemplateSource(sources)]
    wildcards = {name: tuple(values) for name, values in (wildcard_values or {}).items()}
    builder = _Builder(lexicon, wildcards)
    sentences: list[Node] = []
    skipped: list[str] = []
    skip: dict[str, None] = {}
    for source_index, source in enumerate(sources):
        intents = source.intents
        skip.update(dict.fromkeys(intents.skip_words))
        for intent_index, intent in enumerate(intents.intents.values()):
            for data_index, data in enumerate(intent.data):
                tag = f"s{source_index}_i{intent_index}_{data_index}"
                scope = _Scope(tag, source, data.expansion_rules, data.slot_lists)
                for text, sentence in zip(data.sentence_texts, data.sentences, strict=False):
                    node = builder.convert(sentence.expression, scope)
                    if node is None or node == EMPTY:
                        skipped.append(f"{intent.name}: {text!r}")
                    else:
                        sentences.append(node)
    if not sentences:
        raise GrammarError(
            f"none of the {len(skipped)} sentence templates could be turned into a grammar; "
            "expected templates with words of the English dictionary"
        )
    if builder.missing:
        log.warning(
            "words with no pronunciation (left out): %s", ", ".join(sorted(builder.missing))
        )
    for problem in dict.fromkeys(builder.problems):
        log.info("grammar: %s", problem)
    top: list[Node] = []
    leading = [builder.words(wake_phrase)] if wake_phrase else []
    if skip_words:
        leading += [builder.words(w) for w in skip]
    trailing = [builder.words(w) for w in skip if skip_words and w.split()[-1] in TRAILING_SKIP]
    top.append(alt(leading, optional=True) or EMPTY)
    top.append(alt(list(dict.fromkeys(sentences))) or EMPTY)
    top.append(alt(trailing, optional=True) or EMPTY)
    command = seq(top)
    lines = ["#JSGF V1.0;", "grammar carmind;", f"public <{TOP_RULE}> = {render(command)};"]
    lines += [f"<{name}> = {render(node)};" for name, node in builder.rules.items() if node]
    auto = automaton(command, builder.rules)
    return Grammar(
        jsgf="\n".join(lines) + "\n",
        fsg=auto.to_fsg(),
        states=auto.states,
        pronunciations={
            token: added for token in sorted(builder.vocabulary) if (added := lexicon.added(token))
        },
        vocabulary=frozenset(builder.vocabulary),
        missing=frozenset(builder.missing),
        skipped=tuple(skipped),
        sentences=len(sentences),
        wake_phrase=" ".join(tokenize(wake_phrase)),
        digest=grammar_digest(
            sources, wake_phrase=wake_phrase, wildcards=wildcards, skip_words=skip_words
        ),
    )


# -- helpers ---------------------------------------------------------------------------------


def _range_tokens(range_list: RangeSlotList) -> Iterator[str]:
    numbers = list(itertools.islice(range_list.get_numbers(), MAX_RANGE))
    for number in numbers:
        is_whole = isinstance(number, int) or float(number).is_integer()
        token = str(int(number)) if is_whole else f"{number:g}"
        if range_list.digits:
            yield token
        else:
            for words in number_words(token):
                yield " ".join(words)


def _starts_glued(expr: Expression, rules: _Rules, depth: int = 0) -> bool:
    """Whether some spelling of `expr` starts with a letter (and so may continue a word)."""
    return _edge_glued(expr, rules, depth, first=True)


def _ends_glued(expr: Expression, rules: _Rules, depth: int = 0) -> bool:
    """Whether some spelling of `expr` ends with a letter (and so may run into the next)."""
    return _edge_glued(expr, rules, depth, first=False)


def _edge_glued(expr: Expression, rules: _Rules, depth: int, *, first: bool) -> bool:
    if depth > 24:
        return False
    if isinstance(expr, TextChunk):
        text = expr.text
        return bool(text) and bool(_LETTER.match(text[0] if first else text[-1]))
    if isinstance(expr, Alternative | Permutation):
        return any(_edge_glued(item, rules, depth + 1, first=first) for item in expr.items)
    if isinstance(expr, Group):
        items = [i for i in expr.items if not _is_blank(i)]
        edge = items[0] if first else items[-1] if items else None
        return edge is not None and _edge_glued(edge, rules, depth + 1, first=first)
    if isinstance(expr, RuleReference):
        rule = rules(expr.rule_name)
        return rule is not None and _edge_glued(rule.expression, rules, depth + 1, first=first)
    if isinstance(expr, ListReference):
        return not expr.is_inline_range
    return False


def _is_blank(expr: Expression) -> bool:
    return isinstance(expr, TextChunk) and not expr.text


def _glued_runs(items: Sequence[Expression], rules: _Rules) -> list[list[Expression]]:
    """Split a sequence where neighbours cannot form one word (a space or a digit between them);
    each run is one spelling unit."""
    runs: list[list[Expression]] = []
    for item in items:
        if _is_blank(item):
            continue
        if runs and _ends_glued(runs[-1][-1], rules) and _starts_glued(item, rules):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs
