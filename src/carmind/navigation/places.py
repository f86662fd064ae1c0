"""The place index: search a map's places by name, in the `places.sqlite` that
`carmind.navigation.place_index_build` writes from the map's OpenStreetMap extract.

Every entry is searchable by its name and its alternative names (`name:en`, `name:fi`, `name:sv`,
`name:zh`, `alt_name`, `official_name`, `short_name`, `loc_name`). Names are matched after case
folding and accent stripping, so "kaisaniemen puisto" finds "Kaisaniemen puisto" and "paaskynen"
finds "Pääskynen". `PlaceIndex.search` ranks exact names first, then name prefixes, then word
matches (SQLite FTS5, or LIKE where FTS5 is missing), then close spellings (difflib); within a
tier the more important kind of place comes first (a city before a street before a cafe), then
the one nearest to `near`.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from carmind import geo
from carmind.navigation.errors import LocationError, MapError

FORMAT_VERSION: Final = 1
KINDS: Final = ("place", "poi", "charging_station", "address", "street")
FUZZY_CUTOFF: Final = 0.6
RESOLVE_FUZZY_MIN: Final = 0.9
"""`resolve` takes a misspelt name only this close to a real one; else it suggests."""
_CANDIDATES: Final = 2000


def normalize(text: str) -> str:
    """Case-folded, accent-free, punctuation-free text with single spaces: the search key."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w]+", " ", stripped).split())


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return geo.haversine_m(lat1, lon1, lat2, lon2) / 1000.0


