"""`carmind map ...` and `carmind route`, as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from carmind.cli.main import main
from carmind.navigation.maps import MapInfo


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_route_json_with_names(capsys: pytest.CaptureFixture[str], helsinki_map: MapInfo) -> None:
    status, out, err = cli(
        capsys,
        "route",
        "Rautatientori",
        "Hakaniemi",
        "--depart",
        "2026-11-23T08:00+02:00",
        "--json",
        "--map",
        str(helsinki_map.paths.root),
    )
    assert status == 0, err
    data = json.loads(out)
    assert {"distance_m", "duration_s", "departure", "arrival", "maneuvers", "shape"} <= set(data)
    assert data["departure"] == "2026-11-23T06:00:00+00:00"
    assert data["from"]["label"] == "Rautatientori"
    assert data["maneuvers"][0]["instruction"]
    assert "OpenStreetMap" in data["attribution"]


def test_route_text_geojson_gpx_and_arrive(
    capsys: pytest.CaptureFixture[str], helsinki_map: MapInfo
) -> None:
    where = ("--map", str(helsinki_map.paths.root))
    a, b = "60.1704,24.9414", "60.1787,24.9515"
    status, out, err = cli(capsys, "route", a, b, "--lang", "zh", *where)
    assert status == 0, err
    assert "OpenStreetMap" in out and re.search(r"[\u4e00-\u9fff]", out)
    status, out, err = cli(capsys, "route", a, b, "--geojson", *where)
    assert status == 0 and json.loads(out)["type"] == "FeatureCollection"
    status, out, err = cli(capsys, "route", a, b, "--gpx", *where)
    assert status == 0 and out.startswith("<?xml") and "<trkpt" in out
    status, out, err = cli(capsys, "route", a, b, "--arrive", "2026-11-23T09:00+02:00", *where)
    assert status == 0, err
    assert "Leave at" in out
    status, out, err = cli(
        capsys, "route", a, b, "--arrive", "2026-11-23T09:00+02:00", "--json", *where
    )
    advice = json.loads(out)["departure_advice"]
    assert advice["leave_at"] < "2026-11-23T07:00:00+00:00"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["Xyzzy Plaza", "Hakaniemi"], "no place"),
        (["60.1704,24.9414", "59.437,24.745"], "off the map"),
        (["91,24", "Hakaniemi"], "latitude"),
        (["Hakaniemi", "Rautatientori", "--depart", "tomorrow"], "ISO 8601"),
        (["Hakaniemi", "Rautatientori", "--lang", "fr"], "language"),
        (["Hakaniemi", "Rautatientori", "--traffic", "psychic"], "--traffic"),
        (["Hakaniemi", "Rautatientori", "--json", "--gpx"], "one of"),
    ],
)
def test_route_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], helsinki_map: MapInfo, args: list[str], match: str
) -> None:
    status, out, err = cli(capsys, "route", *args, "--map", str(helsinki_map.paths.root))
    assert status == 2
    assert match in err and len(err.strip().splitlines()) == 1, err
    assert out == ""


def test_map_build_info_and_search(
    capsys: pytest.CaptureFixture[str], helsinki_map: MapInfo, tmp_path: Path
) -> None:
    status, out, err = cli(
        capsys, "map", "build", helsinki_map.source, "--out", str(tmp_path / "m")
    )
    assert status == 0, err
    assert "OpenStreetMap" in out and "directed edges" in out
    status, out, err = cli(capsys, "map", "info", "--map", str(tmp_path / "m"), "--json")
    assert status == 0 and json.loads(out)["edges"] == helsinki_map.edges
    status, out, err = cli(capsys, "map", "search", "Kaivokatu", "--map", str(tmp_path / "m"))
    assert status == 0 and "Kaivokatu" in out
    bad = tmp_path / "bad.osm.pbf"
    bad.write_text("hello")
    status, out, err = cli(capsys, "map", "build", str(bad), "--out", str(tmp_path / "m"))
    assert status == 2 and "not an OpenStreetMap PBF" in err
    status, out, err = cli(capsys, "map", "info", "--map", str(tmp_path / "none"))
    assert status == 2 and "no map at" in err


def test_carmind_run_guides_to_a_destination(capsys: pytest.CaptureFixture[str]) -> None:
    """`carmind run` with its defaults: the default map is built on first use; a destination
    primed on the hub is routed and driven at once."""
    status, out, err = cli(
        capsys,
        "run",
        "--duration",
        "3",
        "--plain",
        "--speed-factor",
        "20",
        "--no-assistant",
        "--set",
        "Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Latitude=60.1770",
        "--set",
        "Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Longitude=24.9500",
    )
    assert status == 0, err
    lines = [line for line in out.splitlines() if line.startswith("t=")]
    assert any("nav=guiding" in line for line in lines), out
    assert any(re.search(r"speed=\s*[1-9][\d.]* km/h", line) for line in lines), out
