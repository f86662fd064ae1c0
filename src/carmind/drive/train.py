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

The data and the loop live in `carmind.drive.fit`, which the distributed trainer
(`carmind.drive.train_ddp`) shares: a `Dist` says which share of each batch this process trains
and how metrics are summed. The settings live in `carmind.drive.train_config`. Both are
re-exported here, so `carmind.drive.train` stays the one import for training.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from carmind.drive.dataset import DatasetError, load_arrays
from carmind.drive.fit import LOCAL, Data, Dist, EpochStats, Fit, fit, load_data, read_indexes
from carmind.drive.policy import KEYS, DrivePolicy, Shapes, parameter_count
from carmind.drive.scenarios import TRAIN_SEEDS, ScenarioError
from carmind.drive.train_config import TrainConfig, TrainError

__all__ = [
    "CHECKPOINT",
    "CURVES",
    "LOCAL",
    "MODEL",
    "OUTPUTS",
    "REPORT",
    "Data",
    "Dist",
    "EpochStats",
    "Fit",
    "Progress",
    "RoundStats",
    "TrainConfig",
    "TrainError",
    "TrainReport",
    "check_out",
    "dump_report",
    "fit",
    "load_checkpoint",
    "load_data",
    "read_indexes",
    "run",
    "train",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int, dict[str, Any]], None]
"""progress(done, total, info): units are training epochs and collected episodes."""

CHECKPOINT = "policy.pt"
MODEL = "policy.onnx"
REPORT = "train.json"
CURVES = "curves.png"
OUTPUTS = (CHECKPOINT, MODEL, REPORT, CURVES)


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
