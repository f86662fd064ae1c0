"""Arrival-time error on held-out trips: free flow, learned historical speeds, and live speeds.

The truth is the world's own driving (`world.json`: each held-out trip's true departure and
duration). The held-out days are never learned from: evaluation refuses a map whose learned
probes reach into them. Three predictors, each a Valhalla route from the trip's origin to its
destination:

- `free_flow`: `traffic="none"`, the map's road speeds;
- `historical`: `traffic="historical"`, departing at the trip's departure time;
- `live`: the historical route with live speeds observed in the `window_min` minutes before the
  departure (the held-out probes of that window, map-matched, median speed per edge).
  Valhalla blends live speeds only when the departure is the wall clock's "now", so the
  evaluation replays Valhalla's blend at the simulated now, exactly as `GraphTile::GetSpeed`
  does it: on an edge reached `s` seconds after departure the speed is
  `live x p + historical x (1 - p)` with `p = 1 - min(s / 3600, 1)`; the trip's duration is the
  historical route's with each edge's time replaced by its blended time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from carmind.navigation.engine import LatLon, Router
from carmind.navigation.errors import NavigationError, TrafficDataError
from carmind.navigation.maps import MapInfo
from carmind.navigation.timing import blended_seconds, walk
from carmind.navigation.traffic import matching, probes
from carmind.navigation.traffic.world import load_world

PREDICTORS: Final = ("free_flow", "historical", "live")
DEFAULT_TRIPS: Final = 200
DEFAULT_WINDOW_MIN: Final = 15.0

Progress = Callable[[str, float], None]


def _no_progress(stage: str, fraction: float) -> None:
    del stage, fraction


@dataclass(frozen=True)
class Metrics:
    mape: float
    median_ape: float
    within_10pct: float
    bias: float
    """Mean signed relative error: positive when the predictor is late."""

    def to_json(self) -> dict[str, float]:
        return {
            "mape_pct": round(100 * self.mape, 2),
            "median_ape_pct": round(100 * self.median_ape, 2),
            "within_10pct_share": round(self.within_10pct, 3),
            "bias_pct": round(100 * self.bias, 2),
        }


def metrics(predicted: Any, truth: Any) -> Metrics:
    import numpy as np

    p, t = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    rel = (p - t) / t
    ape = np.abs(rel)
    return Metrics(
        mape=float(ape.mean()),
        median_ape=float(np.median(ape)),
        within_10pct=float((ape <= 0.10).mean()),
        bias=float(rel.mean()),
    )


@dataclass(frozen=True)
class EvalResult:
    trips: int
    skipped: int
    metrics: dict[str, Metrics]
    rush_metrics: dict[str, Metrics]
    live_edges: int
    """Edge speeds observed in the live windows (summed over trips)."""
    window_min: float
    holdout_start: str

    @property
    def target_met(self) -> bool:
        free, hist = self.metrics["free_flow"].mape, self.metrics["historical"].mape
        return hist <= 0.5 * free and hist <= 0.10

    def to_json(self) -> dict[str, Any]:
        return {
            "trips": self.trips,
            "skipped": self.skipped,
            "holdout_start": self.holdout_start,
            "window_min": self.window_min,
            "live_edge_speeds": self.live_edges,
            "predictors": {k: m.to_json() for k, m in self.metrics.items()},
            "rush_hour": {k: m.to_json() for k, m in self.rush_metrics.items()},
            "target": "historical MAPE <= half the free-flow MAPE and <= 10 %",
            "target_met": self.target_met,
        }


def _pick(trips: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Up to `count` trips spread evenly over the held-out days (deterministic)."""
    if len(trips) <= count:
        return trips
    step = len(trips) / count
    return [trips[int(i * step)] for i in range(count)]


