"""Routing on a built map with Valhalla, in process.

`Router` wraps one `valhalla.Actor` (thread-safe for reads; carmind serialises calls with a
lock because the Actor holds one graph reader cache). Every Valhalla failure becomes one of
carmind's errors with a message a driver understands: a point off the map, no drivable path.

Traffic modes: `none` routes on the map's road speeds alone (OpenStreetMap speed limits and road
classes, "free flow"); `historical` adds the learned weekly speed profiles for the departure
time; `live` adds the live speeds as well, which Valhalla blends in for the first hour of the
trip when the departure is now.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from carmind import geo
from carmind.navigation.errors import LocationError, MapError, NavigationError, NoRouteError
from carmind.navigation.maps import ATTRIBUTION, MapInfo

TrafficMode = Literal["none", "historical", "live"]
SPEED_TYPES: Final[dict[str, list[str]]] = {
    "none": [],
    "historical": ["freeflow", "constrained", "predicted"],
    "live": ["freeflow", "constrained", "predicted", "current"],
}
LANGUAGES: Final = ("en", "zh", "nl")
SEARCH_CUTOFF_M: Final = 500.0
"""How far from a road a location may be (m). Valhalla would otherwise snap a point tens of
kilometres away to the nearest road and route there without a word."""
MAP_MARGIN_DEG: Final = 0.005
"""How far outside the road network's bounding box a location may lie (about 500 m)."""
_VALHALLA_LANGUAGE: Final = {"en": "en-US", "nl": "nl-NL", "zh": "en-US"}

# Valhalla error codes (valhalla/worker.cc) and what they mean to a driver
_OFF_MAP_CODES: Final = frozenset({171, 170, 172})
_NO_ROUTE_CODES: Final = frozenset({442, 443})
_TOO_FAR_CODES: Final = frozenset({154, 150, 155, 156, 157, 158})


@dataclass(frozen=True)
class LatLon:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and math.isfinite(self.lon)):
            raise LocationError(f"coordinates must be finite numbers, got {self.lat},{self.lon}")
        if not -90.0 <= self.lat <= 90.0 or not -180.0 <= self.lon <= 180.0:
            raise LocationError(
                f"{self.lat},{self.lon} is not a coordinate: latitude must be within -90..90 "
                "and longitude within -180..180"
            )

    def __str__(self) -> str:
        return f"{self.lat:.6f},{self.lon:.6f}"


def haversine_m(a: LatLon, b: LatLon) -> float:
    return geo.haversine_m(a.lat, a.lon, b.lat, b.lon)


@dataclass(frozen=True)
class Maneuver:
    type: int
    """Valhalla's maneuver type (1 start, 4 destination, 10 right, 15 left, ...)."""
    instruction: str
    distance_m: float
    duration_s: float
    street_names: tuple[str, ...]
    begin_shape_index: int
    end_shape_index: int
    verbal_pre: str = ""
    bearing_after: int | None = None
    roundabout_exit: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "instruction": self.instruction,
            "distance_m": round(self.distance_m, 1),
            "duration_s": round(self.duration_s, 1),
            "street_names": list(self.street_names),
            "begin_shape_index": self.begin_shape_index,
            "end_shape_index": self.end_shape_index,
        }
        if self.verbal_pre:
            out["verbal"] = self.verbal_pre
        return out


