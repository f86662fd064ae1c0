"""EV trip planning: the route, the energy it takes, and the charging stops that make it fastest.

`TripPlanner.plan` works in four steps:

1. Route the origin to the destination (Valhalla) and read the route's edges (length, speed,
   grade) with `trace_attributes`; `carmind.navigation.consumption` turns them into energy.
2. Candidates: the map's charging stations (`amenity=charging_station`) and any extra ones
   within `corridor_km` of the route, at most `PER_WINDOW` of the most powerful per
   `WINDOW_KM` of route.
3. Legs: a Valhalla route between every pair of candidates in route order (origin and
   destination included) that the battery could possibly cover, with its energy.
4. Search: an exact label-setting search over (stop, departure state of charge) on a grid of
   `soc_step_pct`, plus the states that exactly cover each outgoing leg, minimising driving +
   detour + charging time subject to never being below the reserve on any leg or at any stop
   (`carmind.navigation.charging_search.solve`). Charging time `ChargeTable` follows the
   profile's charging curve capped by the charger.

A stop also costs `stop_overhead_s` (leaving the road, parking, plugging in). Everything the
plan says is in the `TripPlan` it returns; a trip that no charger makes possible raises
`TripError` naming the gap.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np

from carmind.navigation.charging_search import (
    DEFAULT_SOC_STEP_PCT,
    DEFAULT_STOP_OVERHEAD_S,
    Leg,
    SearchProblem,
    Solution,
    reachable_nodes,
    solve,
)
from carmind.navigation.consumption import (
    ChargeTable,
    Conditions,
    ConsumptionModel,
    LegEnergy,
    Segment,
)
from carmind.navigation.engine import LatLon, Router, TrafficMode, haversine_m
from carmind.navigation.errors import NavigationError, NoRouteError, TripError
from carmind.navigation.maps import MapInfo
from carmind.navigation.stations import Station, station_from_tags
from carmind.vehicle.profiles import VehicleProfile

__all__ = [
    "ChargeStop",
    "TripLeg",
    "TripPlan",
    "TripPlanner",
    "TripRequest",
]

log = logging.getLogger(__name__)

DEFAULT_CORRIDOR_KM: Final = 5.0
WINDOW_KM: Final = 10.0
PER_WINDOW: Final = 2
"""Candidate thinning: at most this many chargers (the most powerful) per window of route."""
DEFAULT_RESERVE_PCT: Final = 10.0
PRUNE_SLACK: Final = 0.15
"""A leg is routed only when the main route between its ends takes at most (1 + slack) x the
energy the battery can give; detours rarely save more than this."""
TRACE_CHUNK_M: Final = 150_000.0
TRACE_CHUNK_POINTS: Final = 5_000
"""Valhalla's `trace_attributes` refuses long shapes (200 km, 16,000 points by default)."""


@dataclass(frozen=True)
class TripRequest:
    """What to plan: the car, its charge, the conditions and the search settings."""

    profile: VehicleProfile
    start_soc_pct: float
    reserve_pct: float = DEFAULT_RESERVE_PCT
    conditions: Conditions = field(default_factory=Conditions)
    depart: datetime | None = None
    """Aware datetime; None: now."""
    extra_stations: tuple[Station, ...] = ()
    corridor_km: float = DEFAULT_CORRIDOR_KM
    soc_step_pct: float = DEFAULT_SOC_STEP_PCT
    stop_overhead_s: float = DEFAULT_STOP_OVERHEAD_S
    traffic: TrafficMode = "historical"

    def __post_init__(self) -> None:
        soc, reserve = self.start_soc_pct, self.reserve_pct
        if not (math.isfinite(soc) and 0.0 < soc <= 100.0):
            raise TripError(f"state of charge {soc!r} % is out of range: give 0 < soc <= 100")
        if not (math.isfinite(reserve) and 0.0 <= reserve < 100.0):
            raise TripError(f"reserve {reserve!r} % is out of range: give 0 <= reserve < 100")
        if reserve >= soc:
            raise TripError(
                f"the reserve ({reserve:g} %) must be below the state of charge at the start "
                f"({soc:g} %)"
            )
        if not (math.isfinite(self.corridor_km) and 0.0 < self.corridor_km <= 50.0):
            raise TripError(f"corridor {self.corridor_km!r} km is out of range: give 0..50 km")
        if not (math.isfinite(self.soc_step_pct) and 0.1 <= self.soc_step_pct <= 10.0):
            raise TripError(f"SoC step {self.soc_step_pct!r} % is out of range: give 0.1..10 %")
        if not (math.isfinite(self.stop_overhead_s) and 0.0 <= self.stop_overhead_s <= 3600.0):
            raise TripError(
                f"stop overhead {self.stop_overhead_s!r} s is out of range: give 0..3600 s"
            )
        if self.depart is not None and self.depart.tzinfo is None:
            raise TripError("the departure time must carry a time zone")


