"""Errors of the CAN bridge: a bad mapping, a value a frame cannot carry, a bus or a log."""

from __future__ import annotations

from enum import StrEnum

from carmind.errors import CarmindError


class CanError(CarmindError):
    """Base class of the CAN bridge's errors."""


class CanMappingError(CanError):
    """A mapping file (or a DBC file it uses) cannot be used with the catalog.

    `file`, `entry` (the 1-based number of the `[[signal]]` table) and `field` locate the problem;
    the message says what was found and what was expected.
    """

    def __init__(
        self,
        file: str,
        problem: str,
        *,
        entry: int | None = None,
        vss: str | None = None,
        field: str | None = None,
    ) -> None:
        where = file
        if entry is not None:
            where += f": [[signal]] #{entry}"
            if vss:
                where += f" ({vss})"
        if field is not None:
            where += f": {field}"
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.entry = entry
        self.field = field
        self.problem = problem


class ValueFault(StrEnum):
    """Why a decoded value is kept off the hub (or a target cannot be sent)."""

    OUT_OF_RANGE = "out_of_range"
    NOT_ALLOWED = "not_allowed"


class CanValueError(CanError):
    """A value does not fit: outside the DBC or VSS range, or not among the allowed values."""

    def __init__(self, fault: ValueFault, path: str, value: object, reason: str) -> None:
        super().__init__(f"{path} = {value!r}: {reason}")
        self.fault = fault
        self.path = path
        self.value = value
        self.reason = reason


class CanBusError(CanError):
    """A CAN bus could not be opened or used."""


class CanReplayError(CanError):
    """A recorded CAN log cannot be read or replayed."""
