"""The expert driver: a planner with privileged access to the simulator's state.

It drives the way a professional does:
- longitudinally with the Intelligent Driver Model (Treiber et al. 2000) on a generous time gap,
  plus an emergency term when the gap falls below what Responsibility-Sensitive Safety allows;
- across lanes like MOBIL (Kesting et al. 2007): a lane change must pay (an acceleration gain)
  and must be safe for the car that will follow (bounded braking imposed on it, and an RSS gap
  both ways); it then holds the decision for a while rather than weaving;
- smoothly: acceleration and jerk are bounded, and the lateral target moves gently.
Its output is a `Plan` (acceleration and a lateral target), which the shared controller turns
into steering, so the learned driver can imitate exactly what the expert decides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from carmind.drive import world
from carmind.drive.control import follow, lateral_target
from carmind.drive.types import Action, EgoState, Plan, TrackedObject


@dataclass(frozen=True)
class ExpertParams:
    desired_speed: float = 30.0
    """m/s (108 km/h): highway-env's fastest lanes reward 30 m/s; slower traffic drives 20-25."""
    time_gap: float = 1.6
    """s, the IDM time headway: a little more than the 1.5 s of highway-env's traffic."""
    min_gap: float = 8.0
    """m bumper to bumper at standstill."""
    max_accel: float = 2.0
    """m/s² (ISO 15622 ACC limit above 20 m/s)."""
    comfort_brake: float = 2.5
    """m/s², IDM's comfortable deceleration b."""
    emergency_brake: float = 6.0
    """m/s², the most the car brakes when a gap collapses."""
    max_jerk: float = 4.0
    """m/s³ for comfort: inside nuPlan's 4.13 bound (ISO 15622 allows 2.5-5 by speed)."""
    lane_change_gain: float = 0.35
    """m/s² of acceleration a lane change must gain (MOBIL's Δa_th)."""
    keep_right_bias: float = 0.1
    """m/s²: the preference for the right lane when it is just as good (keep-right rule)."""
    max_imposed_braking: float = 1.5
    """m/s²: a lane change may not force the new follower to brake harder (MOBIL's b_safe)."""
    lane_change_hold: float = 3.0
    """s between two lane-change decisions."""
    max_lateral_accel: float = 1.5
    """m/s² while changing lanes (comfortable; ISO 11270 allows 3)."""
    response_time: float = 0.4
    """s: RSS ρ the expert assumes for itself when checking gaps (two control periods)."""
    lead_max_brake: float = 6.0
    """m/s²: the hardest a lead car may brake (highway-env's IDM clips at 6), for gap checks."""
    lead_brake: float = 3.5
    """m/s²: the firm braking of a lead car the ego must always be able to match."""
    acc_max_brake: float = 3.5
    """m/s²: the most the cruise control brakes in normal driving (ISO 15622's 3.5 average)."""
    curve_lateral_accel: float = 2.0
    """m/s²: the speed in a bend keeps lateral acceleration below this."""


def _ahead_behind(
    objects: Iterable[TrackedObject], y_center: float, half_lane: float
) -> tuple[TrackedObject | None, TrackedObject | None]:
    """The nearest object ahead and behind whose body reaches the corridor around `y_center`."""
    lead: TrackedObject | None = None
    rear: TrackedObject | None = None
    for o in objects:
        reach = half_lane + o.width / 2.0 - 0.3
        if abs(o.y - y_center) > reach:
            continue
        if o.x >= 0.0:
            if lead is None or o.x < lead.x:
                lead = o
        elif rear is None or o.x > rear.x:
            rear = o
    return lead, rear


