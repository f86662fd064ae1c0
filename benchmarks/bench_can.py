"""CAN bridge throughput: frames/s through decode, validation and publishing to the hub.

The frames are those of the shipped recorded drive (`sim_drive.log`: 9 status messages of the
simulated car, request frames and a few bad frames), read once into memory, so no bus and no log
parsing is measured. The bridge path is `CanBridge.process`: look the identifier up, check the
length, decode with cantools, turn raw values into VSS values (scale, offset, enums), check them
against the DBC and VSS ranges, and publish one batch per call to the hub (which validates again).

- batches of 50 frames (a bus delivers about that many between two wake-ups of the receive loop
  at this bus load) and, the worst case, one frame per batch;
- batches of 50 with a subscriber on every signal the bridge publishes (the cockpit's view).

Same-run peers: cantools' own `Database.decode_message` (scaling and value names, the usual call)
and `Message.decode` of raw values (the call the bridge makes), over the same frames.

Target (issue: real vehicle interfaces, part 2): >= 50,000 frames/s through the bridge.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import can

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report

from carmind.signals.adapters.can import CanBridge, load_mapping, package_data, read_frames
from carmind.signals.broker import Broker
from carmind.signals.catalog import default_catalog

PASSES = 8
REPEATS = 3


def best_rate(run: Callable[[], int]) -> float:
    """Frames per second of the fastest of REPEATS runs (each returns the frames it handled)."""
    best = 0.0
    for _ in range(REPEATS):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        frames = run()
        elapsed = time.perf_counter() - start
        gc.enable()
        best = max(best, frames / elapsed)
    return best


def bridge_rate(frames: list[can.Message], batch: int, subscribe: bool = False) -> float:
    mapping = load_mapping()
    broker = Broker(default_catalog())
    bridge = CanBridge(broker, mapping)
    bridge.attach()
    if subscribe:
        broker.client("cockpit", "read").subscribe(list(mapping.can_to_vss_paths))
    chunks = [frames[i : i + batch] for i in range(0, len(frames), batch)]

    def run() -> int:
        for _ in range(PASSES):
            for chunk in chunks:
                bridge.process(chunk)
        return PASSES * len(frames)

    return best_rate(run)


def cantools_rate(frames: list[can.Message], raw: bool) -> float:
    mapping = load_mapping()
    database = mapping.database
    messages = {m.frame_id: m for m in database.messages}

    def run() -> int:
        done = 0
        for _ in range(PASSES):
            for frame in frames:
                try:
                    if raw:
                        messages[frame.arbitration_id].decode(
                            bytes(frame.data), decode_choices=False, scaling=False
                        )
                    else:
                        database.decode_message(frame.arbitration_id, bytes(frame.data))
                except Exception:  # unknown ids and bad frames of the log, as in the bridge
                    pass
                done += 1
        return done

    return best_rate(run)


async def with_loop(frames: list[can.Message]) -> float:
    return bridge_rate(frames, 50, subscribe=True)


def main() -> None:
    with resources.as_file(package_data("sim_drive.log")) as path:
        frames = list(read_frames(path))
    batched = bridge_rate(frames, 50)
    single = bridge_rate(frames, 1)
    subscribed = asyncio.run(with_loop(frames))
    peer = cantools_rate(frames, raw=False)
    peer_raw = cantools_rate(frames, raw=True)
    rows = [
        {
            "metric": "bridge frames/s, batches of 50",
            "value": round(batched),
            "unit": "frames/s",
            "target": ">= 50,000",
            "met": batched >= 50_000,
        },
        {
            "metric": "bridge frames/s, one frame per batch",
            "value": round(single),
            "unit": "frames/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "bridge frames/s, batches of 50, 1 subscriber on all",
            "value": round(subscribed),
            "unit": "frames/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "peer: cantools decode_message (scaled, names)",
            "value": round(peer),
            "unit": "frames/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "peer: cantools Message.decode, raw",
            "value": round(peer_raw),
            "unit": "frames/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "bridge (batches of 50) / cantools decode_message",
            "value": round(batched / peer, 2),
            "unit": "ratio",
            "target": None,
            "met": None,
        },
    ]
    report(
        "can",
        rows,
        notes=(
            f"{len(frames):,} frames of sim_drive.log in memory, {PASSES} passes, best of "
            f"{REPEATS}; the bridge path includes cantools' raw decode, the VSS transforms and "
            "checks, and publishing to the hub."
        ),
    )


if __name__ == "__main__":
    main()