@dataclass(frozen=True)
class Place:
    """One searchable place of the map."""

    name: str
    kind: str
    """One of `KINDS`: place, poi, charging_station, address, street."""
    category: str
    """The OpenStreetMap tag that made it a place, such as `amenity=cafe`."""
    lat: float
    lon: float
    tags: dict[str, str] = field(compare=False)
    osm_id: str
    """`n123`, `w123` or `r123`: node, way or relation on openstreetmap.org."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "category": self.category,
            "lat": round(self.lat, 7),
            "lon": round(self.lon, 7),
            "osm_id": self.osm_id,
            "tags": dict(self.tags),
        }


# ------------------------------------------------------------------------------------ search


@dataclass(frozen=True)
class _Hit:
    tier: int
    """0 exact name, 1 name prefix, 2 word match, 3 close spelling."""
    similarity: float
    row: tuple[Any, ...]
    """osm_id, name, kind, category, lat, lon, importance, id (see `PlaceIndex._COLUMNS`)."""
    distance_km: float

    def key(self) -> tuple[float, ...]:
        """Sort key: exact names, then partial matches by importance, then close spellings."""
        near, importance, length = round(self.distance_km, 1), self.row[6], len(self.row[1])
        if self.tier == 0:
            return (0, importance, near, length)
        if self.tier in (1, 2):
            return (1, importance, self.tier, near, length)
        return (3, -round(self.similarity, 2), importance, self.distance_km)

    def same_as(self, other: _Hit) -> bool:
        """The same name and category within 300 m: three tram stops of one name, say."""
        a, b = self.row, other.row
        return a[1] == b[1] and a[3] == b[3] and _haversine_km(a[4], a[5], b[4], b[5]) < 0.3


class PlaceIndex:
    """A read-only view of a map's `places.sqlite`; safe to share between threads."""

    def __init__(self, path: Path, *, map_name: str | None = None) -> None:
        self.path = Path(path)
        self.map_name = map_name or self.path.parent.name or str(self.path)
        if not self.path.is_file():
            raise MapError(
                f"no place index at {self.path}: rebuild the map with 'carmind map build'"
            )
        try:
            self._db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise MapError(
                f"the place index {self.path} is unreadable ({exc}): rebuild the map"
            ) from None
        if meta.get("format") != str(FORMAT_VERSION):
            raise MapError(
                f"the place index {self.path} was built by another carmind version: rebuild the map"
            )
        self._fts = meta.get("fts5") == "1"
        bbox = json.loads(meta["bbox"])
        self.bbox: tuple[float, float, float, float] = (bbox[0], bbox[1], bbox[2], bbox[3])
        self._lock = threading.Lock()
        self._norms: list[str] | None = None

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        return int(self._query("SELECT count(*) FROM places")[0][0])

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        try:
            with self._lock:
                return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise MapError(
                f"the place index {self.path} is unreadable ({exc}): rebuild the map"
            ) from None

    def _places(self, ids: list[int]) -> list[Place]:
        """The places with these row ids, in this order, tags and all."""
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        rows = self._query(
            f"SELECT id, osm_id, name, kind, category, lat, lon, tags FROM places "
            f"WHERE id IN ({marks})",
            ids,
        )
        by_id = {
            row[0]: Place(
                name=row[2],
                kind=row[3],
                category=row[4],
                lat=row[5],
                lon=row[6],
                tags=json.loads(row[7]),
                osm_id=row[1],
            )
            for row in rows
        }
        return [by_id[i] for i in ids]

    _COLUMNS: Final = "p.osm_id, p.name, p.kind, p.category, p.lat, p.lon, p.importance, p.id"

    def _candidates(self, where: str, params: tuple[Any, ...], kind: str | None) -> list[Any]:
        kind_sql = " AND p.kind = ?" if kind else ""
        return self._query(
            f"SELECT {self._COLUMNS}, n.norm FROM names n JOIN places p ON p.id = n.place_id "
            f"WHERE {where}{kind_sql} LIMIT {_CANDIDATES}",
            params + ((kind,) if kind else ()),
        )

    def _fts_candidates(self, query: str, kind: str | None) -> list[Any]:
        if self._fts:
            match = " ".join(f'"{token}"*' for token in query.split())
            kind_sql = " AND p.kind = ?" if kind else ""
            return self._query(
                f"SELECT {self._COLUMNS}, f.norm FROM names_fts f JOIN places p "
                f"ON p.id = f.place_id WHERE names_fts MATCH ?{kind_sql} LIMIT {_CANDIDATES}",
                (match,) + ((kind,) if kind else ()),
            )
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self._candidates("n.norm LIKE ? ESCAPE '\\'", (pattern,), kind)

    def _all_norms(self) -> list[str]:
        if self._norms is None:
            self._norms = [row[0] for row in self._query("SELECT DISTINCT norm FROM names")]
        return self._norms

    def _hits(
        self, text: str, near: tuple[float, float] | None, kind: str | None, limit: int
    ) -> list[_Hit]:
        if kind is not None and kind not in KINDS:
            raise LocationError(f"unknown kind of place {kind!r}: choose one of {', '.join(KINDS)}")
        query = normalize(text)
        if not query:
            return []
        found: dict[int, _Hit] = {}

        def add(rows: list[Any], tier: int, similarity: float = 1.0) -> None:
            for row in rows:
                pid = row[7]
                if pid in found and found[pid].tier <= tier:
                    continue
                dist = _haversine_km(near[0], near[1], row[4], row[5]) if near else 0.0
                found[pid] = _Hit(tier, similarity, tuple(row[:8]), dist)

        add(self._candidates("n.norm = ?", (query,), kind), 0, 1.0)
        add(self._candidates("n.norm > ? AND n.norm < ?", (query, query + "\U0010ffff"), kind), 1)
        add(self._fts_candidates(query, kind), 2)
        if not found:  # close spellings only when nothing matches as typed
            close = difflib.get_close_matches(
                query, self._all_norms(), n=limit * 2, cutoff=FUZZY_CUTOFF
            )
            for norm in close:
                rows = self._candidates("n.norm = ?", (norm,), kind)
                add(rows, 3, difflib.SequenceMatcher(None, query, norm).ratio())
        hits = sorted(found.values(), key=_Hit.key)
        kept: list[_Hit] = []
        for hit in hits:
            if any(hit.same_as(k) for k in kept):
                continue
            kept.append(hit)
            if len(kept) >= limit:
                break
        return kept

    def search(
        self,
        text: str,
        *,
        near: tuple[float, float] | None = None,
        kind: str | None = None,
        limit: int = 10,
    ) -> list[Place]:
        """Places whose name (or alternative name) matches `text`, best first.

        Exact names come first, then names starting with `text`, then names containing its
        words, then close spellings; ties go to the more important kind of place, then to the
        one nearest `near` (lat, lon).
        """
        if limit < 1:
            raise LocationError(f"limit must be at least 1, got {limit}")
        return self._places([hit.row[7] for hit in self._hits(text, near, kind, limit)])

    def resolve(self, text: str, near: tuple[float, float] | None = None) -> Place:
        """The place `text` names, or `LocationError` with the closest names as suggestions."""
        hits = self._hits(text, near, None, 5)
        if hits and (hits[0].tier < 3 or hits[0].similarity >= RESOLVE_FUZZY_MIN):
            return self._places([hits[0].row[7]])[0]
        suggestions = list(dict.fromkeys(hit.row[1] for hit in hits))[:3]
        hint = (
            f"did you mean: {', '.join(suggestions)}?"
            if suggestions
            else "give a street, a square, an address or coordinates such as 60.1699,24.9384"
        )
        raise LocationError(
            f"no place called '{text.strip()}' on the map '{self.map_name}'; {hint}"
        )

    def charging_stations(self) -> list[Place]:
        """Every charging station on the map, named or not."""
        rows = self._query(
            f"SELECT {self._COLUMNS} FROM places p WHERE p.kind = 'charging_station' ORDER BY p.id"
        )
        return self._places([row[7] for row in rows])

    def nearest(
        self, lat: float, lon: float, kind: str | None = None, limit: int = 5
    ) -> list[Place]:
        """The `limit` places nearest to (lat, lon), nearest first, optionally of one kind."""
        if kind is not None and kind not in KINDS:
            raise LocationError(f"unknown kind of place {kind!r}: choose one of {', '.join(KINDS)}")
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise LocationError(
                f"{lat},{lon} is not a coordinate (latitude -90..90, longitude -180..180)"
            )
        if limit < 1:
            raise LocationError(f"limit must be at least 1, got {limit}")
        kind_sql = " AND p.kind = ?" if kind else ""
        extra: tuple[Any, ...] = (kind,) if kind else ()
        # distances in degrees of latitude on a local flat projection; grow a box around the
        # point until the limit-th nearest place lies within the circle the box encloses
        scale = max(math.cos(math.radians(lat)), 0.01)
        radius = 0.002
        while True:
            rows = self._query(
                f"SELECT {self._COLUMNS}, (p.lat - ?) * (p.lat - ?) "
                f"+ ((p.lon - ?) * ?) * ((p.lon - ?) * ?) AS d2 FROM places p "
                f"WHERE p.lat BETWEEN ? AND ? AND p.lon BETWEEN ? AND ?{kind_sql} "
                f"ORDER BY d2 LIMIT ?",
                (
                    lat,
                    lat,
                    lon,
                    scale,
                    lon,
                    scale,
                    lat - radius,
                    lat + radius,
                    lon - radius / scale,
                    lon + radius / scale,
                    *extra,
                    limit,
                ),
            )
            enclosed = len(rows) >= limit and math.sqrt(rows[-1][8]) <= radius
            if enclosed or radius >= 360.0:
                break
            radius *= 4
        return self._places([row[7] for row in rows])