@dataclass(frozen=True)
class TripLeg:
    """One stretch driven without charging."""

    start: str
    end: str
    distance_m: float
    duration_s: float
    energy_kwh: float
    start_soc_pct: float
    end_soc_pct: float
    depart: datetime
    arrive: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "distance_km": round(self.distance_m / 1000.0, 2),
            "duration_min": round(self.duration_s / 60.0, 1),
            "energy_kwh": round(self.energy_kwh, 2),
            "start_soc_pct": round(self.start_soc_pct, 1),
            "end_soc_pct": round(self.end_soc_pct, 1),
            "depart": self.depart.isoformat(timespec="seconds"),
            "arrive": self.arrive.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class ChargeStop:
    """One charging stop."""

    station: Station
    arrival_soc_pct: float
    departure_soc_pct: float
    charge_s: float
    overhead_s: float
    power_kw: float
    """The most this charger gives this car."""
    energy_kwh: float
    arrive: datetime
    depart: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "station": self.station.name,
            "lat": round(self.station.lat, 6),
            "lon": round(self.station.lon, 6),
            "station_power_kw": self.station.power_kw,
            "current": "DC" if self.station.dc else "AC",
            "assumed_power": self.station.assumed_power,
            "car_power_kw": round(self.power_kw, 1),
            "arrival_soc_pct": round(self.arrival_soc_pct, 1),
            "departure_soc_pct": round(self.departure_soc_pct, 1),
            "charging_min": round(self.charge_s / 60.0, 1),
            "stop_min": round((self.charge_s + self.overhead_s) / 60.0, 1),
            "energy_kwh": round(self.energy_kwh, 2),
            "arrive": self.arrive.isoformat(timespec="seconds"),
            "depart": self.depart.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class TripPlan:
    """The fastest way there: legs, charging stops, and the totals."""

    origin: str
    destination: str
    profile_id: str
    start_soc_pct: float
    reserve_pct: float
    conditions: Conditions
    hvac_w: float
    legs: tuple[TripLeg, ...]
    stops: tuple[ChargeStop, ...]
    direct_distance_m: float
    direct_duration_s: float
    depart: datetime
    candidates: int
    """Chargers considered along the route."""
    planning_s: float

    @property
    def needs_stop(self) -> bool:
        return bool(self.stops)

    @property
    def arrival_soc_pct(self) -> float:
        return self.legs[-1].end_soc_pct

    @property
    def arrive(self) -> datetime:
        return self.legs[-1].arrive

    @property
    def total_s(self) -> float:
        return (self.arrive - self.depart).total_seconds()

    @property
    def driving_s(self) -> float:
        return sum(leg.duration_s for leg in self.legs)

    @property
    def charging_s(self) -> float:
        return sum(stop.charge_s + stop.overhead_s for stop in self.stops)

    @property
    def distance_m(self) -> float:
        return sum(leg.distance_m for leg in self.legs)

    @property
    def energy_kwh(self) -> float:
        return sum(leg.energy_kwh for leg in self.legs)

    @property
    def summary(self) -> str:
        hours = self.total_s / 3600.0
        if not self.stops:
            return (
                f"no charging stop needed: arrive with {self.arrival_soc_pct:.0f} % after "
                f"{hours:.1f} h"
            )
        count = len(self.stops)
        return (
            f"{count} charging stop{'s' if count > 1 else ''} "
            f"({self.charging_s / 60.0:.0f} min): arrive with {self.arrival_soc_pct:.0f} % "
            f"after {hours:.1f} h"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "destination": self.destination,
            "profile": self.profile_id,
            "start_soc_pct": self.start_soc_pct,
            "reserve_pct": self.reserve_pct,
            "ambient_c": self.conditions.ambient_c,
            "hvac": self.conditions.hvac,
            "hvac_w": round(self.hvac_w, 0),
            "needs_stop": self.needs_stop,
            "summary": self.summary,
            "depart": self.depart.isoformat(timespec="seconds"),
            "arrive": self.arrive.isoformat(timespec="seconds"),
            "total_min": round(self.total_s / 60.0, 1),
            "driving_min": round(self.driving_s / 60.0, 1),
            "charging_min": round(self.charging_s / 60.0, 1),
            "distance_km": round(self.distance_m / 1000.0, 2),
            "detour_km": round((self.distance_m - self.direct_distance_m) / 1000.0, 2),
            "energy_kwh": round(self.energy_kwh, 2),
            "arrival_soc_pct": round(self.arrival_soc_pct, 1),
            "legs": [leg.to_json() for leg in self.legs],
            "stops": [stop.to_json() for stop in self.stops],
            "candidates": self.candidates,
            "planning_s": round(self.planning_s, 3),
        }


