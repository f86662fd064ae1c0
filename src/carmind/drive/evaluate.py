"""Closed-loop evaluation of drivers side by side.

Every driver runs the same scenarios on the same seeds; the expert always runs too, because
progress is measured against it. `evaluate` returns an `EvalReport` with one row per driver
(and per driver and scenario), which the CLI prints as a table, writes as JSON and plots.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carmind.drive.agents import load_agent, rig_of
from carmind.drive.collect import plan_tasks, run_tasks
from carmind.drive.metrics import EpisodeResult
from carmind.drive.scenarios import HELD_OUT_SEEDS, STANDARD_HIGHWAY

METRICS = (
    ("at_fault_rate", "at-fault collisions", "{:.1%}"),
    ("collision_rate", "all collisions", "{:.1%}"),
    ("drivable_rate", "drivable area", "{:.1%}"),
    ("progress_ratio", "progress vs expert", "{:.1%}"),
    ("ttc_rate", "TTC ≥ 0.95 s", "{:.1%}"),
    ("comfort_rate", "comfortable", "{:.1%}"),
    ("score", "score (PDMS)", "{:.3f}"),
    ("mean_speed_kmh", "mean speed km/h", "{:.1f}"),
    ("interventions", "guard interventions / episode", "{:.2f}"),
)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a rate k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Row:
    policy: str
    scenario: str
    episodes: int
    at_fault: int
    collisions: int
    offroad: int
    progress_m: float
    expert_progress_m: float
    ttc_ok: int
    comfortable: int
    score: float
    mean_speed_kmh: float
    interventions: float

    @property
    def at_fault_rate(self) -> float:
        return self.at_fault / self.episodes

    def to_json(self) -> dict[str, Any]:
        lo, hi = wilson(self.at_fault, self.episodes)
        n = self.episodes
        return {
            "policy": self.policy,
            "scenario": self.scenario,
            "episodes": n,
            "at_fault": self.at_fault,
            "at_fault_rate": self.at_fault / n,
            "at_fault_rate_ci95": [lo, hi],
            "collisions": self.collisions,
            "collision_rate": self.collisions / n,
            "drivable_rate": 1 - self.offroad / n,
            "progress_m": self.progress_m,
            "progress_ratio": self.progress_m / self.expert_progress_m
            if self.expert_progress_m > 0
            else None,
            "ttc_rate": self.ttc_ok / n,
            "comfort_rate": self.comfortable / n,
            "score": self.score,
            "mean_speed_kmh": self.mean_speed_kmh,
            "interventions": self.interventions,
        }


@dataclass
class EvalReport:
    episodes: list[dict[str, Any]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    by_scenario: list[Row] = field(default_factory=list)
    seeds: tuple[int, int] = (0, 0)
    scenarios: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()

    @property
    def held_out(self) -> bool:
        lo, hi = self.seeds
        return lo in HELD_OUT_SEEDS and hi in HELD_OUT_SEEDS

    def row(self, policy: str) -> Row:
        for r in self.rows:
            if r.policy == policy:
                return r
        raise KeyError(policy)

    def to_json(self) -> dict[str, Any]:
        return {
            "seeds": list(self.seeds),
            "held_out": self.held_out,
            "scenarios": list(self.scenarios),
            "policies": [r.to_json() for r in self.rows],
            "by_scenario": [r.to_json() for r in self.by_scenario],
            "episodes": self.episodes,
        }


def _aggregate(policy: str, scenario: str, eps: list[dict[str, Any]]) -> Row:
    n = len(eps)
    progress = sum(e["progress_m"] for e in eps)
    expert = sum(e["expert_progress_m"] or 0.0 for e in eps)
    duration = sum(e["duration_s"] for e in eps)
    return Row(
        policy=policy,
        scenario=scenario,
        episodes=n,
        at_fault=sum(e["at_fault"] for e in eps),
        collisions=sum(e["collided"] for e in eps),
        offroad=sum(e["offroad"] for e in eps),
        progress_m=progress / n,
        expert_progress_m=expert / n,
        ttc_ok=sum(e["ttc_ok"] for e in eps),
        comfortable=sum(e["comfortable"] for e in eps),
        score=sum(e["score"] for e in eps) / n,
        mean_speed_kmh=3.6 * progress / duration if duration else 0.0,
        interventions=sum(sum(e["interventions"].values()) for e in eps) / n,
    )


def resolve_policy(name: str, model: Path | None) -> str:
    """`learned` means the shipped model unless `--model` names another."""
    if model is not None and name.removesuffix("+guard") == "learned":
        return str(model) + ("+guard" if name.endswith("+guard") else "")
    return name


def evaluate(
    policies: Sequence[str],
    *,
    scenarios: Sequence[str] = STANDARD_HIGHWAY,
    episodes: int = 20,
    seed: int = HELD_OUT_SEEDS.start,
    workers: int = 1,
    model: Path | None = None,
    ray_address: str | None = None,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> EvalReport:
    """Run each policy for `episodes` episodes (spread over `scenarios`) on seeds from `seed`."""
    names = list(dict.fromkeys(["expert", *policies]))
    tasks = []
    label: dict[str, str] = {}
    for name in names:
        resolved = resolve_policy(name, model)
        label[resolved] = name
        tasks += plan_tasks(scenarios, episodes, seed, resolved, rig=rig_of(load_agent(resolved)))
    results: list[dict[str, Any]] = []
    for done, (metrics, _) in enumerate(run_tasks(tasks, workers, ray_address), start=1):
        results.append(metrics)
        if progress is not None:
            progress(done, len(tasks), metrics)
    expert_progress = {
        (r["scenario"], r["seed"]): r["progress_m"] for r in results if r["policy"] == "expert"
    }
    by_policy: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        r["policy"] = label.get(r["policy"], r["policy"])
        r["expert_progress_m"] = expert_progress.get((r["scenario"], r["seed"]))
        episode = EpisodeResult.from_json(r)
        r["progress_ratio"] = episode.progress_ratio
        r["score"] = episode.score()
        by_policy[r["policy"]].append(r)
        by_pair[(r["policy"], r["scenario"])].append(r)
    report = EvalReport(
        episodes=sorted(results, key=lambda r: (r["policy"], r["scenario"], r["seed"])),
        seeds=(seed, seed + episodes - 1),
        scenarios=tuple(scenarios),
        policies=tuple(names),
    )
    report.rows = [_aggregate(p, "all", by_policy[p]) for p in names]
    report.by_scenario = [
        _aggregate(p, s, by_pair[(p, s)]) for p in names for s in scenarios if by_pair[(p, s)]
    ]
    return report


def plot(report: EvalReport, path: Path) -> Path:
    """The side-by-side table as a figure: one panel per metric, one bar per driver."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [m for m in METRICS if m[0] != "interventions"]
    fig, axes = plt.subplots(2, 4, figsize=(14, 6.5))
    policies = [r.policy for r in report.rows]
    colors = [plt.get_cmap("tab10")(i) for i in range(10)]
    for ax, (key, title, _) in zip(axes.flat, keys, strict=False):
        values = [r.to_json()[key] or 0.0 for r in report.rows]
        ax.bar(range(len(values)), values, color=[colors[i % 10] for i in range(len(values))])
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(values)), policies, rotation=30, ha="right", fontsize=8)
        if key.endswith("rate") or key in ("progress_ratio", "score"):
            ax.set_ylim(0, max(1.05, max(values, default=0) * 1.1))
    kind = "held-out" if report.held_out else "training"
    fig.suptitle(
        f"carmind closed-loop evaluation: {report.rows[0].episodes if report.rows else 0} "
        f"episodes per driver on {kind} seeds {report.seeds[0]}–{report.seeds[1]} "
        f"({', '.join(report.scenarios)})",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
