"""The traffic world's congestion model: how fast each road truly is at any moment.

- every edge has a true free-flow speed: the map's speed times an edge factor (real roads are
  faster or slower than the map's default speeds);
- congestion slows an edge by `depth[road class] x shape(local time of week) x day factor`:
  weekday rush hours around 08:00 and 16:30 Helsinki time, a daytime plateau, light weekends;
  arterials lose more speed than residential streets; each day is busier or calmer at random;
- incidents slow a stretch of road for a while.

`WorldParams` holds every parameter of a world (this model's and its drivers'); `Conditions` is
what one seeded world drew from them: its day factors and its incidents. The vehicles that drive
through these conditions are in `carmind.navigation.traffic.world`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from carmind.navigation.traffic.matching import ROAD_CLASSES

TIMEZONE: Final = "Europe/Helsinki"
WEEK_S: Final = 7 * 86_400
SLOT_S: Final = 300
MONDAY_EPOCH: Final = 345_600  # 1970-01-05 00:00 UTC, a Monday
DEFAULT_START: Final = date(2026, 9, 7)  # a Monday, weeks away from a daylight-saving change
MIN_CONGESTION_FACTOR: Final = 0.15
"""Congestion never slows an edge below this share of its free-flow speed."""

Epoch = Callable[[int, float], float]
"""UNIX time of (day of the world, local hour)."""


@dataclass(frozen=True)
class Congestion:
    """The world's congestion: how much of its free-flow speed an edge keeps, by local time."""

    morning_peak_h: float = 8.0
    morning_width_h: float = 0.8
    evening_peak_h: float = 16.5
    evening_width_h: float = 1.1
    evening_weight: float = 0.9
    daytime_level: float = 0.3
    weekend_level: float = 0.3
    weekend_peak_h: float = 13.5
    weekend_width_h: float = 3.0
    day_sigma: float = 0.15
    """Day-to-day variation of congestion (log-normal sigma)."""
    depth: dict[str, float] = field(
        default_factory=lambda: {
            "motorway": 0.55,
            "trunk": 0.55,
            "primary": 0.6,
            "secondary": 0.5,
            "tertiary": 0.4,
            "unclassified": 0.25,
            "residential": 0.15,
            "service_other": 0.1,
        }
    )
    """Share of free-flow speed lost at full congestion, by Valhalla road class."""

    def shape(self) -> Any:
        """Congestion intensity 0..1 for each five-minute slot of a local week (Monday 00:00)."""
        import numpy as np

        h = (np.arange(288) * SLOT_S + SLOT_S / 2) / 3600.0

        def bell(peak: float, width: float) -> Any:
            return np.exp(-0.5 * ((h - peak) / width) ** 2)

        plateau = 1.0 / (1.0 + np.exp(-(h - 9.5) * 3)) / (1.0 + np.exp((h - 18.5) * 3))
        weekday = np.maximum.reduce(
            [
                bell(self.morning_peak_h, self.morning_width_h),
                self.evening_weight * bell(self.evening_peak_h, self.evening_width_h),
                self.daytime_level * plateau,
            ]
        )
        weekend = self.weekend_level * bell(self.weekend_peak_h, self.weekend_width_h)
        return np.concatenate([weekday] * 5 + [weekend] * 2)

    def depth_by_code(self) -> Any:
        import numpy as np

        return np.array([self.depth.get(name, 0.1) for name in ROAD_CLASSES])


@dataclass(frozen=True)
class WorldParams:
    seed: int = 1
    days: int = 14
    vehicles: int = 30
    holdout_days: int = 7
    start: str = DEFAULT_START.isoformat()
    """The first day (local date in Helsinki)."""
    interval_s: float = 5.0
    gps_sigma_m: float = 5.0
    fleet_share: float = 0.25
    edge_factor_range: tuple[float, float] = (0.8, 1.15)
    """True free-flow speed over the map's speed, per edge (a fixed hash of the edge id)."""
    driver_sigma: float = 0.06
    edge_noise_sigma: float = 0.08
    incidents_per_day: float = 4.0
    incident_minutes: tuple[float, float] = (20.0, 90.0)
    incident_factor: tuple[float, float] = (0.25, 0.5)
    points_pool: int = 24
    congestion: Congestion = field(default_factory=Congestion)


@dataclass(frozen=True)
class Incident:
    edges: tuple[int, ...]
    start: float
    end: float
    factor: float


def edge_factors(edge_ids: Any, seed: int, low: float, high: float) -> Any:
    """Each edge's true free-flow speed over the map's speed: a fixed hash of the edge id."""
    import numpy as np

    with np.errstate(over="ignore"):
        x = np.asarray(edge_ids, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    unit = (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return low + (high - low) * unit


class Conditions:
    """One seeded world's traffic: its day factors (drawn at once) and incidents (placed later).

    `rng` is the world's generator, shared with whoever drives through these conditions: the
    order of the draws is part of the world's definition.
    """

    def __init__(self, params: WorldParams, rng: Any, day0: float) -> None:
        self.params = params
        self.rng = rng
        self.shape = params.congestion.shape()
        self.depth = params.congestion.depth_by_code()
        self.day_factor = rng.lognormal(0.0, params.congestion.day_sigma, params.days + 1)
        self.day0 = day0
        """UNIX time of the world's first local midnight."""
        self.incidents: list[Incident] = []
        self._incident_by_edge: dict[int, list[Incident]] = {}

    def place_incidents(self, routes: Iterable[Any], epoch: Epoch) -> None:
        """Incidents on stretches of the driven `routes` (each an array of edge ids)."""
        driven = [edge_ids for edge_ids in routes if len(edge_ids) > 6]
        p = self.params
        for day in range(p.days):
            for _ in range(self.rng.poisson(p.incidents_per_day)):
                if not driven:
                    return
                r = driven[int(self.rng.integers(len(driven)))]
                length = int(self.rng.integers(4, 11))
                first = int(self.rng.integers(0, max(1, len(r) - length)))
                edges = tuple(int(e) for e in r[first : first + length])
                start = epoch(day, float(self.rng.uniform(6.0, 22.0)))
                minutes = float(self.rng.uniform(*p.incident_minutes))
                incident = Incident(
                    edges, start, start + 60 * minutes, float(self.rng.uniform(*p.incident_factor))
                )
                self.incidents.append(incident)
                for e in edges:
                    self._incident_by_edge.setdefault(e, []).append(incident)

    def factors(self, road_class: Any, edge_id: int, t: float, local: float) -> tuple[Any, Any]:
        """(congestion, congestion x incidents): shares of free-flow speed an edge keeps.

        `t` is the UNIX time, `local` the same moment in local seconds since the epoch.
        """
        slot = int(((local - MONDAY_EPOCH) % WEEK_S) // SLOT_S)
        day = int((t - self.day0) // 86_400)
        dayf = self.day_factor[min(max(day, 0), len(self.day_factor) - 1)]
        cong = max(1.0 - self.depth[road_class] * self.shape[slot] * dayf, MIN_CONGESTION_FACTOR)
        factor = cong
        for inc in self._incident_by_edge.get(edge_id, ()):
            if inc.start <= t < inc.end:
                factor *= inc.factor
        return cong, factor
