"""Probe files: every row validated, bad rows rejected with a reason, good rows all kept."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carmind.navigation.errors import TrafficDataError
from carmind.navigation.traffic.probes import read_probes

GOOD = [
    "v1,a,2026-09-07T08:00:00+03:00,60.17,24.94,30,90",
    "v1,a,1788757205,60.1701,24.9401,,",
    "v2,,2026-09-07T05:00:20Z,60.172,24.945,12.5,359",
]
BAD = {
    "v1,a,2026-09-07T08:00:10,60.17,24.94,,": "no UTC offset",
    "v1,a,garbage,60.17,24.94,,": "unparseable time",
    "v1,a,1788757215,abc,24.94,,": "lat is not a number",
    "v1,a,1788757215,91,24.94,,": "lat outside",
    "v1,a,1788757215,60.17,190,,": "lon outside",
    "v1,a,1788757215,60.17,24.94,-5,": "speed_kmh",
    "v1,a,1788757215,60.17,24.94,,400": "heading",
    "v1,a,,60.17,24.94,,": "missing time",
    ",a,1788757215,60.17,24.94,,": "missing vehicle_id",
    "v1,a,1788757215,60.17": "expected 7 fields",
    "v1,a,1788757215,nan,24.94,,": "lat is not a number",
    "v1,a,12,60.17,24.94,,": "outside the years",
}
HEADER = "vehicle_id,trip_id,time,lat,lon,speed_kmh,heading"


def _rejects(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_keeps_every_good_row_and_rejects_each_bad_one_with_its_reason(
    tmp_path: Path,
) -> None:
    lines = [HEADER, GOOD[0], *BAD.keys(), GOOD[1], GOOD[2]]
    src = tmp_path / "probes.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_probes(src, tmp_path / "out.parquet")
    assert (result.read, result.accepted, result.rejected) == (len(lines) - 1, 3, len(BAD))
    assert result.rejects == tmp_path / "probes.rejects.csv"
    good = pq.read_table(result.probes).to_pylist()
    assert [row["vehicle_id"] for row in good] == ["v1", "v1", "v2"]
    # 08:00+03:00 and 05:00:20Z are the same instant as 1788757200 (+20 s)
    assert [row["t"] for row in good] == [1788757200.0, 1788757205.0, 1788757220.0]
    assert good[0]["speed_kmh"] == 30.0 and good[1]["speed_kmh"] is None
    assert good[2]["trip_id"] is None
    rows = _rejects(result.rejects)
    assert len(rows) == len(BAD)
    by_line = {int(r["record"]): r["reason"] for r in rows}
    for number, (line, reason) in enumerate(BAD.items(), start=3):
        assert reason in by_line[number], (line, by_line[number])


def test_parquet_with_native_types_and_a_bad_row(tmp_path: Path) -> None:
    src = tmp_path / "probes.parquet"
    table = pa.table(
        {
            "vehicle_id": ["car", "car", "car"],
            "time": pa.array(
                [1_788_757_200_000_000, 1_788_757_205_000_000, None], pa.timestamp("us", tz="UTC")
            ),
            "lat": [60.17, 95.0, 60.17],
            "lon": [24.94, 24.94, 24.94],
        }
    )
    pq.write_table(table, src)
    result = read_probes(src, tmp_path / "norm.parquet", rejects=tmp_path / "bad.csv")
    assert (result.accepted, result.rejected) == (1, 2)
    reasons = sorted(r["reason"] for r in _rejects(tmp_path / "bad.csv"))
    assert reasons == ["lat outside -90..90", "missing time"]
    assert pq.read_table(result.probes).column("t").to_pylist() == [1788757200.0]


def test_gpx_track_points_become_probes(tmp_path: Path) -> None:
    src = tmp_path / "drive.gpx"
    src.write_text(
        """<?xml version="1.0"?>
<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>taxi-7</name><trkseg>
<trkpt lat="60.17" lon="24.94"><time>2026-09-07T05:00:00Z</time></trkpt>
<trkpt lat="60.1701" lon="24.9402"><time>2026-09-07T05:00:05Z</time></trkpt>
<trkpt lat="x" lon="24.9404"><time>2026-09-07T05:00:10Z</time></trkpt>
<trkpt lat="60.1703" lon="24.9406"></trkpt>
</trkseg></trk></gpx>
""",
        encoding="utf-8",
    )
    result = read_probes(src, tmp_path / "norm.parquet")
    assert (result.accepted, result.rejected) == (2, 2)
    rows = pq.read_table(result.probes).to_pylist()
    assert {r["vehicle_id"] for r in rows} == {"taxi-7"}
    assert [r["t"] for r in rows] == [1788757200.0, 1788757205.0]


def test_no_good_row_unknown_format_and_missing_column_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\nv1,a,garbage,60.17,24.94,,\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    with pytest.raises(TrafficDataError, match=r"no valid probe.*1 rows rejected"):
        read_probes(bad, out)
    assert not out.exists()
    assert (tmp_path / "bad.rejects.csv").is_file()
    other = tmp_path / "probes.xlsx"
    other.write_bytes(b"PK\x03\x04")
    with pytest.raises(TrafficDataError, match="unknown probe file format"):
        read_probes(other, out)
    fake = tmp_path / "fake.parquet"
    fake.write_text("vehicle_id,time\n", encoding="utf-8")
    with pytest.raises(TrafficDataError, match="not a Parquet file"):
        read_probes(fake, out)
    no_lat = tmp_path / "nolat.csv"
    no_lat.write_text("vehicle_id,time,lon\nv,1788757200,24.9\n", encoding="utf-8")
    with pytest.raises(TrafficDataError, match=r"lacks the column.*lat"):
        read_probes(no_lat, out)
    with pytest.raises(TrafficDataError, match="no such probe file"):
        read_probes(tmp_path / "missing.csv", out)
    assert not out.exists()
