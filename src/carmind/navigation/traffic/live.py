"""`carmind traffic live`: live speeds from the last minutes of probes, into `traffic.tar`.

The probes of the window `[now - window, now)` are map-matched; each edge observed gets the
median of its traversal speeds. The map's live-traffic file is then rewritten in place (every
edge cleared, the observed edges set), which a running router picks up at once. Valhalla uses a
live speed fully for a departure now and fades it into the historical speed over the trip's
first hour.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from carmind.navigation.errors import TrafficDataError
from carmind.navigation.maps import MapInfo
from carmind.navigation.traffic import matching, probes
from carmind.navigation.traffic.valhalla_io import LiveTrafficFile

DEFAULT_WINDOW_MIN = 15.0

Progress = Callable[[str, float], None]


def _no_progress(stage: str, fraction: float) -> None:
    del stage, fraction


@dataclass(frozen=True)
class LiveResult:
    now: datetime
    window_min: float
    points_read: int
    points_rejected: int
    points_in_window: int
    observations: int
    edges: int
    rejects: Path | None

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(timespec="seconds"),
            "window_min": self.window_min,
            "points_read": self.points_read,
            "points_rejected": self.points_rejected,
            "points_in_window": self.points_in_window,
            "observations": self.observations,
            "edges_with_live_speed": self.edges,
            "rejects": str(self.rejects) if self.rejects else None,
        }


def edge_medians(observations: Path) -> dict[int, float]:
    """Median traversal speed (km/h) of each edge in an observations file."""
    import duckdb

    path = str(observations).replace("'", "''")
    con = duckdb.connect()
    try:
        rows = con.sql(
            f"SELECT edge_id, median(speed_kmh) FROM read_parquet('{path}') GROUP BY edge_id"
        ).fetchall()
    finally:
        con.close()
    return {int(edge): float(speed) for edge, speed in rows}


def update_live(
    info: MapInfo,
    source: str | Path,
    *,
    now: datetime | None = None,
    window_min: float = DEFAULT_WINDOW_MIN,
    rejects: str | Path | None = None,
    workers: int | None = None,
    progress: Progress = _no_progress,
) -> LiveResult:
    """Replace the map's live speeds with those seen in `source` in the last `window_min`."""
    if now is not None and now.tzinfo is None:
        raise TrafficDataError(
            f"--now {now.isoformat()} has no UTC offset: give e.g. 2026-09-21T08:00:00+03:00"
        )
    if not 0 < window_min <= 24 * 60:
        raise TrafficDataError(f"--window-min must be within 0..1440 minutes, got {window_min}")
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    start = moment - timedelta(minutes=window_min)
    with tempfile.TemporaryDirectory(prefix=".live-", dir=info.paths.root) as tmp:
        work = Path(tmp)
        read = probes.read_probes(
            source,
            work / "probes.parquet",
            rejects=rejects,
            progress=lambda f: progress("reading probes", f),
        )
        stats = matching.match_probes(
            info,
            read.probes,
            work / "observations.parquet",
            total_points=read.accepted,
            workers=workers,
            t_from=start.timestamp(),
            t_to=moment.timestamp(),
            progress=lambda done, total: progress("map matching", done / max(total, 1)),
        )
        speeds = edge_medians(work / "observations.parquet") if stats.observations else {}
    with LiveTrafficFile(info.paths.live_traffic) as live:
        written = live.replace_all(speeds)
    return LiveResult(
        now=moment,
        window_min=window_min,
        points_read=read.read,
        points_rejected=read.rejected,
        points_in_window=stats.points,
        observations=stats.observations,
        edges=written,
        rejects=read.rejects,
    )
