"""Distances for suggestions: great-circle distance and the pluggable road-distance source.

Until navigation can give a route's length, the road distance to a destination is estimated as
the straight-line (great-circle) distance times `ROAD_DETOUR_FACTOR`. Anything that knows better
(a router) plugs in as a `DistanceSource`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from carmind import geo
from carmind.assistant.suggestions.model import Position

EARTH_RADIUS_KM: Final = geo.EARTH_RADIUS_M / 1000.0
"""Mean radius of the Earth (IUGG), km: the haversine formula's sphere."""

ROAD_DETOUR_FACTOR: Final = 1.3
"""Road distance per straight-line distance, used until navigation provides the route.

Roads do not run straight: studies of road "circuity" find ratios of about 1.2 to 1.4 between
driving and great-circle distance (Ballou, Rahardja & Sakai 2002, across countries; Boscoe, Henry
& Zdeb 2012 measured 1.42 for short trips in the US, where the ratio is highest). 1.3 sits in the
middle and, for a range warning, errs on the side of warning a little early."""


@dataclass(frozen=True, slots=True)
class RouteDistance:
    """How far it is by road (km), and whether that is an estimate or a planned route."""

    km: float
    estimated: bool
    straight_km: float
    """The great-circle distance, for the reason shown to the driver."""


type DistanceSource = Callable[[Position, Position], RouteDistance]
"""Road distance from the first position to the second."""


def great_circle_km(a: Position, b: Position) -> float:
    """Haversine distance between two positions, km."""
    return geo.haversine_m(a.latitude, a.longitude, b.latitude, b.longitude) / 1000.0


def estimated_road_distance(origin: Position, destination: Position) -> RouteDistance:
    """The default distance source: straight line × `ROAD_DETOUR_FACTOR`."""
    straight = great_circle_km(origin, destination)
    return RouteDistance(straight * ROAD_DETOUR_FACTOR, estimated=True, straight_km=straight)
