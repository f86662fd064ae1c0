"""The driving environment: a highway-env scenario seen through the sensor rig.

`make_env(scenario, seed)` returns a gymnasium environment whose observations are the rig's
sensor readings and whose actions are carmind `Action`s (or `[acceleration, steering]` in SI
units). Each step's `info` carries what evaluation and privileged drivers need: the ego's state,
the perceived object list and, when the ego hits something, who was at fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from carmind.drive import world
from carmind.drive.scenarios import (
    ACCELERATION_RANGE,
    POLICY_HZ,
    STEERING_RANGE,
    Scenario,
    scenario,
)
from carmind.drive.types import Action, EgoState, TrackedObject

OBJECT_NOISE_M = (0.3, 0.09)
"""σ of the perceived objects' position along and across the road (m): a fused object list is
sharper across (lane-level) than along."""
STOPPED_SPEED = 0.5
"""m/s: an ego slower than this cannot be at fault in a collision."""


@dataclass(frozen=True, slots=True)
class Collision:
    """A collision of the ego, classified in the manner of nuPlan's at-fault collisions."""

    at_fault: bool
    kind: str
    """"front" (ego hit what was ahead), "lateral" (ego moved into it), "rear" (hit from behind),
    "cut_in" (the other moved into the ego), "stopped" (ego at a standstill), "object"."""
    other_speed: float
    ego_speed: float


def classify_collision(ego: EgoState, other: TrackedObject, is_static: bool) -> Collision:
    """Who was at fault when the ego and `other` touched."""
    if is_static:
        return Collision(True, "object", 0.0, ego.speed)
    if ego.speed < STOPPED_SPEED:
        return Collision(False, "stopped", math.hypot(other.vx, other.vy), ego.speed)
    half_width = (ego.width + other.width) / 2.0
    overlap = half_width - abs(other.y)  # how far the bodies overlap across the road
    ego_in = ego.lateral_speed * math.copysign(1.0, other.y)  # ego moving toward it
    other_in = -other.vy * math.copysign(1.0, other.y)  # it moving toward the ego
    speed = math.hypot(other.vx, other.vy)
    if overlap > 0.5:  # squarely in line: front or rear
        if other.x > 0:
            return Collision(True, "front", speed, ego.speed)
        return Collision(False, "rear", speed, ego.speed)
    if ego_in >= other_in:
        return Collision(True, "lateral", speed, ego.speed)
    return Collision(False, "cut_in", speed, ego.speed)


def _make_highway_env(spec: Scenario) -> Any:
    import highway_env  # noqa: F401  (registers the environments)
    from highway_env.envs.merge_env import ConnectedLaneMergeEnv

    if spec.env_id == "merge-v0":

        class _Merge(ConnectedLaneMergeEnv):  # type: ignore[misc]
            """highway-env's merge, whose reward assumes discrete actions: carmind needs none."""

            def _reward(self, action: Any) -> float:
                return 0.0

            def _rewards(self, action: Any) -> dict[str, float]:
                return {}

            def _is_truncated(self) -> bool:
                return bool(self.time >= self.config["duration"])

        return _Merge(config=spec.env_config())
    return gym.make(spec.env_id, config=spec.env_config()).unwrapped