# ------------------------------------------------------------------------------------ parsing

_COORDS: Final = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*,\s*([+-]?\d+(?:\.\d+)?)\s*")
_LOOKS_NUMERIC: Final = re.compile(r"[\d\s.,;:+-]+|[+-]?\d+\.\d*\s*,.*")
EXAMPLE_COORDS: Final = "60.1699,24.9384"


def parse_location(text: str, index: PlaceIndex | None) -> tuple[float, float, str]:
    """(lat, lon, label) of `text`: `latitude,longitude` in decimal degrees or a place name.

    Text that is clearly meant as coordinates but is not valid (`91,24`, `60.1,abc`) raises
    `LocationError` rather than being looked up as a name.
    """
    stripped = text.strip()
    if not stripped:
        raise LocationError(
            f"empty location: give a place name or latitude,longitude such as {EXAMPLE_COORDS}"
        )
    match = _COORDS.fullmatch(stripped)
    if match:
        lat, lon = float(match.group(1)), float(match.group(2))
        if not -90.0 <= lat <= 90.0:
            raise LocationError(
                f"'{stripped}': latitude {match.group(1)} is outside -90..90 "
                f"(write latitude first, such as {EXAMPLE_COORDS})"
            )
        if not -180.0 <= lon <= 180.0:
            raise LocationError(f"'{stripped}': longitude {match.group(2)} is outside -180..180")
        return lat, lon, f"{lat:.6f},{lon:.6f}"
    if _LOOKS_NUMERIC.fullmatch(stripped):
        raise LocationError(
            f"'{stripped}' is not a valid coordinate: write latitude,longitude in decimal "
            f"degrees, such as {EXAMPLE_COORDS}"
        )
    if index is None:
        raise LocationError(
            f"'{stripped}' is not a coordinate and there is no place index to look it up: "
            f"give latitude,longitude such as {EXAMPLE_COORDS}, or build the map"
        )
    place = index.resolve(stripped)
    return place.lat, place.lon, place.name