@dataclass(frozen=True)
class _Drive:
    """A routed leg: its router distance and time, and the road it drives."""

    distance_m: float
    duration_s: float
    segments: tuple[Segment, ...]
    shape: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class _Node:
    name: str
    point: LatLon
    along_m: float
    station: Station | None = None


@dataclass(frozen=True)
class _Prepared:
    problem: SearchProblem
    nodes: tuple[_Node, ...]
    model: ConsumptionModel
    direct: _Drive
    main_kwh: Callable[[int, int], float]
    """Energy of the direct route between two nodes' places along it (kWh)."""


class TripPlanner:
    """Plans EV trips on one map. Create once: it keeps the router and the map's chargers."""

    def __init__(self, info: MapInfo, router: Router | None = None) -> None:
        self.map = info
        self.router = router or Router(info)
        self._stations: list[Station] | None = None

    def map_stations(self) -> list[Station]:
        """The map's charging stations (`amenity=charging_station`), read once."""
        if self._stations is None:
            from carmind.navigation.places import PlaceIndex

            index = PlaceIndex(self.map.paths.places, map_name=self.map.name)
            try:
                self._stations = [
                    station_from_tags(p.name, p.lat, p.lon, p.tags, p.osm_id)
                    for p in index.charging_stations()
                ]
            finally:
                index.close()
        return self._stations

    def resolve(self, text: str) -> tuple[LatLon, str]:
        """A location given as `lat,lon` or a place name on this map."""
        from carmind.navigation.places import PlaceIndex, parse_location

        index = PlaceIndex(self.map.paths.places, map_name=self.map.name)
        try:
            lat, lon, label = parse_location(text, index)
        finally:
            index.close()
        return LatLon(lat, lon), label

    # ---------------------------------------------------------------- routing

    def _drive(self, a: LatLon, b: LatLon, request: TripRequest) -> _Drive:
        from valhalla.midgard.utils import decode_polyline

        depart = request.depart or datetime.now(UTC)
        req = self.router.request([a, b], depart=depart, traffic=request.traffic)
        req["directions_type"] = "none"
        trip = self.router.call("route", req)["trip"]
        leg = trip["legs"][0]
        summary = leg["summary"]
        shape = tuple(
            (float(p[0]), float(p[1])) for p in decode_polyline(leg["shape"], 6, "latlng")
        )
        segments = self._segments(shape, req)
        return _Drive(float(summary["length"]) * 1000.0, float(summary["time"]), segments, shape)

    def _segments(
        self, shape: Sequence[tuple[float, float]], route_request: Mapping[str, Any]
    ) -> tuple[Segment, ...]:
        """The edges a route shape drives (length, speed, grade), by Valhalla's
        `trace_attributes` in pieces of at most `TRACE_CHUNK_M` (its distance limits)."""
        base: dict[str, Any] = {
            "costing": route_request["costing"],
            "costing_options": route_request["costing_options"],
            "filters": {
                "attributes": ["edge.length", "edge.speed", "edge.weighted_grade"],
                "action": "include",
            },
        }
        if "date_time" in route_request:
            base["date_time"] = route_request["date_time"]
        segments: list[Segment] = []
        for chunk in _chunks(shape):
            request = {**base, "encoded_polyline": encode_polyline6(chunk)}
            try:
                result = self.router.call(
                    "trace_attributes", {**request, "shape_match": "edge_walk"}
                )
            except NavigationError:
                result = self.router.call(
                    "trace_attributes", {**request, "shape_match": "map_snap"}
                )
            segments.extend(
                Segment(
                    float(e.get("length", 0.0)) * 1000.0,
                    float(e.get("speed", 0.0)),
                    float(e.get("weighted_grade", 0.0)),
                )
                for e in result.get("edges", [])
            )
        return tuple(segments)

    # ---------------------------------------------------------------- the corridor

    def _candidates(
        self, drive: _Drive, stations: Sequence[Station], request: TripRequest
    ) -> list[tuple[float, Station]]:
        """(distance along the route, station) for the chargers near the route, thinned."""
        if not stations or len(drive.shape) < 2:
            return []
        pts = np.array(drive.shape, dtype=float)
        lat0 = math.radians(float(pts[:, 0].mean()))
        scale = np.array([111_195.0, 111_195.0 * math.cos(lat0)])
        xy = pts * scale
        seg_start, seg_vec = xy[:-1], xy[1:] - xy[:-1]
        seg_len2 = np.maximum((seg_vec**2).sum(axis=1), 1e-9)
        cum = np.concatenate([[0.0], np.cumsum(np.sqrt((seg_vec**2).sum(axis=1)))])
        to_m = drive.distance_m / cum[-1] if cum[-1] > 0 else 1.0
        corridor = request.corridor_km * 1000.0
        pad = corridor / 111_195.0
        margin = np.array([pad, pad / math.cos(lat0)])
        lo, hi = pts.min(axis=0) - margin, pts.max(axis=0) + margin
        found: list[tuple[float, float, Station]] = []
        for station in stations:
            if not (lo[0] <= station.lat <= hi[0] and lo[1] <= station.lon <= hi[1]):
                continue
            p = np.array([station.lat, station.lon]) * scale
            t = np.clip(((p - seg_start) * seg_vec).sum(axis=1) / seg_len2, 0.0, 1.0)
            nearest = seg_start + seg_vec * t[:, None]
            dist = np.sqrt(((nearest - p) ** 2).sum(axis=1))
            k = int(dist.argmin())
            if dist[k] <= corridor:
                along = (cum[k] + t[k] * math.sqrt(seg_len2[k])) * to_m
                found.append((along, float(dist[k]), station))
        profile = request.profile
        windows: dict[int, list[tuple[float, float, Station]]] = {}
        for item in found:
            windows.setdefault(int(item[0] // (WINDOW_KM * 1000.0)), []).append(item)
        kept: list[tuple[float, Station]] = []
        for items in windows.values():
            items.sort(key=lambda it: (-_car_power_kw(profile, it[2]), it[1]))
            kept.extend((along, st) for along, _, st in items[:PER_WINDOW])
        kept.sort(key=lambda it: it[0])
        return kept

    # ---------------------------------------------------------------- planning

    def plan(
        self, origin: str | LatLon, destination: str | LatLon, request: TripRequest
    ) -> TripPlan:
        """The fastest trip from `origin` to `destination` with charging stops as needed."""
        started = time.perf_counter()
        prepared = self._prepare(origin, destination, request)
        solution = solve(prepared.problem)
        if solution is None:
            raise self._gap_error(prepared, request)
        return self._assemble(solution, prepared, request, started)

    def search_problem(
        self, origin: str | LatLon, destination: str | LatLon, request: TripRequest
    ) -> SearchProblem:
        """The search `plan` solves: the candidate chargers and the legs between them."""
        return self._prepare(origin, destination, request).problem

    def _prepare(
        self, origin: str | LatLon, destination: str | LatLon, request: TripRequest
    ) -> _Prepared:
        if isinstance(origin, LatLon):
            a, a_name = origin, str(origin)
        else:
            a, a_name = self.resolve(origin)
        if isinstance(destination, LatLon):
            b, b_name = destination, str(destination)
        else:
            b, b_name = self.resolve(destination)
        self.router.check_on_map(a, b)
        if haversine_m(a, b) < 1.0:
            raise TripError(f"the origin and the destination are the same point ({a})")
        profile = request.profile
        model = ConsumptionModel(profile, request.conditions)
        direct = self._drive(a, b, request)
        candidates = self._candidates(
            direct, [*self.map_stations(), *request.extra_stations], request
        )
        nodes = [
            _Node(a_name, a, 0.0),
            *(_Node(st.name, st.point, along, st) for along, st in candidates),
            _Node(b_name, b, direct.distance_m),
        ]
        aux_w = model.aux_w
        charge: list[ChargeTable | None] = [
            None if node.station is None else _table(profile, node.station, aux_w) for node in nodes
        ]
        # energy along the direct route, to skip legs the battery cannot possibly cover
        dist, energy = _cumulative_energy(model, direct)
        capacity = profile.usable_battery_kwh

        def main_kwh(i: int, j: int) -> float:
            lo = float(np.interp(nodes[i].along_m, dist, energy))
            hi = float(np.interp(nodes[j].along_m, dist, energy))
            return hi - lo

        legs: dict[tuple[int, int], Leg] = {}
        n = len(nodes)
        for i in range(n - 1):
            table = charge[i]
            top = request.start_soc_pct if table is None else table.reachable_soc()
            budget = (top - request.reserve_pct) / 100.0 * capacity * (1.0 + PRUNE_SLACK)
            for j in range(i + 1, n):
                if main_kwh(i, j) > budget:
                    continue
                if i == 0 and j == n - 1:
                    drive = direct
                else:
                    try:
                        drive = self._drive(nodes[i].point, nodes[j].point, request)
                    except NoRouteError:
                        log.info(
                            "no route from %s to %s: leg skipped", nodes[i].name, nodes[j].name
                        )
                        continue
                energy_leg = model.leg(drive.segments, 0.0 if i == 0 else None)
                legs[(i, j)] = _leg(drive, energy_leg)
        problem = SearchProblem(
            capacity_kwh=capacity,
            start_soc_pct=request.start_soc_pct,
            reserve_pct=request.reserve_pct,
            legs=legs,
            charge=charge,
            stop_overhead_s=request.stop_overhead_s,
            soc_step_pct=request.soc_step_pct,
        )
        return _Prepared(problem, tuple(nodes), model, direct, main_kwh)

    def _assemble(
        self, solution: Solution, prepared: _Prepared, request: TripRequest, started: float
    ) -> TripPlan:
        problem, nodes, model, direct = (
            prepared.problem,
            prepared.nodes,
            prepared.model,
            prepared.direct,
        )
        depart = (request.depart or datetime.now(UTC)).astimezone(UTC)
        clock = depart
        legs: list[TripLeg] = []
        stops: list[ChargeStop] = []
        path = solution.nodes
        for k in range(len(path) - 1):
            i, j = path[k], path[k + 1]
            leg = problem.legs[(i, j)]
            leave = solution.departure_soc[k]
            arrive_at = clock + timedelta(seconds=leg.duration_s)
            legs.append(
                TripLeg(
                    nodes[i].name,
                    nodes[j].name,
                    leg.distance_m,
                    leg.duration_s,
                    leg.energy_kwh,
                    leave,
                    solution.arrival_soc[k + 1],
                    clock,
                    arrive_at,
                )
            )
            clock = arrive_at
            station = nodes[j].station
            table = problem.charge[j]
            if station is not None and table is not None:
                charge_s = solution.charge_s[k + 1]
                stay = charge_s + request.stop_overhead_s
                a, d = solution.arrival_soc[k + 1], solution.departure_soc[k + 1]
                stops.append(
                    ChargeStop(
                        station,
                        a,
                        d,
                        charge_s,
                        request.stop_overhead_s,
                        table.power_kw,
                        (d - a) / 100.0 * problem.capacity_kwh,
                        clock,
                        clock + timedelta(seconds=stay),
                    )
                )
                clock += timedelta(seconds=stay)
        return TripPlan(
            origin=nodes[0].name,
            destination=nodes[-1].name,
            profile_id=request.profile.id,
            start_soc_pct=request.start_soc_pct,
            reserve_pct=request.reserve_pct,
            conditions=request.conditions,
            hvac_w=model.hvac.steady_w,
            legs=tuple(legs),
            stops=tuple(stops),
            direct_distance_m=direct.distance_m,
            direct_duration_s=direct.duration_s,
            depart=depart,
            candidates=len(nodes) - 2,
            planning_s=time.perf_counter() - started,
        )

    def _gap_error(self, prepared: _Prepared, request: TripRequest) -> TripError:
        """The error for a trip no plan makes: where the gap is that no charger closes."""
        problem, nodes, model, main_kwh = (
            prepared.problem,
            prepared.nodes,
            prepared.model,
            prepared.main_kwh,
        )
        reach = reachable_nodes(problem)
        last = max(reach, key=lambda k: nodes[k].along_m)
        following = [k for k in range(len(nodes)) if nodes[k].along_m > nodes[last].along_m]
        nxt = min(following, key=lambda k: nodes[k].along_m) if following else len(nodes) - 1
        gap_km = (nodes[nxt].along_m - nodes[last].along_m) / 1000.0
        flat = model.leg([Segment(100_000.0, 100.0)], start_s=None).energy_kwh / 100.0
        if gap_km > 1.0 and main_kwh(last, nxt) > 0.0:
            flat = main_kwh(last, nxt) / gap_km  # kWh per km at this stretch's speeds
        profile = request.profile
        if last == 0:
            usable = (request.start_soc_pct - request.reserve_pct) / 100.0
            reach_km = usable * profile.usable_battery_kwh / flat
            return TripError(
                f"the trip cannot be done: with {request.start_soc_pct:g} % the "
                f"{profile.name} covers about {reach_km:.0f} km above the "
                f"{request.reserve_pct:g} % reserve, but the first charger on the way, "
                f"{nodes[nxt].name}, is {gap_km:.0f} km along the route"
                if nxt != len(nodes) - 1
                else f"the trip cannot be done: the destination is {gap_km:.0f} km along the "
                f"route, the {profile.name} covers about {reach_km:.0f} km with "
                f"{request.start_soc_pct:g} % above the {request.reserve_pct:g} % reserve, and "
                f"no charger within {request.corridor_km:g} km of the route closes the gap"
            )
        usable = (100.0 - request.reserve_pct) / 100.0
        reach_km = usable * profile.usable_battery_kwh / flat
        return TripError(
            f"the trip cannot be done: no charger closes the {gap_km:.0f} km gap between "
            f"{nodes[last].name} (km {nodes[last].along_m / 1000.0:.0f} of the route) and "
            f"{nodes[nxt].name} (km {nodes[nxt].along_m / 1000.0:.0f}); on a full battery the "
            f"{profile.name} covers about {reach_km:.0f} km above the "
            f"{request.reserve_pct:g} % reserve"
        )


def _chunks(shape: Sequence[tuple[float, float]]) -> list[Sequence[tuple[float, float]]]:
    """`shape` cut into pieces of at most `TRACE_CHUNK_M` and `TRACE_CHUNK_POINTS` points that
    share their end points."""
    if len(shape) < 2:
        return [shape]
    pts = np.radians(np.asarray(shape, dtype=float))
    dlat = np.diff(pts[:, 0])
    dlon = np.diff(pts[:, 1]) * np.cos(pts[:-1, 0])
    cumulative = np.concatenate([[0.0], np.cumsum(np.hypot(dlat, dlon) * 6_371_008.8)])
    chunks: list[Sequence[tuple[float, float]]] = []
    start = 0
    while start < len(shape) - 1:
        limit = cumulative[start] + TRACE_CHUNK_M
        end = int(np.searchsorted(cumulative, limit, side="right")) - 1
        end = max(start + 1, min(end, start + TRACE_CHUNK_POINTS, len(shape) - 1))
        chunks.append(shape[start : end + 1])
        start = end
    return chunks


def encode_polyline6(points: Sequence[tuple[float, float]]) -> str:
    """(lat, lon) points as an encoded polyline with 6 digits, the precision Valhalla reads."""
    out: list[str] = []
    prev_lat = prev_lon = 0
    for lat, lon in points:
        ilat, ilon = round(lat * 1e6), round(lon * 1e6)
        for delta in (ilat - prev_lat, ilon - prev_lon):
            value = ~(delta << 1) if delta < 0 else delta << 1
            while value >= 0x20:
                out.append(chr((0x20 | (value & 0x1F)) + 63))
                value >>= 5
            out.append(chr(value + 63))
        prev_lat, prev_lon = ilat, ilon
    return "".join(out)


def _car_power_kw(profile: VehicleProfile, station: Station) -> float:
    limit = station.power_kw if station.dc else min(station.power_kw, profile.max_ac_charge_kw)
    return min(limit, profile.max_dc_charge_kw)


def _table(profile: VehicleProfile, station: Station, aux_w: float) -> ChargeTable:
    return ChargeTable(profile, station.power_kw, ac=not station.dc, aux_w=aux_w)


def _leg(drive: _Drive, energy: LegEnergy) -> Leg:
    return Leg(drive.distance_m, drive.duration_s, energy.energy_kwh, energy.peak_kwh)


def _cumulative_energy(model: ConsumptionModel, drive: _Drive) -> tuple[list[float], list[float]]:
    """Distance (scaled to the router's) and energy drawn (kWh) at each edge end of `drive`."""
    along = model.profile_along(drive.segments, start_s=None)
    scale = drive.distance_m / (along.distance_m[-1] or 1.0)
    return [d * scale for d in along.distance_m], [e / 3.6e6 for e in along.energy_j]
