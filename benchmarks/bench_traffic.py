"""Traffic learning speed: the DuckDB aggregation and Valhalla map matching, measured apart.

- Aggregation: ten million synthetic matched observations (edge traversals with a weekly rush-hour
  pattern and noise, on 8,000 edges over four weeks) written to Parquet, then aggregated into
  weekly profiles by `profiles.aggregate` in a child process with one DuckDB thread and a 1 GB
  memory limit; throughput and the child's peak RSS.
- Matching: probes from the simulated Helsinki world map-matched by Valhalla
  (`matching.match_probes`), with one worker process and with one per core; points per second.
  This is the slow stage; it is reported as measured.

Target (issue 5): aggregation at least 200,000 points/s on one core, in bounded memory.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from common import report

from carmind.navigation.traffic.matching import observation_schema

POINTS = int(os.environ.get("CARMIND_BENCH_TRAFFIC_POINTS", "10000000"))
EDGES = 8000
CHUNK = 1_000_000
TARGET_PPS = 200_000
MEMORY_LIMIT = "1GB"


def synthetic_observations(path: Path, points: int, seed: int = 1) -> None:
    """Edge traversals over four weeks: map speed x rush-hour congestion x noise."""
    rng = np.random.default_rng(seed)
    schema = observation_schema()
    start = 1_788_739_200.0  # Sunday 2026-09-06 00:00 UTC
    edge_class = rng.integers(0, 8, EDGES).astype(np.int8)
    edge_kph = rng.choice([20.0, 30.0, 40.0, 50.0, 60.0], EDGES)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for done in range(0, points, CHUNK):
            n = min(CHUNK, points - done)
            edge = rng.integers(0, EDGES, n)
            t = start + rng.uniform(0, 28 * 86400, n)
            hour = (t % 86400) / 3600.0
            weekday = ((t - start) // 86400 % 7 >= 1) & ((t - start) // 86400 % 7 <= 5)
            rush = np.exp(-0.5 * ((hour - 5.0) / 0.8) ** 2) + np.exp(
                -0.5 * ((hour - 13.5) / 1) ** 2
            )
            factor = 1.0 - 0.5 * np.minimum(rush, 1.0) * weekday
            speed = edge_kph[edge] * factor * rng.lognormal(0.0, 0.15, n)
            writer.write_table(
                pa.table(
                    {
                        "edge_id": pa.array((edge * 8 + 2).astype(np.uint64)),
                        "t": pa.array(t),
                        "speed_kmh": pa.array(speed.astype(np.float32)),
                        "road_class": pa.array(edge_class[edge]),
                        "map_kph": pa.array(edge_kph[edge].astype(np.float32)),
                        "length_m": pa.array(rng.uniform(10, 200, n).astype(np.float32)),
                    },
                    schema=schema,
                )
            )


_CHILD = """
import sys, time, json
from pathlib import Path
from carmind.navigation.traffic.profiles import aggregate
t0 = time.perf_counter()
p = aggregate(Path(sys.argv[1]), memory_limit=sys.argv[2], threads=1, work_dir=Path(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - t0, **p.summary()}))
"""


def aggregation(tmp: Path) -> tuple[float, float, dict[str, object]]:
    import json

    obs = tmp / "observations.parquet"
    synthetic_observations(obs, POINTS)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(obs), MEMORY_LIMIT, str(tmp)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    del before
    return float(result["seconds"]), peak_kb / 1024.0, result


def matching(tmp: Path) -> tuple[int, float, float, int]:
    from carmind.navigation.engine import Router
    from carmind.navigation.maps import build_map
    from carmind.navigation.traffic.congestion import WorldParams
    from carmind.navigation.traffic.matching import match_probes
    from carmind.navigation.traffic.probes import read_probes
    from carmind.navigation.traffic.world import simulate

    info = build_map(None, tmp / "helsinki")
    sim = simulate(
        Router(info), WorldParams(days=8, vehicles=20, holdout_days=1), tmp / "p.parquet"
    )
    read = read_probes(sim.probes, tmp / "norm.parquet")
    rates = []
    cores = min(os.cpu_count() or 1, 4)
    for workers in (1, cores):
        t0 = time.perf_counter()
        stats = match_probes(
            info, read.probes, tmp / f"obs{workers}.parquet", total_points=read.accepted,
            workers=workers,
        )  # fmt: skip
        rates.append(stats.points / (time.perf_counter() - t0))
    return read.accepted, rates[0], rates[1], cores


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-traffic-") as name:
        tmp = Path(name)
        seconds, peak_mb, summary = aggregation(tmp)
        pps = POINTS / seconds
        points, match1, match_n, cores = matching(tmp)
    report(
        "traffic",
        [
            {"metric": "observations aggregated", "value": POINTS, "unit": "points"},
            {
                "metric": "aggregation throughput (1 DuckDB thread)",
                "value": pps,
                "unit": "points/s",
                "target": f">= {TARGET_PPS:,}",
                "met": pps >= TARGET_PPS,
            },
            {
                "metric": "aggregation peak RSS (memory_limit 1GB)",
                "value": peak_mb,
                "unit": "MiB",
                "target": "bounded (< 2048)",
                "met": peak_mb < 2048,
            },
            {"metric": "edges profiled", "value": int(summary["edges"]), "unit": "edges"},  # type: ignore[call-overload]
            {"metric": "map matching, 1 worker", "value": match1, "unit": "points/s"},
            {"metric": f"map matching, {cores} workers", "value": match_n, "unit": "points/s"},
            {"metric": "probe points matched", "value": points, "unit": "points"},
        ],
        notes=(
            "Aggregation: synthetic matched observations, profiles.aggregate in a child process. "
            "Matching: simulated Helsinki probes (1 fix / 5 s, GPS noise 5 m) through Valhalla's "
            "trace_attributes; matching, not aggregation, bounds the learning pipeline."
        ),
    )


if __name__ == "__main__":
    main()
