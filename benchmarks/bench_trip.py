"""EV trip planning time on the generated motorway corridor (tests/navigation/corridor.py).

- The whole plan: Etelä to Pohjola, 620 km with 7 chargers along the way, for three cars and
  two starting charges: the direct route, the chargers near it, a Valhalla route and the energy
  of every leg the battery could cover, and the exact search. p50 and p95 over the runs.
- The search alone (`solve`) on the same legs, on a 1 % and a 0.5 % state-of-charge grid.
- Peer in the same run: one plain Valhalla route over the same origin and destination
  (`Router.route`), so the ratio shows what planning the charging costs over routing.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import percentile, report

from carmind.navigation.charging_search import solve
from carmind.navigation.engine import LatLon, Router
from carmind.navigation.maps import build_map
from carmind.navigation.trip import TripPlanner, TripRequest
from carmind.vehicle.profiles import get_profile
from tests.navigation import corridor

CARS = ("tesla-model-3-rwd", "xiaomi-su7", "bmw-i4-edrive40")
SOCS = (50.0, 90.0)
REPEATS = 5


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        info = build_map(corridor.write_corridor(Path(tmp) / "corridor.osm.pbf"), Path(tmp) / "m")
        build_s = time.perf_counter() - started
        router = Router(info)
        planner = TripPlanner(info, router)
        towns = {t.name: t for t in corridor.TOWNS}
        a = LatLon(*corridor.town_point(towns["Etelä"]))
        b = LatLon(*corridor.town_point(towns["Pohjola"]))

        plan_s: list[float] = []
        stops: list[int] = []
        legs_routed: list[int] = []
        for _ in range(REPEATS):
            for car in CARS:
                for soc in SOCS:
                    request = TripRequest(get_profile(car), soc)
                    t0 = time.perf_counter()
                    plan = planner.plan(a, b, request)
                    plan_s.append(time.perf_counter() - t0)
                    stops.append(len(plan.stops))
        for car in CARS:
            legs_routed.append(
                len(planner.search_problem(a, b, TripRequest(get_profile(car), 90.0)).legs)
            )

        route_s: list[float] = []
        for _ in range(REPEATS * len(CARS) * len(SOCS)):
            t0 = time.perf_counter()
            router.route(a, b, traffic="none")
            route_s.append(time.perf_counter() - t0)

        request = TripRequest(get_profile(CARS[0]), 50.0)
        problem = planner.search_problem(a, b, request)
        solve_s: dict[float, list[float]] = {1.0: [], 0.5: []}
        for step, times in solve_s.items():
            stepped = replace(problem, soc_step_pct=step)
            for _ in range(20):
                t0 = time.perf_counter()
                solve(stepped)
                times.append(time.perf_counter() - t0)

    p50_plan = statistics.median(plan_s)
    p50_route = statistics.median(route_s)
    rows = [
        {"metric": "corridor map build", "value": build_s, "unit": "s"},
        {"metric": "trip plan p50 (620 km, 7 chargers)", "value": p50_plan * 1000, "unit": "ms"},
        {"metric": "trip plan p95", "value": percentile(plan_s, 0.95) * 1000, "unit": "ms"},
        {"metric": "plain route p50 (peer)", "value": p50_route * 1000, "unit": "ms"},
        {"metric": "plan / route", "value": p50_plan / p50_route, "unit": "x"},
        {
            "metric": "search alone p50, 1 % grid",
            "value": statistics.median(solve_s[1.0]) * 1000,
            "unit": "ms",
        },
        {
            "metric": "search alone p50, 0.5 % grid",
            "value": statistics.median(solve_s[0.5]) * 1000,
            "unit": "ms",
        },
        {
            "metric": "legs routed per plan (mean)",
            "value": statistics.mean(legs_routed),
            "unit": "",
        },
        {"metric": "charging stops, fewest", "value": min(stops), "unit": ""},
        {"metric": "charging stops, most", "value": max(stops), "unit": ""},
    ]
    report(
        "trip",
        rows,
        notes=f"{len(plan_s)} plans: {', '.join(CARS)} from {', '.join(f'{s:g} %' for s in SOCS)}",
    )


if __name__ == "__main__":
    main()
