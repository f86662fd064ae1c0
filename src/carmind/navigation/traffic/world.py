"""A simulated traffic world: vehicles driving the map under weekly congestion, as GPS probes.

The world (all randomness from one seed) is the congestion model of
`carmind.navigation.traffic.congestion` (true free-flow speeds, time-of-week congestion by road
class, day factors, incidents) driven by vehicles: each vehicle has a driver factor; each edge
traversal a little noise; each intersection a delay (Valhalla's modelled transition time,
longer in congestion).

Vehicles are commuters (home -> work in the morning, back in the evening on weekdays, errands)
and fleet cars (trips around the clock). Trips are routed once with Valhalla on free-flow
speeds, then driven edge by edge at the world's true speed at that moment; GPS fixes (one every
`interval_s`, noise `gps_sigma_m`) are sampled along the driven path.

Outputs: the probes of the learning days (`FILE`), those of the held-out last days
(`NAME.holdout.EXT`, used only for live speeds in the evaluation), and the world's definition
and ground truth (`NAME.world.json`: seed, parameters, incidents, every trip with its true
departure, duration, origin and destination).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from carmind.navigation.engine import LatLon, Router
from carmind.navigation.errors import TrafficDataError
from carmind.navigation.traffic.congestion import TIMEZONE, Conditions, WorldParams, edge_factors
from carmind.navigation.traffic.world_routes import RoutePath, route_path, sample_points

WORLD_FORMAT: Final = 1

Progress = Callable[[str, float], None]


def _no_progress(stage: str, fraction: float) -> None:
    del stage, fraction


@dataclass
class Trip:
    id: str
    vehicle: str
    origin: int
    destination: int
    depart: float
    kind: str
    duration_s: float = 0.0
    distance_m: float = 0.0


@dataclass(frozen=True)
class SimulationResult:
    probes: Path
    holdout_probes: Path
    world: Path
    points: int
    holdout_points: int
    trips: int
    holdout_trips: int
    incidents: int

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def sidecar_paths(out: Path) -> tuple[Path, Path]:
    """(held-out probes, world file) for the probe file `out`."""
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(f"{stem}.holdout{out.suffix}"), out.with_name(f"{stem}.world.json")


class World:
    """Plans and drives the trips of one seeded world on one map."""

    def __init__(self, router: Router, params: WorldParams) -> None:
        import numpy as np

        if params.days <= params.holdout_days:
            raise TrafficDataError(
                f"--days {params.days} leaves nothing to learn from: the last "
                f"{params.holdout_days} days are held out for evaluation; give more days"
            )
        if params.vehicles < 1:
            raise TrafficDataError(f"--vehicles must be at least 1, got {params.vehicles}")
        self.router = router
        self.params = params
        self.rng = np.random.default_rng(params.seed)
        self.tz = ZoneInfo(TIMEZONE)
        self.start_local = datetime.combine(date.fromisoformat(params.start), datetime.min.time())
        self.points: list[LatLon] = []
        self.routes: dict[tuple[int, int], RoutePath | None] = {}
        self.conditions = Conditions(params, self.rng, self.epoch(0, 0.0))
        self.vehicles: list[dict[str, Any]] = []

    # -------------------------------------------------------------------------- places and trips

    def epoch(self, day: int, hour: float) -> float:
        local = self.start_local + timedelta(days=day, hours=hour)
        return local.replace(tzinfo=self.tz).timestamp()

    def plan(self) -> list[Trip]:
        """Places, vehicles and every trip of every day, in departure order."""
        p = self.params
        self.points = sample_points(self.router, self.rng, p.points_pool)
        n_work = max(3, p.points_pool // 4)
        works = list(range(n_work))
        homes = list(range(n_work, p.points_pool))
        trips: list[Trip] = []
        n_fleet = round(p.vehicles * p.fleet_share)
        for v in range(p.vehicles):
            vid = f"veh-{v + 1:03d}"
            kind = "fleet" if v < n_fleet else "commuter"
            home = int(self.rng.choice(homes))
            work = int(self.rng.choice(works))
            driver = float(min(max(self.rng.normal(1.0, p.driver_sigma), 0.8), 1.2))
            self.vehicles.append(
                {"id": vid, "kind": kind, "home": home, "work": work, "driver_factor": driver}
            )
            for day in range(p.days):
                weekday = (self.start_local + timedelta(days=day)).weekday() < 5
                hours: list[tuple[float, int, int, str]] = []
                if kind == "commuter" and weekday and self.rng.random() < 0.92:
                    hours.append(
                        (self._clip(self.rng.normal(7.75, 0.6), 6.0, 10.0), home, work, "commute")
                    )
                    hours.append(
                        (self._clip(self.rng.normal(16.6, 0.8), 14.5, 19.5), work, home, "commute")
                    )
                errands = self.rng.poisson(6.0 if kind == "fleet" else (0.8 if weekday else 1.5))
                for _ in range(errands):
                    hour = self._errand_hour(kind)
                    a, b = self.rng.choice(p.points_pool, 2, replace=False)
                    hours.append((hour, int(a), int(b), "errand"))
                for hour, a, b, purpose in sorted(hours):
                    trips.append(Trip("", vid, a, b, self.epoch(day, hour), purpose))
        trips.sort(key=lambda tr: (tr.depart, tr.vehicle))
        for i, trip in enumerate(trips):
            trip.id = f"trip-{i + 1:06d}"
        return trips

    def _clip(self, x: float, lo: float, hi: float) -> float:
        return float(min(max(x, lo), hi))

    def _errand_hour(self, kind: str) -> float:
        # fleet cars drive around the clock; errands mostly in the day and evening
        weights = [1, 1, 1, 1, 1, 2, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 4, 3, 2, 1]
        if kind == "fleet":
            weights = [3 if w < 3 else w for w in weights]
        probs = [w / sum(weights) for w in weights]
        return float(self.rng.choice(24, p=probs) + self.rng.random())

    # ----------------------------------------------------------------------------------- routes

    def route(self, a: int, b: int) -> RoutePath | None:
        key = (a, b)
        if key not in self.routes:
            self.routes[key] = route_path(self.router, self.points[a], self.points[b])
        return self.routes[key]

    # -------------------------------------------------------------------------------- incidents

    def make_incidents(self) -> None:
        """Incidents on the roads of the trips routed so far."""
        self.conditions.place_incidents(
            (r.edge_ids for r in self.routes.values() if r is not None), self.epoch
        )

    # ---------------------------------------------------------------------------------- driving

    def drive(self, trip: Trip, path: RoutePath, driver: float) -> tuple[Any, Any]:
        """Drive `trip` from its departure; knots (time, distance along the shape) of the drive."""
        import numpy as np

        p = self.params
        ff = path.edge_kph * edge_factors(path.edge_ids, p.seed, *p.edge_factor_range)
        noise = self.rng.lognormal(0.0, p.edge_noise_sigma, len(ff))
        offset = datetime.fromtimestamp(trip.depart, self.tz).utcoffset() or timedelta()
        local0 = trip.depart + offset.total_seconds()
        t = trip.depart
        knots_t = [t]
        knots_d = [float(path.edge_start_m[0])]
        for i in range(len(ff)):
            cong, factor = self.conditions.factors(
                path.edge_class[i], int(path.edge_ids[i]), t, local0 + (t - trip.depart)
            )
            speed = ff[i] * factor * driver * noise[i] / 3.6
            t += float(path.edge_end_m[i] - path.edge_start_m[i]) / max(speed, 0.5)
            knots_t.append(t)
            knots_d.append(float(path.edge_end_m[i]))
            wait = float(path.transition_s[i]) / cong
            if wait > 0 and i < len(ff) - 1:
                t += wait
                knots_t.append(t)
                knots_d.append(float(path.edge_end_m[i]))
        return np.array(knots_t), np.array(knots_d)

    def fixes(self, trip: Trip, path: RoutePath, knots_t: Any, knots_d: Any) -> dict[str, Any]:
        """GPS fixes along a drive: whole-second times, noisy positions, speed, heading."""
        import numpy as np

        p = self.params
        first = math.ceil(trip.depart + self.rng.uniform(0, p.interval_s))
        times = np.arange(first, knots_t[-1], p.interval_s)
        dist = np.interp(times, knots_t, knots_d)
        lat = np.interp(dist, path.cum_m, path.lat)
        lon = np.interp(dist, path.cum_m, path.lon)
        m_lat = 111_320.0
        m_lon = m_lat * math.cos(math.radians(float(path.lat[0])))
        lat = lat + self.rng.normal(0.0, p.gps_sigma_m, len(times)) / m_lat
        lon = lon + self.rng.normal(0.0, p.gps_sigma_m, len(times)) / m_lon
        seg = np.clip(np.searchsorted(knots_t, times, side="right") - 1, 0, len(knots_t) - 2)
        dt = np.maximum(knots_t[seg + 1] - knots_t[seg], 1e-6)
        speed = (knots_d[seg + 1] - knots_d[seg]) / dt * 3.6
        speed = np.maximum(speed + self.rng.normal(0.0, 1.0, len(times)), 0.0)
        idx = np.clip(np.searchsorted(path.cum_m, dist, side="right") - 1, 0, len(path.lat) - 2)
        heading = (
            np.degrees(
                np.arctan2(
                    (path.lon[idx + 1] - path.lon[idx]) * m_lon,
                    (path.lat[idx + 1] - path.lat[idx]) * m_lat,
                )
            )
            % 360.0
        )
        return {"t": times, "lat": lat, "lon": lon, "speed_kmh": speed, "heading": heading}


def _write_probes(path: Path, parts: list[dict[str, Any]]) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if parts:
        cols = {
            k: np.concatenate([p[k] for p in parts])
            for k in parts[0]
            if k not in ("vehicle_id", "trip_id")
        }
        vehicles = [p["vehicle_id"] for p in parts for _ in range(len(p["t"]))]
        trip_ids = [p["trip_id"] for p in parts for _ in range(len(p["t"]))]
    else:
        cols = {
            k: np.array([], dtype=np.float64) for k in ("t", "lat", "lon", "speed_kmh", "heading")
        }
        vehicles, trip_ids = [], []
    times = pa.array((cols["t"] * 1e6).astype(np.int64), pa.timestamp("us", tz="UTC"))
    table = pa.table(
        {
            "vehicle_id": pa.array(vehicles, pa.string()),
            "trip_id": pa.array(trip_ids, pa.string()),
            "time": times,
            "lat": pa.array(np.round(cols["lat"], 7)),
            "lon": pa.array(np.round(cols["lon"], 7)),
            "speed_kmh": pa.array(np.round(cols["speed_kmh"], 1).astype(np.float32)),
            "heading": pa.array(np.round(cols["heading"], 0).astype(np.float32)),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        table = table.set_column(2, "time", pc.strftime(times, format="%Y-%m-%dT%H:%M:%SZ"))
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path, compression="zstd")
    return int(table.num_rows)


def simulate(
    router: Router, params: WorldParams, out: str | Path, progress: Progress = _no_progress
) -> SimulationResult:
    """Drive the world's vehicles; write probes, held-out probes and the world file."""
    out_path = Path(out)
    if out_path.suffix.lower() not in (".parquet", ".csv"):
        raise TrafficDataError(f"--out {out_path.name!r}: give a .parquet or .csv file name")
    holdout_path, world_path = sidecar_paths(out_path)
    world = World(router, params)
    progress("placing homes, workplaces and trips", 0.0)
    trips = world.plan()
    holdout_start = world.epoch(params.days - params.holdout_days, 0.0)
    train: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    drivers = {v["id"]: v["driver_factor"] for v in world.vehicles}
    free_at: dict[str, float] = {}
    done: list[Trip] = []
    # route everything first so that incidents can be placed on roads people drive
    unique = sorted({(t.origin, t.destination) for t in trips})
    for i, (a, b) in enumerate(unique):
        world.route(a, b)
        if i % 20 == 0:
            progress("routing trips", 0.5 * i / max(len(unique), 1))
    world.make_incidents()
    for i, trip in enumerate(trips):
        path = world.route(trip.origin, trip.destination)
        if path is None:
            continue
        trip.depart = max(trip.depart, free_at.get(trip.vehicle, 0.0) + 60.0)
        knots_t, knots_d = world.drive(trip, path, drivers[trip.vehicle])
        trip.duration_s = float(knots_t[-1] - knots_t[0])
        trip.distance_m = float(knots_d[-1] - knots_d[0])
        free_at[trip.vehicle] = float(knots_t[-1])
        fix = world.fixes(trip, path, knots_t, knots_d)
        fix["vehicle_id"] = trip.vehicle
        fix["trip_id"] = trip.id
        (held if trip.depart >= holdout_start else train).append(fix)
        done.append(trip)
        if i % 200 == 0:
            progress("driving", 0.5 + 0.45 * i / max(len(trips), 1))
    progress("writing probes", 0.95)
    n_train = _write_probes(out_path, train)
    n_held = _write_probes(holdout_path, held)
    p = params
    data = {
        "format": WORLD_FORMAT,
        "map": router.map.name,
        "timezone": TIMEZONE,
        "params": {
            **{k: v for k, v in asdict(p).items() if k != "congestion"},
            "congestion": asdict(p.congestion),
        },
        "holdout_start": datetime.fromtimestamp(holdout_start, UTC).isoformat(),
        "probes": out_path.name,
        "holdout_probes": holdout_path.name,
        "day_factors": [round(float(x), 4) for x in world.conditions.day_factor],
        "vehicles": world.vehicles,
        "points": [[p.lat, p.lon] for p in world.points],
        "incidents": [
            {
                "edges": [int(e) for e in inc.edges],
                "start": datetime.fromtimestamp(inc.start, UTC).isoformat(),
                "end": datetime.fromtimestamp(inc.end, UTC).isoformat(),
                "factor": round(inc.factor, 3),
            }
            for inc in world.conditions.incidents
        ],
        "trips": [
            {
                "id": t.id,
                "vehicle": t.vehicle,
                "purpose": t.kind,
                "depart": datetime.fromtimestamp(t.depart, UTC).isoformat(),
                "duration_s": round(t.duration_s, 2),
                "distance_m": round(t.distance_m, 1),
                "origin": [world.points[t.origin].lat, world.points[t.origin].lon],
                "destination": [world.points[t.destination].lat, world.points[t.destination].lon],
                "holdout": t.depart >= holdout_start,
            }
            for t in done
        ],
    }
    world_path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    progress("done", 1.0)
    return SimulationResult(
        probes=out_path,
        holdout_probes=holdout_path,
        world=world_path,
        points=n_train,
        holdout_points=n_held,
        trips=len(done),
        holdout_trips=sum(1 for t in done if t.depart >= holdout_start),
        incidents=len(world.conditions.incidents),
    )


def load_world(path: str | Path) -> dict[str, Any]:
    """A world file written by `simulate`."""
    p = Path(path)
    try:
        data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrafficDataError(
            f"no world file {p}: write one with 'carmind traffic simulate'"
        ) from None
    except (OSError, ValueError) as exc:
        raise TrafficDataError(f"the world file {p} is unreadable: {exc}") from None
    if data.get("format") != WORLD_FORMAT or "trips" not in data:
        raise TrafficDataError(f"{p} is not a world file written by 'carmind traffic simulate'")
    return data
