"""Access control in the manner of Eclipse KUKSA.

A client holds scopes such as `read`, `actuate:Vehicle.Cabin.HVAC` or `provide:Vehicle.Speed`.
An action alone allows it everywhere; `ACTION:PATTERN` limits it to the signals the pattern selects
(the same wildcard rules as subscriptions: a branch path covers everything below it). `actuate` and
`provide` include `read` on the same signals, as in KUKSA.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from carmind.signals.catalog import compile_pattern
from carmind.signals.errors import InvalidPatternError, ScopeError


class Action(StrEnum):
    READ = "read"
    ACTUATE = "actuate"
    PROVIDE = "provide"


@dataclass(frozen=True, slots=True)
class Scope:
    action: Action
    pattern: str | None = None  # None: every signal

    def __str__(self) -> str:
        return self.action.value if self.pattern is None else f"{self.action}:{self.pattern}"

    def covers(self, action: Action, path: str) -> bool:
        if self.action is not action and not (
            action is Action.READ and self.action in (Action.ACTUATE, Action.PROVIDE)
        ):
            return False
        return self.pattern is None or compile_pattern(self.pattern).fullmatch(path) is not None


def parse_scopes(text: str) -> tuple[Scope, ...]:
    """Parse a space-separated KUKSA scope string, such as `read actuate:Vehicle.Cabin`."""
    scopes: list[Scope] = []
    for item in text.split():
        action_text, _, pattern = item.partition(":")
        try:
            action = Action(action_text)
        except ValueError:
            raise ScopeError(
                f"unknown scope action '{action_text}' in '{item}': use read, actuate or provide"
            ) from None
        if _ and not pattern:
            raise ScopeError(f"scope '{item}' has an empty path after ':'")
        if pattern:
            try:
                compile_pattern(pattern)
            except InvalidPatternError as exc:
                raise ScopeError(f"scope '{item}': {exc}") from None
        scopes.append(Scope(action, pattern or None))
    return tuple(scopes)


class Permissions:
    """A client's scopes with a per-path decision cache (checks run on every call)."""

    __slots__ = ("_cache", "scopes", "text")

    def __init__(self, scopes: tuple[Scope, ...] | str) -> None:
        self.scopes = parse_scopes(scopes) if isinstance(scopes, str) else scopes
        self.text = " ".join(str(s) for s in self.scopes)
        self._cache: dict[tuple[Action, str], bool] = {}

    def allows(self, action: Action, path: str) -> bool:
        key = (action, path)
        decision = self._cache.get(key)
        if decision is None:
            decision = any(scope.covers(action, path) for scope in self.scopes)
            self._cache[key] = decision
        return decision


ALL_SCOPES = "read actuate provide"
"""The scopes of carmind's own in-process services on a car without token authorization."""
