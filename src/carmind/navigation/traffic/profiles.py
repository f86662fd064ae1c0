"""Weekly speed profiles from matched observations: DuckDB aggregation, robust and smoothed.

A profile is 2016 speeds per edge, one per five minutes of the week in UTC, bucket 0 being
Sunday 00:00 UTC (Valhalla's predicted-speed layout). The aggregation streams the observations
(Parquet) through DuckDB with a memory limit and a spill directory, so ten million observations
go through in bounded memory; only per-group results come back to Python.

Robustness, sparse data and noise:

- medians everywhere (one vehicle stopped at a light, or a mismatched trace, moves a median
  little);
- each hour of the week takes the edge's own median when the edge has `MIN_EDGE_HOUR`
  observations in it; else the road class's median ratio (observed / map speed) for that hour,
  applied to the edge's free-flow speed (the map's speed times the edge's own median ratio to its
  class, shrunk towards 1 when it has few observations); else the map's own speed;
- five-minute buckets with observations pull the hourly value towards their own median in
  proportion to their count (`BUCKET_PRIOR` pseudo-observations of the hourly value), and the
  week is smoothed across neighbouring buckets (circularly, Saturday night joins Sunday).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from carmind.navigation.errors import TrafficDataError
from carmind.navigation.traffic.matching import ROAD_CLASSES
from carmind.navigation.traffic.valhalla_io import EdgeSpeeds

BUCKETS: Final = 2016
BUCKET_S: Final = 300
WEEK_S: Final = 604_800
SUNDAY_EPOCH: Final = 259_200  # 1970-01-04 00:00 UTC, a Sunday: bucket 0
MIN_EDGE_HOUR: Final = 3
MIN_CLASS_HOUR: Final = 20
HOUR_PRIOR: Final = 2.0
BUCKET_PRIOR: Final = 4.0
EDGE_FACTOR_PRIOR: Final = 5.0
HOUR_SMOOTH: Final = 6
BUCKET_SMOOTH: Final = 2
LEVELS: Final = ("edge", "class", "map")
CHUNK_EDGES: Final = 512
RATIO_BINS: Final = 100
"""Ratios are binned at 0.01 for their medians; speeds at 1 km/h."""
DEFAULT_MEMORY_LIMIT: Final = "1GB"

Progress = Callable[[str, float], None]


def _no_progress(stage: str, fraction: float) -> None:
    del stage, fraction


def bucket_of(epoch_s: float) -> int:
    """The UTC five-minute bucket of the week (0 = Sunday 00:00 UTC) of a UNIX time."""
    return int(((epoch_s - SUNDAY_EPOCH) % WEEK_S) // BUCKET_S)


@dataclass(frozen=True)
class Profiles:
    """Learned weekly profiles of the edges that had observations."""

    edge_ids: Any  # uint64 (E,)
    road_class: Any  # int8 (E,)
    map_kph: Any  # float32 (E,)
    observations: Any  # int64 (E,)
    weeks: Any  # float32 (E, 2016)
    hour_levels: Any  # int8 (E, 168): 0 edge, 1 class, 2 map
    class_ratio: Any  # float64 (classes, 168), NaN where too few observations

    def __len__(self) -> int:
        return len(self.edge_ids)

    def edge_level(self) -> Any:
        """Each edge's best level: 0 when at least one hour has the edge's own data."""
        return self.hour_levels.min(axis=1)

    def summary(self) -> dict[str, Any]:
        import numpy as np

        best = self.edge_level()
        hours = np.bincount(self.hour_levels.ravel(), minlength=3)
        return {
            "edges": len(self),
            "edges_by_level": {name: int((best == i).sum()) for i, name in enumerate(LEVELS)},
            "edge_hours_by_level": {name: int(hours[i]) for i, name in enumerate(LEVELS)},
            "observations": int(self.observations.sum()),
        }

    def edge_speeds(self) -> Iterator[EdgeSpeeds]:
        """What Valhalla gets: every edge with more than the map's own speed to tell."""
        import numpy as np

        best = self.edge_level()
        for i in range(len(self)):
            if best[i] == 2:
                continue
            week = self.weeks[i]
            yield EdgeSpeeds(
                edge_id=int(self.edge_ids[i]),
                freeflow_kph=max(1, round(float(np.percentile(week, 95)))),
                constrained_kph=max(1, round(float(np.median(week)))),
                week=week,
            )


_RANKS: Final = (
    "(SELECT edge_id, row_number() OVER (ORDER BY edge_id) - 1 AS rank FROM edge_info) i"
)