@dataclass(frozen=True)
class Route:
    origin: LatLon
    destination: LatLon
    distance_m: float
    duration_s: float
    departure: datetime
    """Aware UTC datetime."""
    arrival: datetime
    maneuvers: tuple[Maneuver, ...]
    shape: tuple[tuple[float, float], ...]
    """(lat, lon) points along the route."""
    language: str
    traffic: TrafficMode
    attribution: str = ATTRIBUTION
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "distance_m": round(self.distance_m, 1),
            "duration_s": round(self.duration_s, 1),
            "departure": self.departure.isoformat(timespec="seconds"),
            "arrival": self.arrival.isoformat(timespec="seconds"),
            "language": self.language,
            "traffic": self.traffic,
            "maneuvers": [m.to_json() for m in self.maneuvers],
            "shape": [[round(lat, 6), round(lon, 6)] for lat, lon in self.shape],
            "attribution": self.attribution,
        }

    def to_geojson(self) -> dict[str, Any]:
        line = [[round(lon, 6), round(lat, 6)] for lat, lon in self.shape]
        features: list[dict[str, Any]] = [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {
                    "distance_m": round(self.distance_m, 1),
                    "duration_s": round(self.duration_s, 1),
                    "departure": self.departure.isoformat(timespec="seconds"),
                    "arrival": self.arrival.isoformat(timespec="seconds"),
                },
            }
        ]
        for m in self.maneuvers:
            lat, lon = self.shape[min(m.begin_shape_index, len(self.shape) - 1)]
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                    "properties": {"instruction": m.instruction, "type": m.type},
                }
            )
        return {"type": "FeatureCollection", "features": features, "attribution": self.attribution}

    def to_gpx(self) -> str:
        from xml.sax.saxutils import escape

        rtept = []
        for m in self.maneuvers:
            lat, lon = self.shape[min(m.begin_shape_index, len(self.shape) - 1)]
            rtept.append(
                f'    <rtept lat="{lat:.6f}" lon="{lon:.6f}"><desc>{escape(m.instruction)}</desc>'
                "</rtept>"
            )
        trkpt = [f'      <trkpt lat="{lat:.6f}" lon="{lon:.6f}"/>' for lat, lon in self.shape]
        return "\n".join(
            [
                '<?xml version="1.0" encoding="UTF-8"?>',
                '<gpx version="1.1" creator="carmind" xmlns="http://www.topografix.com/GPX/1/1">',
                f'  <metadata><copyright author="OpenStreetMap contributors"><license>'
                f"https://opendatacommons.org/licenses/odbl/</license></copyright>"
                f"<time>{self.departure.isoformat(timespec='seconds')}</time></metadata>",
                "  <rte>",
                *rtept,
                "  </rte>",
                "  <trk><trkseg>",
                *trkpt,
                "  </trkseg></trk>",
                "</gpx>",
                "",
            ]
        )


