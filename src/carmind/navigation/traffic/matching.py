"""Map matching: probe traces to edge traversals, with Valhalla's `trace_attributes`.

Probes are sorted per vehicle (and trip) and cut into traces at gaps of more than `MAX_GAP_S`
or jumps faster than `MAX_JUMP_KMH`; long traces are cut into pieces Valhalla matches quickly.
Valhalla snaps each piece to a path of edges (`shape_match: map_snap`). Each matched point gets
a position along that path; the time the vehicle entered and left every edge that lies wholly
inside the trace is interpolated from the points around its ends, and the traversal becomes one
observation: edge, entry time, speed.

An observation's speed is the edge's length over its whole traversal time, waits at the
intersection included. Valhalla adds its own modelled turn time on top of edge speeds when it
routes; subtracting that modelled time here was tried and made learned ETAs more biased (early by
about 4 % instead of 1 % on the simulated world), because Valhalla models turns differently
with and without traffic data, so observations keep the time as driven.

Matching is the slow stage (Valhalla's HMM matcher, about 10k points/s per core on a city
map); it runs in worker processes, one Valhalla actor each.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from carmind.navigation.errors import NavigationError
from carmind.navigation.maps import MapInfo

MAX_GAP_S: Final = 60.0
MAX_JUMP_KMH: Final = 250.0
MAX_TRACE_POINTS: Final = 400
MIN_TRACE_POINTS: Final = 4
SEARCH_RADIUS_M: Final = 25.0
GPS_ACCURACY_M: Final = 5.0
MIN_SPEED_KMH: Final = 1.0
MAX_SPEED_KMH: Final = 200.0
TASK_TRACES: Final = 64

ROAD_CLASSES: Final = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "service_other",
)
ROAD_CLASS_CODE: Final = {name: i for i, name in enumerate(ROAD_CLASSES)}

Progress = Callable[[int, int], None]
"""Called with probe points matched so far and the total."""

_ATTRIBUTES: Final = [
    "edge.id",
    "edge.length",
    "edge.speed",
    "edge.road_class",
    "matched.type",
    "matched.edge_index",
    "matched.distance_along_edge",
]


def observation_schema() -> Any:
    """Arrow schema of matched observations, one row per edge traversal."""
    import pyarrow as pa

    return pa.schema(
        [
            ("edge_id", pa.uint64()),
            ("t", pa.float64()),
            ("speed_kmh", pa.float32()),
            ("road_class", pa.int8()),
            ("map_kph", pa.float32()),
            ("length_m", pa.float32()),
        ]
    )


@dataclass(frozen=True)
class Trace:
    """One vehicle's consecutive probes: UNIX times and WGS 84 positions."""

    t: Any  # numpy float64
    lat: Any
    lon: Any


@dataclass(frozen=True)
class MatchStats:
    points: int
    matched_points: int
    traces: int
    failed_traces: int
    observations: int

    def to_json(self) -> dict[str, int]:
        return {
            "points": self.points,
            "matched_points": self.matched_points,
            "traces": self.traces,
            "failed_traces": self.failed_traces,
            "observations": self.observations,
        }


# ---------------------------------------------------------------------------------- trace cutting


