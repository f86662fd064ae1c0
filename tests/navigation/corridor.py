"""A generated OpenStreetMap file of a motorway corridor with charging stations, for trip tests.

The corridor is one two-way motorway (`highway=motorway`, `maxspeed=120`, `oneway=no`) running
1,100 km north along longitude 25.5 E from 60.6 N, a node every 500 m and a gentle sideways
wiggle. At each town in `TOWNS` a 400 m `motorway_link` leaves eastwards for a 2 km `primary`
road into the town; a town with a charger has an `amenity=charging_station` node beside the end
of its road, tagged the way OpenStreetMap maps them (`socket:<type>:output`, `capacity`).

The chargers stop at km 520: north of it lies a 580 km stretch with none, longer than any car's
range, so a trip to the far end cannot be done.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import osmium

LON0: Final = 25.5
"""The corridor's longitude."""
LAT0: Final = 60.6
"""Its southern end."""
LENGTH_KM: Final = 1100.0
NODE_SPACING_KM: Final = 0.5
KM_PER_DEG_LAT: Final = 111.195
LINK_KM: Final = 0.4
TOWN_ROAD_KM: Final = 2.0


@dataclass(frozen=True)
class Town:
    """A town beside the motorway, `km` from the corridor's southern end."""

    name: str
    km: float
    station: dict[str, str] = field(default_factory=dict)
    """The charging station's tags beyond `amenity` and `name`; empty: the town has none."""


TOWNS: Final = (
    Town("Etelä", 0.0),
    Town(
        "Koskela",
        70.0,
        {"socket:type2_combo": "2", "socket:type2_combo:output": "50 kW", "capacity": "2"},
    ),
    Town(
        "Mäntylä",
        140.0,
        {"socket:type2_combo": "4", "socket:type2_combo:output": "150 kW", "capacity": "4"},
    ),
    Town("Rantala", 215.0, {"socket:type2": "2", "socket:type2:output": "22 kW", "capacity": "2"}),
    Town(
        "Harjula",
        290.0,
        {
            "socket:type2_combo": "6",
            "socket:type2_combo:output": "150 kW",
            "socket:type2": "2",
            "socket:type2:output": "11 kW",
            "capacity": "8",
        },
    ),
    Town("Kivelä", 360.0, {"socket:type2_combo": "2"}),
    Town(
        "Peltola",
        430.0,
        {"socket:type2_combo": "4", "socket:type2_combo:output": "350 kW", "capacity": "4"},
    ),
    Town(
        "Vaarala",
        520.0,
        {"socket:type2_combo": "4", "socket:type2_combo:output": "150 kW", "capacity": "4"},
    ),
    Town("Pohjola", 600.0),
    Town("Tunturi", LENGTH_KM),
)


def motorway_point(km: float) -> tuple[float, float]:
    """(lat, lon) of the motorway `km` from its southern end."""
    lat = LAT0 + km / KM_PER_DEG_LAT
    lon = LON0 + 0.02 * math.sin(km / 37.0)
    return lat, lon


def _east(lat: float, lon: float, km: float) -> tuple[float, float]:
    return lat, lon + km / (KM_PER_DEG_LAT * math.cos(math.radians(lat)))


def town_point(town: Town) -> tuple[float, float]:
    """(lat, lon) of the town centre: the end of its road."""
    lat, lon = motorway_point(town.km)
    return _east(lat, lon, LINK_KM + TOWN_ROAD_KM)


def station_point(town: Town) -> tuple[float, float]:
    """(lat, lon) of the town's charging station, 30 m north of the end of its road."""
    lat, lon = town_point(town)
    return lat + 0.03 / KM_PER_DEG_LAT, lon


def write_corridor(path: Path) -> Path:
    """Write the corridor as an `.osm.pbf` at `path` (replaced if it exists); `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    steps = round(LENGTH_KM / NODE_SPACING_KM)
    junction_steps = {round(t.km / NODE_SPACING_KM): t for t in TOWNS}
    nodes: list[osmium.osm.mutable.Node] = []
    ways: list[osmium.osm.mutable.Way] = []
    motorway_ids = list(range(1, steps + 2))
    for i, node_id in enumerate(motorway_ids):
        lat, lon = motorway_point(i * NODE_SPACING_KM)
        nodes.append(osmium.osm.mutable.Node(id=node_id, location=(lon, lat), tags={}))

    next_id = 1_000_000
    way_id = 1
    motorway_tags = {
        "highway": "motorway",
        "maxspeed": "120",
        "oneway": "no",
        "ref": "E75",
        "name": "Pohjoisväylä",
        "lanes": "2",
    }
    # the motorway, split at every junction (and at most 400 nodes a way)
    cuts = sorted({0, steps, *junction_steps, *range(0, steps, 400)})
    for a, b in itertools.pairwise(cuts):
        ways.append(
            osmium.osm.mutable.Way(
                id=way_id, nodes=motorway_ids[a : b + 1], tags=dict(motorway_tags)
            )
        )
        way_id += 1

    for step, town in sorted(junction_steps.items()):
        lat, lon = motorway_point(step * NODE_SPACING_KM)
        link_end = _east(lat, lon, LINK_KM)
        link_mid = _east(lat, lon, LINK_KM / 2)
        road_points = [_east(lat, lon, LINK_KM + TOWN_ROAD_KM * f) for f in (0.25, 0.5, 0.75, 1.0)]
        ids = []
        for p_lat, p_lon in [link_mid, link_end, *road_points]:
            nodes.append(osmium.osm.mutable.Node(id=next_id, location=(p_lon, p_lat), tags={}))
            ids.append(next_id)
            next_id += 1
        ways.append(
            osmium.osm.mutable.Way(
                id=way_id,
                nodes=[motorway_ids[step], ids[0], ids[1]],
                tags={"highway": "motorway_link", "oneway": "no"},
            )
        )
        way_id += 1
        ways.append(
            osmium.osm.mutable.Way(
                id=way_id,
                nodes=ids[1:],
                tags={"highway": "primary", "name": f"{town.name}ntie", "maxspeed": "60"},
            )
        )
        way_id += 1
        t_lat, t_lon = town_point(town)
        nodes.append(
            osmium.osm.mutable.Node(
                id=next_id,
                location=(t_lon + 0.0005, t_lat - 0.0002),
                tags={"place": "town", "name": town.name},
            )
        )
        next_id += 1
        if town.station:
            s_lat, s_lon = station_point(town)
            tags = {"amenity": "charging_station", "name": f"{town.name} charging"}
            tags.update(town.station)
            nodes.append(osmium.osm.mutable.Node(id=next_id, location=(s_lon, s_lat), tags=tags))
            next_id += 1

    writer = osmium.SimpleWriter(str(path))
    try:
        for node in sorted(nodes, key=lambda n: n.id or 0):
            writer.add_node(node)
        for way in ways:
            writer.add_way(way)
    finally:
        writer.close()
    return path


if __name__ == "__main__":
    import sys

    print(write_corridor(Path(sys.argv[1] if len(sys.argv) > 1 else "corridor.osm.pbf")))
