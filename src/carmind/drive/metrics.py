"""Closed-loop driving metrics in the manner of nuPlan and NAVSIM.

One `EpisodeRecorder` follows an episode step by step; `EpisodeResult` is what it found. The
combined score is NAVSIM's PDM score (Dauner et al. 2024) without its driving-direction term:

    score = NC × DAC × (5·EP + 5·TTC + 2·C) / 12

with NC the no-at-fault-collision multiplier (0 for another road user, 0.5 for a static
object), DAC drivable-area compliance, EP progress relative to the expert on the same seed
(capped at 1), TTC 1 when time-to-collision never fell below its bound, and C comfort.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from carmind.drive.env import Collision
from carmind.drive.types import EgoState, TrackedObject

# nuPlan's closed-loop thresholds (nuplan-devkit, planning/metrics/evaluation_metrics).
TTC_BOUND_S = 0.95
"""time_to_collision_within_bound: least acceptable time to collision."""
COMFORT_LON_ACCEL = (-4.05, 2.40)
"""ego_is_comfortable: m/s² longitudinal acceleration bounds."""
COMFORT_LAT_ACCEL = 4.89
"""m/s², |lateral acceleration|."""
COMFORT_LON_JERK = 4.13
"""m/s³, |longitudinal jerk|."""
COMFORT_YAW_RATE = 0.95
"""rad/s."""

COMFORT_WARMUP_S = 1.0
"""Comfort is judged from this time on: highway-env spawns the ego at 25 m/s, sometimes close
behind slower cars, and the first second's braking is the spawn's, not the driver's."""

WEIGHTS = {"progress": 5.0, "ttc": 5.0, "comfort": 2.0}
"""NAVSIM's PDM-score weights of the averaged terms."""


def time_to_collision(ego: EgoState, objects: list[TrackedObject]) -> float:
    """Seconds until the ego reaches the nearest object ahead in its corridor (inf if never)."""
    best = math.inf
    for o in objects:
        if o.x <= 0 or abs(o.y) > (ego.width + o.width) / 2.0:
            continue
        gap = o.x - (ego.length + o.length) / 2.0
        closing = ego.speed - o.vx
        if gap <= 0:
            return 0.0
        if closing > 0:
            best = min(best, gap / closing)
    return best


@dataclass
class EpisodeResult:
    policy: str
    scenario: str
    seed: int
    steps: int = 0
    duration_s: float = 0.0
    progress_m: float = 0.0
    collided: bool = False
    at_fault: bool = False
    collision_kind: str = ""
    offroad: bool = False
    min_ttc_s: float = math.inf
    ttc_ok: bool = True
    comfortable: bool = True
    max_accel: float = 0.0
    min_accel: float = 0.0
    max_jerk: float = 0.0
    max_lat_accel: float = 0.0
    mean_speed: float = 0.0
    interventions: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    expert_progress_m: float | None = None

    @property
    def progress_ratio(self) -> float | None:
        if self.expert_progress_m is None or self.expert_progress_m <= 0:
            return None
        return self.progress_m / self.expert_progress_m

    def score(self) -> float:
        nc = 1.0
        if self.at_fault:
            nc = 0.5 if self.collision_kind == "object" else 0.0
        dac = 0.0 if self.offroad else 1.0
        ratio = self.progress_ratio
        ep = 1.0 if ratio is None else max(0.0, min(1.0, ratio))
        weighted = (
            WEIGHTS["progress"] * ep
            + WEIGHTS["ttc"] * float(self.ttc_ok)
            + WEIGHTS["comfort"] * float(self.comfortable)
        ) / sum(WEIGHTS.values())
        return nc * dac * weighted

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EpisodeResult:
        """An episode back from `to_json` (derived entries ignored)."""
        known = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in known}
        if values.get("min_ttc_s") is None:
            values["min_ttc_s"] = math.inf
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["min_ttc_s"] = None if math.isinf(self.min_ttc_s) else round(self.min_ttc_s, 3)
        d["progress_ratio"] = self.progress_ratio
        d["score"] = self.score()
        return d


class EpisodeRecorder:
    """Accumulates one episode's metrics from the environment's per-step info."""

    def __init__(self, policy: str, scenario: str, seed: int, dt: float) -> None:
        self.result = EpisodeResult(policy, scenario, seed)
        self.dt = dt
        self._speed: float | None = None
        self._accel: float | None = None
        self._heading: float | None = None

    def step(self, info: dict[str, Any], objects: list[TrackedObject]) -> None:
        r = self.result
        ego: EgoState = info["ego"]
        r.steps += 1
        r.duration_s += self.dt
        r.progress_m += ego.speed * self.dt
        if self._speed is not None:
            accel = (ego.speed - self._speed) / self.dt
            r.max_accel = max(r.max_accel, accel)
            r.min_accel = min(r.min_accel, accel)
            if self._accel is not None:
                r.max_jerk = max(r.max_jerk, abs(accel - self._accel) / self.dt)
            self._accel = accel
        if self._heading is not None:
            yaw = (info["heading"] - self._heading + math.pi) % (2 * math.pi) - math.pi
            yaw_rate = yaw / self.dt
            r.max_lat_accel = max(r.max_lat_accel, abs(yaw_rate * ego.speed))
            if abs(yaw_rate) > COMFORT_YAW_RATE:
                r.comfortable = False
        self._speed, self._heading = ego.speed, info["heading"]
        if r.duration_s <= COMFORT_WARMUP_S + 1e-9:
            r.max_accel = r.min_accel = r.max_jerk = r.max_lat_accel = 0.0
            r.comfortable = True
        ttc = time_to_collision(ego, objects)
        r.min_ttc_s = min(r.min_ttc_s, ttc)
        if ttc < TTC_BOUND_S:
            r.ttc_ok = False
        collision: Collision | None = info["collision"]
        if collision is not None and not r.collided:
            r.collided = True
            r.at_fault = collision.at_fault
            r.collision_kind = collision.kind
        if not info["on_road"]:
            r.offroad = True

    def finish(self) -> EpisodeResult:
        r = self.result
        lo, hi = COMFORT_LON_ACCEL
        if (
            r.min_accel < lo
            or r.max_accel > hi
            or r.max_jerk > COMFORT_LON_JERK
            or r.max_lat_accel > COMFORT_LAT_ACCEL
        ):
            r.comfortable = False
        r.mean_speed = r.progress_m / r.duration_s if r.duration_s else 0.0
        return r