def _sql_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _median_table(name: str, keys: str, value: str, bins_per_unit: int, src: str) -> str:
    """SQL for a table of `keys`, `n` and `med`: the median of `value` in each group.

    Holistic aggregates (DuckDB's `median`) keep every value of every group in memory and do not
    spill; a histogram does: values are binned (`1 / bins_per_unit` wide), counted per group
    (a fixed-size state that spills to disk), and the median is the bin where the cumulative
    count passes half, at the bin's middle.
    """
    names = ", ".join(k.split(" AS ")[-1] for k in keys.split(", "))
    return (
        f"CREATE TABLE {name} AS "
        f"WITH h AS (SELECT {keys}, CAST(floor(({value}) * {bins_per_unit}) AS INTEGER) AS bin, "
        f"count(*) AS n FROM ({src}) WHERE isfinite({value}) GROUP BY ALL), "
        f"c AS (SELECT *, sum(n) OVER (PARTITION BY {names} ORDER BY bin "
        f"ROWS UNBOUNDED PRECEDING) AS cum, sum(n) OVER (PARTITION BY {names}) AS tot FROM h) "
        f"SELECT {names}, CAST(any_value(tot) AS BIGINT) AS n, "
        f"(min(bin) FILTER (WHERE 2 * cum >= tot) + 0.5) / {bins_per_unit} AS med "
        f"FROM c GROUP BY {names}"
    )


def _circular_smooth(values: Any, half_width: int) -> Any:
    """Triangular-kernel smoothing along the last axis, wrapping around the week."""
    import numpy as np

    if half_width <= 0:
        return values
    out = np.zeros_like(values, dtype=np.float64)
    total = 0.0
    for shift in range(-half_width, half_width + 1):
        w = float(half_width + 1 - abs(shift))
        out += w * np.roll(values, shift, axis=-1)
        total += w
    return out / total


def aggregate(
    observations: Path | Sequence[Path],
    *,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int = 1,
    work_dir: Path | None = None,
    progress: Progress = _no_progress,
) -> Profiles:
    """Weekly profiles from matched observations (Parquet with `observation_schema`)."""
    import duckdb
    import numpy as np

    files = [observations] if isinstance(observations, Path) else list(observations)
    if not files:
        raise TrafficDataError("no observations to learn from")
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="carmind-traffic-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "aggregate.duckdb"))
        try:
            con.execute(f"SET memory_limit='{memory_limit}'")
            con.execute(f"SET temp_directory='{Path(tmp) / 'spill'}'")
            con.execute(f"SET threads={int(threads)}")
            con.execute("SET preserve_insertion_order=false")
            con.execute("SET enable_progress_bar=false")
            src = (
                f"SELECT edge_id, speed_kmh, road_class, map_kph, CAST(floor(((t - "
                f"{SUNDAY_EPOCH}) % {WEEK_S}) / {BUCKET_S}) AS SMALLINT) AS bucket "
                f"FROM read_parquet({_sql_list(files)}) WHERE speed_kmh > 0 AND map_kph > 0"
            )
            progress("aggregating: road classes by hour", 0.05)
            con.execute(
                _median_table(
                    "class_hour",
                    "road_class, bucket // 12 AS hour",
                    "speed_kmh / map_kph",
                    RATIO_BINS,
                    src,
                )
            )
            progress("aggregating: edges by hour", 0.25)
            con.execute(
                _median_table("edge_hour", "edge_id, bucket // 12 AS hour", "speed_kmh", 1, src)
            )
            progress("aggregating: edges by five minutes", 0.45)
            con.execute(_median_table("edge_bucket", "edge_id, bucket", "speed_kmh", 1, src))
            progress("aggregating: edges against their class", 0.65)
            against_class = (
                "SELECT o.edge_id, o.road_class, o.map_kph, "
                "o.speed_kmh / (o.map_kph * c.med) AS factor "
                f"FROM ({src}) o JOIN class_hour c ON c.road_class = o.road_class "
                f"AND c.hour = o.bucket // 12 AND c.n >= {MIN_CLASS_HOUR}"
            )
            con.execute(
                _median_table("edge_factor", "edge_id", "factor", RATIO_BINS, against_class)
            )
            con.execute(
                "CREATE TABLE edge_info AS SELECT o.edge_id, any_value(o.road_class) AS road_class,"
                " max(o.map_kph) AS map_kph, count(*) AS n, any_value(f.med) AS factor, "
                "coalesce(any_value(f.n), 0) AS n_factor "
                f"FROM ({src}) o LEFT JOIN edge_factor f USING (edge_id) "
                "GROUP BY o.edge_id ORDER BY o.edge_id"
            )
            progress("building profiles", 0.8)
            info = con.sql(
                "SELECT edge_id, road_class, map_kph, n, factor, n_factor FROM edge_info"
            ).fetchnumpy()
            if len(info["edge_id"]) == 0:
                raise TrafficDataError("no usable observations: nothing was matched to a road")
            ratio = np.full((len(ROAD_CLASSES), 168), np.nan)
            ch = con.sql("SELECT road_class, hour, n, med FROM class_hour").fetchnumpy()
            ok = ch["n"] >= MIN_CLASS_HOUR
            ratio[ch["road_class"][ok].astype(int), ch["hour"][ok].astype(int)] = ch["med"][ok]
            eh = con.sql(
                f"SELECT i.rank, hour, h.n, med FROM edge_hour h JOIN {_RANKS} USING (edge_id)"
            ).fetchnumpy()
            con.execute(
                "CREATE TABLE bucket_ranked AS SELECT i.rank, bucket, b.n, med "
                f"FROM edge_bucket b JOIN {_RANKS} USING (edge_id) ORDER BY i.rank"
            )

            def buckets(lo: int, hi: int) -> dict[str, Any]:
                found: dict[str, Any] = con.sql(
                    "SELECT rank, bucket, n, med FROM bucket_ranked "
                    f"WHERE rank >= {lo} AND rank < {hi}"
                ).fetchnumpy()
                return found

            return _compose(info, ratio, eh, buckets, progress)
        finally:
            con.close()


