"""`carmind traffic ...` end to end on Helsinki: simulate, learn, eval, live; and bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from carmind.cli.main import main
from carmind.navigation.engine import LatLon, Router
from carmind.navigation.maps import MapInfo, open_map

HELSINKI = ZoneInfo("Europe/Helsinki")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def _duration(router: Router, a: LatLon, b: LatLon, depart: datetime, traffic: str) -> float:
    req = router.request([a, b], depart=depart, traffic=traffic)  # type: ignore[arg-type]
    req["directions_type"] = "none"
    return float(router.call("route", req)["trip"]["summary"]["time"])


@pytest.mark.slow
def test_simulate_learn_eval_and_live(
    capsys: pytest.CaptureFixture[str], map_copy: MapInfo, tmp_path: Path
) -> None:
    where = ("--map", str(map_copy.paths.root))
    probes = tmp_path / "probes.parquet"
    status, out, err = cli(
        capsys, "traffic", "simulate", "--days", "21", "--vehicles", "30", "--seed", "7",
        "--out", str(probes), "--json", *where,
    )  # fmt: skip
    assert status == 0, err
    sim = json.loads(out)
    assert sim["points"] > 20_000 and sim["holdout_trips"] > 100 and sim["incidents"] > 0
    world = json.loads((tmp_path / "probes.world.json").read_text(encoding="utf-8"))
    assert world["params"]["seed"] == 7 and world["incidents"]
    assert all(t["duration_s"] > 0 for t in world["trips"])

    status, out, err = cli(capsys, "traffic", "learn", str(probes), "--json", *where)
    assert status == 0, err
    learned = json.loads(out)
    assert learned["points_read"] == sim["points"] and learned["points_rejected"] == 0
    assert learned["points_matched"] > 0.95 * learned["points_read"]
    assert learned["edges_by_level"]["edge"] > 100
    info = open_map(map_copy.paths.root)
    assert info.traffic["historical"]["edges"] == learned["edges_loaded"]
    assert info.traffic["historical"]["probes_until"] < world["holdout_start"]

    # rush hour is slower than the night on the world's commutes; free flow does not know
    router = Router(info)
    commute = next(t for t in world["trips"] if t["purpose"] == "commute")
    a, b = LatLon(*commute["origin"]), LatLon(*commute["destination"])
    tuesday = datetime(2026, 9, 29, tzinfo=HELSINKI)
    rush, night = tuesday + timedelta(hours=8), tuesday + timedelta(hours=2)
    assert _duration(router, a, b, rush, "historical") > 1.15 * _duration(
        router, a, b, night, "historical"
    )
    assert _duration(router, a, b, rush, "none") == _duration(router, a, b, night, "none")

    status, out, err = cli(capsys, "traffic", "eval", "--trips", "150", "--json", *where)
    assert status == 0, err
    ev = json.loads(out)
    free, hist = ev["predictors"]["free_flow"], ev["predictors"]["historical"]
    assert ev["trips"] >= 140
    assert hist["mape_pct"] <= 0.5 * free["mape_pct"], ev
    assert hist["mape_pct"] <= 10.0, ev
    assert ev["target_met"] is True
    assert ev["predictors"]["live"]["mape_pct"] <= 10.0, ev

    # live speeds: a held-out trip has just been driven; its road now carries live speeds
    trip = next(t for t in world["trips"] if t["holdout"] and t["duration_s"] > 180)
    now = datetime.fromisoformat(trip["depart"]) + timedelta(seconds=trip["duration_s"] + 30)
    a, b = LatLon(*trip["origin"]), LatLon(*trip["destination"])
    depart = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
    historical = _duration(router, a, b, depart, "historical")
    assert _duration(router, a, b, depart, "live") == historical  # no live speeds yet
    holdout = tmp_path / "probes.holdout.parquet"
    status, out, err = cli(
        capsys, "traffic", "live", str(holdout), "--now", now.isoformat(), "--json", *where
    )
    assert status == 0, err
    live = json.loads(out)
    assert live["edges_with_live_speed"] > 0 and live["points_in_window"] > 0
    assert _duration(router, a, b, depart, "live") != historical

    status, out, err = cli(capsys, "traffic", "learn", str(probes), *where)
    assert status == 0, err
    assert "edges with own profiles" in out


def test_bad_input_is_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], map_copy: MapInfo, tmp_path: Path
) -> None:
    where = ("--map", str(map_copy.paths.root))
    manifest = map_copy.paths.manifest.read_text(encoding="utf-8")
    tiles = sorted(p.stat().st_mtime_ns for p in map_copy.paths.tiles.rglob("*.gph"))

    status, _, err = cli(capsys, "traffic", "learn", str(tmp_path / "none.csv"), *where)
    assert status == 2 and "no such probe file" in err and len(err.strip().splitlines()) == 1

    junk = tmp_path / "junk.csv"
    junk.write_text("vehicle_id,time,lat,lon\nv,yesterday,60.17,24.94\n", encoding="utf-8")
    status, _, err = cli(capsys, "traffic", "learn", str(junk), *where)
    assert status == 2 and "no valid probe" in err
    assert (tmp_path / "junk.rejects.csv").is_file()

    status, _, err = cli(capsys, "traffic", "live", str(junk), "--now", "2026-09-21T08:00", *where)
    assert status == 2 and "no UTC offset" in err

    status, _, err = cli(capsys, "traffic", "eval", *where)
    assert status == 2 and "--world" in err

    status, _, err = cli(
        capsys, "traffic", "simulate", "--days", "5", "--out", str(tmp_path / "p.parquet"), *where
    )
    assert status == 2 and "held out" in err

    assert map_copy.paths.manifest.read_text(encoding="utf-8") == manifest
    assert sorted(p.stat().st_mtime_ns for p in map_copy.paths.tiles.rglob("*.gph")) == tiles
    assert not (map_copy.paths.root / "traffic").exists()
