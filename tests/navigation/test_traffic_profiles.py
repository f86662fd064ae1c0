"""Weekly profiles from observations: robust medians, smoothing and the fallback chain."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from carmind.navigation.traffic.matching import ROAD_CLASS_CODE, observation_schema
from carmind.navigation.traffic.profiles import aggregate, bucket_of
from carmind.navigation.traffic.valhalla_io import (
    decode_live_speed,
    encode_live_speed,
    graph_id_text,
    split_graph_id,
)

MONDAY = datetime(2026, 9, 7, tzinfo=UTC).timestamp()
HOUR = 3600.0


def _write(path: Path, rows: list[tuple[int, float, float, str, float]]) -> Path:
    schema = observation_schema()
    cols = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "edge_id": pa.array(cols[0], pa.uint64()),
            "t": pa.array(cols[1], pa.float64()),
            "speed_kmh": pa.array(cols[2], pa.float32()),
            "road_class": pa.array([ROAD_CLASS_CODE[c] for c in cols[3]], pa.int8()),
            "map_kph": pa.array(cols[4], pa.float32()),
            "length_m": pa.array([50.0] * len(rows), pa.float32()),
        },
        schema=schema,
    )
    pq.write_table(table, path)
    return path


def test_buckets_start_on_sunday_midnight_utc() -> None:
    assert bucket_of(datetime(2026, 9, 6, 0, 0, tzinfo=UTC).timestamp()) == 0  # a Sunday
    assert bucket_of(datetime(2026, 9, 7, 8, 30, tzinfo=UTC).timestamp()) == 288 + 102
    assert bucket_of(datetime(2026, 9, 12, 23, 59, tzinfo=UTC).timestamp()) == 2015


def test_own_data_class_fallback_and_map_speed(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows: list[tuple[int, float, float, str, float]] = []
    busy, sparse, lonely = 101, 202, 303
    for week in range(2):
        base = MONDAY + week * 7 * 86400
        for _ in range(30):
            # Monday 08:00-09:00 UTC slow (20 km/h), 02:00-03:00 fast (48 km/h), plus outliers
            rows.append(
                (busy, base + 8 * HOUR + rng.uniform(0, HOUR), rng.normal(20, 1), "primary", 50.0)
            )
            rows.append(
                (busy, base + 2 * HOUR + rng.uniform(0, HOUR), rng.normal(48, 1), "primary", 50.0)
            )
        rows.append((busy, base + 8 * HOUR + 100, 150.0, "primary", 50.0))  # a bad match
        # many primary edges show the class's rush hour on Monday 08:00 at 40 % of map speed
        for edge in range(1000, 1030):
            rows.append((edge, base + 8 * HOUR + rng.uniform(0, HOUR), 24.0, "primary", 60.0))
    # one observation of another primary edge on Monday 08:xx: too little for its own hour
    rows.append((sparse, MONDAY + 8.5 * HOUR, 30.0, "primary", 40.0))
    # a residential edge seen once at a time no residential data covers otherwise
    rows.append((lonely, MONDAY + 3 * 86400 + 14 * HOUR, 22.0, "residential", 25.0))
    profiles = aggregate(_write(tmp_path / "obs.parquet", rows), memory_limit="256MB")
    index = {int(e): i for i, e in enumerate(profiles.edge_ids)}
    monday_8 = 288 + 8 * 12 + 6  # Monday 08:30 UTC
    monday_2 = 288 + 2 * 12 + 6
    week = profiles.weeks[index[busy]]
    assert 18 < week[monday_8] < 24  # the median ignores the 150 km/h outlier
    assert 44 < week[monday_2] < 50
    assert profiles.hour_levels[index[busy], 24 + 8] == 0
    # the sparse edge takes its class's ratio (0.4 at that hour) times its free-flow speed
    assert profiles.hour_levels[index[sparse], 24 + 8] == 1
    assert 12 < profiles.weeks[index[sparse]][monday_8] < 28
    # hours where neither the edge nor its class has data keep the map's speed
    lonely_week = profiles.weeks[index[lonely]]
    assert profiles.hour_levels[index[lonely]].min() == 2
    assert np.allclose(lonely_week, 25.0, atol=0.5)
    summary = profiles.summary()
    assert summary["edges"] == 33
    # the thirty class edges have two observations each: too few for their own hour
    assert summary["edges_by_level"] == {"edge": 1, "class": 31, "map": 1}
    # smoothing: no jump larger than a few km/h between neighbouring five-minute buckets
    assert np.abs(np.diff(week)).max() < 6
    # edges on the map's speed alone have nothing to tell Valhalla
    assert {s.edge_id for s in profiles.edge_speeds()} == set(index) - {lonely}


def test_graph_ids_and_live_records() -> None:
    value = 22112804321
    level, tile, index = split_graph_id(value)
    assert graph_id_text(value) == f"{level}/{tile}/{index}"
    assert level == 1 and (index << 25 | tile << 3 | level) == value
    for kph in (2.0, 30.0, 88.0, 250.0):
        assert decode_live_speed(encode_live_speed(kph)) == kph
    assert decode_live_speed(0) is None
    assert decode_live_speed(encode_live_speed(500.0)) == 252.0
