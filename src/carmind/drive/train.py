"""Training the driving network: behaviour cloning of the expert, then DAgger rounds.

`train(data, out, config)` reads one or more datasets (`carmind drive collect`), fits the
network to the expert's labels (Huber loss on acceleration, class-weighted cross-entropy on the
lane), keeps the weights with the best validation loss (validation episodes are held out whole),
then runs `config.dagger_rounds` rounds of DAgger: the current network, mixed with the expert
with probability beta, drives fresh training seeds while the expert labels every state; the new
data joins the old and training continues from the current weights.

It writes to `out`: `policy.pt` (weights and configuration), `policy.onnx` (the final model),
`train.json` (configuration, data, per-epoch metrics, DAgger rounds, wall time), `curves.png`
(loss and lane accuracy per epoch, rounds marked) and, per round, the `dagger-<k>/` dataset.

The loop lives in `fit`, which the distributed trainer (`carmind.drive.train_ddp`) shares: a
`Dist` says which share of each batch this process trains and how metrics are summed.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import time
import tomllib
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
from carmind.drive.policy import KEYS, DrivePolicy, PolicyError, Shapes, parameter_count
from carmind.drive.scenarios import TRAIN_SEEDS, TRAINING_MIX, ScenarioError, scenario
from carmind.errors import CarmindError

log = logging.getLogger(__name__)

Progress = Callable[[int, int, dict[str, Any]], None]
"""progress(done, total, info): units are training epochs and collected episodes."""

CHECKPOINT = "policy.pt"
MODEL = "policy.onnx"
REPORT = "train.json"
CURVES = "curves.png"
OUTPUTS = (CHECKPOINT, MODEL, REPORT, CURVES)


class TrainError(CarmindError):
    """Bad training settings or data, or an output directory that already holds a model."""


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults train on a 2-core CPU in minutes."""

    epochs: int = 8
    """Behaviour-cloning epochs over the given data."""
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.15
    """Share of episodes (whole episodes) held out for validation."""
    huber_delta: float = 1.0
    """m/s²: the acceleration loss is quadratic below this error, linear above."""
    lane_loss_weight: float = 1.0
    lane_weight_power: float = 0.5
    """Lane class weights are (inverse class frequency) ** power: 0 none, 1 fully balanced."""
    dagger_rounds: int = 2
    dagger_episodes: int = 10
    """Episodes collected per DAgger round."""
    dagger_epochs: int = 4
    """Epochs over all data after each round."""
    beta: float = 0.5
    """Probability that the expert drives a step in the first DAgger round."""
    beta_decay: float = 0.5
    """beta of round k is beta * beta_decay ** k."""
    dagger_scenarios: tuple[str, ...] = TRAINING_MIX
    workers: int = 2
    """Processes that collect DAgger episodes."""
    threads: int = 2
    """Torch intra-op threads (per process)."""
    seed: int = 0

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("epochs", self.epochs >= 1, "at least 1"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("lr", self.lr > 0 and math.isfinite(self.lr), "a positive number"),
            ("weight_decay", self.weight_decay >= 0, "0 or more"),
            ("val_fraction", 0 <= self.val_fraction < 1, "in [0, 1)"),
            ("huber_delta", self.huber_delta > 0, "a positive number"),
            ("lane_loss_weight", self.lane_loss_weight >= 0, "0 or more"),
            ("lane_weight_power", 0 <= self.lane_weight_power <= 1, "in [0, 1]"),
            ("dagger_rounds", self.dagger_rounds >= 0, "0 or more"),
            ("dagger_episodes", self.dagger_episodes >= 1, "at least 1"),
            ("dagger_epochs", self.dagger_epochs >= 1, "at least 1"),
            ("beta", 0 <= self.beta <= 1, "in [0, 1]"),
            ("beta_decay", 0 <= self.beta_decay <= 1, "in [0, 1]"),
            ("dagger_scenarios", len(self.dagger_scenarios) > 0, "at least one scenario"),
            ("workers", self.workers >= 1, "at least 1"),
            ("threads", self.threads >= 1, "at least 1"),
            ("seed", self.seed >= 0, "0 or more"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise TrainError(f"{name} = {getattr(self, name)!r}: expected {expected}")
        for name in self.dagger_scenarios:
            try:
                scenario(name)
            except ScenarioError as exc:
                raise TrainError(f"dagger_scenarios: {exc}") from None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A config from a mapping; unknown keys and wrongly typed values are errors."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise TrainError(f"unknown training setting(s) {unknown}: expected {sorted(fields)}")
        kwargs: dict[str, Any] = {}
        defaults = cls()
        for key, value in values.items():
            default = getattr(defaults, key)
            if isinstance(default, tuple):
                if not isinstance(value, list | tuple) or not all(
                    isinstance(v, str) for v in value
                ):
                    raise TrainError(f"{key} = {value!r}: expected a list of names")
                value = tuple(value)
            elif isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise TrainError(f"{key} = {value!r}: expected a number")
                value = float(value)
            elif isinstance(default, int) and (
                isinstance(value, bool) or not isinstance(value, int)
            ):
                raise TrainError(f"{key} = {value!r}: expected an integer")
            kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: Path) -> TrainConfig:
        """A config from a TOML file: top-level keys, or a `[train]` table."""
        try:
            values = tomllib.loads(path.read_text())
        except OSError as exc:
            raise TrainError(f"cannot read training config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise TrainError(f"{path} is not valid TOML: {exc}") from None
        if set(values) == {"train"} and isinstance(values["train"], dict):
            values = values["train"]
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["dagger_scenarios"] = list(self.dagger_scenarios)
        return d

    def round_beta(self, k: int) -> float:
        return self.beta * self.beta_decay**k


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


@dataclass(frozen=True)
class RoundStats:
    round: int
    beta: float
    seed: int
    episodes: int
    collisions: int
    """Episodes in which the driving mixture (learner and expert) collided."""
    samples_added: int
    lane_changes_labelled: int
    onnx: str


@dataclass(frozen=True)
class TrainReport:
    out: Path
    checkpoint: Path
    onnx: Path
    samples: int
    parameters: int
    history: tuple[EpochStats, ...]
    rounds: tuple[RoundStats, ...]
    wall_s: float
    world_size: int = 1

    @property
    def final(self) -> EpochStats:
        return self.history[-1]


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


# --- the whole run --------------------------------------------------------------------------


def check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out} is a file: expected a directory")
    present = [name for name in OUTPUTS if (out / name).exists()]
    if present and not force:
        raise TrainError(
            f"{out} already holds a trained model ({', '.join(present)}): "
            "choose another --out or pass --force"
        )
    if out.is_dir() and not force:
        rounds = sorted(p.name for p in out.glob("dagger-*"))
        if rounds:
            raise TrainError(f"{out} already holds DAgger data ({rounds[0]}): pass --force")


def _max_seed(indexes: Sequence[Mapping[str, Any]]) -> int:
    seeds = [int(ep["seed"]) for ix in indexes for sh in ix["shards"] for ep in sh["episodes"]]
    return max(seeds, default=-1)


def _checksum(model: nn.Module) -> float:
    with torch.no_grad():
        return float(sum(p.double().sum().item() for p in model.parameters()))


def run(
    data: Sequence[Path],
    out: Path,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
    force: bool = False,
    dist: Dist = LOCAL,
) -> TrainReport:
    """The whole training run on this process (one of `dist.world_size`); see `train`."""
    started = time.perf_counter()
    data = [Path(d) for d in data]
    indexes = read_indexes(data)
    check_out(out, force)
    for d in data:
        if d.resolve() == out.resolve() or out.resolve() in d.resolve().parents:
            raise TrainError(f"--out {out} holds the training data {d}: expected another directory")
    rig = str(indexes[0].get("rig", "default"))
    try:
        max_lateral_accel = float(indexes[0]["expert"]["max_lateral_accel"])
    except (KeyError, TypeError, ValueError):
        raise TrainError(f"{data[0]}'s index lacks the expert's max_lateral_accel") from None
    next_seed = _max_seed(indexes) + 1
    last_seed = next_seed + config.dagger_rounds * config.dagger_episodes - 1
    if config.dagger_rounds and last_seed not in TRAIN_SEEDS:
        raise TrainError(
            f"DAgger would need seeds {next_seed}..{last_seed}: expected training seeds "
            f"below {TRAIN_SEEDS.stop}"
        )
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    samples = load_data(data, config)
    shapes = Shapes.from_observation(indexes[0]["observation"])
    model = DrivePolicy(shapes)
    train_rows = np.flatnonzero(~samples.val) if (~samples.val).any() else np.arange(len(samples))
    model.fit_normalisation(
        {k: samples.inputs[k][train_rows].numpy() for k in KEYS if k != "camera"},
        samples.acceleration[train_rows].numpy(),
    )
    state = Fit.create(model, config, dist)

    total = config.epochs + config.dagger_rounds * (config.dagger_episodes + config.dagger_epochs)
    done = 0

    def tick(info: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        if progress is not None and dist.is_main:
            progress(done, total, info)

    def on_epoch(stats: EpochStats) -> None:
        tick(dataclasses.asdict(stats))

    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
    history: list[EpochStats] = []
    rounds: list[RoundStats] = []
    boundaries: list[tuple[int, str]] = []
    log.info("training on %d samples (%d parameters)", len(samples), parameter_count(model))
    fit(state, samples, config.epochs, "bc", history, on_epoch)
    for k in range(config.dagger_rounds):
        directory = out / f"dagger-{k}"
        if dist.is_main:
            stats = _dagger_round(
                state.model, out, directory, k, next_seed, config, rig, max_lateral_accel, tick
            )
            rounds.append(stats)
        next_seed += config.dagger_episodes
        dist.barrier()  # the other processes wait for the collection
        if (directory / "index.json").is_file():
            samples.extend(load_data([directory], config))
        boundaries.append((len(history), f"DAgger {k + 1}"))
        fit(state, samples, config.dagger_epochs, f"dagger-{k}", history, on_epoch)

    checksums = torch.zeros(dist.world_size, dtype=torch.float64)
    checksums[dist.rank] = _checksum(state.model)
    dist.all_reduce(checksums)
    report = TrainReport(
        out=out,
        checkpoint=out / CHECKPOINT,
        onnx=out / MODEL,
        samples=len(samples),
        parameters=parameter_count(state.model),
        history=tuple(history),
        rounds=tuple(rounds),
        wall_s=time.perf_counter() - started,
        world_size=dist.world_size,
    )
    if dist.is_main:
        _write_outputs(
            report,
            state.model,
            samples,
            config,
            indexes,
            rig,
            max_lateral_accel,
            boundaries,
            checksums.tolist(),
        )
    dist.barrier()
    return report


def _dagger_round(
    model: DrivePolicy,
    out: Path,
    directory: Path,
    k: int,
    seed: int,
    config: TrainConfig,
    rig: str,
    max_lateral_accel: float,
    tick: Callable[[dict[str, Any]], None],
) -> RoundStats:
    from carmind.drive.collect import CollectError, collect
    from carmind.drive.export import export_onnx

    onnx_path = out / "rounds" / f"policy-{k}.onnx"
    export_onnx(model, onnx_path, max_lateral_accel=max_lateral_accel, rig=rig)
    beta = config.round_beta(k)
    collisions = 0

    def on_episode(done: int, total: int, metrics: dict[str, Any]) -> None:
        nonlocal collisions
        collisions += bool(metrics.get("collided"))
        tick({"phase": f"collect-{k}", "episode": done, **metrics})

    log.info("DAgger round %d: %d episodes, beta %.3f", k + 1, config.dagger_episodes, beta)
    try:
        index = collect(
            directory,
            episodes=config.dagger_episodes,
            workers=config.workers,
            scenarios=config.dagger_scenarios,
            seed=seed,
            rig=rig,
            policy=str(onnx_path),
            beta=beta,
            progress=on_episode,
        )
    except (CollectError, ScenarioError, DatasetError) as exc:
        raise TrainError(f"DAgger round {k + 1}: {exc}") from None
    added = int(index["samples"])
    lane_changes = 0
    if added:
        arrays, _ = load_arrays([directory])
        lane_changes = int(np.count_nonzero(arrays["label/lane"]))
    return RoundStats(
        k + 1,
        beta,
        seed,
        config.dagger_episodes,
        collisions,
        added,
        lane_changes,
        str(onnx_path.relative_to(out)),
    )


def _write_outputs(
    report: TrainReport,
    model: DrivePolicy,
    samples: Data,
    config: TrainConfig,
    indexes: Sequence[Mapping[str, Any]],
    rig: str,
    max_lateral_accel: float,
    boundaries: list[tuple[int, str]],
    checksums: list[float],
) -> None:
    from carmind import __version__
    from carmind.drive.dataset import write_json_atomic
    from carmind.drive.export import export_onnx

    out = report.out
    sample_rows = np.flatnonzero(samples.val)[:16]
    if len(sample_rows) == 0:
        sample_rows = np.arange(min(16, len(samples)))
    idx = torch.as_tensor(sample_rows)
    sample = {k: samples.inputs[k][idx].numpy() for k in KEYS}
    parity = export_onnx(
        model, report.onnx, max_lateral_accel=max_lateral_accel, rig=rig, sample=sample
    )
    torch.save(
        {
            "state_dict": model.state_dict(),
            "shapes": dataclasses.asdict(model.shapes),
            "policy_config": dataclasses.asdict(model.config),
            "train_config": config.to_dict(),
            "rig": rig,
            "max_lateral_accel": max_lateral_accel,
            "version": __version__,
        },
        report.checkpoint,
    )
    write_json_atomic(
        out / REPORT,
        {
            "version": __version__,
            "config": config.to_dict(),
            "rig": rig,
            "max_lateral_accel": max_lateral_accel,
            "data": samples.sources,
            "bc_data": [str(p["dir"]) for p in samples.sources[: len(indexes)]],
            "samples": report.samples,
            "train_samples": int((~samples.val).sum()),
            "val_samples": int(samples.val.sum()),
            "parameters": report.parameters,
            "world_size": report.world_size,
            "rank_checksums": checksums,
            "epochs": [dataclasses.asdict(h) for h in report.history],
            "dagger": [dataclasses.asdict(r) for r in report.rounds],
            "onnx_parity": parity,
            "wall_s": round(report.wall_s, 2),
        },
    )
    _plot(report.history, boundaries, out / CURVES)


def _plot(history: Sequence[EpochStats], boundaries: list[tuple[int, str]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(1, len(history) + 1)

    def series(name: str) -> list[float]:
        return [float("nan") if getattr(h, name) is None else getattr(h, name) for h in history]

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    ax1.plot(x, series("train_loss"), marker="o", label="training")
    ax1.plot(x, series("val_loss"), marker="o", label="validation")
    ax1.set_ylabel("loss (Huber + lane CE)")
    ax1.legend()
    ax2.plot(x, series("train_lane_accuracy"), marker="o", label="training")
    ax2.plot(x, series("val_lane_accuracy"), marker="o", label="validation")
    ax2.set_ylabel("lane accuracy")
    ax2.set_xlabel("epoch")
    ax2.legend()
    for ax in (ax1, ax2):
        for at, label in boundaries:
            ax.axvline(at + 0.5, color="grey", linestyle="--", linewidth=1)
            if ax is ax1:
                ax.text(at + 0.6, ax.get_ylim()[1], label, va="top", fontsize=8, color="grey")
        ax.grid(alpha=0.3)
    fig.suptitle("carmind driving policy: behaviour cloning, then DAgger")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def train(
    data: list[Path],
    out: Path,
    config: TrainConfig | None = None,
    *,
    progress: Progress | None = None,
    force: bool = False,
) -> TrainReport:
    """Train the driving network on `data` and write the model and its report to `out`.

    Bad inputs (a missing or empty dataset, datasets from different rigs, an `out` that already
    holds a model without `force`) raise `TrainError` before anything is written."""
    return run(data, out, config or TrainConfig(), progress=progress, force=force)


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def load_checkpoint(path: Path) -> DrivePolicy:
    """The network saved in a `policy.pt`."""
    from carmind.drive.policy import PolicyConfig

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        shapes = Shapes(**{k: _tuple(v) for k, v in saved["shapes"].items()})
        pconf = PolicyConfig(**{k: _tuple(v) for k, v in saved["policy_config"].items()})
        model = DrivePolicy(shapes, pconf)
        model.load_state_dict(saved["state_dict"])
    except FileNotFoundError:
        raise TrainError(f"no checkpoint at {path}: expected a policy.pt from training") from None
    except Exception as exc:
        raise TrainError(f"{path} is not a carmind checkpoint: {exc}") from None
    return model


def dump_report(report: TrainReport) -> str:
    """A one-line summary for logs and the CLI."""
    f = report.final
    val = "n/a" if f.val_loss is None else f"{f.val_loss:.3f}"
    acc = "n/a" if f.val_lane_accuracy is None else f"{f.val_lane_accuracy:.1%}"
    return json.dumps(
        {
            "samples": report.samples,
            "val_loss": val,
            "val_lane_accuracy": acc,
            "onnx": str(report.onnx),
            "wall_s": round(report.wall_s, 1),
        }
    )
