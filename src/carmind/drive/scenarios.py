"""The driving scenarios: highway-env environments with carmind's settings, and the seed split.

Every scenario drives with continuous control (acceleration and steering) at 5 Hz. Training and
collection draw seeds from `TRAIN_SEEDS`; evaluation on held-out seeds draws from
`HELD_OUT_SEEDS`, which no training command accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from carmind.errors import CarmindError

POLICY_HZ = 5
"""Decisions per second: one action holds for 0.2 s."""
SIM_HZ = 15
"""Physics steps per second (highway-env's default)."""
ACCELERATION_RANGE = (-6.0, 4.0)
"""m/s²: the car's physical envelope; the guard and comfort limits act inside it."""
STEERING_RANGE = (-math.pi / 4, math.pi / 4)

TRAIN_SEEDS = range(0, 1_000_000)
HELD_OUT_SEEDS = range(1_000_000, 2_000_000)
"""Seeds for evaluation only: collection and DAgger refuse them."""


class ScenarioError(CarmindError):
    """An unknown scenario name or a seed from the wrong split."""


@dataclass(frozen=True)
class Scenario:
    """One highway-env environment with its configuration."""

    name: str
    env_id: str
    description: str
    config: dict[str, Any] = field(default_factory=dict)

    def env_config(self) -> dict[str, Any]:
        base: dict[str, Any] = {
            "action": {
                "type": "ContinuousAction",
                "longitudinal": True,
                "lateral": True,
                "acceleration_range": list(ACCELERATION_RANGE),
                "steering_range": list(STEERING_RANGE),
                "clip": True,
            },
            "policy_frequency": POLICY_HZ,
            "simulation_frequency": SIM_HZ,
            "offroad_terminal": True,
        }
        base.update(self.config)
        return base


_HIGHWAY = {"lanes_count": 4, "vehicles_count": 30, "duration": 40}

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "highway",
            "highway-v0",
            "4-lane motorway, normal traffic (highway-env density 1.0)",
            {**_HIGHWAY, "vehicles_density": 1.0},
        ),
        Scenario(
            "highway-light",
            "highway-v0",
            "4-lane motorway, light traffic (density 0.7)",
            {**_HIGHWAY, "vehicles_density": 0.7},
        ),
        Scenario(
            "highway-dense",
            "highway-v0",
            "3-lane motorway, dense traffic (density 1.5)",
            {**_HIGHWAY, "lanes_count": 3, "vehicles_density": 1.5},
        ),
        Scenario(
            "merge",
            "merge-v0",
            "2-lane motorway with traffic merging from an on-ramp",
            {"duration": 25},
        ),
        Scenario(
            "racetrack",
            "racetrack-v1",
            "2-lane circuit with bends and slower traffic",
            {"duration": 40, "other_vehicles": 3},
        ),
    )
}

STANDARD_HIGHWAY = ("highway-light", "highway", "highway-dense")
"""The standard highway scenarios the expert is held to."""
TRAINING_MIX = (*STANDARD_HIGHWAY, "merge", "racetrack")


def scenario(name: str) -> Scenario:
    """The scenario called `name`, or a ScenarioError listing the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise ScenarioError(f"unknown scenario {name!r}: expected one of {known}") from None


def check_training_seed(seed: int) -> int:
    """Refuse a held-out seed for collection or training."""
    if seed in HELD_OUT_SEEDS:
        raise ScenarioError(
            f"seed {seed} is held out for evaluation: training seeds are "
            f"{TRAIN_SEEDS.start}..{TRAIN_SEEDS.stop - 1}"
        )
    if seed not in TRAIN_SEEDS:
        raise ScenarioError(f"seed {seed} is out of range: expected 0..{TRAIN_SEEDS.stop - 1}")
    return seed
