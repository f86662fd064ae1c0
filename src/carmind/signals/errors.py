"""Errors of the signal hub.

Each names the path, the value and what was allowed, so that the one line the CLI prints is
enough to fix the call. Raising any of them means nothing changed in the broker.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from carmind.errors import CarmindError


class SignalError(CarmindError):
    """Base class of the hub's errors; `path` is the signal concerned, where there is one."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class CatalogError(SignalError):
    """A VSS file could not be read as a catalog (bad JSON, bad node, unknown datatype)."""


class UnknownPathError(SignalError):
    """The path names no signal in the catalog."""

    def __init__(self, path: str, known: Iterable[str] = ()) -> None:
        close = difflib.get_close_matches(path, list(known), n=1, cutoff=0.75)
        hint = f"; did you mean '{close[0]}'?" if close else "; see 'carmind signals list'"
        super().__init__(f"unknown signal path '{path}'{hint}", path)


class NotASignalError(SignalError):
    """The path names a branch where a leaf signal was expected."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"'{path}' is a branch, not a signal; name a leaf such as '{path}.<name>' "
            "or use a pattern to select several",
            path,
        )


class InvalidPatternError(SignalError):
    """A path pattern is malformed or matches nothing."""


class ValueTypeError(SignalError):
    """The value has the wrong datatype for the signal."""

    def __init__(self, path: str, value: object, datatype: str) -> None:
        super().__init__(
            f"{path} expects a {datatype} value, got {value!r} ({type(value).__name__})", path
        )
        self.value = value
        self.datatype = datatype


class OutOfRangeError(SignalError):
    """The value lies outside the signal's min/max or its datatype's range."""

    def __init__(
        self, path: str, value: object, low: float | None, high: float | None, unit: str | None
    ) -> None:
        unit_text = f" {unit}" if unit else ""
        if low is not None and high is not None:
            allowed = f"{low:g} to {high:g}{unit_text}"
        elif low is not None:
            allowed = f"at least {low:g}{unit_text}"
        else:
            allowed = f"at most {high:g}{unit_text}"
        super().__init__(f"{path} = {value!r} is out of range: allowed {allowed}", path)
        self.value = value


class NotAllowedError(SignalError):
    """The value is not one of the signal's allowed values."""

    def __init__(self, path: str, value: object, allowed: Iterable[object]) -> None:
        choices = ", ".join(str(a) for a in allowed)
        super().__init__(f"{path} = {value!r} is not allowed: choose one of {choices}", path)
        self.value = value


class ReadOnlyError(SignalError):
    """A consumer tried to set a sensor or an attribute; only actuators take target values."""

    def __init__(self, path: str, node_type: str) -> None:
        super().__init__(
            f"{path} is a {node_type}: only its provider writes it; "
            "consumers can set actuators only",
            path,
        )


class NotAnActuatorError(SignalError):
    """A provider tried to claim actuation of a signal that is not an actuator."""

    def __init__(self, path: str, node_type: str) -> None:
        super().__init__(f"{path} is a {node_type}, not an actuator: it cannot be actuated", path)


class ProviderUnavailableError(SignalError):
    """No provider makes this actuator's target real: the actuation is refused, never queued."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"no provider is connected for {path}: the actuation was refused, not queued", path
        )


class ProviderConflictError(SignalError):
    """Another provider already provides this signal."""

    def __init__(self, path: str, owner: str) -> None:
        super().__init__(f"{path} is already provided by '{owner}'", path)


class ActuationRefusedError(SignalError):
    """The provider (the car itself) refused the actuation, for instance by a safety interlock."""

    def __init__(self, path: str, value: object, reason: str) -> None:
        super().__init__(f"the car refused {path} = {value!r}: {reason}", path)
        self.value = value
        self.reason = reason


class AccessDeniedError(SignalError):
    """The client's scopes do not allow this operation on this path."""

    def __init__(self, client: str, action: str, path: str, scopes: str) -> None:
        super().__init__(
            f"client '{client}' may not {action} {path}: its scopes are '{scopes or '(none)'}'",
            path,
        )
        self.action = action


class InvalidRequestError(SignalError):
    """A request is malformed as a whole (names no signal, say)."""


class InternalError(SignalError):
    """The hub could not go on with a request through no fault of the caller."""


class ScopeError(SignalError):
    """A scope string is malformed."""