def to_valhalla_time(moment: datetime) -> str:
    """A Valhalla `date_time` value: naive UTC, minute resolution (see `maps`)."""
    if moment.tzinfo is None:
        raise NavigationError("times given to the router must carry a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _error_code(exc: Exception) -> int | None:
    code = getattr(exc, "code", None)
    return int(code) if isinstance(code, int) else None


class Router:
    """Routes on one map. Create once and reuse: opening the graph costs tens of milliseconds."""

    def __init__(self, info: MapInfo) -> None:
        from valhalla import Actor

        self.map = info
        config = info.valhalla_config()
        config["logging"]["type"] = ""
        try:
            self._actor = Actor(config)
        except (RuntimeError, OSError, AttributeError, ValueError) as exc:
            raise MapError(f"Valhalla cannot open the map at {info.paths.root}: {exc}") from None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- raw Valhalla access

    def call(self, action: str, request: dict[str, Any]) -> dict[str, Any]:
        """One Valhalla action (`route`, `trace_attributes`, `locate`, ...) with carmind errors."""
        from valhalla import ValhallaError

        method = getattr(self._actor, action)
        try:
            with self._lock:
                text = method(json.dumps(request))
        except ValhallaError as exc:
            raise self._translate(exc, request) from None
        result: dict[str, Any] = json.loads(text)
        return result

    def _translate(self, exc: Exception, request: dict[str, Any]) -> NavigationError:
        code = _error_code(exc)
        message = str(getattr(exc, "message", "") or exc)
        locations = [
            LatLon(float(loc["lat"]), float(loc["lon"])) for loc in request.get("locations", [])
        ]
        if code in _OFF_MAP_CODES or code in _TOO_FAR_CODES:
            off = [str(p) for p in locations if not self.map.contains(p.lat, p.lon)]
            where = ", ".join(off) if off else ", ".join(str(p) for p in locations)
            return LocationError(
                f"{where} is off the map '{self.map.name}' or too far from any road "
                f"(the map covers lon {self.map.bbox[0]:.3f}..{self.map.bbox[2]:.3f}, "
                f"lat {self.map.bbox[1]:.3f}..{self.map.bbox[3]:.3f})"
            )
        if code in _NO_ROUTE_CODES:
            a, b = (locations + locations)[:2] if locations else (None, None)
            return NoRouteError(f"no drivable route from {a} to {b} on the map '{self.map.name}'")
        return NavigationError(f"routing failed: {message} (Valhalla error {code})")

    # ---------------------------------------------------------------- routes

    def check_on_map(self, *points: LatLon) -> None:
        for p in points:
            if not self.map.contains(p.lat, p.lon, margin_deg=MAP_MARGIN_DEG):
                raise LocationError(
                    f"{p} is off the map '{self.map.name}' (it covers lon "
                    f"{self.map.bbox[0]:.3f}..{self.map.bbox[2]:.3f}, "
                    f"lat {self.map.bbox[1]:.3f}..{self.map.bbox[3]:.3f})"
                )

    def request(
        self,
        points: Sequence[LatLon],
        *,
        depart: datetime | None = None,
        arrive: datetime | None = None,
        traffic: TrafficMode = "historical",
        language: str = "en",
        alternates: int = 0,
        costing: str = "auto",
    ) -> dict[str, Any]:
        if depart is not None and arrive is not None:
            raise NavigationError("give a departure or an arrival time, not both")
        if language not in LANGUAGES:
            raise NavigationError(
                f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}"
            )
        if len(points) < 2:
            raise NavigationError("a route needs an origin and a destination")
        locations: list[dict[str, Any]] = [
            {"lat": p.lat, "lon": p.lon, "search_cutoff": SEARCH_CUTOFF_M} for p in points
        ]
        for middle in locations[1:-1]:
            middle["type"] = "through"  # pass by, no stop: keeps to a given path
        req: dict[str, Any] = {
            "locations": locations,
            "costing": costing,
            "costing_options": {costing: {"speed_types": SPEED_TYPES[traffic]}},
            "units": "kilometers",
            "language": _VALHALLA_LANGUAGE[language],
            "directions_options": {"language": _VALHALLA_LANGUAGE[language]},
        }
        if traffic != "none":
            if arrive is not None:
                req["date_time"] = {"type": 2, "value": to_valhalla_time(arrive)}
            else:
                req["date_time"] = {
                    "type": 1,
                    "value": to_valhalla_time(depart or datetime.now(UTC)),
                }
        if alternates:
            req["alternates"] = alternates
        return req

    def routes(
        self,
        origin: LatLon,
        destination: LatLon,
        *,
        depart: datetime | None = None,
        arrive: datetime | None = None,
        traffic: TrafficMode = "historical",
        language: str = "en",
        alternates: int = 0,
        via: Sequence[LatLon] = (),
    ) -> list[Route]:
        """The best route and up to `alternates` others, best first."""
        self.check_on_map(origin, destination, *via)
        req = self.request(
            [origin, *via, destination],
            depart=depart,
            arrive=arrive,
            traffic=traffic,
            language=language,
            alternates=alternates,
        )
        if origin == destination and not via:
            raise NavigationError(f"the origin and the destination are the same point ({origin})")
        result = self.call("route", req)
        trips = [result["trip"], *(alt["trip"] for alt in result.get("alternates", []))]
        return [
            self._route(trip, origin, destination, depart, arrive, traffic, language)
            for trip in trips
        ]

    def route(
        self,
        origin: LatLon,
        destination: LatLon,
        *,
        depart: datetime | None = None,
        arrive: datetime | None = None,
        traffic: TrafficMode = "historical",
        language: str = "en",
        via: Sequence[LatLon] = (),
    ) -> Route:
        return self.routes(
            origin,
            destination,
            depart=depart,
            arrive=arrive,
            traffic=traffic,
            language=language,
            via=via,
        )[0]

    def _route(
        self,
        trip: dict[str, Any],
        origin: LatLon,
        destination: LatLon,
        depart: datetime | None,
        arrive: datetime | None,
        traffic: TrafficMode,
        language: str,
    ) -> Route:
        from valhalla.midgard.utils import decode_polyline

        from carmind.navigation.narrative import instruction

        shape: list[tuple[float, float]] = []
        maneuvers: list[Maneuver] = []
        for leg in trip["legs"]:
            offset = max(len(shape) - 1, 0)
            points = decode_polyline(leg["shape"], precision=6, order="latlng")
            shape.extend(points if not shape else points[1:])
            for m in leg["maneuvers"]:
                names = tuple(m.get("street_names", ()))
                text = m["instruction"] if language != "zh" else instruction(m, "zh")
                maneuvers.append(
                    Maneuver(
                        type=int(m["type"]),
                        instruction=text,
                        distance_m=float(m["length"]) * 1000.0,
                        duration_s=float(m["time"]),
                        street_names=names,
                        begin_shape_index=int(m["begin_shape_index"]) + offset,
                        end_shape_index=int(m["end_shape_index"]) + offset,
                        verbal_pre=(
                            m.get("verbal_pre_transition_instruction", "")
                            if language != "zh"
                            else text
                        ),
                        bearing_after=m.get("bearing_after"),
                        roundabout_exit=m.get("roundabout_exit_count"),
                    )
                )
        summary = trip["summary"]
        duration = float(summary["time"])
        if arrive is not None and traffic != "none":
            arrival = arrive.astimezone(UTC)
            departure = arrival - timedelta(seconds=duration)
        else:
            departure = (depart or datetime.now(UTC)).astimezone(UTC)
            arrival = departure + timedelta(seconds=duration)
        return Route(
            origin=origin,
            destination=destination,
            distance_m=float(summary["length"]) * 1000.0,
            duration_s=duration,
            departure=departure,
            arrival=arrival,
            maneuvers=tuple(maneuvers),
            shape=tuple(shape),
            language=language,
            traffic=traffic,
            raw=trip,
        )
