"""Replaying a recorded CAN log into the hub, through the bridge's decode and publish path.

python-can's `LogReader` reads the log: candump `.log` (`candump -l`), Vector `.asc` and `.blf`
(and the other formats it knows: `.csv`, `.trc`, `.mf4`). Frames go to `CanBridge.process` in
small batches (frames within `batch_window_s` of log time of each other), in real time, `speed`
times faster, or as fast as possible. Bad frames are counted exactly as on a live bus.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can

from carmind.signals.adapters.can.bridge import CanBridge
from carmind.signals.adapters.can.errors import CanReplayError
from carmind.signals.adapters.can.mapping import CanMapping, load_mapping
from carmind.signals.adapters.can.stats import BAD_KINDS
from carmind.signals.broker import Broker
from carmind.signals.catalog import Value

FORMATS = {".log": "candump", ".asc": "Vector ASC", ".blf": "Vector BLF"}
"""The log formats carmind documents (python-can reads a few more)."""
RELATIVE_BEFORE = 1e9
"""A log whose first timestamp is smaller (before 2001) has relative time: it is moved to now."""
MAX_BATCH = 1024

type Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did: counts, the time it took, the last value of every signal it updated."""

    file: str
    log_duration_s: float
    wall_s: float
    stats: dict[str, int]
    values: dict[str, Value]

    @property
    def frames(self) -> int:
        return self.stats["frames"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "log_duration_s": round(self.log_duration_s, 3),
            "wall_s": round(self.wall_s, 3),
            **self.stats,
            "bad": {kind: self.stats[kind] for kind in BAD_KINDS},
            "signals": dict(self.values),
        }


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise CanReplayError(f"CAN log not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".gz":
        suffix = Path(path.stem).suffix.lower()
    known = {".log", ".asc", ".blf", ".csv", ".trc", ".mf4"}
    if suffix not in known:
        raise CanReplayError(
            f"{path}: unknown log format {path.suffix!r}: expected .log (candump -l), .asc or .blf"
        )


def read_frames(file: str | Path) -> Iterator[can.Message]:
    """The frames of a log, in order; a missing or unreadable log raises `CanReplayError`."""
    path = Path(file)
    _check_file(path)
    kind = FORMATS.get(path.suffix.lower(), path.suffix)
    try:
        reader = can.LogReader(path)
    except Exception as exc:  # python-can's readers raise many types (BLFParseError, ...)
        raise CanReplayError(f"{path} is not a valid {kind} log: {exc}") from None
    with reader:
        frames = iter(reader)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except Exception as exc:
                raise CanReplayError(f"{path} is not a valid {kind} log: {exc}") from None
            yield frame


def count_frames(file: str | Path) -> int:
    """How many frames a log holds (reads it once; for progress bars)."""
    return sum(1 for _ in read_frames(file))


async def replay(
    file: str | Path,
    bridge: CanBridge,
    *,
    speed: float | None = None,
    batch_window_s: float = 0.02,
    progress: Progress | None = None,
) -> ReplayResult:
    """Feed a log through `bridge` (attached to its hub); `speed` None: as fast as possible."""
    if speed is not None and not speed > 0:
        raise CanReplayError(f"replay speed must be greater than 0, got {speed:g}")
    bridge.attach()
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    wall_start = loop.time()
    first: float | None = None
    last = 0.0
    shift = 0.0
    batch: list[can.Message] = []
    batch_start = 0.0
    done = 0
    for frame in read_frames(file):
        if first is None:
            first = frame.timestamp
            if first < RELATIVE_BEFORE:
                shift = bridge.broker.clock() - first
        if shift:
            frame.timestamp += shift
        stamp = frame.timestamp
        if speed is not None:
            due = wall_start + (stamp - shift - first) / speed
            delay = due - loop.time()
            if delay > 0:
                if batch:
                    bridge.process(batch)
                    batch = []
                await asyncio.sleep(delay)
        if batch and (stamp - batch_start > batch_window_s or len(batch) >= MAX_BATCH):
            bridge.process(batch)
            batch = []
            if speed is None:
                await asyncio.sleep(0)  # let subscribers of the hub run
        if not batch:
            batch_start = stamp
        batch.append(frame)
        last = stamp - shift
        done += 1
        if progress is not None and done % 512 == 0:
            progress(done)
    if batch:
        bridge.process(batch)
    if progress is not None:
        progress(done)
    return ReplayResult(
        file=str(file),
        log_duration_s=0.0 if first is None else last - first,
        wall_s=time.perf_counter() - started,
        stats=bridge.stats.as_dict(),
        values=dict(sorted(bridge.updated.items())),
    )


def replay_file(
    file: str | Path,
    mapping: CanMapping | None = None,
    *,
    speed: float | None = None,
    progress: Progress | None = None,
    broker: Broker | None = None,
) -> ReplayResult:
    """Replay a log into a hub of its own (or `broker`) with a bridge: the CLI's replay.

    Runs its own event loop; from async code, await `replay` with a bridge instead.
    """
    mapping = mapping or load_mapping()
    hub = broker or Broker(mapping.catalog)
    bridge = CanBridge(hub, mapping, name="can-replay")
    try:
        return asyncio.run(replay(file, bridge, speed=speed, progress=progress))
    finally:
        bridge.detach()
