"""The data and the training loop shared by `carmind.drive.train` and `carmind.drive.train_ddp`.

`read_indexes` checks the datasets, `load_data` loads them as tensors and holds out whole
episodes for validation, and `fit` trains a `Fit` (network, its DDP wrapper, the optimiser) for
some epochs, keeping the weights with the best validation loss. A `Dist` says which share of
each batch this process trains and how metrics are summed; `LOCAL` is the single process.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data.distributed import DistributedSampler

from carmind.drive.dataset import DatasetError, check_compatible, load_arrays, read_index
from carmind.drive.policy import KEYS, DrivePolicy, PolicyError, Shapes
from carmind.drive.train_config import TrainConfig, TrainError

log = logging.getLogger("carmind.drive.train")
"""The training run's logger: epoch lines keep the name they had before the loop moved here."""


@dataclass(frozen=True)
class EpochStats:
    phase: str
    """'bc' or 'dagger-<k>'."""
    epoch: int
    train_loss: float
    train_lane_accuracy: float
    val_loss: float | None
    val_accel_mae: float | None
    val_lane_accuracy: float | None
    samples_per_s: float


# --- distribution ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """Which process of how many; `all_reduce` sums a tensor over all of them."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, tensor: Tensor) -> Tensor:
        if self.world_size > 1:
            import torch.distributed as td

            td.all_reduce(tensor, op=td.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as td

            td.barrier()

    def wrap(self, model: DrivePolicy) -> nn.Module:
        """The module the optimiser steps through: DDP across processes, the model itself here."""
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            return DistributedDataParallel(model)
        return model


LOCAL = Dist()


# --- data -----------------------------------------------------------------------------------


@dataclass
class Data:
    """Every sample in memory as tensors, with each sample's global episode and the split."""

    inputs: dict[str, Tensor]
    acceleration: Tensor
    lane: Tensor
    """Class index 0 right, 1 keep, 2 left."""
    episode: np.ndarray
    val: np.ndarray
    """bool per sample: in a validation episode."""
    sources: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.acceleration)

    def extend(self, other: Data) -> None:
        for k in KEYS:
            self.inputs[k] = torch.cat((self.inputs[k], other.inputs[k]))
        self.acceleration = torch.cat((self.acceleration, other.acceleration))
        self.lane = torch.cat((self.lane, other.lane))
        self.episode = np.concatenate(
            (self.episode, other.episode + self.episode.max(initial=-1) + 1)
        )
        self.val = np.concatenate((self.val, other.val))
        self.sources += other.sources


def _split_key(directory: Path, episode: int, seed: int) -> float:
    """A stable uniform number per episode: it validates when this is below `val_fraction`."""
    key = f"{seed}:{directory.resolve()}:{episode}".encode()
    return zlib.crc32(key) / 2**32


def read_indexes(data: Sequence[Path]) -> list[dict[str, Any]]:
    """Every dataset's index, checked: present, non-empty, one rig, a layout the network reads."""
    if not data:
        raise TrainError("no training data given: expected one or more dataset directories")
    indexes: list[dict[str, Any]] = []
    for d in data:
        try:
            index = read_index(d)
        except DatasetError as exc:
            raise TrainError(str(exc)) from None
        if int(index.get("samples", 0)) == 0 or not index.get("shards"):
            raise TrainError(f"{d} holds no samples: collect some with `carmind drive collect`")
        if indexes:
            try:
                check_compatible(index, indexes[0], d)
            except DatasetError as exc:
                raise TrainError(f"{exc} (first dataset {data[0]})") from None
        indexes.append(index)
    try:
        Shapes.from_observation(indexes[0].get("observation", {}))
    except PolicyError as exc:
        raise TrainError(f"{data[0]} (rig {indexes[0].get('rig')!r}): {exc}") from None
    return indexes


def load_data(data: Sequence[Path], config: TrainConfig) -> Data:
    """Load datasets (already checked by `read_indexes`) and split them by episode."""
    parts: list[Data] = []
    for d in data:
        try:
            arrays, (index,) = load_arrays([d])
        except DatasetError as exc:
            raise TrainError(str(exc)) from None
        missing = [
            k
            for k in (*[f"obs/{k}" for k in KEYS], "label/acceleration", "label/lane", "episode")
            if k not in arrays
        ]
        if missing:
            raise TrainError(f"{d} lacks arrays {missing}: expected a carmind driving dataset")
        episodes = arrays["episode"].astype(np.int64)
        ids = np.unique(episodes)
        u = np.array([_split_key(d, int(e), config.seed) for e in ids])
        val_ids = set(ids[u < config.val_fraction].tolist())
        if not val_ids and config.val_fraction > 0 and len(ids) >= 2:
            val_ids = {int(ids[np.argmin(u)])}
        lane = arrays["label/lane"].astype(np.int64)
        if lane.min() < -1 or lane.max() > 1:
            raise TrainError(f"{d} has lane labels {sorted(set(lane.tolist()))}: expected -1, 0, 1")
        parts.append(
            Data(
                inputs={
                    k: torch.from_numpy(np.ascontiguousarray(arrays[f"obs/{k}"])) for k in KEYS
                },
                acceleration=torch.from_numpy(arrays["label/acceleration"].astype(np.float32)),
                lane=torch.from_numpy(lane + 1),
                episode=np.unique(episodes, return_inverse=True)[1],
                val=np.isin(episodes, list(val_ids)),
                sources=[
                    {
                        "dir": str(d),
                        "rig": index.get("rig"),
                        "samples": len(episodes),
                        "episodes": len(ids),
                        "val_episodes": len(val_ids),
                    }
                ],
            )
        )
    out = parts[0]
    for p in parts[1:]:
        out.extend(p)
    return out


