"""EV trip planning on a generated motorway corridor (real Valhalla) and on the Helsinki map."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carmind.cli.main import main
from carmind.navigation.charging_search import Leg, SearchProblem, departure_candidates, solve
from carmind.navigation.consumption import ChargeTable, Conditions, ConsumptionModel, Segment
from carmind.navigation.errors import LocationError, TripError
from carmind.navigation.maps import MapInfo, build_map
from carmind.navigation.stations import (
    DEFAULT_AC_KW,
    DEFAULT_DC_KW,
    load_stations_csv,
    station_from_tags,
)
from carmind.navigation.trip import TripPlan, TripPlanner, TripRequest
from carmind.vehicle.battery import time_to_charge_s
from carmind.vehicle.profiles import UnknownProfileError, get_profile
from tests.navigation import corridor

MODEL_3 = "tesla-model-3-rwd"


@pytest.fixture(scope="session")
def corridor_map(tmp_path_factory: pytest.TempPathFactory) -> MapInfo:
    """The generated corridor, written as OSM PBF and built into a map like any other."""
    root = tmp_path_factory.mktemp("corridor")
    pbf = corridor.write_corridor(root / "corridor.osm.pbf")
    return build_map(pbf, root / "map")


@pytest.fixture(scope="session")
def planner(corridor_map: MapInfo) -> TripPlanner:
    return TripPlanner(corridor_map)


def _request(soc: float, profile: str = MODEL_3, **kw: Any) -> TripRequest:
    return TripRequest(get_profile(profile), soc, **kw)


def _check_consistent(plan: TripPlan, reserve: float) -> None:
    """Legs and stops chain up; the reserve holds everywhere; the energy adds up."""
    capacity = get_profile(plan.profile_id).usable_battery_kwh
    assert plan.legs[0].start_soc_pct == pytest.approx(plan.start_soc_pct)
    assert len(plan.legs) == len(plan.stops) + 1
    for leg, stop in zip(plan.legs, plan.stops, strict=False):
        assert leg.end == stop.station.name
        assert stop.arrival_soc_pct == pytest.approx(leg.end_soc_pct)
        assert stop.arrival_soc_pct >= reserve - 1e-6
        assert stop.departure_soc_pct > stop.arrival_soc_pct
        assert stop.charge_s > 0.0
    for stop, leg in zip(plan.stops, plan.legs[1:], strict=False):
        assert leg.start == stop.station.name
        assert leg.start_soc_pct == pytest.approx(stop.departure_soc_pct)
        assert leg.depart == stop.depart
    for leg in plan.legs:
        used = (leg.start_soc_pct - leg.end_soc_pct) / 100.0 * capacity
        assert used == pytest.approx(leg.energy_kwh, rel=1e-6)
    assert plan.arrival_soc_pct >= reserve - 1e-6
    stopped = sum(s.charge_s + s.overhead_s for s in plan.stops)
    assert plan.total_s == pytest.approx(plan.driving_s + stopped, abs=1.0)


# ---------------------------------------------------------------------------- on the corridor


def test_short_trip_needs_no_stop(planner: TripPlanner) -> None:
    plan = planner.plan("Etelä", "Koskela", _request(80.0))
    assert not plan.needs_stop
    assert plan.stops == ()
    assert len(plan.legs) == 1
    assert "no charging stop" in plan.summary
    leg = plan.legs[0]
    # 72 km of motorway at 120 km/h plus the town roads at both ends
    assert 73_000 < leg.distance_m < 77_000
    # a Model 3 at 120 km/h draws 14-17 kWh/100 km (owners' reports at motorway speed)
    assert 14.0 < leg.energy_kwh / leg.distance_m * 100_000 < 17.5
    _check_consistent(plan, 10.0)


def test_long_trip_stops_and_keeps_the_reserve(planner: TripPlanner) -> None:
    plan = planner.plan("Etelä", "Pohjola", _request(80.0, reserve_pct=15.0))
    assert plan.needs_stop
    assert 600_000 < plan.distance_m < 640_000
    _check_consistent(plan, 15.0)
    # every stop is a charger of the corridor, in route order
    names = [s.station.name for s in plan.stops]
    towns = [t.name for t in corridor.TOWNS if t.station]
    order = [towns.index(n.removesuffix(" charging")) for n in names]
    assert order == sorted(order)
    # the 22 kW AC post (11 kW into this car) is never worth its time next to 150 kW chargers
    assert "Rantala charging" not in names
    # the energy needed beyond the start's usable charge had to come from the chargers
    capacity = get_profile(MODEL_3).usable_battery_kwh
    charged = sum(s.energy_kwh for s in plan.stops)
    needed = plan.energy_kwh - (80.0 - plan.arrival_soc_pct) / 100.0 * capacity
    assert charged == pytest.approx(needed, rel=1e-6)


def test_json_lists_legs_and_stops(planner: TripPlanner) -> None:
    data = planner.plan("Etelä", "Pohjola", _request(60.0)).to_json()
    assert data["needs_stop"] is True
    assert {"from", "to", "distance_km", "duration_min", "energy_kwh"} <= set(data["legs"][0])
    assert {"start_soc_pct", "end_soc_pct"} <= set(data["legs"][0])
    stop = data["stops"][0]
    for key in ("station", "lat", "lon", "arrival_soc_pct", "departure_soc_pct", "charging_min"):
        assert key in stop
    assert stop["station_power_kw"] in (50.0, 150.0, 350.0)
    assert data["arrival_soc_pct"] >= data["reserve_pct"]
    json.dumps(data)


def test_infeasible_trip_names_the_gap(planner: TripPlanner) -> None:
    with pytest.raises(TripError) as caught:
        planner.plan("Etelä", "Tunturi", _request(90.0))
    message = str(caught.value)
    assert "gap" in message
    assert "Vaarala charging" in message and "Tunturi" in message
    assert "km" in message


def test_too_little_charge_for_the_first_charger(planner: TripPlanner) -> None:
    with pytest.raises(TripError, match="first charger on the way, Koskela charging"):
        planner.plan("Etelä", "Pohjola", _request(12.0))


def test_extra_station_closes_the_gap(planner: TripPlanner, tmp_path: Path) -> None:
    lat1, lon1 = corridor.motorway_point(800.0)
    csv_file = tmp_path / "stations.csv"
    csv_file.write_text(f"name,lat,lon,power_kw\nTundra HPC,{lat1:.6f},{lon1 + 0.001:.6f},300\n")
    extra = tuple(load_stations_csv(csv_file))
    plan = planner.plan(
        "Etelä", "Tunturi", _request(90.0, profile="xiaomi-su7-max", extra_stations=extra)
    )
    assert "Tundra HPC" in [s.station.name for s in plan.stops]
    _check_consistent(plan, 10.0)


def test_cold_and_heating_cost_energy(planner: TripPlanner) -> None:
    mild = planner.plan("Etelä", "Koskela", _request(80.0))
    cold = planner.plan("Etelä", "Koskela", _request(80.0, conditions=Conditions(-15.0, True)))
    cold_off = planner.plan("Etelä", "Koskela", _request(80.0, conditions=Conditions(-15.0, False)))
    # denser air costs energy; heating the cabin costs more
    assert mild.energy_kwh < cold_off.energy_kwh < cold.energy_kwh
    assert cold.hvac_w > 1000.0


def test_optimal_against_brute_force_on_the_corridor(planner: TripPlanner) -> None:
    problem = planner.search_problem("Etelä", "Harjula", _request(40.0, soc_step_pct=10.0))
    assert problem.size >= 5  # origin, destination and at least three chargers
    solution = solve(problem)
    assert solution is not None
    assert solution.total_s == pytest.approx(brute_force(problem), abs=1e-6)


# ---------------------------------------------------------------------------- the search alone


def brute_force(problem: SearchProblem) -> float:
    """Every subset of chargers in order, every departure state of charge: the least time."""
    n = problem.size
    best = math.inf
    chargers = range(1, n - 1)
    for r in range(n - 1):
        for subset in itertools.combinations(chargers, r):
            path = (0, *subset, n - 1)
            if any((a, b) not in problem.legs for a, b in itertools.pairwise(path)):
                continue
            options = [departure_candidates(problem, j) for j in subset]
            for departures in itertools.product(*options):
                best = min(best, _evaluate(problem, path, departures))
    return best


def _evaluate(
    problem: SearchProblem, path: tuple[int, ...], departures: tuple[float, ...]
) -> float:
    soc, total = problem.start_soc_pct, 0.0
    for k, (a, b) in enumerate(itertools.pairwise(path)):
        leg = problem.legs[(a, b)]
        if soc - problem.pct(leg.peak_kwh) < problem.reserve_pct - 1e-9:
            return math.inf
        arrival = min(100.0, soc - problem.pct(leg.energy_kwh))
        total += leg.duration_s
        if b == problem.size - 1:
            return total
        leave = departures[k]
        table = problem.charge[b]
        assert table is not None
        if leave <= arrival + 1e-9:
            return math.inf
        total += table.seconds(arrival, leave) + problem.stop_overhead_s
        soc = leave
    return math.inf


def _random_problem(seed: int) -> SearchProblem:
    rng = random.Random(seed)
    profile = get_profile(rng.choice(["tesla-model-3-rwd", "xiaomi-su7", "bmw-i4-edrive40"]))
    n = rng.randint(4, 6)
    along = sorted(rng.uniform(0.0, 600.0) for _ in range(n - 2))
    positions = [0.0, *along, 650.0]
    kwh_per_km = rng.uniform(0.14, 0.2)
    legs: dict[tuple[int, int], Leg] = {}
    for i in range(n):
        for j in range(i + 1, n):
            km = positions[j] - positions[i] + rng.uniform(1.0, 6.0)
            energy = km * kwh_per_km
            legs[(i, j)] = Leg(km * 1000.0, km / 110.0 * 3600.0, energy, energy)
    tables: list[ChargeTable | None] = [None]
    for _ in range(n - 2):
        kw = rng.choice([50.0, 150.0, 350.0])
        tables.append(ChargeTable(profile, kw, aux_w=rng.uniform(300.0, 3000.0)))
    tables.append(None)
    return SearchProblem(
        capacity_kwh=profile.usable_battery_kwh,
        start_soc_pct=rng.uniform(30.0, 95.0),
        reserve_pct=rng.choice([5.0, 10.0, 20.0]),
        legs=legs,
        charge=tables,
        stop_overhead_s=rng.choice([0.0, 300.0]),
        soc_step_pct=rng.choice([5.0, 10.0]),
    )


@pytest.mark.parametrize("seed", range(12))
def test_search_matches_brute_force(seed: int) -> None:
    problem = _random_problem(seed)
    solution = solve(problem)
    expected = brute_force(problem)
    if math.isinf(expected):
        assert solution is None
        return
    assert solution is not None
    assert solution.total_s == pytest.approx(expected, abs=1e-6)
    # and the plan it returns is one the brute force would price the same
    stops = solution.nodes[1:-1]
    departures = tuple(solution.departure_soc[1:-1])
    assert _evaluate(problem, solution.nodes, departures) == pytest.approx(solution.total_s)
    assert all(problem.charge[j] is not None for j in stops)


def test_search_charges_only_what_the_last_leg_needs() -> None:
    profile = get_profile(MODEL_3)
    energy = 40.0
    problem = SearchProblem(
        capacity_kwh=profile.usable_battery_kwh,
        start_soc_pct=50.0,
        reserve_pct=10.0,
        legs={
            (0, 1): Leg(100_000.0, 3000.0, 15.0, 15.0),
            (1, 2): Leg(250_000.0, 7500.0, energy, energy),
        },
        charge=[None, ChargeTable(profile, 150.0), None],
        stop_overhead_s=0.0,
    )
    solution = solve(problem)
    assert solution is not None
    assert solution.departure_soc[1] == pytest.approx(10.0 + energy / problem.capacity_kwh * 100)
    assert solution.arrival_soc[-1] == pytest.approx(10.0)


# ---------------------------------------------------------------------------- physics and data


def test_charge_table_agrees_with_the_battery_model() -> None:
    profile = get_profile(MODEL_3)
    for kw in (50.0, 150.0, 250.0):
        table = ChargeTable(profile, kw)
        assert table.seconds(10.0, 80.0) == pytest.approx(
            time_to_charge_s(profile, 10.0, 80.0, kw), rel=0.002
        )
    # auxiliary loads are fed first, so they slow charging down
    assert ChargeTable(profile, 50.0, aux_w=3000.0).seconds(10.0, 80.0) > ChargeTable(
        profile, 50.0
    ).seconds(10.0, 80.0)
    # an AC post is limited by the car's on-board charger
    ac = ChargeTable(profile, 22.0, ac=True)
    assert ac.power_kw == profile.max_ac_charge_kw


def test_consumption_follows_the_road_load() -> None:
    model = ConsumptionModel(get_profile(MODEL_3), Conditions(20.0, hvac=False))
    slow = model.leg([Segment(10_000.0, 80.0)], start_s=None).energy_kwh
    fast = model.leg([Segment(10_000.0, 130.0)], start_s=None).energy_kwh
    up = model.leg([Segment(10_000.0, 80.0, 3.0)], start_s=None).energy_kwh
    down = model.leg([Segment(10_000.0, 80.0, -3.0)], start_s=None)
    assert slow < fast < 2.5 * slow
    # 3 % over 10 km lifts ~1,840 kg by 300 m: 1.5 kWh at the wheels, more from the battery
    assert up - slow == pytest.approx(1840 * 9.80665 * 300 / 3.6e6 / 0.9, rel=0.05)
    assert down.energy_kwh < 0.0  # regenerating downhill
    assert down.peak_kwh > 0.0  # but the start from standstill drew some first


@pytest.mark.parametrize(
    ("tags", "power", "dc", "assumed"),
    [
        ({"socket:type2_combo": "2", "socket:type2_combo:output": "150 kW"}, 150.0, True, False),
        ({"socket:chademo:output": "50kW", "socket:type2:output": "22 kW"}, 50.0, True, False),
        ({"socket:type2_combo:output": "150 kW;50 kW"}, 150.0, True, False),
        ({"socket:type2_combo": "1"}, DEFAULT_DC_KW, True, True),
        ({"socket:type2": "2", "socket:type2:output": "11 kW"}, 11.0, False, False),
        ({"socket:type2": "2"}, DEFAULT_AC_KW, False, True),
        ({}, DEFAULT_AC_KW, False, True),
        ({"socket:type2_combo:output": "350000 W"}, 350.0, True, False),
        ({"socket:type2:output": "7,4 kW"}, 7.4, False, False),
    ],
)
def test_station_power_from_tags(
    tags: dict[str, str], power: float, dc: bool, assumed: bool
) -> None:
    station = station_from_tags("x", 60.0, 25.0, {"amenity": "charging_station", **tags})
    assert (station.power_kw, station.dc, station.assumed_power) == (power, dc, assumed)


def test_stations_csv_errors(tmp_path: Path) -> None:
    bad_header = tmp_path / "a.csv"
    bad_header.write_text("name,lat,lon\nx,60,25\n")
    with pytest.raises(TripError, match="missing power_kw"):
        load_stations_csv(bad_header)
    bad_number = tmp_path / "b.csv"
    bad_number.write_text("name,lat,lon,power_kw\nx,60,25,fast\n")
    with pytest.raises(TripError, match="line 2"):
        load_stations_csv(bad_number)
    bad_current = tmp_path / "c.csv"
    bad_current.write_text("name,lat,lon,power_kw,current\nx,60,25,50,XX\n")
    with pytest.raises(TripError, match="AC or DC"):
        load_stations_csv(bad_current)
    with pytest.raises(TripError, match="cannot read"):
        load_stations_csv(tmp_path / "missing.csv")
    good = tmp_path / "d.csv"
    good.write_text("name,lat,lon,power_kw,current\nA,60,25,11,AC\nB,61,25,150,\n")
    assert [(s.name, s.dc) for s in load_stations_csv(good)] == [("A", False), ("B", True)]


@pytest.mark.parametrize(
    ("soc", "reserve", "match"),
    [
        (0.0, 10.0, "state of charge 0.0"),
        (120.0, 10.0, "state of charge 120.0"),
        (50.0, -1.0, "reserve -1.0"),
        (50.0, 50.0, "must be below the state of charge"),
        (30.0, 40.0, "must be below the state of charge"),
    ],
)
def test_bad_charge_inputs(soc: float, reserve: float, match: str) -> None:
    with pytest.raises(TripError, match=match):
        _request(soc, reserve_pct=reserve)


def test_bad_temperature_and_profile() -> None:
    with pytest.raises(TripError, match="outside temperature 80"):
        Conditions(80.0)
    with pytest.raises(UnknownProfileError, match="tesla-model-3-rwd"):
        get_profile("no-such-car")


def test_bad_locations(planner: TripPlanner) -> None:
    with pytest.raises(LocationError, match="Atlantis"):
        planner.plan("Atlantis", "Koskela", _request(80.0))
    with pytest.raises(LocationError, match="off the map"):
        planner.plan("10.0,10.0", "Koskela", _request(80.0))


# ---------------------------------------------------------------------------- the command line


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CARMIND_DATA_DIR", str(tmp_path / "data"))
    yield tmp_path / "data"


def test_cli_json(
    corridor_map: MapInfo, capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    status = main(
        [
            "trip",
            "Etelä",
            "Pohjola",
            "--profile",
            MODEL_3,
            "--soc",
            "70",
            "--reserve",
            "12",
            "--temp",
            "-5",
            "--depart",
            "2026-01-15T08:00+02:00",
            "--map",
            str(corridor_map.paths.root),
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    data = json.loads(out)
    assert data["needs_stop"] is True
    assert data["reserve_pct"] == 12.0
    assert data["ambient_c"] == -5.0
    assert data["depart"] == "2026-01-15T06:00:00+00:00"
    assert all(stop["arrival_soc_pct"] >= 12.0 for stop in data["stops"])
    assert data["arrival_soc_pct"] >= 12.0
    assert "OpenStreetMap" in data["attribution"]


def test_cli_table(corridor_map: MapInfo, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(corridor_map.paths.root)
    status = main(["trip", "Etelä", "Pohjola", "-p", MODEL_3, "--soc", "90", "--map", root])
    out = capsys.readouterr().out
    assert status == 0
    assert "Charging stops" in out and "Legs" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "no-such-car", "--soc", "80"], "unknown vehicle profile 'no-such-car'"),
        (["--profile", MODEL_3, "--soc", "150"], "state of charge 150"),
        (["--profile", MODEL_3, "--soc", "20", "--reserve", "25"], "must be below"),
        (["--profile", MODEL_3, "--soc", "80", "--temp", "90"], "outside temperature 90"),
        (["--profile", MODEL_3, "--soc", "80", "--depart", "tomorrow"], "bad time 'tomorrow'"),
        (["--profile", MODEL_3, "--soc", "80", "--stations", "/nonexistent.csv"], "cannot read"),
    ],
)
def test_cli_bad_inputs(
    corridor_map: MapInfo, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    root = str(corridor_map.paths.root)
    status = main(["trip", "Etelä", "Koskela", *args, "--map", root])
    err = capsys.readouterr().err
    assert status == 2
    assert message in " ".join(err.split())
    assert "Traceback" not in err


def test_cli_infeasible(corridor_map: MapInfo, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(corridor_map.paths.root)
    status = main(["trip", "Etelä", "Tunturi", "-p", MODEL_3, "--soc", "90", "--map", root])
    err = " ".join(capsys.readouterr().err.split())
    assert status == 2
    assert "gap between Vaarala charging" in err


# ---------------------------------------------------------------------------- a real map


def test_helsinki_trip_needs_no_stop(helsinki_map: MapInfo) -> None:
    planner = TripPlanner(helsinki_map)
    plan = planner.plan("60.1665,24.9375", "60.1775,24.9510", _request(50.0))
    assert not plan.needs_stop
    assert 1_000 < plan.distance_m < 5_000
    assert 0.0 < plan.energy_kwh < 2.0
    _check_consistent(plan, 10.0)