def _live_speeds(
    info: MapInfo,
    holdout: Path,
    windows: list[tuple[float, float]],
    work: Path,
    workers: int | None,
    progress: Progress,
) -> list[dict[int, float]]:
    """Per window: the median speed (km/h) of each edge observed in it."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    read = probes.read_probes(holdout, work / "holdout.parquet", rejects=work / "rejects.csv")
    con = duckdb.connect()
    con.execute("SET threads=1")
    win = pa.table(
        {
            "w": list(range(len(windows))),
            "a": [a for a, _ in windows],
            "b": [b for _, b in windows],
        }
    )
    con.register("win", win)
    con.register("p", pq.read_table(read.probes))
    con.sql("SELECT DISTINCT p.* FROM p JOIN win ON p.t >= win.a AND p.t < win.b").write_parquet(
        str(work / "windows.parquet")
    )
    stats = matching.match_probes(
        info,
        work / "windows.parquet",
        work / "live_obs.parquet",
        total_points=read.accepted,
        workers=workers,
        progress=lambda done, total: progress("matching live windows", done / max(total, 1)),
    )
    out: list[dict[int, float]] = [{} for _ in windows]
    if stats.observations:
        con.register("o", pq.read_table(work / "live_obs.parquet"))
        rows = con.sql(
            "SELECT win.w, o.edge_id, median(o.speed_kmh) FROM o JOIN win "
            "ON o.t >= win.a AND o.t < win.b GROUP BY ALL"
        ).fetchall()
        for w, edge, speed in rows:
            out[int(w)][int(edge)] = float(speed)
    con.close()
    return out


def _route(router: Router, a: LatLon, b: LatLon, depart: datetime, traffic: str) -> dict[str, Any]:
    req = router.request([a, b], depart=depart, traffic=traffic)  # type: ignore[arg-type]
    req["directions_type"] = "none"
    trip: dict[str, Any] = router.call("route", req)["trip"]
    return trip


def blended_duration(
    router: Router, trip: dict[str, Any], depart: datetime, live: dict[int, float]
) -> float:
    """The historical route's duration with live speeds faded in as Valhalla's GetSpeed does."""
    from valhalla.midgard.utils import decode_polyline

    duration = float(trip["summary"]["time"])
    if not live:
        return duration
    shape = decode_polyline(trip["legs"][0]["shape"], precision=6, order="latlng")
    edges = walk(router, shape, depart)
    # the route's own time, corrected by what the live speeds change on each edge
    return max(duration + blended_seconds(edges, live) - blended_seconds(edges, {}), 1.0)


def evaluate(
    info: MapInfo,
    world_file: str | Path,
    *,
    trips: int = DEFAULT_TRIPS,
    window_min: float = DEFAULT_WINDOW_MIN,
    workers: int | None = None,
    router: Router | None = None,
    progress: Progress = _no_progress,
) -> EvalResult:
    """Predict every sampled held-out trip three ways and compare with the world's truth."""
    import numpy as np

    world_path = Path(world_file)
    world = load_world(world_path)
    holdout_start = datetime.fromisoformat(world["holdout_start"])
    learned = info.traffic.get("historical")
    if not learned:
        raise TrafficDataError(
            f"the map at {info.paths.root} has no learned traffic: run 'carmind traffic learn' "
            "on the world's probes first"
        )
    until = datetime.fromisoformat(str(learned["probes_until"]))
    if until >= holdout_start:
        raise TrafficDataError(
            f"the map learned from probes until {until.isoformat()}, inside the held-out days "
            f"(from {holdout_start.isoformat()}): learn from the training probes only"
        )
    held = [t for t in world["trips"] if t["holdout"]]
    if not held:
        raise TrafficDataError(f"the world {world_path} has no held-out trips")
    chosen = _pick(held, max(1, trips))
    router = router or Router(info)
    departs = [datetime.fromisoformat(t["depart"]) for t in chosen]
    windows = [(d.timestamp() - 60.0 * window_min, d.timestamp()) for d in departs]
    holdout_probes = world_path.with_name(str(world["holdout_probes"]))
    with tempfile.TemporaryDirectory(prefix="carmind-eval-") as tmp:
        live = _live_speeds(info, holdout_probes, windows, Path(tmp), workers, progress)
    truth: list[float] = []
    predicted: dict[str, list[float]] = {k: [] for k in PREDICTORS}
    rush: list[bool] = []
    skipped = 0
    tz = _zone(world)
    for i, (trip, depart) in enumerate(zip(chosen, departs, strict=True)):
        a, b = LatLon(*trip["origin"]), LatLon(*trip["destination"])
        try:
            free = _route(router, a, b, depart, "none")
            hist = _route(router, a, b, depart, "historical")
            live_s = blended_duration(router, hist, depart, live[i])
        except NavigationError:
            skipped += 1
            continue
        truth.append(float(trip["duration_s"]))
        predicted["free_flow"].append(float(free["summary"]["time"]))
        predicted["historical"].append(float(hist["summary"]["time"]))
        predicted["live"].append(live_s)
        local = depart.astimezone(tz)
        rush.append(local.weekday() < 5 and (7 <= local.hour < 10 or 15 <= local.hour < 18))
        progress("predicting held-out trips", (i + 1) / len(chosen))
    if not truth:
        raise TrafficDataError("no held-out trip could be routed on this map")
    mask = np.array(rush)
    t_arr = np.array(truth)
    return EvalResult(
        trips=len(truth),
        skipped=skipped,
        metrics={k: metrics(v, t_arr) for k, v in predicted.items()},
        rush_metrics=(
            {k: metrics(np.array(v)[mask], t_arr[mask]) for k, v in predicted.items()}
            if mask.any()
            else {}
        ),
        live_edges=sum(len(x) for x in live),
        window_min=window_min,
        holdout_start=holdout_start.isoformat(),
    )


def _zone(world: dict[str, Any]) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(str(world.get("timezone", "UTC")))
