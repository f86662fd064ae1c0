"""The navigation spoke's public API, for the assistant, the cockpit and the CLI.

```python
from carmind.navigation.api import Navigation

nav = Navigation()                      # the default map (central Helsinki), built on first use
route = nav.route("Kamppi", "60.1699,24.9384", language="zh")
advice = nav.departure_for("Kamppi", "Kallio", arrive=datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
print(advice.leave_at, advice.text("en"))
```

Every call names places as `lat,lon` or by name (the map's place index), takes aware datetimes,
and raises `carmind.navigation.errors` on bad input: an unknown place, a point off the map, a
destination no road reaches.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from carmind.navigation.engine import (
    LatLon,
    Route,
    Router,
    TrafficMode,
    haversine_m,
)
from carmind.navigation.errors import NavigationError
from carmind.navigation.maps import MapInfo, open_map

if TYPE_CHECKING:
    from carmind.navigation.places import Place, PlaceIndex
    from carmind.navigation.trip import TripPlan

log = logging.getLogger(__name__)

DEPARTURE_BUFFER_S: Final = 5 * 60.0
"""Margin kept between the predicted arrival and the time to be there (s): ETAs learned from
traffic are within 10 % on most trips, which for the 10-30 min trips of a city is 1-3 min, and
parking takes a few minutes more."""


@dataclass(frozen=True)
class Waypoint:
    """A resolved location: coordinates and what to call it."""

    point: LatLon
    label: str

    def to_json(self) -> dict[str, Any]:
        return {"lat": self.point.lat, "lon": self.point.lon, "label": self.label}


@dataclass(frozen=True)
class DepartureAdvice:
    """When to leave to be at the destination by `target`, with the route that makes it."""

    leave_at: datetime
    target: datetime
    arrival: datetime
    duration_s: float
    buffer_s: float
    route: Route
    usual_leave_at: datetime | None = None
    """For a routine: when the driver usually leaves, to say how today differs."""

    def text(self, lang: str = "en") -> str:
        at = self.leave_at.astimezone().strftime("%H:%M")
        minutes = round(self.duration_s / 60)
        if self.usual_leave_at is not None:
            earlier = round((self.usual_leave_at - self.leave_at).total_seconds() / 60)
            if earlier >= 3:
                return {
                    "en": f"Leave at {at}, {earlier} min earlier than usual: the drive takes "
                    f"{minutes} min with today's traffic.",
                    "zh": f"请在 {at} 出发，比平时早 {earlier} 分钟：按今天的路况行程约需 "
                    f"{minutes} 分钟。",
                    "nl": f"Vertrek om {at}, {earlier} min eerder dan gewoonlijk: de rit duurt "
                    f"{minutes} min met het verkeer van vandaag.",
                }[lang]
        return {
            "en": f"Leave at {at} to arrive on time: the drive takes about {minutes} min.",
            "zh": f"请在 {at} 出发以准时到达：行程约需 {minutes} 分钟。",
            "nl": f"Vertrek om {at} om op tijd te zijn: de rit duurt ongeveer {minutes} min.",
        }[lang]

    def to_json(self) -> dict[str, Any]:
        return {
            "leave_at": self.leave_at.isoformat(timespec="seconds"),
            "target": self.target.isoformat(timespec="seconds"),
            "arrival": self.arrival.isoformat(timespec="seconds"),
            "duration_s": round(self.duration_s, 1),
            "buffer_s": self.buffer_s,
            "usual_leave_at": (
                self.usual_leave_at.isoformat(timespec="seconds") if self.usual_leave_at else None
            ),
            "advice": self.text("en"),
        }


@dataclass(frozen=True)
class RerouteOffer:
    """A faster way to the destination found with live traffic."""

    route: Route
    saving_s: float
    current_s: float

    def text(self, lang: str = "en") -> str:
        minutes = max(1, round(self.saving_s / 60))
        via = next((m.street_names[0] for m in self.route.maneuvers if m.street_names), "")
        if lang == "zh":
            return f"发现更快的路线{('，经' + via) if via else ''}，可节省 {minutes} 分钟。"
        if lang == "nl":
            return (
                f"Snellere route gevonden{(' via ' + via) if via else ''}: {minutes} min sneller."
            )
        return f"Faster route found{(' via ' + via) if via else ''}: saves {minutes} min."


def parse_time(text: str, *, default_tz: Any = None) -> datetime:
    """An ISO 8601 time; without an offset it is local time (the system's time zone)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise NavigationError(
            f"bad time {text!r}: expected ISO 8601 such as 2026-11-23T08:00 or "
            "2026-11-23T08:00+02:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_tz) if default_tz else moment.astimezone()
    return moment


class Navigation:
    """Routes, ETAs and recommendations on one map; cheap to query once built."""

    def __init__(
        self,
        map_dir: str | Path | None = None,
        *,
        language: str = "en",
        build_default: bool = True,
    ) -> None:
        self.map: MapInfo = open_map(map_dir, build_default=build_default)
        self.router = Router(self.map)
        self.language = language
        self._places: PlaceIndex | None = None

    @property
    def places(self) -> PlaceIndex:
        from carmind.navigation.places import PlaceIndex

        if self._places is None:
            self._places = PlaceIndex(self.map.paths.places)
        return self._places

    @property
    def attribution(self) -> str:
        return self.map.attribution

    # ------------------------------------------------------------------ places

    def locate(self, where: str | LatLon | Waypoint) -> Waypoint:
        """`lat,lon` or a place name (searched in the map's place index)."""
        from carmind.navigation.places import parse_location

        if isinstance(where, Waypoint):
            return where
        if isinstance(where, LatLon):
            return Waypoint(where, str(where))
        lat, lon, label = parse_location(where, self.places)
        return Waypoint(LatLon(lat, lon), label)

    def search(self, text: str, near: LatLon | None = None, limit: int = 10) -> list[Place]:
        return self.places.search(text, near=(near.lat, near.lon) if near else None, limit=limit)

    # ------------------------------------------------------------------ routes

    def route(
        self,
        origin: str | LatLon | Waypoint,
        destination: str | LatLon | Waypoint,
        *,
        depart: datetime | None = None,
        arrive: datetime | None = None,
        traffic: TrafficMode = "live",
        language: str | None = None,
        alternates: int = 0,
    ) -> Route:
        """The fastest route for the departure (or arrival) time, with learned and live traffic.

        Live speeds count when the departure is now or soon: Valhalla blends them over the
        first hour from now and uses the learned weekly profile after that.
        """
        a, b = self.locate(origin), self.locate(destination)
        return self.router.routes(
            a.point,
            b.point,
            depart=depart,
            arrive=arrive,
            traffic=traffic,
            language=language or self.language,
            alternates=alternates,
        )[0]

    def alternatives(
        self,
        origin: str | LatLon | Waypoint,
        destination: str | LatLon | Waypoint,
        *,
        depart: datetime | None = None,
        count: int = 2,
        language: str | None = None,
    ) -> list[Route]:
        a, b = self.locate(origin), self.locate(destination)
        return self.router.routes(
            a.point, b.point, depart=depart, alternates=count, language=language or self.language
        )

    def eta(
        self,
        origin: str | LatLon | Waypoint,
        destination: str | LatLon | Waypoint,
        depart: datetime | None = None,
    ) -> datetime:
        return self.route(origin, destination, depart=depart).arrival

    def trip(
        self,
        origin: str | LatLon | Waypoint,
        destination: str | LatLon | Waypoint,
        *,
        profile: str,
        soc_pct: float,
        reserve_pct: float = 10.0,
        ambient_c: float = 20.0,
        hvac: bool = True,
        depart: datetime | None = None,
        stations_csv: Path | None = None,
    ) -> TripPlan:
        """An EV trip with charging stops as needed (docs/trip.md): the fastest that arrives,
        and reaches every charger, above `reserve_pct`."""
        from carmind.navigation.consumption import Conditions
        from carmind.navigation.stations import load_stations_csv
        from carmind.navigation.trip import TripPlanner, TripRequest
        from carmind.vehicle.profiles import get_profile

        request = TripRequest(
            profile=get_profile(profile),
            start_soc_pct=soc_pct,
            reserve_pct=reserve_pct,
            conditions=Conditions(ambient_c=ambient_c, hvac=hvac),
            depart=depart,
            extra_stations=tuple(load_stations_csv(stations_csv)) if stations_csv else (),
        )
        a, b = self.locate(origin), self.locate(destination)
        return TripPlanner(self.map, self.router).plan(a.point, b.point, request)

    # ------------------------------------------------------------------ recommendations

    def departure_for(
        self,
        origin: str | LatLon | Waypoint,
        destination: str | LatLon | Waypoint,
        arrive: datetime,
        *,
        buffer_s: float = DEPARTURE_BUFFER_S,
        now: datetime | None = None,
        usual_leave_at: datetime | None = None,
    ) -> DepartureAdvice:
        """When to leave to arrive by `arrive` (with `buffer_s` to spare).

        The travel time depends on the departure (rush hour), so the departure is found by
        fixed-point iteration from Valhalla's arrive-by route: route forward from the candidate
        departure, move it by the miss, and stop when the predicted arrival is within a minute.
        """
        a, b = self.locate(origin), self.locate(destination)
        target = arrive.astimezone(UTC)
        goal = target - timedelta(seconds=buffer_s)
        first = self.router.route(a.point, b.point, arrive=goal, language=self.language)
        leave = goal - timedelta(seconds=first.duration_s)
        best = first
        for _ in range(4):
            best = self.router.route(a.point, b.point, depart=leave, language=self.language)
            miss = (best.arrival - goal).total_seconds()
            if abs(miss) <= 60:
                break
            leave -= timedelta(seconds=miss)
        if now is not None and leave < now:
            leave = now.astimezone(UTC)
            best = self.router.route(a.point, b.point, depart=leave, language=self.language)
        return DepartureAdvice(
            leave_at=leave,
            target=target,
            arrival=best.arrival,
            duration_s=best.duration_s,
            buffer_s=buffer_s,
            route=best,
            usual_leave_at=usual_leave_at,
        )

    def routine_departure(
        self,
        origin: LatLon,
        destination: LatLon,
        usual_departure: datetime,
        *,
        buffer_s: float = 0.0,
    ) -> DepartureAdvice:
        """For a learned routine: when to leave today to arrive when the driver usually does.

        The usual arrival is the usual departure plus the typical (historical) travel time at
        that hour; today's advice adds what live traffic knows, so a jam moves the departure.
        """
        typical = self.router.route(
            origin, destination, depart=usual_departure, traffic="historical"
        )
        return self.departure_for(
            origin,
            destination,
            arrive=typical.arrival,
            buffer_s=buffer_s,
            usual_leave_at=usual_departure.astimezone(UTC),
        )

    def retime(self, route: Route, start_index: int, *, depart: datetime | None = None) -> Route:
        """The rest of `route` from shape point `start_index`, timed with the traffic now.

        The path stays as it is: its edges are walked with Valhalla's map matching, timed with
        the learned speeds, and each edge's live speed is blended in as Valhalla blends it
        (`carmind.navigation.timing`).
        """
        from carmind.navigation.timing import blended_seconds, walk
        from carmind.navigation.traffic.valhalla_io import LiveTrafficFile

        shape = route.shape[start_index:]
        if len(shape) < 2:
            raise NavigationError("the route has been driven to its end")
        start = (depart or datetime.now(UTC)).astimezone(UTC)
        edges = walk(self.router, shape, start)
        with LiveTrafficFile(self.map.paths.live_traffic) as live_file:
            live = {e.edge_id: kph for e in edges if (kph := live_file.read(e.edge_id)) is not None}
        duration = blended_seconds(edges, live)
        left_m = sum(e.length_m for e in edges)
        return replace(
            route,
            origin=LatLon(*shape[0]),
            distance_m=left_m,
            duration_s=duration,
            departure=start,
            arrival=start + timedelta(seconds=duration),
            maneuvers=tuple(m for m in route.maneuvers if m.end_shape_index > start_index),
            shape=tuple(shape),
            traffic="live",
        )

    def reroute_offer(
        self,
        current: Route,
        start_index: int,
        *,
        depart: datetime | None = None,
        margin_s: float = 120.0,
        margin_pct: float = 10.0,
    ) -> RerouteOffer | None:
        """A faster route from shape point `start_index` of `current`, if live traffic has one.

        Offered only when it saves at least `margin_s` and `margin_pct` % of the time left, so
        guidance does not flap between two routes of about the same time.
        """
        remaining = self.retime(current, start_index, depart=depart)
        here = LatLon(*current.shape[start_index])
        best = self.router.route(
            here, current.destination, depart=depart, traffic="live", language=current.language
        )
        saving = remaining.duration_s - best.duration_s
        if saving >= margin_s and saving >= remaining.duration_s * margin_pct / 100.0:
            return RerouteOffer(best, saving, remaining.duration_s)
        return None


def nearest_shape_index(route: Route, point: LatLon, hint: int = 0, window: int = 400) -> int:
    """The index of the shape point of `route` nearest `point`, searched forward from `hint`."""
    best, best_d = hint, math.inf
    for i in range(max(0, hint - 5), min(len(route.shape), hint + window)):
        d = haversine_m(point, LatLon(*route.shape[i]))
        if d < best_d:
            best, best_d = i, d
    return best


def segment_speeds(route: Route) -> list[float]:
    """Speed (km/h) for each segment of the route's shape: each maneuver's average speed."""
    n = max(len(route.shape) - 1, 1)
    speeds = [30.0] * n
    for m in route.maneuvers:
        if m.duration_s <= 0 or m.distance_m <= 0:
            continue
        v = min(max(m.distance_m / m.duration_s * 3.6, 5.0), 250.0)
        for i in range(m.begin_shape_index, min(m.end_shape_index, n)):
            speeds[i] = v
    return speeds
