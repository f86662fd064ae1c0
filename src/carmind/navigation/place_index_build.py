"""Building the place index: `build_index` reads an `.osm.pbf` once with pyosmium and writes
`places.sqlite` beside the routing tiles, for `carmind.navigation.places.PlaceIndex` to search.

It indexes:

- named places (`place=city`, `suburb`, `neighbourhood`, `square`, ...);
- named points of interest (amenities, shops, tourism, leisure, stations, named buildings, ...);
- charging stations, named or not (the name falls back to operator, brand or network);
- addresses (`addr:street` + `addr:housenumber`, such as "Mannerheimintie 13");
- streets: one entry per street name and 0.1° grid cell, at the middle node of its longest way.

Every entry is stored under its name and its alternative names (`ALT_NAME_KEYS`), each as
`carmind.navigation.places.normalize` makes it, and with an importance (`_importance`) that
orders the places matching a text equally well.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from carmind.navigation.errors import MapError
from carmind.navigation.places import FORMAT_VERSION, _haversine_km, normalize

ALT_NAME_KEYS: Final = (
    "name:en",
    "name:fi",
    "name:sv",
    "name:zh",
    "name:zh-Hans",
    "alt_name",
    "official_name",
    "short_name",
    "loc_name",
)
# keys that make a named object a point of interest, most telling first; `None`: any value
POI_KEYS: Final[tuple[tuple[str, frozenset[str] | None], ...]] = (
    ("amenity", None),
    ("shop", None),
    ("tourism", None),
    ("leisure", None),
    ("historic", None),
    ("railway", frozenset({"station", "halt", "tram_stop", "subway_entrance"})),
    ("public_transport", frozenset({"station"})),
    ("aeroway", frozenset({"aerodrome", "terminal", "helipad"})),
    ("office", None),
    ("craft", None),
    ("healthcare", None),
    ("emergency", frozenset({"ambulance_station"})),
    ("man_made", None),
    ("highway", None),
    ("building", None),
    ("natural", None),
    ("landuse", None),
)
CHARGING_ALIASES: Final = ("charging station", "充电站")
# highway values a car may use: their nodes make the bbox of the drivable network
CAR_HIGHWAYS: Final = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)
NOT_STREETS: Final = frozenset(
    {"platform", "proposed", "construction", "abandoned", "razed", "bus_stop", "elevator"}
)
STREET_CELL_DEG: Final = 0.1
"""Ways of one name further apart than this grid make separate streets (one per town)."""

Fraction = Callable[[float], None]


def _no_progress(fraction: float) -> None:
    del fraction


@dataclass(frozen=True)
class IndexStats:
    """What `build_index` wrote."""

    places: int
    bbox: tuple[float, float, float, float]
    """min_lon, min_lat, max_lon, max_lat of the drivable road network."""
    charging_stations: int


_STATIONS: Final = frozenset(
    {
        "railway=station",
        "public_transport=station",
        "aeroway=aerodrome",
        "aeroway=terminal",
        "building=train_station",
    }
)
_STOPS: Final = frozenset(
    {"railway=tram_stop", "railway=halt", "railway=subway_entrance", "highway=bus_stop"}
)


def _importance(kind: str, category: str) -> int:
    """Lower is more important: orders places that match a text equally well."""
    key, _, value = category.partition("=")
    if kind == "place":
        if value in ("city", "town"):
            return 0
        if value in ("suburb", "borough", "quarter", "village", "municipality", "square"):
            return 1
        return 2 if value in ("neighbourhood", "locality", "island", "plaza") else 3
    if kind == "street":
        return 2
    if kind == "poi":
        if category in _STATIONS:
            return 1
        if category in _STOPS:
            return 5
        return 3 if key in ("tourism", "historic", "leisure") else 4
    if kind == "charging_station":
        return 4
    return 5


# ------------------------------------------------------------------------------------ build


@dataclass
class _Row:
    osm_id: str
    name: str
    kind: str
    category: str
    lat: float
    lon: float
    tags: dict[str, str]
    names: tuple[str, ...]


@dataclass
class _Street:
    length_m: float
    osm_id: str
    lat: float
    lon: float
    tags: dict[str, str]


def _search_names(tags: dict[str, str], name: str) -> tuple[str, ...]:
    names = [name]
    for key in ALT_NAME_KEYS:
        for value in tags.get(key, "").split(";"):
            if value.strip():
                names.append(value.strip())
    return tuple(dict.fromkeys(names))


def _category(tags: dict[str, str]) -> str | None:
    for key, values in POI_KEYS:
        value = tags.get(key)
        if value and value != "no" and (values is None or value in values):
            return f"{key}={value}"
    return None


def _way_length_m(coords: list[tuple[float, float]]) -> float:
    return 1000.0 * sum(
        _haversine_km(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(coords)
    )


class _Collector:
    """Turns OSM objects into index rows as pyosmium streams them (objects die after a step)."""

    def __init__(self) -> None:
        self.rows: list[_Row] = []
        self.streets: dict[tuple[str, int, int], _Street] = {}
        self.bbox = [math.inf, math.inf, -math.inf, -math.inf]

    def objects(self, osm_id: str, tags: dict[str, str], lat: float, lon: float) -> None:
        """Rows for one object located at (lat, lon): a place, a POI, a charger, an address."""
        name = tags.get("name", "").strip()
        if tags.get("amenity") == "charging_station":
            label = next(
                (tags[k].strip() for k in ("name", "operator", "brand", "network") if tags.get(k)),
                "Charging station",
            )
            names = _search_names(tags, label) + tuple(
                tags[k] for k in ("operator", "brand", "network") if tags.get(k)
            )
            names = tuple(dict.fromkeys(names + CHARGING_ALIASES))
            self._add(
                osm_id, label, "charging_station", "amenity=charging_station", lat, lon, tags, names
            )
        elif name and tags.get("place"):
            category = f"place={tags['place']}"
            self._add(osm_id, name, "place", category, lat, lon, tags, _search_names(tags, name))
        elif name:
            poi = _category(tags) or ("type=multipolygon" if osm_id[0] == "r" else None)
            if poi:
                names = _search_names(tags, name)
                self._add(osm_id, name, "poi", poi, lat, lon, tags, names)
        street, number = tags.get("addr:street", "").strip(), tags.get("addr:housenumber", "")
        if street and number.strip():
            label = f"{street} {number.strip()}"
            names = (label,) + ((tags["addr:housename"],) if tags.get("addr:housename") else ())
            category = f"building={tags['building']}" if tags.get("building") else "address"
            self._add(osm_id, label, "address", category, lat, lon, tags, names)

    def _add(
        self,
        osm_id: str,
        name: str,
        kind: str,
        category: str,
        lat: float,
        lon: float,
        tags: dict[str, str],
        names: tuple[str, ...],
    ) -> None:
        self.rows.append(_Row(osm_id, name, kind, category, lat, lon, tags, names))

    def way(self, way_id: int, tags: dict[str, str], coords: list[tuple[float, float]]) -> None:
        """A way: part of a street, of the drivable network, or a place drawn as an outline."""
        if not coords:
            return
        highway = tags.get("highway", "")
        closed = len(coords) > 2 and coords[0] == coords[-1]
        if highway in CAR_HIGHWAYS and "no" not in (tags.get("access"), tags.get("motor_vehicle")):
            lats, lons = [c[0] for c in coords], [c[1] for c in coords]
            self.bbox[0] = min(self.bbox[0], min(lons))
            self.bbox[1] = min(self.bbox[1], min(lats))
            self.bbox[2] = max(self.bbox[2], max(lons))
            self.bbox[3] = max(self.bbox[3], max(lats))
        is_area = closed and (not highway or tags.get("area") == "yes")
        name = tags.get("name", "").strip()
        if highway and not is_area:
            if name and highway not in NOT_STREETS:
                self._street(way_id, name, tags, coords)
            return
        if is_area:
            ring = coords[:-1]
            lat = sum(c[0] for c in ring) / len(ring)
            lon = sum(c[1] for c in ring) / len(ring)
        else:
            lat, lon = coords[len(coords) // 2]
        self.objects(f"w{way_id}", tags, lat, lon)

    def _street(
        self, way_id: int, name: str, tags: dict[str, str], coords: list[tuple[float, float]]
    ) -> None:
        lat, lon = coords[len(coords) // 2]
        key = (name, math.floor(lat / STREET_CELL_DEG), math.floor(lon / STREET_CELL_DEG))
        length = _way_length_m(coords)
        known = self.streets.get(key)
        if known is None or length > known.length_m:
            self.streets[key] = _Street(length, f"w{way_id}", lat, lon, tags)

    def finish(self) -> None:
        """Turn the streets gathered way by way into rows."""
        for (name, _, _), street in sorted(self.streets.items()):
            category = f"highway={street.tags.get('highway', 'road')}"
            names = _search_names(street.tags, name)
            self._add(
                street.osm_id, name, "street", category, street.lat, street.lon, street.tags, names
            )
        self.streets.clear()


def _read_pbf(pbf: Path, progress: Fraction) -> _Collector:
    import osmium

    collector = _Collector()
    # OSM files list nodes, then ways, then relations; areas are assembled at the end
    phase_start = {"n": 0.02, "w": 0.45, "r": 0.65, "a": 0.7}
    phase = ""
    try:
        for obj in osmium.FileProcessor(str(pbf)).with_locations().with_areas():
            kind = obj.type_str()
            if kind != phase:
                phase = kind
                progress(phase_start.get(kind, 0.7))
            if not len(obj.tags):
                continue
            if isinstance(obj, osmium.osm.Node):
                if obj.location.valid():
                    lat, lon = obj.location.lat, obj.location.lon
                    collector.objects(f"n{obj.id}", dict(obj.tags), lat, lon)
            elif isinstance(obj, osmium.osm.Way):
                coords = [(n.lat, n.lon) for n in obj.nodes if n.location.valid()]
                collector.way(obj.id, dict(obj.tags), coords)
            elif isinstance(obj, osmium.osm.Area) and not obj.from_way():
                ring = [
                    (n.lat, n.lon)
                    for outer in obj.outer_rings()
                    for n in outer
                    if n.location.valid()
                ]
                if ring:
                    lat = sum(c[0] for c in ring) / len(ring)
                    lon = sum(c[1] for c in ring) / len(ring)
                    collector.objects(f"r{obj.orig_id()}", dict(obj.tags), lat, lon)
    except (RuntimeError, OSError, ValueError) as exc:
        raise MapError(
            f"cannot read {pbf} as an OpenStreetMap PBF file ({exc}); the file is probably "
            "corrupt or truncated: download the extract again"
        ) from None
    collector.finish()
    return collector


_SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE places (
    id INTEGER PRIMARY KEY,
    osm_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    importance INTEGER NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    tags TEXT NOT NULL
);
CREATE TABLE names (place_id INTEGER NOT NULL REFERENCES places(id), norm TEXT NOT NULL);
"""
_INDEXES: Final = """
CREATE INDEX names_norm ON names(norm);
CREATE INDEX places_kind ON places(kind);
CREATE INDEX places_lat ON places(lat);
"""


