"""Timing a given path with learned and live speeds, edge by edge, as Valhalla does.

Valhalla times a route it finds itself. To time a path that is already chosen (the rest of the
route being driven, or a route found earlier), carmind walks the path's edges with Valhalla's
`trace_attributes` (edge walk, historical speeds for the departure time) and then blends in the
live speed of each edge exactly as Valhalla's `GraphTile::GetSpeed` does: fully at the departure
and fading linearly to the historical speed over the first hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from carmind.navigation.engine import Router, to_valhalla_time

LIVE_FADE_S: Final = 3600.0
"""Valhalla's live-speed fade: 1 at the departure, 0 an hour into the trip (GetSpeed)."""


@dataclass(frozen=True)
class TimedEdge:
    edge_id: int
    length_m: float
    speed_kph: float
    """The historical speed Valhalla used for the edge at the time it is reached."""
    transition_s: float
    """Time spent at the node before the edge (turns, signals) in Valhalla's costing."""


def walk(router: Router, shape: Sequence[tuple[float, float]], depart: datetime) -> list[TimedEdge]:
    """The edges of the path `shape` (lat, lon points), timed with historical speeds."""
    result = router.call(
        "trace_attributes",
        {
            "shape": [{"lat": lat, "lon": lon} for lat, lon in shape],
            "costing": "auto",
            "costing_options": {"auto": {"speed_types": ["freeflow", "constrained", "predicted"]}},
            "date_time": {"type": 1, "value": to_valhalla_time(depart)},
            "shape_match": "edge_walk",
            "filters": {
                "attributes": ["edge.id", "edge.length", "edge.speed", "node.elapsed_time"],
                "action": "include",
            },
        },
    )
    edges: list[TimedEdge] = []
    previous_end = 0.0
    for edge in result.get("edges", []):
        length_m = float(edge.get("length", 0.0)) * 1000.0
        kph = max(float(edge.get("speed", 0.0)), 1.0)
        edge_s = length_m / kph * 3.6
        end = float(_end_elapsed(edge, previous_end + edge_s))
        edges.append(
            TimedEdge(int(edge["id"]), length_m, kph, max(end - previous_end - edge_s, 0.0))
        )
        previous_end = end
    return edges


def _end_elapsed(edge: Mapping[str, Any], default: float) -> float:
    node = edge.get("end_node") or {}
    return float(node.get("elapsed_time", default))


def blended_seconds(edges: Sequence[TimedEdge], live: Mapping[int, float]) -> float:
    """Travel time over `edges` with each edge's live speed (km/h) faded in over the first hour."""
    elapsed = 0.0
    for e in edges:
        kph = e.speed_kph
        live_kph = live.get(e.edge_id)
        if live_kph is not None:
            p = 1.0 - min(elapsed / LIVE_FADE_S, 1.0)
            kph = max(live_kph * p + e.speed_kph * (1.0 - p), 1.0)
        elapsed += e.transition_s + e.length_m / kph * 3.6
    return elapsed
