"""Errors of the navigation spoke: every one names the input and what was expected."""

from __future__ import annotations

from carmind.errors import CarmindError


class NavigationError(CarmindError):
    """Base class of the navigation errors."""


class MapError(NavigationError):
    """No usable map: not built, unreadable, or built from a file that is not OpenStreetMap."""


class LocationError(NavigationError):
    """A location that cannot be used: malformed, unknown by name, or off the map."""


class NoRouteError(NavigationError):
    """The map has no drivable way between the two locations."""


class TrafficDataError(NavigationError):
    """Probe data or traffic files that cannot be read."""


class TripError(NavigationError):
    """An EV trip that cannot be planned (a range gap no charger closes, say)."""
