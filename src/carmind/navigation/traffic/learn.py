"""`carmind traffic learn`: probes in, Valhalla historical traffic out.

read (validate, normalise) -> map-match -> aggregate weekly profiles -> load into the tiles ->
record what was learned in `map.json` (`traffic.historical`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from carmind.navigation.maps import MapInfo, update_manifest
from carmind.navigation.traffic import matching, probes, profiles, valhalla_io

Progress = Callable[[str, float], None]
"""Called with a stage and the fraction of that stage done (0..1)."""


def _no_progress(stage: str, fraction: float) -> None:
    del stage, fraction


@dataclass(frozen=True)
class LearnResult:
    map: MapInfo
    read: probes.ProbeReadResult
    match: matching.MatchStats
    profiles: dict[str, Any]
    loaded_edges: int
    seconds: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "map": str(self.map.paths.root),
            "points_read": self.read.read,
            "points_rejected": self.read.rejected,
            "rejects": str(self.read.rejects) if self.read.rejects else None,
            "points_matched": self.match.matched_points,
            "traces": self.match.traces,
            "failed_traces": self.match.failed_traces,
            "observations": self.match.observations,
            "edges_loaded": self.loaded_edges,
            **self.profiles,
            "seconds": self.seconds,
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def learn(
    info: MapInfo,
    source: str | Path,
    *,
    rejects: str | Path | None = None,
    workers: int | None = None,
    memory_limit: str = profiles.DEFAULT_MEMORY_LIMIT,
    progress: Progress = _no_progress,
) -> LearnResult:
    """Learn weekly speed profiles from the probes in `source` and load them into the map."""
    source_path = Path(source)
    seconds: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix=".learn-", dir=info.paths.root))
    try:
        t0 = time.perf_counter()
        read = probes.read_probes(
            source_path,
            work / "probes.parquet",
            rejects=rejects,
            progress=lambda f: progress("reading probes", f),
        )
        seconds["read"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        match = matching.match_probes(
            info,
            read.probes,
            work / "observations.parquet",
            total_points=read.accepted,
            workers=workers,
            progress=lambda done, total: progress("map matching", done / max(total, 1)),
        )
        seconds["match"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        learned = profiles.aggregate(
            work / "observations.parquet",
            memory_limit=memory_limit,
            work_dir=work,
            progress=lambda stage, f: progress(stage, f),
        )
        seconds["aggregate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        progress("loading into Valhalla", 0.0)
        loaded = valhalla_io.load_historical(info, learned.edge_speeds())
        progress("loading into Valhalla", 1.0)
        seconds["load"] = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = learned.summary()
    record = {
        "historical": {
            "learned_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": str(source_path.resolve()),
            "probes_from": _iso(read.t_min),
            "probes_until": _iso(read.t_max),
            "points": read.accepted,
            "rejected": read.rejected,
            "matched": match.matched_points,
            "observations": match.observations,
            "edges": loaded,
            "edges_by_level": summary["edges_by_level"],
            "edge_hours_by_level": summary["edge_hours_by_level"],
        }
    }
    traffic = dict(info.traffic)
    traffic.update(record)
    updated = update_manifest(info, traffic=traffic)
    return LearnResult(updated, read, match, summary, loaded, seconds)
