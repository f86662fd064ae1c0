"""Charging stations: the chargers a trip may stop at, from OpenStreetMap tags or a CSV file.

A station's power comes from its `socket:*:output` tags where OpenStreetMap gives them; where it
does not, `DEFAULT_DC_KW` (a DC socket) or `DEFAULT_AC_KW` (AC only) is assumed and the station
says so (`Station.assumed_power`).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from carmind.navigation.engine import LatLon
from carmind.navigation.errors import TripError

__all__ = [
    "DC_SOCKETS",
    "DEFAULT_AC_KW",
    "DEFAULT_DC_KW",
    "Station",
    "load_stations_csv",
    "parse_output_kw",
    "station_from_tags",
]

DEFAULT_DC_KW: Final = 50.0
"""Power assumed for a DC charger whose output OpenStreetMap does not give (the common CCS
rating of the first fast-charging networks)."""
DEFAULT_AC_KW: Final = 22.0
"""Power assumed for a charging station with no DC socket and no output: a Type 2 AC post,
further limited by the car's on-board charger."""
DC_SOCKETS: Final = frozenset(
    {
        "type2_combo",
        "type1_combo",
        "chademo",
        "tesla_supercharger",
        "tesla_supercharger_ccs",
        "gb_dc",
        "nacs",
        "chaoji",
    }
)
"""OpenStreetMap `socket:*` types that charge with direct current."""

_OUTPUT_RE: Final = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(kw|w|mw|kva)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Station:
    """A charger the car may stop at."""

    name: str
    lat: float
    lon: float
    power_kw: float
    """The charger's rating (the fastest connector)."""
    dc: bool
    """Direct current; an AC charger is further limited by the car's on-board charger."""
    source: str
    """`osm` or the CSV file the station came from."""
    osm_id: str = ""
    capacity: int | None = None
    """Cars that can charge at once (`capacity`), where known."""
    assumed_power: bool = False
    """The rating is the default (`DEFAULT_DC_KW`, `DEFAULT_AC_KW`), not from the data."""

    @property
    def point(self) -> LatLon:
        return LatLon(self.lat, self.lon)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lat": round(self.lat, 6),
            "lon": round(self.lon, 6),
            "power_kw": self.power_kw,
            "current": "DC" if self.dc else "AC",
            "source": self.source,
            "osm_id": self.osm_id or None,
            "capacity": self.capacity,
            "assumed_power": self.assumed_power,
        }


def parse_output_kw(value: str) -> float | None:
    """The largest power in an OpenStreetMap `*:output` value ("150 kW", "22 kW;11 kW"), kW."""
    best: float | None = None
    for part in re.split(r"[;/]", value):
        match = _OUTPUT_RE.match(part)
        if not match:
            continue
        number = float(match.group(1).replace(",", "."))
        unit = (match.group(2) or "").lower()
        if unit == "w" or (not unit and number > 1000.0):
            number /= 1000.0
        elif unit == "mw":
            number *= 1000.0
        if 0.0 < number <= 2000.0 and (best is None or number > best):
            best = number
    return best


def station_from_tags(
    name: str, lat: float, lon: float, tags: Mapping[str, str], osm_id: str = ""
) -> Station:
    """A station from its OpenStreetMap tags: power from `socket:*:output`, else a default."""
    dc_kw: float | None = None
    ac_kw: float | None = None
    has_dc = has_ac = False
    for key, value in tags.items():
        parts = key.split(":")
        if len(parts) < 2 or parts[0] != "socket":
            continue
        socket = parts[1]
        is_dc = socket in DC_SOCKETS
        if len(parts) == 2:
            if value.strip().lower() not in ("no", "0"):
                has_dc, has_ac = has_dc or is_dc, has_ac or not is_dc
            continue
        if parts[2] != "output":
            continue
        kw = parse_output_kw(value)
        if kw is None:
            continue
        if is_dc:
            has_dc, dc_kw = True, max(kw, dc_kw or 0.0)
        else:
            has_ac, ac_kw = True, max(kw, ac_kw or 0.0)
    overall = parse_output_kw(tags.get("charging_station:output", ""))
    if has_dc:
        power, dc, assumed = (
            (dc_kw or overall or DEFAULT_DC_KW),
            True,
            dc_kw is None and not overall,
        )
    else:
        power, dc, assumed = (
            (ac_kw or overall or DEFAULT_AC_KW),
            False,
            ac_kw is None and not overall,
        )
    capacity_text = tags.get("capacity", "").strip()
    capacity = int(capacity_text) if capacity_text.isdigit() else None
    label = name or tags.get("operator") or tags.get("brand") or f"charger {osm_id or ''}".strip()
    return Station(label, lat, lon, power, dc, "osm", osm_id, capacity, assumed)


def load_stations_csv(path: Path) -> list[Station]:
    """Extra stations from a CSV with a header `name,lat,lon,power_kw` (and optional `current`:
    DC, the default, or AC). Any bad row raises `TripError` naming the file, line and value."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TripError(f"cannot read the stations file {path}: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    missing = [c for c in ("name", "lat", "lon", "power_kw") if c not in columns]
    if missing:
        raise TripError(
            f"{path}: the header must name the columns name,lat,lon,power_kw "
            f"(missing {', '.join(missing)})"
        )
    stations: list[Station] = []
    for line, raw in enumerate(reader, start=2):
        row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        try:
            lat, lon, kw = float(row["lat"]), float(row["lon"]), float(row["power_kw"])
        except ValueError:
            raise TripError(
                f"{path}, line {line}: lat, lon and power_kw must be numbers, got "
                f"{row['lat']!r}, {row['lon']!r}, {row['power_kw']!r}"
            ) from None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise TripError(f"{path}, line {line}: {lat},{lon} is not a coordinate")
        if not (math.isfinite(kw) and 0.0 < kw <= 2000.0):
            raise TripError(f"{path}, line {line}: power_kw must be within 0..2000, got {kw!r}")
        current = row.get("current", "") or "DC"
        if current.upper() not in ("AC", "DC"):
            raise TripError(f"{path}, line {line}: current must be AC or DC, got {current!r}")
        name = row["name"] or f"{path.name} line {line}"
        stations.append(Station(name, lat, lon, kw, current.upper() == "DC", str(path)))
    return stations
