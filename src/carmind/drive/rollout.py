"""One episode, closed loop: the shared loop of collection, DAgger and evaluation.

`episode_task` is what a worker process (or a Ray task) runs: it builds the environment and
the drivers once per process and reuses them for every episode it is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from carmind.drive.agents import Agent, GuardedAgent, load_agent
from carmind.drive.dataset import Episode
from carmind.drive.env import DriveEnv, make_env
from carmind.drive.expert import Expert
from carmind.drive.metrics import EpisodeRecorder, EpisodeResult

MAX_STEPS = 1000
"""A hard stop for an episode whose scenario never ends (a stopped ego in merge, say)."""


def run_episode(
    env: DriveEnv,
    agent: Agent,
    seed: int,
    *,
    record: Episode | None = None,
    expert: Expert | None = None,
    beta: float = 0.0,
) -> EpisodeResult:
    """Drive one episode with `agent`; with `expert`, label every state with its plan and,
    with probability `beta` per step, apply the expert's action instead (DAgger's mixture)."""
    observation, info = env.reset(seed=seed)
    agent.reset(env)
    if expert is not None and expert is not agent:
        expert.reset(env)
    mix = np.random.default_rng(seed + 7_919)
    recorder = EpisodeRecorder(agent.name, env.spec_.name, seed, env.dt)
    for _ in range(MAX_STEPS):
        action = agent.act(observation)
        if expert is not None:
            expert_action = action if expert is agent else expert.act(observation)
            if record is not None:
                plan = expert.last_plan
                record.add(
                    observation,
                    plan.acceleration,
                    plan.lane,
                    (action.acceleration, action.steering),
                )
            if expert is not agent and beta > 0 and mix.random() < beta:
                action = expert_action
        observation, _, terminated, truncated, info = env.step(action)
        recorder.step(info, env.objects(noisy=False))
        if terminated or truncated:
            break
    result = recorder.finish()
    if isinstance(agent, GuardedAgent):
        result.interventions = dict(agent.guard.counts)
    if record is not None:
        record.summary = {
            "collided": result.collided,
            "at_fault": result.at_fault,
            "progress_m": round(result.progress_m, 1),
        }
    return result


@dataclass(frozen=True)
class Task:
    """One episode for a worker: which driver, scenario and seed, and what to record."""

    policy: str
    scenario: str
    seed: int
    rig: str | None = "default"
    record: bool = False
    beta: float = 0.0
    """With a learned policy and `record`, DAgger: the expert labels, the mixture drives."""


_ENVS: dict[tuple[str, str | None], DriveEnv] = {}
_AGENTS: dict[str, Agent] = {}


def _limit_threads() -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def episode_task(task: Task) -> tuple[dict[str, Any], Episode | None]:
    """Run one task in this process; returns the episode's metrics and, if asked, its data."""
    _limit_threads()
    key = (task.scenario, task.rig)
    env = _ENVS.get(key)
    if env is None:
        env = _ENVS[key] = make_env(task.scenario, rig=task.rig)
    agent = _AGENTS.get(task.policy)
    if agent is None:
        agent = _AGENTS[task.policy] = load_agent(task.policy)
    expert: Expert | None = None
    if task.record:
        expert = agent if isinstance(agent, Expert) else _AGENTS.setdefault("__expert__", Expert())  # type: ignore[assignment]
    episode = (
        Episode(
            task.scenario,
            task.seed,
            "expert" if isinstance(agent, Expert) else f"dagger:{Path(task.policy).name}",
        )
        if task.record
        else None
    )
    result = run_episode(env, agent, task.seed, record=episode, expert=expert, beta=task.beta)
    metrics = result.to_json()
    metrics["policy"] = task.policy  # as asked for: a model's path, not just "learned"
    return metrics, episode
