"""The roads of the traffic world, asked of Valhalla: places to drive between, and routes.

A route is asked once on free-flow speeds, then walked edge by edge (`trace_attributes` with
`edge_walk`) for what the world needs to drive it: each edge's id, road class, map speed, extent
along the shape and the modelled transition time at its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from carmind.navigation.engine import LatLon, Router
from carmind.navigation.errors import NavigationError
from carmind.navigation.traffic.matching import ROAD_CLASS_CODE


@dataclass(frozen=True)
class RoutePath:
    """A route as the world drives it: shape and the edges along it."""

    lat: Any
    lon: Any
    cum_m: Any
    """Distance along the shape at each shape point."""
    edge_ids: Any
    edge_class: Any
    edge_kph: Any
    edge_start_m: Any
    edge_end_m: Any
    transition_s: Any


def route_path(router: Router, a: LatLon, b: LatLon) -> RoutePath | None:
    import numpy as np
    from valhalla.midgard.utils import decode_polyline

    req = router.request([a, b], traffic="none")
    req["directions_type"] = "none"
    try:
        trip = router.call("route", req)["trip"]
        shape = np.array(decode_polyline(trip["legs"][0]["shape"], precision=6, order="latlng"))
        walk = router.call(
            "trace_attributes",
            {
                "shape": [{"lat": float(x), "lon": float(y)} for x, y in shape],
                "costing": "auto",
                "costing_options": {"auto": {"speed_types": []}},
                "shape_match": "edge_walk",
                "filters": {
                    "attributes": [
                        "edge.id",
                        "edge.road_class",
                        "edge.speed",
                        "edge.begin_shape_index",
                        "edge.end_shape_index",
                        "node.transition_time",
                        "shape",
                    ],
                    "action": "include",
                },
            },
        )
    except NavigationError:
        return None
    edges = walk.get("edges") or []
    if walk.get("shape"):
        # the edge shape indexes point into the walked shape, not the route's
        shape = np.array(decode_polyline(walk["shape"], precision=6, order="latlng"))
    if len(shape) < 2 or not edges:
        return None
    lat, lon = shape[:, 0], shape[:, 1]
    dy = np.diff(lat) * 111_320.0
    dx = np.diff(lon) * 111_320.0 * np.cos(np.radians(lat[:-1]))
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(dx, dy))])
    begin = np.array([int(e["begin_shape_index"]) for e in edges])
    end = np.array([int(e["end_shape_index"]) for e in edges])
    return RoutePath(
        lat=lat,
        lon=lon,
        cum_m=cum,
        edge_ids=np.array([int(e["id"]) for e in edges], dtype=np.uint64),
        edge_class=np.array(
            [ROAD_CLASS_CODE.get(str(e.get("road_class")), 7) for e in edges], dtype=np.int8
        ),
        edge_kph=np.array([max(float(e.get("speed", 30.0)), 5.0) for e in edges]),
        edge_start_m=cum[begin],
        edge_end_m=cum[end],
        transition_s=np.array(
            [float(e.get("end_node", {}).get("transition_time", 0.0)) for e in edges]
        ),
    )


def sample_points(router: Router, rng: Any, n: int) -> list[LatLon]:
    """`n` points on drivable roads, spread over the map, that can be routed to and from.

    Connectivity is checked against a hub: the candidate that reaches most of a few others
    (a point on a private or cut-off road reaches none).
    """
    b = router.map.bbox
    found: list[LatLon] = []
    hub: LatLon | None = None
    for _ in range(20):
        lats = rng.uniform(b[1], b[3], 4 * n)
        lons = rng.uniform(b[0], b[2], 4 * n)
        req = {
            "locations": [
                {"lat": float(a), "lon": float(o)} for a, o in zip(lats, lons, strict=True)
            ],
            "costing": "auto",
            "verbose": False,
        }
        # Valhalla's locate answers a JSON array, one entry per location
        located = cast(list[dict[str, Any]], router.call("locate", req))
        candidates = [
            LatLon(float(e[0]["correlated_lat"]), float(e[0]["correlated_lon"]))
            for e in (item.get("edges") for item in located)
            if e
        ]
        if hub is None and len(candidates) >= 6:
            scores = [
                sum(
                    route_path(router, c, o) is not None and route_path(router, o, c) is not None
                    for o in candidates[:6]
                    if o != c
                )
                for c in candidates[:6]
            ]
            hub = candidates[scores.index(max(scores))]
        if hub is None:
            continue
        for p in candidates:
            if len(found) >= n:
                break
            if p == hub or (route_path(router, hub, p) and route_path(router, p, hub)):
                found.append(p)
        if len(found) >= n:
            return found
    raise NavigationError(f"the map '{router.map.name}' has too few routable roads")
