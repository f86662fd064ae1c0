"""The place index on the real central-Helsinki extract, and on small PBFs written here."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import osmium
import pytest

from carmind.navigation.engine import LatLon, haversine_m
from carmind.navigation.errors import LocationError, MapError
from carmind.navigation.maps import default_pbf
from carmind.navigation.place_index_build import IndexStats, build_index
from carmind.navigation.places import Place, PlaceIndex, normalize, parse_location

SENATE_SQUARE = "r2919121"
CATHEDRAL = "w419479428"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IndexStats, list[float]]:
    out = tmp_path_factory.mktemp("places") / "helsinki" / "places.sqlite"
    out.parent.mkdir()
    fractions: list[float] = []
    stats = build_index(default_pbf(), out, progress=fractions.append)
    return out, stats, fractions


@pytest.fixture(scope="module")
def index(built: tuple[Path, IndexStats, list[float]]) -> PlaceIndex:
    return PlaceIndex(built[0])


# ------------------------------------------------------------------------------------ build


def test_build_counts_places_and_the_drivable_extent(
    built: tuple[Path, IndexStats, list[float]], index: PlaceIndex
) -> None:
    out, stats, fractions = built
    assert stats.places == len(index) > 3000
    assert stats.charging_stations == 4
    min_lon, min_lat, max_lon, max_lat = stats.bbox
    # the extract covers Kluuvi and Kaartinkaupunki, about 1 km by 1.5 km
    assert 24.93 < min_lon < max_lon < 24.96
    assert 60.16 < min_lat < max_lat < 60.18
    assert index.bbox == stats.bbox
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert [p.name for p in out.parent.iterdir()] == ["places.sqlite"]


def test_a_street_is_one_entry_at_a_point_on_the_street(index: PlaceIndex) -> None:
    streets = index.search("Mannerheimintie", kind="street")
    assert [p.name for p in streets] == ["Mannerheimintie"]
    street = streets[0]
    assert street.category == "highway=primary"
    assert street.osm_id.startswith("w")
    assert 60.164 < street.lat < 60.18 and 24.93 < street.lon < 24.96
    assert index.search("Mannerheimintie")[0] == street


def test_the_city_comes_before_a_station_of_the_same_name(index: PlaceIndex) -> None:
    first, second = index.search("Helsinki", limit=2)
    assert (first.kind, first.category) == ("place", "place=city")
    assert (second.kind, second.category) == ("poi", "railway=station")
    assert index.search("helsinki", kind="poi")[0].category == "railway=station"


def test_a_square_comes_before_the_tram_stops_named_after_it(index: PlaceIndex) -> None:
    results = index.search("Senaatintori")
    assert results[0].osm_id == SENATE_SQUARE
    assert results[0].category == "place=square"
    tram_stops = [p for p in results if p.category == "railway=tram_stop"]
    assert len(tram_stops) == 1, "three stops a few meters apart appear once"


@pytest.mark.parametrize(
    ("text", "osm_id"),
    [
        ("Senate Square", SENATE_SQUARE),  # name:en, word match
        ("參議院廣場", SENATE_SQUARE),  # name:zh
        ("Senatstorget", SENATE_SQUARE),  # name:sv
        ("Senis", SENATE_SQUARE),  # loc_name
        ("Helsinki Cathedral", CATHEDRAL),
        ("helsingin TUOMIOKIRKKO", CATHEDRAL),  # any case
        ("Helsingfors domkyrka", CATHEDRAL),
    ],
)
def test_alternative_names_find_the_place(index: PlaceIndex, text: str, osm_id: str) -> None:
    assert index.search(text)[0].osm_id == osm_id


def test_accents_are_optional(index: PlaceIndex) -> None:
    assert normalize("Pääskynen") == "paaskynen"
    # the station node (official_name) and the station building (name) match exactly
    first, second = index.search("Helsingin paarautatieasema", limit=2)
    assert {first.osm_id, second.osm_id} == {"n25389429", "w122595198"}


def test_a_prefix_finds_the_place(index: PlaceIndex) -> None:
    names = {p.name for p in index.search("rautatient", limit=5)}
    assert "Rautatientori" in names


def test_an_address_is_searchable_by_street_and_number(index: PlaceIndex) -> None:
    place = index.search("Aleksanterinkatu 52")[0]
    assert place.kind == "address"
    assert place.name == "Aleksanterinkatu 52"
    assert place.tags["addr:street"] == "Aleksanterinkatu"


def test_near_orders_places_of_one_name_by_distance(index: PlaceIndex) -> None:
    north = index.search("McDonald's", near=(60.1785, 24.9496))[0]
    south = index.search("McDonald's", near=(60.1690, 24.9385))[0]
    assert north.lat > 60.175
    assert south.lat < 60.172


def test_charging_stations_are_indexed_with_their_tags(index: PlaceIndex) -> None:
    stations = index.charging_stations()
    assert len(stations) == 4
    for station in stations:
        assert station.kind == "charging_station"
        assert station.category == "amenity=charging_station"
        assert station.tags["amenity"] == "charging_station"
        # none of the four has a name, an operator or a brand in this extract
        assert station.name == "Charging station"
    assert {s.osm_id for s in stations} >= {"n1685729190", "n1685871599"}
    kluuvi = next(s for s in stations if s.osm_id == "n1685871599")
    assert kluuvi.tags["note"] == "Inside Kluuvi parking garage, area F"
    assert {s.osm_id for s in index.search("充电站", kind="charging_station")} == {
        s.osm_id for s in stations
    }


def test_nearest_places_and_nearest_chargers(index: PlaceIndex) -> None:
    square = index.search("Senaatintori")[0]
    nearest = index.nearest(square.lat, square.lon, kind="place", limit=3)
    assert nearest[0].osm_id == SENATE_SQUARE
    chargers = index.nearest(60.170, 24.941, kind="charging_station", limit=10)
    assert len(chargers) == 4
    distances = [(c.lat - 60.170) ** 2 + ((c.lon - 24.941) * 0.5) ** 2 for c in chargers]
    assert distances == sorted(distances)


def test_nearest_agrees_with_a_full_scan(
    built: tuple[Path, IndexStats, list[float]], index: PlaceIndex
) -> None:
    db = sqlite3.connect(built[0])
    points = db.execute("SELECT lat, lon FROM places").fetchall()
    db.close()
    here = (60.1712, 24.9455)
    expected = sorted(_km(here, p) for p in points)[:10]
    found = [_km(here, (p.lat, p.lon)) for p in index.nearest(*here, limit=10)]
    assert found == pytest.approx(expected, abs=1e-4)
    with pytest.raises(LocationError, match="limit must be at least 1"):
        index.nearest(*here, limit=0)
    with pytest.raises(LocationError, match="is not a coordinate"):
        index.nearest(95.0, 24.9)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return haversine_m(LatLon(*a), LatLon(*b)) / 1000.0


def test_place_to_json(index: PlaceIndex) -> None:
    data = index.search("Senaatintori")[0].to_json()
    assert data["osm_id"] == SENATE_SQUARE
    assert data["kind"] == "place"
    assert data["tags"]["name:en"] == "Helsinki Senate Square"


def test_bad_search_arguments(index: PlaceIndex) -> None:
    with pytest.raises(LocationError, match="unknown kind of place 'shop'"):
        index.search("Stockmann", kind="shop")
    with pytest.raises(LocationError, match="limit must be at least 1"):
        index.search("Stockmann", limit=0)
    assert index.search("   ") == []


# ------------------------------------------------------------------------------------ resolve


def test_resolve_takes_the_best_match(index: PlaceIndex) -> None:
    assert index.resolve("Helsinki Cathedral").osm_id == CATHEDRAL
    assert index.resolve("Mannerheimintie").kind == "street"


def test_resolve_forgives_a_small_typo(index: PlaceIndex) -> None:
    assert index.resolve("Mannerheimintei").name == "Mannerheimintie"


def test_resolve_suggests_close_names(index: PlaceIndex) -> None:
    with pytest.raises(LocationError) as caught:
        index.resolve("Kampinkatu")
    message = str(caught.value)
    assert message.startswith("no place called 'Kampinkatu' on the map 'helsinki'; did you mean: ")
    suggestions = message.split("did you mean: ")[1].rstrip("?").split(", ")
    assert 1 <= len(suggestions) <= 3
    assert "Kaivokatu" in suggestions


def test_resolve_without_any_close_name(index: PlaceIndex) -> None:
    with pytest.raises(LocationError, match="no place called 'qqqqqqqqqqqq' on the map 'helsinki'"):
        index.resolve("qqqqqqqqqqqq")


# ------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60.17,24.94", (60.17, 24.94)),
        ("60.17, 24.94", (60.17, 24.94)),
        ("  -33.9249 ,18.4241 ", (-33.9249, 18.4241)),
        ("60,25", (60.0, 25.0)),
    ],
)
def test_parse_coordinates(text: str, expected: tuple[float, float]) -> None:
    lat, lon, label = parse_location(text, None)
    assert (lat, lon) == expected
    assert label == f"{expected[0]:.6f},{expected[1]:.6f}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("91,24", "latitude 91 is outside -90..90"),
        ("60.17,181", "longitude 181 is outside -180..180"),
        ("60.1,abc", "'60.1,abc' is not a valid coordinate"),
        ("60.17 24.94", "'60.17 24.94' is not a valid coordinate"),
        ("60.17,24.94,3", "is not a valid coordinate"),
        ("", "empty location"),
    ],
)
def test_malformed_coordinates_are_refused(index: PlaceIndex, text: str, message: str) -> None:
    with pytest.raises(LocationError, match=message):
        parse_location(text, index)


def test_parse_a_place_name(index: PlaceIndex) -> None:
    lat, lon, label = parse_location("Helsinki Cathedral", index)
    assert label == "Helsingin tuomiokirkko"
    assert 60.16 < lat < 60.18 and 24.94 < lon < 24.96
    _, _, address = parse_location("Mannerheimintie 13", index)
    assert address.startswith("Mannerheimintie 13")


def test_a_place_name_needs_an_index() -> None:
    with pytest.raises(LocationError, match="no place index"):
        parse_location("Senaatintori", None)


# ------------------------------------------------------------------------------------ bad input


def test_a_corrupt_pbf_is_a_map_error_and_keeps_the_old_index(
    tmp_path: Path, built: tuple[Path, IndexStats, list[float]]
) -> None:
    out = tmp_path / "places.sqlite"
    shutil.copy(built[0], out)
    before = out.read_bytes()
    truncated = tmp_path / "truncated.osm.pbf"
    data = default_pbf().read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        MapError, match=r"cannot read .*truncated\.osm\.pbf as an OpenStreetMap PBF"
    ):
        build_index(truncated, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["places.sqlite", "truncated.osm.pbf"]


def test_garbage_and_missing_files_are_map_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(b"\x00\x00\x00\x0dnot an osm file at all" * 10)
    with pytest.raises(MapError, match=r"garbage\.osm\.pbf"):
        build_index(garbage, tmp_path / "places.sqlite")
    with pytest.raises(MapError, match="no such OpenStreetMap file"):
        build_index(tmp_path / "missing.osm.pbf", tmp_path / "places.sqlite")
    assert not (tmp_path / "places.sqlite").exists()


def test_an_unreadable_index_is_a_map_error(tmp_path: Path) -> None:
    with pytest.raises(MapError, match="no place index at"):
        PlaceIndex(tmp_path / "places.sqlite")
    (tmp_path / "places.sqlite").write_text("not sqlite")
    with pytest.raises(MapError, match="unreadable"):
        PlaceIndex(tmp_path / "places.sqlite")


def test_search_without_fts5_falls_back_to_like(
    tmp_path: Path, built: tuple[Path, IndexStats, list[float]]
) -> None:
    copy = tmp_path / "places.sqlite"
    shutil.copy(built[0], copy)
    db = sqlite3.connect(copy)
    db.execute("DROP TABLE names_fts")
    db.execute("UPDATE meta SET value = '0' WHERE key = 'fts5'")
    db.commit()
    db.close()
    index = PlaceIndex(copy)
    assert index.search("Senate Square")[0].osm_id == SENATE_SQUARE
    assert index.search("tuomiokirkko")[0].osm_id == CATHEDRAL


# ------------------------------------------------------------------------------------ small PBF


def _node(
    node_id: int, lat: float, lon: float, tags: dict[str, str] | None = None
) -> osmium.osm.mutable.Node:
    return osmium.osm.mutable.Node(id=node_id, location=(lon, lat), tags=tags or {})


def _write_pbf(path: Path) -> None:
    writer = osmium.SimpleWriter(str(path))
    try:
        for i in range(1, 6):  # a residential street, west to east
            writer.add_node(_node(i, 52.0, 5.0 + i * 0.001))
        for i in range(6, 9):  # a footway further north: not drivable
            writer.add_node(_node(i, 52.01, 5.0 + i * 0.001))
        writer.add_node(
            _node(
                20,
                52.0005,
                5.002,
                {"amenity": "charging_station", "operator": "Fastned", "capacity": "4"},
            )
        )
        writer.add_node(
            _node(
                21,
                52.0006,
                5.003,
                {"amenity": "charging_station", "name": "Laadplein", "brand": "Shell Recharge"},
            )
        )
        writer.add_node(_node(22, 52.0007, 5.004, {"amenity": "charging_station"}))
        writer.add_node(
            _node(23, 52.0004, 5.001, {"addr:street": "Dorpsstraat", "addr:housenumber": "7"})
        )
        writer.add_way(
            osmium.osm.mutable.Way(
                id=100,
                nodes=[1, 2, 3, 4, 5],
                tags={"highway": "residential", "name": "Dorpsstraat"},
            )
        )
        writer.add_way(
            osmium.osm.mutable.Way(
                id=101, nodes=[6, 7, 8], tags={"highway": "footway", "name": "Kerkpad"}
            )
        )
    finally:
        writer.close()


def test_a_small_pbf_written_here(tmp_path: Path) -> None:
    pbf = tmp_path / "village.osm.pbf"
    _write_pbf(pbf)
    stats = build_index(pbf, tmp_path / "places.sqlite")
    assert stats.charging_stations == 3
    # the footway lies outside the drivable extent
    assert stats.bbox == pytest.approx((5.001, 52.0, 5.005, 52.0))
    index = PlaceIndex(tmp_path / "places.sqlite")
    names = {p.name: p for p in index.charging_stations()}
    assert set(names) == {"Fastned", "Laadplein", "Charging station"}
    assert names["Fastned"].tags["capacity"] == "4"
    assert index.search("Shell Recharge")[0].name == "Laadplein"
    street = index.resolve("Dorpsstraat")
    assert (street.kind, street.osm_id, street.lat, street.lon) == ("street", "w100", 52.0, 5.003)
    footway = index.resolve("Kerkpad")
    assert footway.kind == "street"
    address = index.resolve("Dorpsstraat 7")
    assert (address.kind, address.osm_id) == ("address", "n23")
    assert isinstance(address, Place)