def _cut(t: Any, lat: Any, lon: Any, key: Any) -> list[tuple[int, int]]:
    """Index ranges [start, end) of traces: same key, no long gap, no impossible jump."""
    import numpy as np

    n = len(t)
    if n == 0:
        return []
    dt = np.diff(t)
    dy = np.diff(lat) * 111_320.0
    dx = np.diff(lon) * 111_320.0 * np.cos(np.radians(lat[:-1]))
    dist = np.hypot(dx, dy)
    with np.errstate(divide="ignore", invalid="ignore"):
        jump_kmh = np.where(dt > 0, dist / np.maximum(dt, 1e-9) * 3.6, 0.0)
    breaks = (key[1:] != key[:-1]) | (dt > MAX_GAP_S) | (jump_kmh > MAX_JUMP_KMH)
    starts = np.concatenate([[0], np.nonzero(breaks)[0] + 1])
    ends = np.concatenate([starts[1:], [n]])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def iter_traces(
    probes: Path, *, t_from: float | None = None, t_to: float | None = None
) -> Iterator[Trace]:
    """Traces from normalised probes (Parquet), streamed in time order per vehicle and trip."""
    import duckdb
    import numpy as np

    con = duckdb.connect()
    con.execute("SET threads=1")
    where = []
    if t_from is not None:
        where.append(f"t >= {float(t_from)!r}")
    if t_to is not None:
        where.append(f"t < {float(t_to)!r}")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    reader = con.sql(
        "SELECT vehicle_id || chr(31) || coalesce(trip_id, '') AS key, t, lat, lon "
        f"FROM read_parquet('{_sql_path(probes)}') {clause} ORDER BY key, t"
    ).to_arrow_reader(batch_size=200_000)
    carry: dict[str, Any] | None = None
    for batch in reader:
        cols = {
            "key": np.asarray(batch.column(0).to_numpy(zero_copy_only=False)),
            "t": batch.column(1).to_numpy(),
            "lat": batch.column(2).to_numpy(),
            "lon": batch.column(3).to_numpy(),
        }
        if carry is not None:
            cols = {k: np.concatenate([carry[k], v]) for k, v in cols.items()}
        ranges = _cut(cols["t"], cols["lat"], cols["lon"], cols["key"])
        for start, end in ranges[:-1]:
            yield from _pieces(cols, start, end)
        start, end = ranges[-1]
        carry = {k: v[start:end] for k, v in cols.items()}
    if carry is not None and len(carry["t"]):
        yield from _pieces(carry, 0, len(carry["t"]))
    con.close()


def _pieces(cols: dict[str, Any], start: int, end: int) -> Iterator[Trace]:
    import numpy as np

    t = cols["t"][start:end]
    keep = np.concatenate([[True], np.diff(t) > 0])  # one fix per second at most
    t, lat, lon = t[keep], cols["lat"][start:end][keep], cols["lon"][start:end][keep]
    for a in range(0, len(t), MAX_TRACE_POINTS):
        b = min(a + MAX_TRACE_POINTS, len(t))
        if b - a >= MIN_TRACE_POINTS:
            yield Trace(t[a:b], lat[a:b], lon[a:b])


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


# ---------------------------------------------------------------------------------------- matching


def trace_request(trace: Trace) -> dict[str, Any]:
    return {
        "shape": [
            {"lat": round(float(a), 6), "lon": round(float(b), 6), "time": float(t)}
            for a, b, t in zip(trace.lat, trace.lon, trace.t, strict=True)
        ],
        "costing": "auto",
        "costing_options": {"auto": {"speed_types": []}},
        "shape_match": "map_snap",
        "trace_options": {"search_radius": SEARCH_RADIUS_M, "gps_accuracy": GPS_ACCURACY_M},
        "filters": {"attributes": _ATTRIBUTES, "action": "include"},
    }


