"""Distributed training: two torchrun processes on gloo train one model."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from carmind.drive.collect import collect


@pytest.mark.slow
def test_torchrun_two_processes_train_one_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    collect(data, episodes=2, workers=1, scenarios=("merge",), seed=20)
    out = tmp_path / "out"
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "carmind.drive.train_ddp",
            "--data",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--batch-size",
            "32",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "train.json").read_text())
    assert report["world_size"] == 2
    first, second = report["rank_checksums"]
    assert first == second  # DDP kept the weights equal on both processes
    losses = [e["train_loss"] for e in report["epochs"]]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0]
    assert sorted(p.name for p in out.iterdir()) == [
        "curves.png",
        "policy.onnx",
        "policy.pt",
        "train.json",
    ]
    assert "rank1" in done.stderr and "rank0" in done.stderr


def test_without_torchrun_it_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "carmind.drive.train_ddp",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "torchrun" in done.stderr
