"""Training settings: `TrainConfig` (defaults, checks, TOML and dict round trips) and
`TrainError`, the error every bad setting, dataset or output directory raises.

They live apart from `carmind.drive.train` (the run) and `carmind.drive.fit` (data and loop),
which both need them, so that neither of those imports the other's internals.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carmind.drive.scenarios import TRAINING_MIX, ScenarioError, scenario
from carmind.errors import CarmindError


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
