"""Assisted driving: the learned driver's inference per step (target: below 5 ms on one core),
simulation steps per second per worker, the sensor rig and the safety guard.

Inference is the shipped ONNX model in onnxruntime with one thread, on real observations from
the default rig; the peer it is compared with is the same network in PyTorch (one thread).
Simulation: highway-env's `highway` scenario (30 vehicles, 15 Hz physics, 5 Hz decisions) with
and without the sensor rig, one process.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report

from carmind.drive.agents import shipped_model
from carmind.drive.env import make_env
from carmind.drive.expert import Expert
from carmind.drive.guard import SafetyGuard
from carmind.drive.runtime import OnnxPolicy

STEPS = 200


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    import torch

    torch.set_num_threads(1)
    env = make_env("highway", seed=1_000_000)
    expert = Expert()
    expert.reset(env)
    observations = []
    sim_ms, rig_ms, guard_us = [], [], []
    guard = SafetyGuard()
    obs, _ = env.reset(seed=1_000_000)
    expert.reset(env)
    for _ in range(STEPS):
        observations.append(obs)
        action = expert.act(obs)
        t0 = time.perf_counter()
        g = guard.filter(env.ego(), env.objects(), action)
        guard_us.append((time.perf_counter() - t0) * 1e6)
        t0 = time.perf_counter()
        obs, _, term, trunc, _ = env.step(g.action)
        rig_ms.append(sum(env.rig.last_timings_ms.values()))
        sim_ms.append((time.perf_counter() - t0) * 1000 - rig_ms[-1])
        if term or trunc:
            obs, _ = env.reset(seed=1_000_001)
            expert.reset(env)

    policy = OnnxPolicy(shipped_model())
    for o in observations[:10]:
        policy.predict(o)  # warm-up
    onnx_ms = []
    for o in observations:
        t0 = time.perf_counter()
        policy.predict(o)
        onnx_ms.append((time.perf_counter() - t0) * 1000)

    from carmind.drive.train import load_checkpoint

    net = load_checkpoint(shipped_model().with_name("policy.pt"))
    torch_ms = []
    with torch.no_grad():
        for o in observations:
            batch = {k: torch.as_tensor(v)[None] for k, v in o.items()}
            t0 = time.perf_counter()
            net(**batch)
            torch_ms.append((time.perf_counter() - t0) * 1000)

    # whole episodes per worker: decisions per second with and without the sensor rig
    rates = {}
    for rig in ("default", None):
        e = make_env("highway", rig=rig)
        steps, t0 = 0, time.perf_counter()
        for seed in (1_000_010, 1_000_011):
            e.reset(seed=seed)
            expert.reset(e)
            done = False
            while not done:
                _, _, term, trunc, _ = e.step(expert.act({}))
                steps += 1
                done = term or trunc
        rates[rig] = steps / (time.perf_counter() - t0)

    p50 = statistics.median(onnx_ms)
    rows = [
        {
            "metric": "learned driver inference p50 (onnxruntime, 1 thread)",
            "value": p50,
            "unit": "ms/step",
            "target": "< 5 ms",
            "met": p50 < 5.0,
        },
        {
            "metric": "inference p99 (onnxruntime)",
            "value": _percentile(onnx_ms, 0.99),
            "unit": "ms",
        },
        {
            "metric": "inference p50 (PyTorch, 1 thread)",
            "value": statistics.median(torch_ms),
            "unit": "ms",
        },
        {
            "metric": "onnxruntime vs PyTorch",
            "value": statistics.median(torch_ms) / p50,
            "unit": "× faster",
        },
        {"metric": "sensor rig observe p50", "value": statistics.median(rig_ms), "unit": "ms/step"},
        {
            "metric": "highway-env physics p50 (3 sub-steps)",
            "value": statistics.median(sim_ms),
            "unit": "ms/step",
        },
        {"metric": "safety guard p50", "value": statistics.median(guard_us), "unit": "µs/step"},
        {
            "metric": "simulation with sensor rig, one worker",
            "value": rates["default"],
            "unit": "steps/s",
        },
        {
            "metric": "simulation without sensors, one worker",
            "value": rates[None],
            "unit": "steps/s",
        },
    ]
    report("drive", rows, notes="A step is 0.2 s of driving: 5 steps/s is real time.")


if __name__ == "__main__":
    main()