# --- the loop -------------------------------------------------------------------------------


@dataclass
class Fit:
    """The state of one training run: network, its (possibly DDP) wrapper and the optimiser."""

    model: DrivePolicy
    module: nn.Module
    optimizer: torch.optim.Optimizer
    config: TrainConfig
    dist: Dist = LOCAL
    lane_weights: Tensor = field(default_factory=lambda: torch.ones(3))

    @classmethod
    def create(cls, model: DrivePolicy, config: TrainConfig, dist: Dist = LOCAL) -> Fit:
        module = dist.wrap(model)
        optimizer = torch.optim.AdamW(
            module.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        return cls(model, module, optimizer, config, dist)

    def set_lane_weights(self, lane: Tensor) -> None:
        counts = torch.bincount(lane, minlength=3).double().clamp(min=1.0)
        w = (counts.sum() / (3.0 * counts)) ** self.config.lane_weight_power
        self.lane_weights = (w / w[1]).float()  # "keep" weighs 1

    def loss(self, batch: Mapping[str, Tensor], accel: Tensor, lane: Tensor) -> tuple[Tensor, ...]:
        """Per-sample (total loss, lane-correct) for a batch."""
        pred_a, logits = self.module(*(batch[k] for k in KEYS))
        huber = nn.functional.huber_loss(
            pred_a, accel, delta=self.config.huber_delta, reduction="none"
        )
        ce = nn.functional.cross_entropy(logits, lane, weight=self.lane_weights, reduction="none")
        return (
            huber + self.config.lane_loss_weight * ce,
            (logits.argmax(-1) == lane).float(),
            (pred_a - accel).abs(),
        )

    def epoch(
        self, data: Data, train_idx: np.ndarray, epoch_seed: int
    ) -> tuple[float, float, float]:
        """One pass over this process's share of `train_idx`; (mean loss, lane accuracy,
        samples/s) over all processes."""
        self.module.train()
        sampler: DistributedSampler[int] = DistributedSampler(
            train_idx,  # type: ignore[arg-type]
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=True,
            seed=self.config.seed,
            drop_last=False,
        )
        sampler.set_epoch(epoch_seed)
        order = torch.as_tensor(train_idx[np.fromiter(iter(sampler), dtype=np.int64)])
        totals = torch.zeros(3, dtype=torch.float64)
        start = time.perf_counter()
        bs = self.config.batch_size
        steps = math.ceil(len(train_idx) / self.dist.world_size / bs)
        for i in range(steps):  # equal steps on every rank keep DDP's all-reduces in step
            idx = order[i * bs : (i + 1) * bs]
            loss, correct, _ = self.loss(
                {k: v[idx] for k, v in data.inputs.items()}, data.acceleration[idx], data.lane[idx]
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.mean().backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            totals += torch.tensor([loss.sum().item(), correct.sum().item(), len(idx)])
        elapsed = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
        self.dist.all_reduce(totals)
        self.dist.all_reduce(elapsed)
        n = max(totals[2].item(), 1.0)
        rate = totals[2].item() / max(elapsed.item() / self.dist.world_size, 1e-9)
        return totals[0].item() / n, totals[1].item() / n, rate

    @torch.no_grad()
    def evaluate(self, data: Data, val_idx: np.ndarray) -> tuple[float, float, float] | None:
        """(loss, acceleration MAE, lane accuracy) on `val_idx`, summed over all processes."""
        if len(val_idx) == 0:
            return None
        self.module.eval()
        mine = torch.as_tensor(val_idx[self.dist.rank :: self.dist.world_size])
        totals = torch.zeros(4, dtype=torch.float64)
        for i in range(0, len(mine), 512):
            idx = mine[i : i + 512]
            loss, correct, err = self.loss(
                {k: v[idx] for k, v in data.inputs.items()}, data.acceleration[idx], data.lane[idx]
            )
            totals += torch.tensor(
                [loss.sum().item(), err.sum().item(), correct.sum().item(), len(idx)]
            )
        self.dist.all_reduce(totals)
        n = max(totals[3].item(), 1.0)
        return totals[0].item() / n, totals[1].item() / n, totals[2].item() / n


def fit(
    state: Fit,
    data: Data,
    epochs: int,
    phase: str,
    history: list[EpochStats],
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> None:
    """Train `epochs` epochs on `data`'s training episodes; keep the best validation weights."""
    train_idx = np.flatnonzero(~data.val)
    val_idx = np.flatnonzero(data.val)
    if len(train_idx) == 0:
        train_idx = np.arange(len(data))  # too few episodes to hold any out for training
    state.set_lane_weights(data.lane[torch.as_tensor(train_idx)])
    best: tuple[float, dict[str, Tensor]] | None = None
    for e in range(epochs):
        loss, acc, rate = state.epoch(data, train_idx, len(history))
        val = state.evaluate(data, val_idx)
        stats = EpochStats(
            phase,
            e + 1,
            loss,
            acc,
            None if val is None else val[0],
            None if val is None else val[1],
            None if val is None else val[2],
            rate,
        )
        history.append(stats)
        log.info("%s epoch %d: loss %.4f val %s", phase, e + 1, loss, val)
        if val is not None and (best is None or val[0] < best[0]):
            best = (val[0], copy.deepcopy(state.model.state_dict()))
        if on_epoch is not None:
            on_epoch(stats)
    if best is not None:
        state.model.load_state_dict(best[1])
