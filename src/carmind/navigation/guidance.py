"""Route guidance on the signal hub: the service `carmind run` starts beside the car.

It watches the VSS destination (`Vehicle.Cabin.Infotainment.Navigation.DestinationSet.*`), routes
from the car's position with learned and live traffic, and keeps `Vehicle.Carmind.Navigation.*`
current while the car drives: distance and time remaining, the arrival time, the next
instruction. Every `REROUTE_EVERY_S` it asks whether live traffic makes another route faster by
the configured margin and offers it (`RerouteOffer`); setting `AcceptReroute` takes it. With
`drive=True` it hands the route to the simulated car (`Vehicle.Carmind.Simulation.Route`), which
drives it.

It also answers the assistant's navigation requests (navigate to a named place, the ETA, cancel).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from carmind.errors import CarmindError
from carmind.navigation.api import (
    DepartureAdvice,
    Navigation,
    RerouteOffer,
    nearest_shape_index,
    segment_speeds,
)
from carmind.navigation.engine import LatLon, Route, haversine_m
from carmind.navigation.narrative import distance_phrase
from carmind.signals.broker import Client, ProviderHandle
from carmind.signals.catalog import Value

if TYPE_CHECKING:
    from carmind.assistant.suggestions import Position, RouteDistance, Routine

log = logging.getLogger(__name__)

NAV: Final = "Vehicle.Carmind.Navigation."
DEST_LAT: Final = "Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Latitude"
DEST_LON: Final = "Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Longitude"
LAT: Final = "Vehicle.CurrentLocation.Latitude"
LON: Final = "Vehicle.CurrentLocation.Longitude"
SPEED: Final = "Vehicle.Speed"
SIM_ROUTE: Final = "Vehicle.Carmind.Simulation.Route"
ODOMETER: Final = "Vehicle.TraveledDistance"
ACCEPT: Final = NAV + "AcceptReroute"

SENSORS: Final = (
    "State",
    "Message",
    "DistanceRemaining",
    "TimeRemaining",
    "ArrivalTime",
    "NextInstruction",
    "NextManeuverDistance",
    "RerouteOffer",
    "RerouteSaving",
    "DepartureAdvice",
)

TICK_S: Final = 1.0
"""How often guidance follows the car (simulated seconds)."""
RETIME_EVERY_S: Final = 30.0
"""How often the time remaining is re-computed with live traffic (s); between, it counts down."""
REROUTE_EVERY_S: Final = 60.0
"""How often live traffic is asked for a faster route (s)."""
OFF_ROUTE_M: Final = 60.0
"""Farther than this from where the distance driven puts it, the car has left the route (m)."""
ADVICE_EVERY_S: Final = 300.0
"""How often departure advice for the driver's routines is refreshed (s)."""
ADVICE_AHEAD_S: Final = 3600.0
"""Advice is given for a routine whose usual departure is within this time (s)."""
NEAR_ORIGIN_M: Final = 500.0
"""A routine is advised only when the car is parked near where it starts (m)."""
ARRIVED_M: Final = 30.0
"""Within this distance of the destination, stopped, the car has arrived (m)."""
STOPPED_KMH: Final = 2.0


@dataclass
class _Guidance:
    destination: LatLon
    label: str
    route: Route
    index: int = 0
    remaining_s: float = 0.0
    retimed_at: float = 0.0
    checked_at: float = 0.0
    offer: RerouteOffer | None = None
    start_odo_km: float | None = None
    cumulative: list[float] = field(default_factory=list)
    """Distance along the route at each shape point (m)."""

    def __post_init__(self) -> None:
        self.restart(self.route, self.start_odo_km)

    def restart(self, route: Route, odo_km: float | None) -> None:
        self.route, self.index, self.start_odo_km = route, 0, odo_km
        self.cumulative = [0.0]
        for (a1, o1), (a2, o2) in itertools.pairwise(route.shape):
            self.cumulative.append(
                self.cumulative[-1] + haversine_m(LatLon(a1, o1), LatLon(a2, o2))
            )

    def locate(self, here: LatLon | None, odo_km: float | None) -> None:
        """Where the car is along the route: by distance driven since the start, checked against
        its position; by the nearest shape point where the two disagree (the car left the route)."""
        if here is None:
            return
        if odo_km is not None and self.start_odo_km is not None:
            driven = max(0.0, (odo_km - self.start_odo_km) * 1000.0)
            i = max(0, bisect.bisect_right(self.cumulative, driven) - 1)
            if haversine_m(here, LatLon(*self.route.shape[i])) <= OFF_ROUTE_M:
                self.index = max(self.index, i)
                return
        self.index = nearest_shape_index(self.route, here, self.index)


