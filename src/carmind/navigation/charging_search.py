"""The exact charging-stop search: the fastest way through the chargers along a route.

`solve` is a label-setting search over (stop, departure state of charge) on a grid of
`soc_step_pct`, plus the states that exactly cover each outgoing leg (`departure_candidates`),
minimising driving + detour + charging time subject to never being below the reserve on any leg
or at any stop. It knows nothing of maps or routers: `carmind.navigation.trip` builds the
`SearchProblem` (nodes, legs and charging tables) and turns the `Solution` into a plan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from carmind.navigation.consumption import ChargeTable

__all__ = [
    "DEFAULT_SOC_STEP_PCT",
    "DEFAULT_STOP_OVERHEAD_S",
    "Leg",
    "SearchProblem",
    "Solution",
    "departure_candidates",
    "reachable_nodes",
    "solve",
]

DEFAULT_STOP_OVERHEAD_S: Final = 300.0
"""Time a stop costs beyond charging: leaving the road, parking, plugging in and paying."""
DEFAULT_SOC_STEP_PCT: Final = 1.0
_EPS: Final = 1e-9


@dataclass(frozen=True)
class Leg:
    """Driving between two nodes of the search."""

    distance_m: float
    duration_s: float
    energy_kwh: float
    peak_kwh: float
    """The most drawn at any point of the leg (the lowest state of charge is there)."""


@dataclass(frozen=True)
class SearchProblem:
    """Nodes 0 (origin) .. n-1 (destination); chargers between, in route order."""

    capacity_kwh: float
    start_soc_pct: float
    reserve_pct: float
    legs: Mapping[tuple[int, int], Leg]
    """Only forward legs (i < j)."""
    charge: Sequence[ChargeTable | None]
    """Per node: its charger, None for the origin and the destination."""
    stop_overhead_s: float = DEFAULT_STOP_OVERHEAD_S
    soc_step_pct: float = DEFAULT_SOC_STEP_PCT

    @property
    def size(self) -> int:
        return len(self.charge)

    def pct(self, kwh: float) -> float:
        return kwh / self.capacity_kwh * 100.0


@dataclass(frozen=True)
class Solution:
    """The fastest plan: its nodes and the state of charge on arriving at and leaving each."""

    total_s: float
    nodes: tuple[int, ...]
    arrival_soc: tuple[float, ...]
    departure_soc: tuple[float, ...]
    charge_s: tuple[float, ...]


def departure_candidates(problem: SearchProblem, node: int) -> list[float]:
    """States of charge the car may leave charger `node` with: the grid above the reserve up to
    what the charger reaches, and exactly what each leg out of `node` needs."""
    table = problem.charge[node]
    if table is None:
        return []
    top = table.reachable_soc()
    step = problem.soc_step_pct
    values = {round(k * step, 9) for k in range(int(100.0 / step) + 1)}
    values.add(top)
    for (i, _), leg in problem.legs.items():
        if i == node:
            values.add(problem.reserve_pct + problem.pct(max(leg.peak_kwh, 0.0)))
    return sorted(v for v in values if problem.reserve_pct < v <= top + _EPS)


@dataclass
class _Label:
    soc: float
    time_s: float
    prev_node: int
    prev_label: int
    arrival_soc: float


def _arrive(problem: SearchProblem, leg: Leg, soc: float) -> float | None:
    """State of charge at the leg's end leaving with `soc`; None when it dips below the reserve."""
    if soc - problem.pct(leg.peak_kwh) < problem.reserve_pct - _EPS:
        return None
    return min(100.0, soc - problem.pct(leg.energy_kwh))


def solve(problem: SearchProblem) -> Solution | None:
    """The fastest feasible plan, or None. Exact over `departure_candidates`.

    Nodes are in route order, so the search is one sweep in node order. For a charger `j`, the
    best time to leave with `d` is `F(d) + min(T + t_ij - F(a))` over the labels that arrive with
    `a < d`, `F` the cumulative charging time: a prefix minimum over arrivals sorted by `a`.
    """
    n = problem.size
    if n < 2:
        return None
    labels: list[list[_Label]] = [[] for _ in range(n)]
    labels[0] = [_Label(problem.start_soc_pct, 0.0, -1, -1, problem.start_soc_pct)]
    incoming: list[list[tuple[int, Leg]]] = [[] for _ in range(n)]
    for (i, j), leg in problem.legs.items():
        if not 0 <= i < j < n:
            raise ValueError(f"leg {i}->{j} is not a forward leg of {n} nodes")
        incoming[j].append((i, leg))
    best_end: tuple[float, int, int, float] | None = None
    for j in range(1, n):
        # every way of arriving at j: (arrival soc, time so far incl. the leg, from node, label)
        arrivals: list[tuple[float, float, int, int]] = []
        for i, leg in incoming[j]:
            for index, label in enumerate(labels[i]):
                a = _arrive(problem, leg, label.soc)
                if a is not None:
                    arrivals.append((a, label.time_s + leg.duration_s, i, index))
        if not arrivals:
            continue
        if j == n - 1:
            for a, t, i, index in arrivals:
                if best_end is None or t < best_end[0]:
                    best_end = (t, i, index, a)
            continue
        table = problem.charge[j]
        assert table is not None
        arrivals.sort()
        found: list[_Label] = []
        best_v = math.inf
        best_arrival: tuple[float, float, int, int] | None = None
        k = 0
        for d in departure_candidates(problem, j):
            while k < len(arrivals) and arrivals[k][0] < d - _EPS:
                a, t, i, index = arrivals[k]
                v = t - table.cumulative_s(a)
                if v < best_v:
                    best_v, best_arrival = v, arrivals[k]
                k += 1
            if best_arrival is None:
                continue
            total = best_v + table.cumulative_s(d) + problem.stop_overhead_s
            if math.isfinite(total):
                a, _, i, index = best_arrival
                found.append(_Label(d, total, i, index, a))
        # keep the Pareto front: leaving with more charge must save time later to be worth it
        front: list[_Label] = []
        for label in sorted(found, key=lambda lb: (-lb.soc, lb.time_s)):
            if not front or label.time_s < front[-1].time_s - _EPS:
                front.append(label)
        labels[j] = front[::-1]
    if best_end is None:
        return None
    total, node, index, arrival = best_end
    nodes = [n - 1]
    arrivals_out = [arrival]
    departures = [arrival]
    charges = [0.0]
    while node >= 0:
        label = labels[node][index]
        nodes.append(node)
        arrivals_out.append(label.arrival_soc)
        departures.append(label.soc)
        table = problem.charge[node]
        charges.append(0.0 if table is None else table.seconds(label.arrival_soc, label.soc))
        node, index = label.prev_node, label.prev_label
    return Solution(
        total_s=total,
        nodes=tuple(reversed(nodes)),
        arrival_soc=tuple(reversed(arrivals_out)),
        departure_soc=tuple(reversed(departures)),
        charge_s=tuple(reversed(charges)),
    )


def reachable_nodes(problem: SearchProblem) -> set[int]:
    """Nodes the car can reach at all, charging fully wherever it stops (for error messages)."""
    best: dict[int, float] = {0: problem.start_soc_pct}
    for j in range(1, problem.size):
        for (i, k), leg in problem.legs.items():
            if k != j or i not in best:
                continue
            a = _arrive(problem, leg, best[i])
            if a is None:
                continue
            table = problem.charge[j]
            leave = max(a, table.reachable_soc()) if table is not None else a
            best[j] = max(best.get(j, -1.0), leave)
    return set(best)
