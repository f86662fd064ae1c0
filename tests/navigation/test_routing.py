"""Maps and routes on the real Helsinki extract, and on tiny maps written by the tests."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from carmind.navigation.api import Navigation, nearest_shape_index, parse_time, segment_speeds
from carmind.navigation.engine import LatLon, Router
from carmind.navigation.errors import LocationError, MapError, NavigationError, NoRouteError
from carmind.navigation.maps import (
    ATTRIBUTION,
    MapInfo,
    build_map,
    check_pbf,
    open_map,
    tile_files,
)
from tests.navigation.osm import street, write_pbf

STATION = LatLon(60.1704, 24.9414)  # Kaivokatu, by the central railway station
HAKANIEMI = LatLon(60.1787, 24.9515)


# ------------------------------------------------------------------------------------ maps


def test_the_default_map_is_central_helsinki(helsinki_map: MapInfo) -> None:
    assert helsinki_map.tiles == len(tile_files(helsinki_map.paths.tiles)) > 0
    assert helsinki_map.edges > 1000
    assert helsinki_map.places > 100
    min_lon, min_lat, max_lon, max_lat = helsinki_map.bbox
    assert 24.9 < min_lon < max_lon < 25.0 and 60.1 < min_lat < max_lat < 60.2
    assert helsinki_map.contains(STATION.lat, STATION.lon)
    assert not helsinki_map.contains(59.43, 24.75)  # Tallinn
    assert helsinki_map.to_json()["attribution"] == ATTRIBUTION
    assert "OpenStreetMap" in ATTRIBUTION and "ODbL" in ATTRIBUTION
    # the live-traffic file has one 8-byte slot per directed edge, after the tile headers
    size = helsinki_map.paths.live_traffic.stat().st_size
    assert size >= 8 * helsinki_map.edges


def test_a_corrupt_pbf_is_refused_and_the_old_map_survives(
    map_copy: MapInfo, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"\x00\x00\x00\x0dnot a pbf at all" * 10)
    with pytest.raises(MapError, match="not an OpenStreetMap PBF"):
        build_map(bad, map_copy.paths.root)
    # a PBF header followed by garbage passes the first check but Valhalla cannot read it
    real = Path(map_copy.source).read_bytes()
    truncated = tmp_path / "truncated.osm.pbf"
    truncated.write_bytes(real[:200] + b"\xff" * 5000)
    with pytest.raises(MapError):
        build_map(truncated, map_copy.paths.root)
    assert open_map(map_copy.paths.root).edges == map_copy.edges  # nothing lost
    assert not list(map_copy.paths.root.parent.glob(".helsinki.building-*"))
    with pytest.raises(MapError, match="no such"):
        check_pbf(tmp_path / "missing.osm.pbf")
    with pytest.raises(MapError, match="no map at"):
        open_map(tmp_path / "nowhere", build_default=False)


# ------------------------------------------------------------------------------------ routes


def test_route_outputs_and_eta(router: Router) -> None:
    depart = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    route = router.route(STATION, HAKANIEMI, depart=depart)
    assert 800 < route.distance_m < 5000
    assert 60 < route.duration_s < 1200
    assert route.departure == depart
    assert route.arrival == depart + timedelta(seconds=route.duration_s)
    assert route.maneuvers[0].type in (1, 2, 3) and route.maneuvers[-1].type in (4, 5, 6)
    assert sum(m.distance_m for m in route.maneuvers) == pytest.approx(route.distance_m, rel=0.02)
    data = route.to_json()
    assert set(data) >= {"distance_m", "duration_s", "departure", "arrival", "maneuvers", "shape"}
    json.dumps(data)
    assert data["shape"][0] == pytest.approx([STATION.lat, STATION.lon], abs=0.002)
    geo = route.to_geojson()
    line = geo["features"][0]["geometry"]
    assert line["type"] == "LineString" and len(line["coordinates"]) == len(route.shape)
    assert "OpenStreetMap" in geo["attribution"]
    gpx = ET.fromstring(route.to_gpx())
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert len(gpx.findall(".//g:trkpt", ns)) == len(route.shape)
    assert len(gpx.findall(".//g:rtept", ns)) == len(route.maneuvers)
    # the simulated driver gets a speed for every segment of the shape
    speeds = segment_speeds(route)
    assert len(speeds) == len(route.shape) - 1 and all(5 <= v <= 250 for v in speeds)
    middle = route.shape[len(route.shape) // 2]
    assert nearest_shape_index(route, LatLon(*middle)) == route.shape.index(middle)


def test_instructions_in_english_dutch_and_chinese(router: Router) -> None:
    routes = {
        lang: router.route(STATION, HAKANIEMI, language=lang, depart=datetime.now(UTC))
        for lang in ("en", "nl", "zh")
    }
    assert "destination" in routes["en"].maneuvers[-1].instruction
    assert any(w in routes["nl"].maneuvers[0].instruction for w in ("Rijd", "Ga", "richting")), (
        routes["nl"].maneuvers[0]
    )
    for m in routes["zh"].maneuvers:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in m.instruction), m.instruction
    assert len(routes["zh"].maneuvers) == len(routes["en"].maneuvers)


def test_arrive_by_gives_the_departure(router: Router) -> None:
    arrive = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    route = router.route(STATION, HAKANIEMI, arrive=arrive)
    assert route.arrival == arrive
    assert route.departure == arrive - timedelta(seconds=route.duration_s)


@pytest.mark.parametrize(
    ("point", "match"),
    [
        (LatLon(59.437, 24.745), "off the map"),  # Tallinn
        (LatLon(60.40, 25.40), "off the map"),
    ],
)
def test_points_off_the_map(router: Router, point: LatLon, match: str) -> None:
    with pytest.raises(LocationError, match=match):
        router.route(STATION, point)


def test_bad_coordinates_and_requests(router: Router) -> None:
    with pytest.raises(LocationError, match="latitude"):
        LatLon(91.0, 24.9)
    with pytest.raises(LocationError, match="finite"):
        LatLon(float("nan"), 24.9)
    with pytest.raises(NavigationError, match="same point"):
        router.route(STATION, STATION)
    with pytest.raises(NavigationError, match="language"):
        router.route(STATION, HAKANIEMI, language="fr")
    with pytest.raises(NavigationError, match="not both"):
        now = datetime.now(UTC)
        router.route(STATION, HAKANIEMI, depart=now, arrive=now)
    with pytest.raises(NavigationError, match="ISO 8601"):
        parse_time("next tuesday")


@pytest.fixture(scope="module")
def islands(tmp_path_factory: pytest.TempPathFactory) -> MapInfo:
    """Two streets with no road between them: a destination no drive reaches."""
    root = tmp_path_factory.mktemp("islands")
    tags = {"highway": "residential", "name": "Saarikatu"}
    pbf = write_pbf(
        root / "islands.osm.pbf",
        [
            (street(60.10, 24.90, 60.10, 24.92), tags),
            (street(60.13, 24.90, 60.13, 24.92), {**tags, "name": "Toinen saarikatu"}),
        ],
    )
    return build_map(pbf, root / "map")


def test_an_unreachable_destination(islands: MapInfo) -> None:
    router = Router(islands)
    with pytest.raises(NoRouteError, match="no drivable route"):
        router.route(LatLon(60.10, 24.905), LatLon(60.13, 24.915))
    # while each street on its own routes fine
    assert router.route(LatLon(60.10, 24.902), LatLon(60.10, 24.918)).distance_m > 500


# ------------------------------------------------------------------------------------ API


@pytest.fixture(scope="module")
def nav(helsinki_map: MapInfo) -> Navigation:
    return Navigation(helsinki_map.paths.root)


def test_places_by_name_and_unknown_places(nav: Navigation) -> None:
    a = nav.locate("Kaivokatu")
    assert nav.map.contains(a.point.lat, a.point.lon)
    assert nav.locate("60.1704, 24.9414").point == LatLon(60.1704, 24.9414)
    route = nav.route("Rautatientori", "Hakaniemi", depart=datetime.now(UTC))
    assert route.distance_m > 500
    with pytest.raises(LocationError, match="no place"):
        nav.locate("Xyzzy Plaza")


def test_departure_advice_arrives_on_time(nav: Navigation) -> None:
    arrive = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    advice = nav.departure_for(STATION, HAKANIEMI, arrive, buffer_s=300)
    assert advice.leave_at < arrive
    assert advice.arrival <= arrive - timedelta(seconds=240)
    assert advice.arrival >= arrive - timedelta(seconds=420)
    assert "Leave at" in advice.text("en") and "出发" in advice.text("zh")
    assert json.loads(json.dumps(advice.to_json()))["leave_at"].startswith("2026-11-24")


def test_retime_follows_the_current_route(nav: Navigation) -> None:
    route = nav.route(STATION, HAKANIEMI, depart=datetime.now(UTC))
    rest = nav.retime(route, 0, depart=datetime.now(UTC))
    assert rest.distance_m == pytest.approx(route.distance_m, rel=0.05)
    half = nav.retime(route, len(route.shape) // 2, depart=datetime.now(UTC))
    assert half.distance_m < route.distance_m
    # no faster way exists without traffic: no offer
    assert nav.reroute_offer(route, 0, depart=datetime.now(UTC)) is None


def test_an_ev_trip_through_the_api(nav: Navigation) -> None:
    plan = nav.trip("Rautatientori", "Hakaniemi", profile="tesla-model-3-rwd", soc_pct=60)
    data = plan.to_json()
    assert data["needs_stop"] is False and data["stops"] == []
    assert 59.0 < data["arrival_soc_pct"] < 60.0
    with pytest.raises(NavigationError, match="reserve"):
        nav.trip("Rautatientori", "Hakaniemi", profile="tesla-model-3-rwd", soc_pct=5)