class GuidanceService:
    """Guidance for one car on one hub."""

    def __init__(
        self,
        client: Client,
        navigation: Navigation,
        *,
        clock: Callable[[], float],
        drive: bool = True,
        language: str = "en",
        margin_s: float = 120.0,
        margin_pct: float = 10.0,
        routines: Callable[[float], Sequence[Routine]] | None = None,
    ) -> None:
        self.client = client
        self.nav = navigation
        self.clock = clock
        self.drive = drive
        self.language = language
        self.margin_s = margin_s
        self.margin_pct = margin_pct
        self.state = "IDLE"
        self.current: _Guidance | None = None
        self._dest_seen: tuple[float, float] | None = None
        self._handle: ProviderHandle | None = None
        self._stop = asyncio.Event()
        self.arrivals: list[dict[str, Any]] = []
        self.routines = routines
        """The driver's learned routines (the assistant's), for departure advice."""
        self._advised_at = -math.inf
        self.advice: DepartureAdvice | None = None

    # ---------------------------------------------------------------- hub wiring

    def attach(self) -> None:
        paths = [NAV + s for s in SENSORS] + [ACCEPT, NAV + "Attribution"]
        self._handle = self.client.provide(paths, actuator=self)
        self._publish(
            {
                NAV + "State": "IDLE",
                NAV + "Message": f"map {self.nav.map.name}",
                NAV + "Attribution": self.nav.attribution,
                NAV + "RerouteOffer": "",
                NAV + "RerouteSaving": 0.0,
                NAV + "DepartureAdvice": "",
                ACCEPT: False,
            }
        )
        self._dest_seen = None  # a destination already set is guided to from the first tick

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _publish(self, values: Mapping[str, object]) -> None:
        if self._handle is not None:
            self._handle.publish_many(values, self.clock())

    def check_actuation(self, values: Mapping[str, Value]) -> Mapping[str, str]:
        if values.get(ACCEPT) is True and (self.current is None or self.current.offer is None):
            return {ACCEPT: "no faster route is on offer"}
        return {}

    def actuate(self, values: Mapping[str, Value]) -> None:
        if values.get(ACCEPT) is True:
            self.accept_reroute()

    # ---------------------------------------------------------------- reading the car

    def _number(self, path: str) -> float | None:
        dp = self.client.get(path)
        if dp is None or not isinstance(dp.value, int | float) or isinstance(dp.value, bool):
            return None
        value = float(dp.value)
        return value if math.isfinite(value) else None

    def _target(self, path: str) -> float | None:
        """An actuator's requested value (the car applies it on its next tick), else its value."""
        dp = self.client.get_target(path)
        if dp is None or not isinstance(dp.value, int | float) or isinstance(dp.value, bool):
            return self._number(path)
        value = float(dp.value)
        return value if math.isfinite(value) else None

    def _destination(self) -> tuple[float, float] | None:
        lat, lon = self._target(DEST_LAT), self._target(DEST_LON)
        if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
            return None
        return (lat, lon)

    def _position(self) -> LatLon | None:
        lat, lon = self._number(LAT), self._number(LON)
        return None if lat is None or lon is None else LatLon(lat, lon)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # ---------------------------------------------------------------- guidance

    def navigate(self, destination: LatLon, label: str = "") -> Route:
        """Route from the car to `destination` and start guidance (and driving, if asked)."""
        here = self._position()
        if here is None:
            raise CarmindError("the car's position is unknown: no route can start")
        self._publish({NAV + "State": "ROUTING", NAV + "Message": label or str(destination)})
        try:
            route = self.nav.router.route(
                here, destination, depart=self._now(), traffic="live", language=self.language
            )
        except CarmindError as exc:
            self.state = "ERROR"
            self.current = None
            self._publish({NAV + "State": "ERROR", NAV + "Message": str(exc)})
            raise
        now = self.clock()
        self.current = _Guidance(
            destination,
            label or str(destination),
            route,
            remaining_s=route.duration_s,
            retimed_at=now,
            checked_at=now,
            start_odo_km=self._number(ODOMETER),
        )
        self.state = "GUIDING"
        if self.drive:
            self._drive(route)
        self._publish({NAV + "State": "GUIDING", NAV + "Message": self.current.label})
        self._update(now)
        return route

    def _drive(self, route: Route) -> None:
        text = json.dumps(
            {
                "points": [[round(a, 6), round(b, 6)] for a, b in route.shape],
                "speeds": [round(v, 1) for v in segment_speeds(route)],
            }
        )
        try:
            self.client.actuate(SIM_ROUTE, text)
        except CarmindError as exc:
            log.info("the car does not drive the route: %s", exc)

    def cancel(self) -> None:
        if self.current is not None and self.drive:
            try:
                self.client.actuate(SIM_ROUTE, "")
                self.client.actuate("Vehicle.Carmind.Simulation.TargetSpeed", 0.0)
            except CarmindError as exc:
                log.info("could not stop the simulated driver: %s", exc)
        self.current = None
        self.state = "IDLE"
        self._publish(
            {
                NAV + "State": "IDLE",
                NAV + "Message": "guidance cancelled",
                NAV + "RerouteOffer": "",
                NAV + "RerouteSaving": 0.0,
                NAV + "NextInstruction": "",
            }
        )

    def accept_reroute(self) -> None:
        g = self.current
        if g is None or g.offer is None:
            return
        g.restart(g.offer.route, self._number(ODOMETER))
        g.offer = None
        g.remaining_s = g.route.duration_s
        if self.drive:
            self._drive(g.route)
        self._publish({NAV + "RerouteOffer": "", NAV + "RerouteSaving": 0.0, ACCEPT: False})
        self._update(self.clock())

    def tick(self) -> None:
        """One step: a new destination starts guidance; otherwise follow the car along."""
        dest = self._destination()
        if dest != self._dest_seen:
            self._dest_seen = dest
            if dest is None:
                if self.current is not None:
                    self.cancel()
            else:
                try:
                    self.navigate(LatLon(*dest))
                except CarmindError as exc:
                    log.info("no route to %s: %s", dest, exc)
                return
        now = self.clock()
        if self.current is not None:
            self._update(now)
        elif self.routines is not None and now - self._advised_at >= ADVICE_EVERY_S:
            self._advised_at = now
            self._advise(now)

    def _advise(self, now: float) -> None:
        """Departure advice for the routine due next from here within `ADVICE_AHEAD_S`."""
        assert self.routines is not None
        here = self._position()
        best: tuple[float, Routine] | None = None
        for routine in self.routines(now):
            origin = LatLon(routine.origin.position.latitude, routine.origin.position.longitude)
            if here is not None and haversine_m(here, origin) > NEAR_ORIGIN_M:
                continue
            today = datetime.fromtimestamp(now).astimezone().date()
            for day in (today, today + timedelta(days=1)):
                leave = routine.departure_on(day, None)
                due = leave is not None and now <= leave <= now + ADVICE_AHEAD_S
                if due and leave is not None and (best is None or leave < best[0]):
                    best = (leave, routine)
        advice = None
        if best is not None:
            leave, routine = best
            dest = routine.destination.position
            try:
                advice = self.nav.routine_departure(
                    LatLon(routine.origin.position.latitude, routine.origin.position.longitude),
                    LatLon(dest.latitude, dest.longitude),
                    datetime.fromtimestamp(leave, UTC),
                )
            except CarmindError as exc:
                log.info("no departure advice for the routine: %s", exc)
        self.advice = advice
        self._publish({NAV + "DepartureAdvice": advice.text(self.language) if advice else ""})

    def _update(self, now: float) -> None:
        g = self.current
        if g is None:
            return
        here = self._position()
        g.locate(here, self._number(ODOMETER))
        shape = g.route.shape
        at = g.cumulative[g.index]
        left_m = g.cumulative[-1] - at
        dest_m = haversine_m(here, g.destination) if here is not None else math.inf
        speed = self._number(SPEED) or 0.0
        if speed < STOPPED_KMH and (dest_m <= ARRIVED_M or g.index >= len(shape) - 1):
            self._arrived(g, now)
            return
        if now - g.retimed_at >= RETIME_EVERY_S and g.index < len(shape) - 1:
            try:
                g.remaining_s = self.nav.retime(g.route, g.index, depart=self._now()).duration_s
            except CarmindError as exc:
                log.info("could not re-time the route: %s", exc)
            g.retimed_at = now
        else:
            share = left_m / g.route.distance_m if g.route.distance_m > 0 else 0.0
            g.remaining_s = min(g.remaining_s, g.route.duration_s * share) if share else 0.0
        nxt = next((m for m in g.route.maneuvers if m.begin_shape_index > g.index), None)
        next_m = g.cumulative[nxt.begin_shape_index] - at if nxt else left_m
        values: dict[str, object] = {
            NAV + "DistanceRemaining": round(left_m, 1),
            NAV + "TimeRemaining": round(g.remaining_s, 1),
            NAV + "ArrivalTime": (self._now() + timedelta(seconds=g.remaining_s)).isoformat(
                timespec="seconds"
            ),
            NAV + "NextInstruction": (
                f"{distance_phrase(next_m, self.language)} {nxt.instruction}".strip() if nxt else ""
            ),
            NAV + "NextManeuverDistance": round(next_m, 1),
        }
        if now - g.checked_at >= REROUTE_EVERY_S and g.index < len(shape) - 2:
            g.checked_at = now
            try:
                offer = self.nav.reroute_offer(
                    g.route,
                    g.index,
                    depart=self._now(),
                    margin_s=self.margin_s,
                    margin_pct=self.margin_pct,
                )
            except CarmindError as exc:
                log.info("reroute check failed: %s", exc)
                offer = None
            g.offer = offer
            values[NAV + "RerouteOffer"] = offer.text(self.language) if offer else ""
            values[NAV + "RerouteSaving"] = round(offer.saving_s, 1) if offer else 0.0
        self._publish(values)

    def _arrived(self, g: _Guidance, now: float) -> None:
        self.arrivals.append(
            {"destination": g.label, "at": self._now().isoformat(timespec="seconds")}
        )
        self.current = None
        self.state = "ARRIVED"
        self._publish(
            {
                NAV + "State": "ARRIVED",
                NAV + "Message": g.label,
                NAV + "DistanceRemaining": 0.0,
                NAV + "TimeRemaining": 0.0,
                NAV + "NextInstruction": "",
                NAV + "NextManeuverDistance": 0.0,
                NAV + "RerouteOffer": "",
                NAV + "RerouteSaving": 0.0,
            }
        )

    def road_distance(self, origin: Position, destination: Position) -> RouteDistance:
        """The assistant's distance source: the planned route's length where the map has one."""
        from carmind.assistant.suggestions import RouteDistance, estimated_road_distance

        estimate = estimated_road_distance(origin, destination)
        try:
            route = self.nav.router.route(
                LatLon(origin.latitude, origin.longitude),
                LatLon(destination.latitude, destination.longitude),
                depart=self._now(),
            )
        except CarmindError:
            return estimate  # off this map: the estimate is all there is
        return RouteDistance(route.distance_m / 1000.0, False, estimate.straight_km)

    # ---------------------------------------------------------------- the assistant's requests

    def handle_request(self, action: str, data: Mapping[str, Any], lang: str) -> str | None:
        """Carry out an assistant request for navigation; the sentence to say, if any."""
        try:
            if action == "navigate" and data.get("destination"):
                where = self.nav.locate(str(data["destination"]))
                self.client.actuate_many({DEST_LAT: where.point.lat, DEST_LON: where.point.lon})
                self._dest_seen = (where.point.lat, where.point.lon)
                route = self.navigate(where.point, where.label)
                return _arrival_sentence(where.label, route, lang)
            if action == "eta":
                if self.current is None:
                    return {
                        "en": "No route is active.",
                        "zh": "当前没有导航。",
                        "nl": "Er is geen route actief.",
                    }[lang]
                arrive = (self._now() + timedelta(seconds=self.current.remaining_s)).astimezone()
                minutes = round(self.current.remaining_s / 60)
                at = arrive.strftime("%H:%M")
                return {
                    "en": f"You will arrive at {at}, in {minutes} min.",
                    "zh": f"预计 {at} 到达，还需 {minutes} 分钟。",
                    "nl": f"Je komt om {at} aan, over {minutes} min.",
                }[lang]
            if action == "cancel":
                self.cancel()
                return None
            if action == "range_check" and data.get("destination"):
                return self._range_check(str(data["destination"]), lang)
        except CarmindError as exc:
            return str(exc)
        return None

    def _range_check(self, destination: str, lang: str) -> str:
        where = self.nav.locate(destination)
        here = self._position()
        if here is None:
            raise CarmindError("the car's position is unknown")
        route = self.nav.router.route(here, where.point, depart=self._now(), traffic="live")
        range_m = self._number("Vehicle.Powertrain.Range")
        km = route.distance_m / 1000.0
        if range_m is None:
            return f"{where.label}: {km:.1f} km."
        ok = range_m >= route.distance_m * 1.1
        if lang == "zh":
            return (
                f"{where.label} 距离 {km:.1f} 公里，{'续航足够' if ok else '续航不足，需要充电'}。"
            )
        if lang == "nl":
            return f"{where.label} is {km:.1f} km rijden: {'dat haal je' if ok else 'laad eerst'}."
        return f"{where.label} is {km:.1f} km by road: {'within range' if ok else 'charge first'}."

    # ---------------------------------------------------------------- running

    async def run(self) -> None:
        """Follow the car every `TICK_S` of simulated time until `stop()` (also one that came
        before the run started)."""
        try:
            await self._follow()
        finally:
            self._stop.clear()

    async def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except CarmindError as exc:
                log.info("guidance: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TICK_S)

    def stop(self) -> None:
        self._stop.set()


def _arrival_sentence(label: str, route: Route, lang: str) -> str:
    minutes = max(1, round(route.duration_s / 60))
    km = route.distance_m / 1000.0
    at = route.arrival.astimezone().strftime("%H:%M")
    return {
        "en": f"Navigating to {label}: {km:.1f} km, {minutes} min, arriving at {at}.",
        "zh": f"开始导航前往{label}：{km:.1f} 公里，约 {minutes} 分钟，预计 {at} 到达。",
        "nl": f"Navigatie naar {label}: {km:.1f} km, {minutes} min, aankomst om {at}.",
    }[lang]
