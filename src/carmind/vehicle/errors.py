"""Errors of the simulated car."""

from __future__ import annotations

from collections.abc import Iterable

from carmind.errors import CarmindError


class VehicleError(CarmindError):
    """Base class of the simulated car's errors."""


class PrimeError(VehicleError):
    """A sensor was primed that the simulated car derives from its models."""

    def __init__(self, path: str, primeable: Iterable[str]) -> None:
        super().__init__(
            f"cannot prime {path}: the simulated car derives it from its models; "
            f"sensors that can be primed: {', '.join(primeable)} (and any actuator)"
        )
        self.path = path
