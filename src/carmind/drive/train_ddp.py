"""Distributed training with torchrun: the same run as `carmind.drive.train`, on many processes.

    torchrun --standalone --nproc_per_node=2 -m carmind.drive.train_ddp --data DIR --out DIR

Each process joins a gloo process group from torchrun's environment (RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT), trains its DistributedSampler share of every epoch through
DistributedDataParallel (gradients averaged, so every process holds the same weights), and sums
its validation metrics with the others. DAgger collection and every output are rank 0's; the
other processes wait for the collected data and load it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

import torch.distributed as td

from carmind.drive.fit import Dist
from carmind.drive.train import run
from carmind.drive.train_config import TrainConfig
from carmind.errors import CarmindError

log = logging.getLogger(__name__)

COLLECT_TIMEOUT = timedelta(minutes=60)
"""How long the other processes wait for rank 0 (a DAgger round's collection, say)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torchrun ... -m carmind.drive.train_ddp",
        description="Train the driving network with DistributedDataParallel (gloo, CPU).",
    )
    p.add_argument("--data", type=Path, action="append", required=True, help="dataset dir")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--config", type=Path, help="TOML file of training settings")
    p.add_argument("--epochs", type=int, help="behaviour-cloning epochs")
    p.add_argument("--batch-size", type=int, help="per-process batch size")
    p.add_argument("--dagger-rounds", type=int, default=None, help="DAgger rounds (default 0)")
    p.add_argument("--force", action="store_true", help="overwrite a model in --out")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s rank%(rank)s %(message)s")
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        print("error: run me through torchrun (RANK and WORLD_SIZE are not set)", file=sys.stderr)
        return 2
    td.init_process_group("gloo", timeout=COLLECT_TIMEOUT)
    dist = Dist(td.get_rank(), td.get_world_size())
    old_factory = logging.getLogRecordFactory()

    def factory(*a: object, **kw: object) -> logging.LogRecord:
        record = old_factory(*a, **kw)
        record.rank = dist.rank
        return record

    logging.setLogRecordFactory(factory)
    try:
        config = TrainConfig.from_toml(args.config) if args.config else TrainConfig()
        overrides: dict[str, object] = {"threads": max(1, (os.cpu_count() or 1) // dist.world_size)}
        if args.dagger_rounds is not None or args.config is None:
            overrides["dagger_rounds"] = args.dagger_rounds or 0
        if args.epochs is not None:
            overrides["epochs"] = args.epochs
        if args.batch_size is not None:
            overrides["batch_size"] = args.batch_size
        config = TrainConfig.from_dict({**config.to_dict(), **overrides})
        report = run(args.data, args.out, config, force=args.force, dist=dist)
    except CarmindError as exc:
        if dist.is_main:
            print(f"error: {exc}", file=sys.stderr)
        td.destroy_process_group()
        return 2
    if dist.is_main:
        final = dataclasses.asdict(report.final)
        log.info(
            "done: %d samples on %d processes, final %s", report.samples, dist.world_size, final
        )
    td.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
