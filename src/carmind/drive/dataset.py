"""Driving data on disk: NPZ shards and one JSON index.

A dataset directory holds `shard-00000.npz`, `shard-00001.npz`, ... and `index.json`. Each shard
has one array per observation key (`obs/camera`, `obs/radar`, ...), the expert's labels
(`label/acceleration`, `label/lane`), the action that was applied (`action`), and where every
sample came from (`episode`, `step`). The index lists the shards with their sample counts,
scenarios and seeds, the sensor rig, and the expert's settings, so training knows what it reads.
The index is rewritten atomically after every shard: an interrupted collection keeps what it
finished.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from carmind.errors import CarmindError

INDEX = "index.json"
FORMAT = "carmind-drive-dataset/1"


class DatasetError(CarmindError):
    """A dataset directory that is missing, damaged, or made with another sensor rig."""


@dataclass
class Episode:
    """One recorded episode, in memory until it is written to a shard."""

    scenario: str
    seed: int
    source: str
    observations: dict[str, list[np.ndarray]] = field(default_factory=dict)
    acceleration: list[float] = field(default_factory=list)
    lane: list[int] = field(default_factory=list)
    actions: list[tuple[float, float]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        observation: Mapping[str, np.ndarray],
        acceleration: float,
        lane: int,
        action: tuple[float, float],
    ) -> None:
        for key, value in observation.items():
            self.observations.setdefault(key, []).append(value)
        self.acceleration.append(acceleration)
        self.lane.append(lane)
        self.actions.append(action)

    def __len__(self) -> int:
        return len(self.acceleration)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"obs/{k}": np.stack(v) for k, v in self.observations.items()}
        out["label/acceleration"] = np.asarray(self.acceleration, dtype=np.float32)
        out["label/lane"] = np.asarray(self.lane, dtype=np.int8)
        out["action"] = np.asarray(self.actions, dtype=np.float32).reshape(-1, 2)
        out["step"] = np.arange(len(self), dtype=np.int32)
        return out


class DatasetWriter:
    """Writes episodes into shards of about `shard_samples` samples, index after each."""

    def __init__(
        self, out: Path, meta: Mapping[str, Any], shard_samples: int = 4000, append: bool = False
    ) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        existing = out / INDEX
        if existing.exists():
            if not append:
                raise DatasetError(
                    f"{out} already holds a dataset: choose another --out or remove it"
                )
            self.index = read_index(out)
            check_compatible(self.index, meta, out)
        else:
            self.index = {
                "format": FORMAT,
                **meta,
                "shards": [],
                "samples": 0,
                "episodes": 0,
            }
        self.shard_samples = shard_samples
        self._pending: list[Episode] = []

    def add(self, episode: Episode) -> None:
        if len(episode) == 0:
            return
        self._pending.append(episode)
        if sum(len(e) for e in self._pending) >= self.shard_samples:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        number = len(self.index["shards"])
        name = f"shard-{number:05d}.npz"
        while (self.out / name).exists():
            number += 1
            name = f"shard-{number:05d}.npz"
        parts = [e.arrays() for e in self._pending]
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        first = self.index["episodes"]
        arrays["episode"] = np.concatenate(
            [np.full(len(e), first + i, dtype=np.int32) for i, e in enumerate(self._pending)]
        )
        tmp = self.out / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, self.out / name)
        samples = sum(len(e) for e in self._pending)
        self.index["shards"].append(
            {
                "file": name,
                "samples": samples,
                "episodes": [
                    {
                        "id": first + i,
                        "scenario": e.scenario,
                        "seed": e.seed,
                        "source": e.source,
                        "samples": len(e),
                        **e.summary,
                    }
                    for i, e in enumerate(self._pending)
                ],
            }
        )
        self.index["samples"] += samples
        self.index["episodes"] += len(self._pending)
        self._pending = []
        write_json_atomic(self.out / INDEX, self.index)


def write_json_atomic(path: Path, data: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def read_index(directory: Path) -> dict[str, Any]:
    path = directory / INDEX
    if not directory.is_dir():
        raise DatasetError(
            f"no dataset at {directory}: expected a directory made by `carmind drive collect`"
        )
    if not path.is_file():
        raise DatasetError(
            f"{directory} has no {INDEX}: expected a directory made by `carmind drive collect`"
        )
    try:
        index = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path} is not a readable dataset index: {exc}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise DatasetError(f"{path} is not a carmind dataset index (expected format {FORMAT})")
    return index


def check_compatible(index: Mapping[str, Any], meta: Mapping[str, Any], where: Path) -> None:
    if index.get("rig") != meta.get("rig") or index.get("observation") != meta.get("observation"):
        raise DatasetError(
            f"{where} was recorded with rig {index.get('rig')!r}; this data comes from "
            f"rig {meta.get('rig')!r}: the sensor layouts differ"
        )


def load_arrays(directories: list[Path]) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Every sample of one or more datasets, concatenated, with their indexes."""
    indexes = [read_index(d) for d in directories]
    for d, ix in zip(directories[1:], indexes[1:], strict=True):
        check_compatible(ix, indexes[0], d)
    parts: list[dict[str, np.ndarray]] = []
    for d, ix in zip(directories, indexes, strict=True):
        for shard in ix["shards"]:
            path = d / shard["file"]
            try:
                with np.load(path) as data:
                    parts.append({k: data[k] for k in data.files})
            except (OSError, ValueError) as exc:
                raise DatasetError(f"shard {path} cannot be read: {exc}") from None
    if not parts:
        raise DatasetError(f"{directories[0]} holds no samples yet")
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}, indexes
