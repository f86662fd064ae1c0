"""Simulator speed: real-time factor of the simulated car.

- The whole car on the hub (powertrain, speed controller, body, cabin, publishing every changed
  signal to the broker at 10 Hz, physics at 20 Hz) following the WLTC class 3b trace for 1800
  simulated seconds, as fast as possible, with one subscriber on every signal.
- Peer in the same run: the bare powertrain (`dynamics.step` with the speed controller, no hub) at
  the same time step, so the ratio shows what the hub and the rest of the car cost.

Target (issue: foundation): the simulator at least 1000 times real time.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report

from carmind.vehicle import dynamics
from carmind.vehicle.controller import SpeedController
from carmind.vehicle.cycles import load_cycle
from carmind.vehicle.profiles import get_profile
from carmind.vehicle.session import CarSession

PROFILE = "xiaomi-su7"
SECONDS = 1800.0
REPEATS = 3


async def whole_car() -> tuple[float, int, int]:
    best = 0.0
    updates = delivered = 0
    for _ in range(REPEATS):
        session = CarSession.create(profile=PROFILE, epoch=1_700_000_000.0)
        session.car.drive_cycle(load_cycle("wltc"))
        sub = session.broker.client("listener").subscribe("")
        start = time.perf_counter()
        session.advance(SECONDS)
        elapsed = time.perf_counter() - start
        delivered = len(sub.poll())
        sub.close()
        best = max(best, SECONDS / elapsed)
        updates = session.broker.updates_published
    return best, updates, delivered


def bare_powertrain() -> float:
    profile = get_profile(PROFILE)
    cycle = load_cycle("wltc")
    dt = 0.05
    best = 0.0
    for _ in range(REPEATS):
        state = dynamics.initial_state(profile, 80.0)
        controller = SpeedController(profile)
        road = dynamics.Road()
        steps = round(SECONDS / dt)
        start = time.perf_counter()
        for i in range(steps):
            drive = controller.update(cycle.speed_at(i * dt) / 3.6, state, dt)
            state = dynamics.step(profile, state, drive, road, dt)
        best = max(best, SECONDS / (time.perf_counter() - start))
    return best


def main() -> None:
    rtf, updates, _ = asyncio.run(whole_car())
    bare = bare_powertrain()
    rows = [
        {
            "metric": f"whole car on the hub, WLTC ({PROFILE})",
            "value": round(rtf),
            "unit": "x real time",
            "target": ">= 1000",
            "met": rtf >= 1000,
        },
        {
            "metric": "signal updates published per simulated second",
            "value": round(updates / SECONDS, 1),
            "unit": "updates/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "bare powertrain + controller, same time step (peer)",
            "value": round(bare),
            "unit": "x real time",
            "target": None,
            "met": None,
        },
        {
            "metric": "whole car / bare powertrain",
            "value": round(rtf / bare, 3),
            "unit": "ratio",
            "target": None,
            "met": None,
        },
    ]
    report("simulator", rows, notes=f"best of {REPEATS} runs of {SECONDS:.0f} simulated seconds")


if __name__ == "__main__":
    main()