class DriveEnv(gym.Env):
    """A scenario with the sensor rig: gymnasium's API, carmind's units."""

    metadata = {"render_modes": ["rgb_array"]}  # noqa: RUF012  (gymnasium's own attribute)

    def __init__(
        self,
        spec: Scenario,
        rig: Any = None,
        *,
        object_noise_m: tuple[float, float] = OBJECT_NOISE_M,
        object_range_m: float = 200.0,
    ) -> None:
        self.spec_ = spec
        self.core = _make_highway_env(spec)
        self.rig = rig
        self.object_noise_m = object_noise_m
        self.object_range_m = object_range_m
        self.action_space = gym.spaces.Box(
            low=np.array([ACCELERATION_RANGE[0], STEERING_RANGE[0]], dtype=np.float32),
            high=np.array([ACCELERATION_RANGE[1], STEERING_RANGE[1]], dtype=np.float32),
        )
        self.observation_space = rig.observation_space if rig is not None else gym.spaces.Dict({})
        self._rng = np.random.default_rng(0)
        self.steps = 0
        self.seed_: int | None = None

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self.core.reset(seed=seed)
        self.seed_ = seed
        self._rng = np.random.default_rng(seed)
        if self.rig is not None:
            self.rig.reset(0 if seed is None else seed)
        self.steps = 0
        return self._observe(), self._info(None)

    def step(
        self, action: Action | np.ndarray | list[float]
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if not isinstance(action, Action):
            a = np.asarray(action, dtype=float).reshape(-1)
            action = Action(float(a[0]), float(a[1]))
        if not (math.isfinite(action.acceleration) and math.isfinite(action.steering)):
            raise ValueError(f"action must be finite, got {action}")
        raw = world.to_env_action(action.acceleration, action.steering, self.core.config)
        _, _, terminated, truncated, _ = self.core.step(np.asarray(raw, dtype=np.float32))
        self.steps += 1
        return self._observe(), 0.0, bool(terminated), bool(truncated), self._info(action)

    def render(self) -> np.ndarray | None:
        return self.core.render()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.core.close()

    # ------------------------------------------------------------------ what the car knows

    @property
    def dt(self) -> float:
        return 1.0 / POLICY_HZ

    def ego(self) -> EgoState:
        return world.ego_state(self.core)

    def objects(self, noisy: bool = True) -> list[TrackedObject]:
        """The perceived object list: the simulator's objects in sensor range, with noise."""
        exact = world.tracked_objects(self.core, self.object_range_m)
        if not noisy or max(self.object_noise_m) <= 0:
            return exact
        n = self._rng.normal(0.0, self.object_noise_m, size=(len(exact), 2))  # per column
        return [
            TrackedObject(o.x + n[i, 0], o.y + n[i, 1], o.vx, o.vy, o.length, o.width, o.ident)
            for i, o in enumerate(exact)
        ]

    def _observe(self) -> dict[str, np.ndarray]:
        if self.rig is None:
            return {}
        return self.rig.observe(self.core)  # type: ignore[no-any-return]

    def _collision(self) -> Collision | None:
        core = self.core
        if not core.vehicle.crashed:
            return None
        ego = self.ego()
        exact = {o.ident: o for o in world.tracked_objects(core, 50.0)}
        hit = [
            v
            for v in world.others(core)
            if getattr(v, "crashed", False) or getattr(v, "hit", False)
        ]
        best: tuple[float, TrackedObject, bool] | None = None
        for v in hit:
            o = exact.get(id(v))
            if o is None:
                continue
            d = math.hypot(o.x, o.y)
            if best is None or d < best[0]:
                best = (d, o, not hasattr(v, "speed") or type(v).__name__ == "Obstacle")
        if best is None:
            return Collision(True, "unknown", 0.0, ego.speed)
        return classify_collision(ego, best[1], best[2])

    def _info(self, action: Action | None) -> dict[str, Any]:
        core = self.core
        ego = self.ego()
        return {
            "ego": ego,
            "action": action,
            "time": float(core.time),
            "position": (float(core.vehicle.position[0]), float(core.vehicle.position[1])),
            "heading": float(core.vehicle.heading),
            "on_road": bool(core.vehicle.on_road),
            "collision": self._collision(),
            "scenario": self.spec_.name,
            "seed": self.seed_,
        }


def make_env(
    name: str = "highway", seed: int | None = None, rig: str | None = "default"
) -> DriveEnv:
    """The named scenario with the sensor rig (`rig=None` for privileged drivers only).

    The environment is reset with `seed` when one is given, so it is ready to step.
    """
    spec = scenario(name)
    sensors = None
    if rig is not None:
        from carmind.drive.rig import SensorRig

        sensors = SensorRig.load(rig)
    env = DriveEnv(spec, sensors)
    if seed is not None:
        env.reset(seed=seed)
    return env
