"""The simulated driver following a route: where the car is along it, and how fast to go.

Navigation hands the car a route through `Vehicle.Carmind.Simulation.Route` as JSON: the route's
points and a speed per segment (what the road allows, from the routing graph). The driver keeps
to the segment speed, brakes in time for a slower stretch ahead and for the destination, and the
car's position, heading and odometer follow the polyline exactly.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from dataclasses import dataclass
from typing import Final

from carmind.vehicle.errors import VehicleError

COMFORT_DECEL_MPS2: Final = 1.5
"""Deceleration the driver plans with for slower stretches and the stop (m/s²): comfortable
braking, well under the 3-4 m/s² of a firm stop (Wang et al. 2005, naturalistic driving data)."""

MAX_POINTS: Final = 100_000
"""Longest route the car accepts (points): a few thousand km of road."""

EARTH_M_PER_DEG: Final = 111_320.0


class RouteError(VehicleError):
    """A route the simulated driver cannot follow."""


def _segment(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """Length (m, equirectangular: exact enough for segments of a road) and bearing (degrees)."""
    mean_lat = math.radians((a[0] + b[0]) / 2)
    dy = (b[0] - a[0]) * EARTH_M_PER_DEG
    dx = (b[1] - a[1]) * EARTH_M_PER_DEG * math.cos(mean_lat)
    return math.hypot(dx, dy), math.degrees(math.atan2(dx, dy)) % 360.0


@dataclass(frozen=True)
class Pose:
    latitude: float
    longitude: float
    heading: float


class RouteDriver:
    """A route as cumulative distances: pose and target speed at any distance along it."""

    def __init__(self, points: list[tuple[float, float]], speeds_kmh: list[float]) -> None:
        if len(points) < 2:
            raise RouteError("a route needs at least two points")
        if len(points) > MAX_POINTS:
            raise RouteError(f"a route has at most {MAX_POINTS} points, got {len(points)}")
        if len(speeds_kmh) != len(points) - 1:
            raise RouteError(
                f"a route needs one speed per segment: {len(points) - 1} segments, "
                f"{len(speeds_kmh)} speeds"
            )
        for lat, lon in points:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise RouteError(f"route point {lat},{lon} is not a coordinate")
        for v in speeds_kmh:
            if not 1.0 <= v <= 250.0:
                raise RouteError(f"route speed {v} km/h is outside 1..250 km/h")
        self.points = points
        self.speeds_mps = [v / 3.6 for v in speeds_kmh]
        self.starts: list[float] = [0.0]
        self.bearings: list[float] = []
        for a, b in itertools.pairwise(points):
            length, bearing = _segment(a, b)
            self.starts.append(self.starts[-1] + length)
            self.bearings.append(bearing)
        self.length_m = self.starts[-1]
        self.progress_m = 0.0

    @classmethod
    def from_json(cls, text: str) -> RouteDriver:
        try:
            data = json.loads(text)
            points = [(float(p[0]), float(p[1])) for p in data["points"]]
            speeds = [float(v) for v in data["speeds"]]
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise RouteError(
                f'a route is JSON {{"points": [[lat, lon], ...], "speeds": [km/h, ...]}}: {exc}'
            ) from None
        return cls(points, speeds)

    def _index(self, distance: float) -> int:
        return max(0, min(len(self.bearings) - 1, bisect.bisect_right(self.starts, distance) - 1))

    def pose(self, distance: float | None = None) -> Pose:
        d = self.progress_m if distance is None else distance
        d = max(0.0, min(self.length_m, d))
        i = self._index(d)
        seg = self.starts[i + 1] - self.starts[i]
        f = 0.0 if seg <= 0 else (d - self.starts[i]) / seg
        (lat1, lon1), (lat2, lon2) = self.points[i], self.points[i + 1]
        return Pose(lat1 + f * (lat2 - lat1), lon1 + f * (lon2 - lon1), self.bearings[i])

    @property
    def finished(self) -> bool:
        return self.progress_m >= self.length_m - 0.5

    def advance(self, distance_m: float) -> Pose:
        self.progress_m = min(self.length_m, self.progress_m + distance_m)
        return self.pose()

    def target_speed_mps(self, lookahead_m: float = 400.0) -> float:
        """The segment's speed, or less where braking must start for a slower stretch or the end."""
        d = self.progress_m
        if self.finished:
            return 0.0
        i = self._index(d)
        target = self.speeds_mps[i]
        j = i + 1
        while j < len(self.speeds_mps) and self.starts[j] - d <= lookahead_m:
            gap = self.starts[j] - d
            target = min(target, math.sqrt(self.speeds_mps[j] ** 2 + 2 * COMFORT_DECEL_MPS2 * gap))
            j += 1
        to_end = self.length_m - d
        # stop at the end: the speed from which comfortable braking stops the car there
        target = min(target, math.sqrt(2 * COMFORT_DECEL_MPS2 * max(to_end - 0.3, 0.0)))
        return max(target, 0.0 if to_end < 1.0 else 1.0)
