"""The home zone: "arriving home" and "leaving home" from the car's GPS fixes.

A circle around home (latitude, longitude, radius). The car is *inside* once a fix falls within
the radius and *outside* once a fix falls beyond the radius plus a hysteresis band, so a car parked
at the edge, whose fixes wander by a few metres, does not flap between the two. The first fix
only sets the state (a car that starts at home has not arrived); every later change of state is
one event. Everything here is pure: the caller feeds fixes and gets events back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from carmind import geo
from carmind.connect.protocol import EventKind
from carmind.errors import CarmindError

DEFAULT_RADIUS_M: Final = 150.0
"""A house with its drive and the street in front: large enough that a car parked down the road
still counts as home, small enough that passing through the neighbourhood does not."""

DEFAULT_HYSTERESIS_M: Final = 50.0
"""How far beyond the radius a fix must be before the car counts as gone. Consumer GNSS wanders
by 5-10 m in the open and by tens of metres near buildings and under trees (multipath), so 50 m
keeps a car parked at the edge from flapping while still noticing a departure within one block."""

MIN_RADIUS_M: Final = 20.0
"""Smaller zones sit inside the GPS noise itself: the car could never settle inside."""

MAX_RADIUS_M: Final = 10_000.0
"""Beyond 10 km the zone is a town, not a home (the same bound as the configuration's)."""


class GeofenceError(CarmindError):
    """A home zone parameter is out of range."""


class GeofenceEventKind(StrEnum):
    ARRIVING_HOME = "arriving_home"
    LEAVING_HOME = "leaving_home"


_PROTOCOL_KIND: Final = {
    GeofenceEventKind.ARRIVING_HOME: EventKind.GEOFENCE_ENTER,
    GeofenceEventKind.LEAVING_HOME: EventKind.GEOFENCE_LEAVE,
}


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (haversine)."""
    return geo.haversine_m(lat1, lon1, lat2, lon2)


@dataclass(frozen=True, slots=True)
class HomeZone:
    """The home circle; raises `GeofenceError` (naming the value) for a zone that cannot work."""

    latitude: float
    longitude: float
    radius_m: float = DEFAULT_RADIUS_M
    hysteresis_m: float = DEFAULT_HYSTERESIS_M

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude <= 90.0:
            raise GeofenceError(f"home latitude {self.latitude!r}: expected -90 to 90 degrees")
        if not -180.0 <= self.longitude <= 180.0:
            raise GeofenceError(f"home longitude {self.longitude!r}: expected -180 to 180 degrees")
        if not MIN_RADIUS_M <= self.radius_m <= MAX_RADIUS_M:
            raise GeofenceError(
                f"home radius {self.radius_m!r} m: expected {MIN_RADIUS_M:g} to {MAX_RADIUS_M:g} m"
            )
        if not 0.0 <= self.hysteresis_m <= self.radius_m:
            raise GeofenceError(
                f"home hysteresis {self.hysteresis_m!r} m: expected 0 to the radius "
                f"({self.radius_m:g} m)"
            )

    def distance_m(self, latitude: float, longitude: float) -> float:
        return distance_m(self.latitude, self.longitude, latitude, longitude)


@dataclass(frozen=True, slots=True)
class GeofenceEvent:
    """The car crossed the home zone's boundary (with hysteresis) at `at` (Unix seconds)."""

    kind: GeofenceEventKind
    latitude: float
    longitude: float
    distance_m: float
    at: float

    @property
    def protocol_kind(self) -> EventKind:
        """The vehicle link's event kind for it (`geofence_enter` / `geofence_leave`)."""
        return _PROTOCOL_KIND[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.kind.value,
            "zone": "home",
            "latitude": self.latitude,
            "longitude": self.longitude,
            "distance_m": round(self.distance_m, 1),
            "at": self.at,
        }


class Geofence:
    """Follows the car in and out of one `HomeZone`; feed it fixes with `update`."""

    def __init__(self, zone: HomeZone) -> None:
        self.zone = zone
        self.inside: bool | None = None
        """None until the first usable fix."""

    def update(
        self, latitude: float, longitude: float, at: float, accuracy_m: float = 0.0
    ) -> GeofenceEvent | None:
        """Take a fix; the event when it changes the state, else None.

        A fix whose horizontal accuracy is worse than the zone's radius cannot tell inside from
        outside and is ignored.
        """
        if accuracy_m > self.zone.radius_m or not (
            math.isfinite(latitude) and math.isfinite(longitude)
        ):
            return None
        d = self.zone.distance_m(latitude, longitude)
        if self.inside is None:
            self.inside = d <= self.zone.radius_m
            return None
        if not self.inside and d <= self.zone.radius_m:
            self.inside = True
            return GeofenceEvent(GeofenceEventKind.ARRIVING_HOME, latitude, longitude, d, at)
        if self.inside and d > self.zone.radius_m + self.zone.hysteresis_m:
            self.inside = False
            return GeofenceEvent(GeofenceEventKind.LEAVING_HOME, latitude, longitude, d, at)
        return None
