"""Tiny OpenStreetMap files for tests, written with pyosmium."""

from __future__ import annotations

from pathlib import Path

import osmium


def write_pbf(
    path: Path,
    ways: list[tuple[list[tuple[float, float]], dict[str, str]]],
    nodes: list[tuple[float, float, dict[str, str]]] = (),  # type: ignore[assignment]
) -> Path:
    """Write ways (each a list of (lat, lon) and its tags) and tagged nodes to an .osm.pbf.

    Ways that share a coordinate share the node there, so they connect.
    """
    if path.exists():
        path.unlink()
    ids: dict[tuple[float, float], int] = {}
    next_id = 1
    writer = osmium.SimpleWriter(str(path))
    try:
        for points, _ in ways:
            for lat, lon in points:
                if (lat, lon) not in ids:
                    ids[(lat, lon)] = next_id
                    writer.add_node(
                        osmium.osm.mutable.Node(
                            id=next_id, location=osmium.osm.Location(lon, lat), version=1
                        )
                    )
                    next_id += 1
        for lat, lon, tags in nodes:
            writer.add_node(
                osmium.osm.mutable.Node(
                    id=next_id, location=osmium.osm.Location(lon, lat), tags=tags, version=1
                )
            )
            next_id += 1
        for way_id, (points, tags) in enumerate(ways, start=1):
            writer.add_way(
                osmium.osm.mutable.Way(
                    id=way_id, nodes=[ids[p] for p in points], tags=tags, version=1
                )
            )
    finally:
        writer.close()
    return path


def street(
    lat0: float, lon0: float, lat1: float, lon1: float, n: int = 6
) -> list[tuple[float, float]]:
    """`n` + 1 evenly spaced points from one end to the other, rounded to OSM precision."""
    return [
        (round(lat0 + (lat1 - lat0) * i / n, 7), round(lon0 + (lon1 - lon0) * i / n, 7))
        for i in range(n + 1)
    ]