def traversals(trace: Trace, result: dict[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
    """Observations (edge_id, t, speed_kmh, road_class, map_kph, length_m) and points matched."""
    import numpy as np

    edges = result.get("edges", [])
    points = result.get("matched_points", [])
    if len(edges) < 3 or len(points) != len(trace.t):
        return [], 0
    n = len(edges)
    lengths = np.array([float(e.get("length", 0.0)) * 1000.0 for e in edges])
    starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    first_src = float(edges[0].get("source_percent_along", 0.0))
    last_tgt = float(edges[-1].get("target_percent_along", 1.0)) or 1.0
    pos: list[float] = []
    times: list[float] = []
    for p, t in zip(points, trace.t, strict=True):
        if p.get("type") == "unmatched" or p.get("edge_index") is None:
            continue
        e = int(p["edge_index"])
        if not 0 <= e < n:
            continue
        frac = float(p.get("distance_along_edge", 0.0))
        if e == 0 and first_src < 1.0:
            along = (frac - first_src) / (1.0 - first_src) * lengths[0]
        elif e == n - 1:
            along = frac / last_tgt * lengths[-1]
        else:
            along = frac * lengths[e]
        pos.append(starts[e] + min(max(along, 0.0), lengths[e]))
        times.append(float(t))
    matched = len(pos)
    if matched < 2:
        return [], matched
    pos_a = np.maximum.accumulate(np.array(pos))
    t_a = np.array(times)
    out: list[tuple[Any, ...]] = []
    for e in range(1, n - 1):
        entry, exit_ = starts[e], starts[e] + lengths[e]
        if lengths[e] < 1.0 or entry < pos_a[0] or exit_ > pos_a[-1]:
            continue
        t_in = _time_at(pos_a, t_a, entry)
        t_out = _time_at(pos_a, t_a, exit_)
        dt = t_out - t_in
        if dt <= 0:
            continue
        speed = lengths[e] / dt * 3.6
        if not MIN_SPEED_KMH <= speed <= MAX_SPEED_KMH:
            continue
        out.append(
            (
                int(edges[e]["id"]),
                t_in,
                speed,
                ROAD_CLASS_CODE.get(str(edges[e].get("road_class")), len(ROAD_CLASSES) - 1),
                float(edges[e].get("speed", 0.0)),
                lengths[e],
            )
        )
    return out, matched


def _time_at(pos: Any, t: Any, x: float) -> float:
    """When the vehicle reached path position `x`: linear between the fixes around it."""
    import numpy as np

    i = int(np.searchsorted(pos, x, side="left"))
    if i <= 0:
        return float(t[0])
    if i >= len(pos):
        return float(t[-1])
    span = pos[i] - pos[i - 1]
    frac = (x - pos[i - 1]) / span if span > 0 else 1.0
    return float(t[i - 1] + frac * (t[i] - t[i - 1]))


# ------------------------------------------------------------------------------------ the workers

_router: Any = None


def _init_worker(info: MapInfo) -> None:
    global _router
    from carmind.navigation.engine import Router

    _router = Router(info)


def _match_many(traces: list[Trace]) -> tuple[list[tuple[Any, ...]], int, int, int, int]:
    """Match traces in this worker: observations, points, matched points, failed, traces."""
    out: list[tuple[Any, ...]] = []
    points = matched = failed = 0
    for trace in traces:
        points += len(trace.t)
        try:
            result = _router.call("trace_attributes", trace_request(trace))
        except NavigationError:
            failed += 1
            continue
        rows, m = traversals(trace, result)
        out.extend(rows)
        matched += m
    return out, points, matched, failed, len(traces)


def _batches(traces: Iterator[Trace], size: int) -> Iterator[list[Trace]]:
    batch: list[Trace] = []
    for trace in traces:
        batch.append(trace)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def match_probes(
    info: MapInfo,
    probes: Path,
    out: Path,
    *,
    total_points: int,
    workers: int | None = None,
    t_from: float | None = None,
    t_to: float | None = None,
    progress: Progress | None = None,
) -> MatchStats:
    """Map-match every trace of `probes` and write the observations to `out` (Parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = observation_schema()
    n_workers = max(1, workers if workers is not None else min(os.cpu_count() or 1, 4))
    traces = iter_traces(probes, t_from=t_from, t_to=t_to)
    points = matched = failed = n_traces = n_obs = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = pq.ParquetWriter(out, schema, compression="zstd")

    def write(rows: list[tuple[Any, ...]]) -> None:
        nonlocal n_obs
        if rows:
            columns = list(zip(*rows, strict=True))
            writer.write_table(
                pa.table(
                    [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)],
                    schema=schema,
                )
            )
            n_obs += len(rows)

    def add(result: tuple[list[tuple[Any, ...]], int, int, int, int]) -> None:
        nonlocal points, matched, failed, n_traces
        rows, p, m, f, n = result
        write(rows)
        points, matched, failed, n_traces = points + p, matched + m, failed + f, n_traces + n
        if progress:
            progress(points, total_points)

    try:
        if n_workers == 1:
            _init_worker(info)
            for batch in _batches(traces, TASK_TRACES):
                add(_match_many(batch))
        else:
            # a bounded number of batches in flight keeps memory flat however large the input
            # spawned, not forked: the parent runs DuckDB's threads, and forking a threaded
            # process can deadlock the child
            with ProcessPoolExecutor(
                n_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(info,),
            ) as pool:
                pending: deque[Future[tuple[list[tuple[Any, ...]], int, int, int, int]]] = deque()
                for batch in _batches(traces, TASK_TRACES):
                    pending.append(pool.submit(_match_many, batch))
                    if len(pending) >= 3 * n_workers:
                        add(pending.popleft().result())
                while pending:
                    add(pending.popleft().result())
    finally:
        writer.close()
    return MatchStats(
        points=points,
        matched_points=matched,
        traces=n_traces,
        failed_traces=failed,
        observations=n_obs,
    )
