"""The grammar as a tree of words, as JSGF text and as a minimal automaton (pocketsphinx FSG).

`grammar` turns templates into a tree of `Words`, `Seq`uences, `Alt`ernatives and `Ref`erences to
named rules; here that tree is rendered as JSGF (`render`), to read, and compiled (`automaton`).

pocketsphinx can read the JSGF text itself, but it inlines every rule at every use and closes
over the resulting empty transitions: for carmind's templates that takes seconds and hundreds of
megabytes. The command language is finite, so it has a small minimal deterministic automaton:
build the word automaton (empty transitions included), make it deterministic (subset
construction) and merge states with the same future (an acyclic automaton minimises bottom-up).
The result loads in well under a second and is what gets cached on disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from carmind.assistant.voice.errors import GrammarError


@dataclass(frozen=True, slots=True)
class Words:
    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Alt:
    items: tuple[Node, ...]
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Ref:
    rule: str


Node = Words | Seq | Alt | Ref
EMPTY = Seq(())


MAX_STATES = 2_000_000
"""A grammar whose automaton grows past this many states is refused (it would not fit)."""


@dataclass(frozen=True, slots=True)
class Automaton:
    """A deterministic word automaton: arcs (from, to, word), one start and a set of finals."""

    states: int
    start: int
    finals: frozenset[int]
    arcs: tuple[tuple[int, int, str], ...]

    def to_fsg(self, name: str = "carmind") -> str:
        """pocketsphinx's FSG text format, with no empty transitions.

        The format has one final state. Every accepting state of the minimal automaton that has
        no way out is that state (minimisation leaves at most one); an arc into an accepting
        state that does go on is doubled by an arc into the final state. (Empty transitions to
        a shared final state, the obvious encoding, let the decoder end mid-command: "unlock the
        car for".) Every way out of a state is equally likely.
        """
        outgoing = [0] * self.states
        for src, _dst, _word in self.arcs:
            outgoing[src] += 1
        sinks = [state for state in self.finals if outgoing[state] == 0]
        final = sinks[0] if sinks else self.states
        arcs = list(self.arcs)
        arcs += [
            (src, final, word)
            for src, dst, word in self.arcs
            if dst in self.finals and dst != final
        ]
        degree = [0] * (self.states + 1)
        for src, _dst, _word in arcs:
            degree[src] += 1
        lines = [
            f"FSG_BEGIN {name}",
            f"NUM_STATES {self.states + (0 if sinks else 1)}",
            f"START_STATE {self.start}",
            f"FINAL_STATE {final}",
        ]
        lines += [
            f"TRANSITION {src} {dst} {1.0 / degree[src]:.6g} {word}" for src, dst, word in arcs
        ]
        lines.append("FSG_END")
        return "\n".join(lines) + "\n"


class Nfa:
    """A word automaton with empty transitions, built piece by piece."""

    def __init__(self) -> None:
        self.arcs: list[list[tuple[str, int]]] = []
        self.empty: list[list[int]] = []

    def state(self) -> int:
        self.arcs.append([])
        self.empty.append([])
        if len(self.arcs) > MAX_STATES:
            raise GrammarError(
                f"the grammar needs more than {MAX_STATES:,} states; expected fewer or smaller "
                "slot lists"
            )
        return len(self.arcs) - 1

    def arc(self, src: int, word: str, dst: int) -> None:
        self.arcs[src].append((word, dst))

    def link(self, src: int, dst: int) -> None:
        self.empty[src].append(dst)


def determinize(nfa: Nfa, start: int, final: int) -> Automaton:
    """The minimal deterministic automaton of `nfa`'s (finite) language."""
    closures: dict[int, frozenset[int]] = {}

    def closure(state: int) -> frozenset[int]:
        found = closures.get(state)
        if found is None:
            seen = {state}
            todo = [state]
            while todo:
                for nxt in nfa.empty[todo.pop()]:
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            found = closures[state] = frozenset(seen)
        return found

    ids: dict[frozenset[int], int] = {}
    subsets: list[frozenset[int]] = []
    arcs: list[dict[str, int]] = []

    def intern(subset: frozenset[int]) -> int:
        known = ids.get(subset)
        if known is None:
            known = ids[subset] = len(subsets)
            subsets.append(subset)
            arcs.append({})
            if len(subsets) > MAX_STATES:
                raise GrammarError(
                    f"the grammar needs more than {MAX_STATES:,} states; expected fewer or "
                    "smaller slot lists"
                )
        return known

    intern(closure(start))
    i = 0
    while i < len(subsets):
        moves: dict[str, set[int]] = {}
        for state in subsets[i]:
            for word, dst in nfa.arcs[state]:
                moves.setdefault(word, set()).update(closure(dst))
        for word, targets in moves.items():
            arcs[i][word] = intern(frozenset(targets))
        i += 1
    finals = {sid for sid, subset in enumerate(subsets) if final in subset}
    return _minimize(arcs, finals)


def _minimize(arcs: list[dict[str, int]], finals: set[int]) -> Automaton:
    """Merge states with the same future (bottom-up: the language is finite, the graph acyclic)."""
    order: list[int] = []
    state_of = [0] * len(arcs)
    seen = [False] * len(arcs)
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:
        state, done = stack.pop()
        if done:
            order.append(state)
            continue
        if seen[state]:
            continue
        seen[state] = True
        stack.append((state, True))
        for dst in arcs[state].values():
            if not seen[dst]:
                stack.append((dst, False))
    classes: dict[tuple[bool, tuple[tuple[str, int], ...]], int] = {}
    for state in order:  # post-order: every target is classified before its sources
        signature = (
            state in finals,
            tuple(sorted((word, state_of[dst]) for word, dst in arcs[state].items())),
        )
        state_of[state] = classes.setdefault(signature, len(classes))
    out_arcs = sorted(
        {(cls, dst, word) for (_final, moves), cls in classes.items() for word, dst in moves}
    )
    out_finals = frozenset(cls for (final, _moves), cls in classes.items() if final)
    return Automaton(len(classes), state_of[0], out_finals, tuple(out_arcs))


def seq(parts: Sequence[Node]) -> Node:
    flat: list[Node] = []
    for part in parts:
        if isinstance(part, Seq):
            flat.extend(part.items)
        else:
            flat.append(part)
    merged: list[Node] = []
    for part in flat:
        if merged and isinstance(part, Words) and isinstance(merged[-1], Words):
            merged[-1] = Words(merged[-1].tokens + part.tokens)
        else:
            merged.append(part)
    return merged[0] if len(merged) == 1 else Seq(tuple(merged))


def alt(items: Sequence[Node | None], optional: bool = False) -> Node | None:
    present = [item for item in items if item is not None]
    if not present:
        return None
    optional = optional or any(item == EMPTY for item in present)
    unique = list(dict.fromkeys(item for item in present if item != EMPTY))
    if not unique:
        return EMPTY
    if len(unique) == 1 and not optional:
        return unique[0]
    return Alt(tuple(unique), optional)


def automaton(top: Node, rules: Mapping[str, Node | None]) -> Automaton:
    """The minimal deterministic automaton of a node tree (rules inlined)."""
    nfa = Nfa()
    start = nfa.state()

    def build(node: Node, src: int) -> int:
        if isinstance(node, Words):
            for token in node.tokens:
                dst = nfa.state()
                nfa.arc(src, token, dst)
                src = dst
            return src
        if isinstance(node, Seq):
            for item in node.items:
                src = build(item, src)
            return src
        if isinstance(node, Ref):
            body = rules.get(node.rule)
            if body is None:
                raise GrammarError(f"grammar rule <{node.rule}> is empty; expected words")
            return build(body, src)
        end = nfa.state()
        for item in node.items:
            branch = nfa.state()
            nfa.link(src, branch)
            nfa.link(build(item, branch), end)
        if node.optional:
            nfa.link(src, end)
        return end

    final = build(top, start)
    return determinize(nfa, start, final)


def render(node: Node) -> str:
    if isinstance(node, Words):
        return " ".join(node.tokens)
    if isinstance(node, Ref):
        return f"<{node.rule}>"
    if isinstance(node, Seq):
        return " ".join(render(item) for item in node.items)
    body = " | ".join(render(item) for item in node.items)
    return f"[{body}]" if node.optional else f"({body})"