def _compose(
    info: dict[str, Any],
    ratio: Any,
    eh: dict[str, Any],
    buckets: Callable[[int, int], dict[str, Any]],
    progress: Progress,
) -> Profiles:
    """Profiles from the aggregates; five-minute detail is built `CHUNK_EDGES` edges at a time."""
    import numpy as np

    n_edges = len(info["edge_id"])
    road_class = np.asarray(info["road_class"], dtype=np.int8)
    map_kph = np.asarray(info["map_kph"], dtype=np.float64)
    # the edge's free-flow speed: map speed x its median ratio to its class, shrunk towards 1
    factor = np.asarray(np.ma.filled(info["factor"], np.nan), dtype=np.float64)
    n_factor = np.asarray(info["n_factor"], dtype=np.float64)
    log_f = np.where(np.isfinite(factor) & (factor > 0), np.log(np.where(factor > 0, factor, 1)), 0)
    shrunk = np.exp(log_f * n_factor / (n_factor + EDGE_FACTOR_PRIOR))
    edge_ff = map_kph * shrunk

    hour_n = np.zeros((n_edges, 168))
    hour_med = np.zeros((n_edges, 168))
    hour_n[eh["rank"].astype(int), eh["hour"].astype(int)] = eh["n"]
    hour_med[eh["rank"].astype(int), eh["hour"].astype(int)] = eh["med"]

    class_val = ratio[road_class.astype(int)] * edge_ff[:, None]  # NaN where the class lacks data
    prior = np.where(np.isfinite(class_val), class_val, map_kph[:, None])
    own = hour_n >= MIN_EDGE_HOUR
    hour_val = np.where(
        own, (hour_n * hour_med + HOUR_PRIOR * prior) / (hour_n + HOUR_PRIOR), prior
    )
    levels = np.where(own, 0, np.where(np.isfinite(class_val), 1, 2)).astype(np.int8)

    weeks = np.empty((n_edges, BUCKETS), dtype=np.float32)
    for lo in range(0, n_edges, CHUNK_EDGES):
        hi = min(lo + CHUNK_EDGES, n_edges)
        base = _circular_smooth(np.repeat(hour_val[lo:hi], 12, axis=1), HOUR_SMOOTH)
        bucket_n = np.zeros((hi - lo, BUCKETS))
        bucket_sum = np.zeros((hi - lo, BUCKETS))
        eb = buckets(lo, hi)
        rank, bucket = eb["rank"].astype(int) - lo, eb["bucket"].astype(int)
        bucket_n[rank, bucket] = eb["n"]
        bucket_sum[rank, bucket] = eb["n"] * eb["med"]
        est = (bucket_sum + BUCKET_PRIOR * base) / (bucket_n + BUCKET_PRIOR)
        weeks[lo:hi] = np.clip(_circular_smooth(est, BUCKET_SMOOTH), 2.0, 250.0)
        progress("building profiles", 0.8 + 0.2 * hi / n_edges)
    return Profiles(
        edge_ids=np.asarray(info["edge_id"], dtype=np.uint64),
        road_class=road_class,
        map_kph=map_kph.astype(np.float32),
        observations=np.asarray(info["n"], dtype=np.int64),
        weeks=weeks,
        hour_levels=levels,
        class_ratio=ratio,
    )