def _write_sqlite(collector: _Collector, path: Path, pbf: Path, progress: Fraction) -> bool:
    """Write the rows into a new SQLite file at `path`; whether FTS5 was available."""
    db = sqlite3.connect(path)
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        try:
            db.execute(
                "CREATE VIRTUAL TABLE names_fts USING fts5(norm, place_id UNINDEXED, "
                "tokenize='unicode61 remove_diacritics 2')"
            )
            fts = True
        except sqlite3.OperationalError:
            fts = False
        places, names = [], []
        for pid, row in enumerate(collector.rows, start=1):
            places.append(
                (
                    pid,
                    row.osm_id,
                    row.name,
                    row.kind,
                    row.category,
                    _importance(row.kind, row.category),
                    row.lat,
                    row.lon,
                    json.dumps(row.tags, ensure_ascii=False, sort_keys=True),
                )
            )
            for norm in dict.fromkeys(normalize(n) for n in row.names):
                if norm:
                    names.append((pid, norm))
        db.executemany("INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", places)
        db.executemany("INSERT INTO names VALUES (?, ?)", names)
        progress(0.85)
        if fts:
            db.execute("INSERT INTO names_fts (norm, place_id) SELECT norm, place_id FROM names")
        db.executescript(_INDEXES)
        meta = {
            "format": str(FORMAT_VERSION),
            "source": str(pbf),
            "bbox": json.dumps(collector.bbox),
            "fts5": "1" if fts else "0",
        }
        db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
        db.commit()
        db.execute("ANALYZE")
        db.commit()
    finally:
        db.close()
    return fts


def build_index(pbf: Path, out: Path, progress: Fraction = _no_progress) -> IndexStats:
    """Index the places of the OpenStreetMap extract `pbf` into the SQLite file `out`.

    The file is written beside `out` and renamed over it at the end, so a failed build (a
    corrupt PBF raises `MapError`) leaves an older index as it was. `progress` gets the
    fraction done, 0..1.
    """
    pbf, out = Path(pbf), Path(out)
    if not pbf.is_file():
        raise MapError(f"no such OpenStreetMap file: {pbf}")
    progress(0.0)
    collector = _read_pbf(pbf, progress)
    progress(0.75)
    if not math.isfinite(collector.bbox[0]):
        if not collector.rows:
            raise MapError(f"{pbf} holds no roads and no places: it is not a usable map extract")
        lats = [r.lat for r in collector.rows]
        lons = [r.lon for r in collector.rows]
        collector.bbox = [min(lons), min(lats), max(lons), max(lats)]
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        _write_sqlite(collector, tmp, pbf, progress)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    progress(1.0)
    b = collector.bbox
    return IndexStats(
        places=len(collector.rows),
        bbox=(b[0], b[1], b[2], b[3]),
        charging_stations=sum(1 for r in collector.rows if r.kind == "charging_station"),
    )
