"""Drivers: anything with `reset(env)` and `act(observation) -> Action`.

- `idle`: holds speed and steers straight (a floor for the metrics);
- `idm`: adaptive cruise with lane keeping, no lane changes (the Intelligent Driver Model);
- `expert`: the privileged planner (`carmind.drive.expert`);
- `learned`: the end-to-end network, run with onnxruntime from the shipped model or a path;
- any of them `+guard`: every action passes the RSS safety guard first.

Privileged drivers (idm, expert) and the guard read the environment given to `reset`; the
learned driver reads only the observation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from carmind.drive.control import follow, lateral_target
from carmind.drive.expert import Expert, ExpertParams
from carmind.drive.guard import GuardResult, SafetyGuard
from carmind.drive.types import Action, Plan
from carmind.errors import CarmindError

POLICIES = ("idle", "idm", "expert", "learned", "learned+guard")


class AgentError(CarmindError):
    """An unknown driver name or a model file that cannot be loaded."""


class Agent(Protocol):
    name: str

    def reset(self, env: Any = None) -> None: ...

    def act(self, observation: Mapping[str, np.ndarray]) -> Action: ...


class IdleAgent:
    """No acceleration, no steering."""

    name = "idle"

    def reset(self, env: Any = None) -> None:
        pass

    def act(self, observation: Mapping[str, np.ndarray]) -> Action:
        return Action(0.0, 0.0)


class IdmAgent:
    """Adaptive cruise control and lane keeping: the expert with lane changes switched off."""

    name = "idm"

    def __init__(self) -> None:
        self._expert = Expert(ExpertParams(lane_change_gain=float("inf")))

    def reset(self, env: Any = None) -> None:
        self._expert.reset(env)

    def act(self, observation: Mapping[str, np.ndarray]) -> Action:
        return self._expert.act(observation)


class LearnedAgent:
    """The end-to-end network: observation in, plan out, the shared controller steers."""

    def __init__(self, model: Path, name: str = "learned") -> None:
        from carmind.drive.runtime import OnnxPolicy

        self.name = name
        self.policy = OnnxPolicy(model)
        self.last_plan = Plan(0.0, 0.0)

    def reset(self, env: Any = None) -> None:
        pass

    def act(self, observation: Mapping[str, np.ndarray]) -> Action:
        from carmind.drive.sensors.ego import ego_from_reading

        ego = ego_from_reading(observation["ego"])
        accel, lane = self.policy.predict(observation)
        if (lane > 0 and ego.lanes_left == 0) or (lane < 0 and ego.lanes_right == 0):
            lane = 0  # no lane there: the lane camera sees the road edge
        plan = Plan(accel, lateral_target(lane, ego, self.policy.max_lateral_accel), lane)
        self.last_plan = plan
        return follow(plan, ego)


class GuardedAgent:
    """Another driver whose every action passes the safety guard."""

    def __init__(self, inner: Agent, guard: SafetyGuard | None = None) -> None:
        self.inner = inner
        self.guard = guard or SafetyGuard()
        self.name = f"{inner.name}+guard"
        self.env: Any = None
        self.last: GuardResult | None = None

    def reset(self, env: Any = None) -> None:
        if env is None:
            raise AgentError("a guarded driver needs the environment's object list: reset(env)")
        self.env = env
        self.inner.reset(env)
        self.guard.reset()

    def act(self, observation: Mapping[str, np.ndarray]) -> Action:
        action = self.inner.act(observation)
        if "ego" in observation:
            from carmind.drive.sensors.ego import ego_from_reading

            ego = ego_from_reading(observation["ego"])
        else:
            ego = self.env.ego()
        self.last = self.guard.filter(ego, self.env.objects(), action, self.env.dt)
        return self.last.action


def rig_of(agent: Agent) -> str | None:
    """The sensor rig a driver reads: none for the privileged ones, its model's otherwise."""
    inner = agent.inner if isinstance(agent, GuardedAgent) else agent
    return inner.policy.rig if isinstance(inner, LearnedAgent) else None


def shipped_model() -> Path:
    """The trained model that ships with carmind."""
    from importlib import resources

    return Path(
        str(resources.files("carmind.drive") / "data" / "models" / "default" / "policy.onnx")
    )


def load_agent(name_or_path: str | Path = "expert") -> Agent:
    """A driver by name (`idle`, `idm`, `expert`, `learned`, each optionally `+guard`) or by the
    path of an ONNX model (optionally followed by `+guard`)."""
    text = str(name_or_path)
    guarded = text.endswith("+guard")
    base = text.removesuffix("+guard")
    agent: Agent
    if base == "idle":
        agent = IdleAgent()
    elif base == "idm":
        agent = IdmAgent()
    elif base == "expert":
        agent = Expert()
    elif base == "learned":
        path = shipped_model()
        if not path.is_file():
            raise AgentError(f"the shipped model is missing at {path}: reinstall carmind")
        agent = LearnedAgent(path)
    elif base.endswith(".onnx") or Path(base).is_dir():
        path = Path(base)
        if path.is_dir():
            path = path / "policy.onnx"
        if not path.is_file():
            raise AgentError(
                f"no model at {path}: expected an ONNX file from `carmind drive train`"
            )
        agent = LearnedAgent(path)
    else:
        known = ", ".join(POLICIES)
        raise AgentError(
            f"unknown driver {text!r}: expected one of {known} or the path of an .onnx model"
        )
    return GuardedAgent(agent) if guarded else agent