class Expert:
    """The privileged planner. `reset(env)` binds it to an environment; `act` plans one step."""

    name = "expert"

    def __init__(self, params: ExpertParams | None = None) -> None:
        self.p = params or ExpertParams()
        self.env: object | None = None
        self.target_right: int | None = None
        """The lane the ego drives to, as its number of lanes to the right."""
        self._since_change = 1e9
        self._last_accel = 0.0
        self.last_plan = Plan(0.0, 0.0)

    def reset(self, env: object | None = None) -> None:
        if env is None:
            raise ValueError("the expert needs the environment: reset(env)")
        self.env = env
        self.target_right = None
        self._since_change = 1e9
        self._last_accel = 0.0

    # ----------------------------------------------------------------- longitudinal

    def _idm(self, ego: EgoState, lead: TrackedObject | None, v0: float) -> float:
        p = self.p
        v = ego.speed
        free = p.max_accel * (1.0 - (v / max(v0, 0.1)) ** 4)
        if lead is None:
            return free
        gap = max(lead.x - (ego.length + lead.length) / 2.0, 0.1)
        dv = v - lead.vx
        s_star = p.min_gap + max(
            0.0, v * p.time_gap + v * dv / (2.0 * math.sqrt(p.max_accel * p.comfort_brake))
        )
        return p.max_accel * (1.0 - (v / max(v0, 0.1)) ** 4 - (s_star / gap) ** 2)

    def rss_gap(self, v_rear: float, v_front: float) -> float:
        """RSS minimal longitudinal gap (m) for a rear car at `v_rear` behind one at `v_front`."""
        p = self.p
        rho = p.response_time
        v_after = v_rear + rho * p.max_accel
        d = v_rear * rho + 0.5 * p.max_accel * rho**2
        d += v_after**2 / (2.0 * p.comfort_brake * 1.6) - v_front**2 / (2.0 * p.lead_max_brake)
        return max(d, 0.0)

    def _emergency(self, ego: EgoState, lead: TrackedObject | None) -> float | None:
        """Braking beyond comfort, when comfortable braking would not stop the ego short of a
        lead that itself brakes firmly (`lead_brake`); None when comfort suffices."""
        if lead is None:
            return None
        p = self.p
        gap = lead.x - (ego.length + lead.length) / 2.0 - 2.0  # keep 2 m at a standstill
        v_lead = max(lead.vx, 0.0)
        room = gap - ego.speed * p.response_time + v_lead**2 / (2.0 * p.lead_brake)
        if room <= 0.5:
            return -p.emergency_brake
        need = ego.speed**2 / (2.0 * room)
        if need <= p.acc_max_brake:
            return None
        return -min(p.emergency_brake, need + 0.5)

    # ----------------------------------------------------------------- lateral

    def _lane_accel(
        self, ego: EgoState, objects: list[TrackedObject], lane: int, v0: float
    ) -> tuple[float, bool, float]:
        """(IDM acceleration in `lane`, whether moving there is safe, the follower's braking)."""
        p = self.p
        w = ego.lane_width
        center = lane * w - ego.lane_offset
        lead, rear = _ahead_behind(objects, center, w / 2.0)
        accel = self._idm(ego, lead, v0)
        safe = True
        imposed = 0.0
        if lead is not None:
            gap = lead.x - (ego.length + lead.length) / 2.0
            safe &= gap > self.rss_gap(ego.speed, lead.vx) + 5.0 and gap > 0.6 * ego.speed
        if rear is not None:
            gap = -rear.x - (ego.length + rear.length) / 2.0
            safe &= gap > self.rss_gap(rear.vx, ego.speed) + 5.0 and gap > 0.5 * rear.vx
            # the braking the rear car would need behind the ego (its own IDM)
            follower = EgoState(rear.vx, 0, 0, 0, 0, w, 0, 0, length=rear.length)
            virtual_lead = TrackedObject(-rear.x, 0.0, ego.speed, 0.0, ego.length, ego.width)
            imposed = -self._idm(follower, virtual_lead, 30.0)
            safe &= imposed < p.max_imposed_braking
        # a car alongside in the target lane blocks it
        for o in objects:
            if (
                abs(o.y - center) < w / 2.0 + o.width / 2.0
                and abs(o.x) < (ego.length + o.length) / 2.0 + 4.0
            ):
                safe = False
        return accel, safe, imposed

    def _desired_speed(self, env: object) -> float:
        core = env.core  # type: ignore[attr-defined]
        lane = core.vehicle.lane
        s, _ = lane.local_coordinates(core.vehicle.position)
        v0 = self.p.desired_speed
        limit = getattr(lane, "speed_limit", None)
        if limit:
            v0 = min(v0, float(limit))
        horizon = max(30.0, 3.0 * core.vehicle.speed)
        for ds in (0.0, horizon * 0.25, horizon * 0.5, horizon * 0.75, horizon):
            k = abs(world.lane_curvature(lane, s + ds))
            if k > 1e-4:
                v0 = min(v0, math.sqrt(self.p.curve_lateral_accel / k))
        return v0

    # ----------------------------------------------------------------- the plan

    def plan(self, ego: EgoState, objects: list[TrackedObject], v0: float, dt: float) -> Plan:
        p = self.p
        w = ego.lane_width
        self._since_change += dt
        # the target lane is kept as its count of lanes to the right, which does not change
        # when the ego crosses a lane line (its own lane does)
        if self.target_right is None:
            self.target_right = ego.lanes_right
        target = self.target_right - ego.lanes_right  # lanes to the left (+) or right (-)
        target_center = target * w - ego.lane_offset
        changing = abs(target_center) > 0.6
        if not changing and self._since_change > p.lane_change_hold:
            here, _, _ = self._lane_accel(ego, objects, 0, v0)
            best, best_gain = 0, 0.0
            for lane, allowed in ((1, ego.lanes_left > 0), (-1, ego.lanes_right > 0)):
                if not allowed:
                    continue
                accel, safe, imposed = self._lane_accel(ego, objects, lane, v0)
                gain = (
                    accel
                    - here
                    - 0.2 * imposed
                    + (p.keep_right_bias if lane < 0 else -p.keep_right_bias)
                )
                if safe and gain > p.lane_change_gain and gain > best_gain:
                    best, best_gain = lane, gain
            if best != 0:
                self.target_right = ego.lanes_right + best
                target = best
                target_center = target * w - ego.lane_offset
                self._since_change = 0.0
        elif changing:
            _, safe, _ = self._lane_accel(ego, objects, target, v0)
            if not safe and abs(ego.lane_offset) < w / 2.0 - 0.8:
                # not yet committed and the gap closed: back to the own lane
                self.target_right = ego.lanes_right
                target = 0
                target_center = -ego.lane_offset
        # longitudinal: follow the leader in the own lane and, while changing, the target lane's
        lead, _ = _ahead_behind(objects, -ego.lane_offset, w / 2.0)
        accel = self._idm(ego, lead, v0)
        emergency = self._emergency(ego, lead)
        # cut-ins: a car in a neighbouring lane moving into the ego's corridor within a second
        for o in objects:
            if o.x <= 0 or abs(o.y) < w / 2.0 + o.width / 2.0 - 0.3:
                continue
            future_y = o.y + o.vy * 1.0
            if abs(future_y) < w / 2.0 + o.width / 2.0 - 0.3 and o.vy * o.y < 0:
                accel = min(accel, self._idm(ego, o, v0))
                e = self._emergency(ego, o)
                if e is not None:
                    emergency = e if emergency is None else min(emergency, e)
        if target != 0:
            tlead, _ = _ahead_behind(objects, target_center, w / 2.0)
            accel = min(accel, self._idm(ego, tlead, v0))
            e = self._emergency(ego, tlead)
            if e is not None:
                emergency = e if emergency is None else min(emergency, e)
        accel = max(-p.acc_max_brake, min(p.max_accel, accel))
        jerk_step = p.max_jerk * dt
        if emergency is not None:
            accel = min(accel, emergency)
        else:
            accel = max(self._last_accel - jerk_step, min(self._last_accel + jerk_step, accel))
        self._last_accel = accel
        # lateral: move toward the target centre no faster than the lateral-acceleration bound
        lane = max(-1, min(1, target))
        self.last_plan = Plan(accel, lateral_target(lane, ego, p.max_lateral_accel), lane)
        return self.last_plan

    def act(self, observation: object = None) -> Action:
        if self.env is None:
            raise ValueError("the expert needs the environment: reset(env)")
        env = self.env
        ego = env.ego()  # type: ignore[attr-defined]
        objects = env.objects(noisy=False)  # type: ignore[attr-defined]
        plan = self.plan(ego, objects, self._desired_speed(env), env.dt)  # type: ignore[attr-defined]
        return follow(plan, ego)
