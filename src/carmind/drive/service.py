"""Assisted driving on the signal hub: the service `carmind run` starts beside the car.

It drives a highway-env scenario (its own simulated highway, separate from the simulated EV's
physics) at 5 Hz. Each tick a simulated driver produces the driver's inputs (eyes, hands,
pedals), the engagement state machine (`carmind.drive.assist.DriveAssist`) updates, and then:

- while engaged (ENGAGED, TAKEOVER) the driving policy drives, its acceleration capped by the
  set speed and, during a takeover request, by the state machine's gentle deceleration;
- otherwise (OFF, READY, UNAVAILABLE, OVERRIDE, LOCKOUT) the human drives, modelled by the
  Intelligent Driver Model (`load_agent("idm")`).

An episode that ends, or ends in a collision, is followed by the next seed's. Everything is
published under `Vehicle.Carmind.Drive.*`, with the driver monitor on the VSS signals that no
other provider on the hub claims (`Vehicle.Driver.*`, `Vehicle.ADAS.DMS.IsWarning`,
`Vehicle.ADAS.ActiveAutonomyLevel`). `Engage` and `SetSpeed` are the driver's controls.

For the demo, the simulated driver engages by itself (at `DRIVER_SET_SPEED_KMH`, or the
SetSpeed asked for) once the system has been READY for `AUTO_ENGAGE_AFTER_S`, until a driver on
the hub uses `Engage`: from then on only the hub's driver engages (and cancels).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from carmind.drive.agents import Agent, GuardedAgent, load_agent, rig_of, shipped_model
from carmind.drive.assist import (
    KMH,
    AssistParams,
    AssistState,
    DriveAssist,
    DriverInputs,
    SimulatedDriver,
    Status,
)
from carmind.drive.env import DriveEnv, make_env
from carmind.drive.scenarios import TRAIN_SEEDS, scenario
from carmind.drive.types import Action, EgoState, TrackedObject
from carmind.errors import CarmindError
from carmind.signals.broker import Client, ProviderHandle
from carmind.signals.catalog import Value

log = logging.getLogger(__name__)

DRIVE: Final = "Vehicle.Carmind.Drive."
ENGAGE: Final = DRIVE + "Engage"
SET_SPEED: Final = DRIVE + "SetSpeed"
SENSORS: Final = (
    "Status",
    "Speed",
    "Gap",
    "TimeGap",
    "Alert",
    "AlertText",
    "TakeoverRequest",
    "Interventions",
    "LastIntervention",
    "Collisions",
    "Episode",
)
ATTRIBUTES: Final = ("Policy", "Scenario")

DMS_WARNING: Final = "Vehicle.ADAS.DMS.IsWarning"
EYES_ON_ROAD: Final = "Vehicle.Driver.IsEyesOnRoad"
HANDS_ON_WHEEL: Final = "Vehicle.Driver.IsHandsOnWheel"
ATTENTIVE: Final = "Vehicle.Driver.AttentiveProbability"
AUTONOMY_LEVEL: Final = "Vehicle.ADAS.ActiveAutonomyLevel"
SHARED_VSS: Final = (DMS_WARNING, EYES_ON_ROAD, HANDS_ON_WHEEL, ATTENTIVE, AUTONOMY_LEVEL)
"""Standard VSS signals the service publishes only where no other provider (the simulated car
provides `ActiveAutonomyLevel` from its cruise control, say) has claimed them."""

DEFAULT_POLICY: Final = "learned+guard"
FALLBACK_POLICY: Final = "expert+guard"
"""What drives when the default policy is asked for and the shipped model is not installed."""
HUMAN_POLICY: Final = "idm"
"""The simulated human's driving while the system is not engaged: adaptive cruise and lane
keeping (IDM), no lane changes."""

TICK_S: Final = 0.2
"""Real seconds per tick: the scenarios' 5 Hz policy rate (`env.dt`)."""
AUTO_ENGAGE_AFTER_S: Final = 1.0
"""The simulated driver engages after the system has been READY this long (simulated s)."""
DRIVER_SET_SPEED_KMH: Final = 110.0
"""The cruise speed the simulated driver engages with when no SetSpeed was asked for: a
motorway's usual limit, near the expert's 108 km/h."""
SET_SPEED_GAIN: Final = 0.5
"""1/s: the set speed caps acceleration at this gain times the speed error..."""
SET_SPEED_DECEL: Final = 1.5
"""m/s²: ...but never asks for more braking than this (a comfortable ACC deceleration; the
policy and the guard brake harder on their own when traffic needs it)."""
SET_SPEED_RANGE_KMH: Final = (60.0, 135.0)
"""The set speeds the driver may choose (km/h): the assist's engage range."""


@dataclass(frozen=True, slots=True)
class _Decision:
    """What the tick decided on the event loop, for the step that runs in a worker thread."""

    engaged: bool
    max_acceleration: float | None
    set_speed: float | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one step of the highway world did."""

    ego: EgoState
    on_road: bool
    objects: list[TrackedObject]
    interventions: tuple[str, ...]
    collision: str | None
    restarted: bool


def lead_gap(ego: EgoState, objects: list[TrackedObject]) -> float | None:
    """Bumper-to-bumper distance (m) to the nearest vehicle ahead in the ego's lane, if any."""
    half_lane = ego.lane_width / 2.0
    gaps = [
        o.x - (ego.length + o.length) / 2.0 for o in objects if o.x > 0 and abs(o.y) < half_lane
    ]
    return max(0.0, min(gaps)) if gaps else None


class DriveService:
    """Assisted driving for one simulated highway on one hub."""

    def __init__(
        self,
        client: Client,
        *,
        scenario: str = "highway",
        policy: str = DEFAULT_POLICY,
        seed: int | None = None,
        distracted_driver: bool = False,
        clock: Callable[[], float] = time.time,
        auto_engage: bool = True,
        assist_params: AssistParams | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.scenario = _scenario_name(scenario)
        self.policy = _resolve_policy(policy)
        self.agent: Agent = load_agent(self.policy)
        self.human: Agent = load_agent(HUMAN_POLICY)
        self.seed = seed if seed is not None else random.randrange(TRAIN_SEEDS.stop // 2)
        # The privileged drivers read the simulator; only the network needs the sensor rig.
        self.env: DriveEnv = make_env(self.scenario, rig=rig_of(self.agent))
        self.driver = SimulatedDriver(self.seed, distracted=distracted_driver)
        self.assist = DriveAssist(assist_params)
        self.auto_engage = auto_engage
        self.episode = 0
        self.collisions = 0
        self.interventions = 0
        self.last_intervention = ""
        self.ticks = 0
        self.state: AssistState = self.assist.state
        self.inputs = DriverInputs(True, True, 0.0, False, False)
        self._obs: Mapping[str, np.ndarray] = {}
        self._ego: EgoState = _placeholder_ego()  # until the first episode starts, below
        self._on_road = False
        self._objects: list[TrackedObject] = []
        self._requested_kmh: float | None = None
        self._ready_s = 0.0
        self._handle: ProviderHandle | None = None
        self._shared: tuple[str, ...] = ()
        self._stop = asyncio.Event()
        self._new_episode()

    # ---------------------------------------------------------------- hub wiring

    def attach(self) -> None:
        """Claim the drive signals, and the shared VSS ones no other provider has."""
        broker = self.client.broker
        self._shared = tuple(p for p in SHARED_VSS if broker.provider_of(p) is None)
        taken = [p for p in SHARED_VSS if p not in self._shared]
        if taken:
            log.info("left to their providers: %s", ", ".join(taken))
        paths = [
            *(DRIVE + s for s in (*SENSORS, *ATTRIBUTES)),
            ENGAGE,
            SET_SPEED,
            *self._shared,
        ]
        self._handle = self.client.provide(paths, actuator=self)
        self._publish({DRIVE + "Policy": self.agent.name, DRIVE + "Scenario": self.scenario})
        self._publish_state()

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @property
    def shared_signals(self) -> tuple[str, ...]:
        """The standard VSS signals this service provides (those nobody else did)."""
        return self._shared

    def _publish(self, values: Mapping[str, object]) -> None:
        if self._handle is not None:
            self._handle.publish_many(values, self.clock())

    def check_actuation(self, values: Mapping[str, Value]) -> Mapping[str, str]:
        refusals: dict[str, str] = {}
        kmh = values.get(SET_SPEED)
        if kmh is not None:
            low, high = SET_SPEED_RANGE_KMH
            if isinstance(kmh, bool) or not isinstance(kmh, int | float):
                refusals[SET_SPEED] = f"expected a speed in km/h, got {kmh!r}"
            elif not (math.isfinite(kmh) and low <= kmh <= high):
                refusals[SET_SPEED] = f"set speed {kmh} km/h is outside {low:g}–{high:g} km/h"
        if values.get(ENGAGE) is True and not refusals:
            reason = self.assist.refusal(self._set_speed_mps(values))
            if reason is not None:
                refusals[ENGAGE] = reason
        return refusals

    def actuate(self, values: Mapping[str, Value]) -> None:
        kmh = values.get(SET_SPEED)
        if isinstance(kmh, int | float) and not isinstance(kmh, bool):
            self._requested_kmh = float(kmh)
            if self.assist.state.status in (Status.ENGAGED, Status.OVERRIDE):
                self.assist.request_engage(float(kmh) * KMH)  # a new set speed while engaged
        engage = values.get(ENGAGE)
        if engage is not None:
            self.auto_engage = False  # a driver on the hub has taken charge
        if engage is True:
            reason = self.assist.request_engage(self._set_speed_mps(values))
            if reason is not None:  # it changed since the check: nothing to do but say so
                log.info("engage refused: %s", reason)
        elif engage is False:
            self.assist.request_cancel()
        self.state = self.assist.state
        self._publish_state()

    def _set_speed_mps(self, values: Mapping[str, Value]) -> float | None:
        kmh = values.get(SET_SPEED, self._requested_kmh)
        if isinstance(kmh, int | float) and not isinstance(kmh, bool):
            return float(kmh) * KMH
        return None

    # ---------------------------------------------------------------- one tick

    def tick(self) -> None:
        """One 0.2 s step of the highway world, all on the calling thread (tests call this)."""
        self._apply(self._step(self._decide()))

    def _decide(self) -> _Decision:
        """The driver's inputs and the assist's update: what drives this step."""
        dt = self.env.dt
        self.inputs = self.driver.step(dt, self.state)
        lanes = self._on_road and self._ego.lane_width > 0.0
        state = self.assist.update(dt, self.inputs, self._ego.speed, lanes)
        if state.status == Status.READY:
            self._ready_s += dt
            if self.auto_engage and self._ready_s >= AUTO_ENGAGE_AFTER_S - 1e-9:
                kmh = self._requested_kmh or DRIVER_SET_SPEED_KMH
                reason = self.assist.request_engage(kmh * KMH)
                if reason is None:
                    log.info("the simulated driver engaged assisted driving")
                state = self.assist.state
        else:
            self._ready_s = 0.0
        self.state = state
        return _Decision(state.engaged, state.max_acceleration, state.set_speed)

    def _step(self, decision: _Decision) -> _Outcome:
        """Drive one step (the heavy part: `run` calls it in a worker thread)."""
        interventions: tuple[str, ...] = ()
        if decision.engaged:
            action = self.agent.act(self._obs)
            if isinstance(self.agent, GuardedAgent) and self.agent.last is not None:
                interventions = tuple(
                    f"{i.kind}: {i.reason}" for i in self.agent.last.interventions
                )
            action = _capped(action, self._ego.speed, decision)
        else:
            action = self.human.act(self._obs)
        obs, _, terminated, truncated, info = self.env.step(action)
        collision = info["collision"]
        crash = None if collision is None else f"{collision.kind} (at fault: {collision.at_fault})"
        ego: EgoState = info["ego"]
        on_road = bool(info["on_road"])
        objects = self.env.objects()
        self._obs = obs
        restarted = crash is not None or terminated or truncated
        if restarted:
            self.seed += 1
            self._new_episode()
        else:
            self._ego, self._on_road, self._objects = ego, on_road, objects
        return _Outcome(ego, on_road, objects, interventions, crash, restarted)

    def _new_episode(self) -> None:
        """Reset the world with the current seed; both drivers start afresh on it."""
        obs, info = self.env.reset(seed=self.seed)
        self.agent.reset(self.env)
        self.human.reset(self.env)
        self._obs = obs
        self._ego = info["ego"]
        self._on_road = bool(info["on_road"])
        self._objects = self.env.objects()
        self.episode += 1

    def _apply(self, outcome: _Outcome) -> None:
        """Count what happened and publish it (on the event loop)."""
        self.ticks += 1
        if outcome.interventions:
            self.interventions += len(outcome.interventions)
            self.last_intervention = outcome.interventions[-1]
        if outcome.collision is not None:
            self.collisions += 1
            log.warning(
                "collision in episode %d (%s, policy %s, %s): %s",
                self.episode - 1,
                self.scenario,
                self.agent.name,
                "engaged" if self.state.engaged else "the human driving",
                outcome.collision,
            )
            self.assist.request_cancel()
            self.state = self.assist.state
        elif outcome.restarted:
            log.info("episode %d ended; episode %d starts", self.episode - 1, self.episode)
        self._publish_state(outcome.ego if not outcome.restarted else None)

    # ---------------------------------------------------------------- publishing

    def _publish_state(self, ego: EgoState | None = None) -> None:
        if self._handle is None:
            return
        ego = ego if ego is not None else self._ego
        state = self.state
        gap = lead_gap(ego, self._objects) or 0.0
        active = state.status in (Status.ENGAGED, Status.OVERRIDE, Status.TAKEOVER)
        values: dict[str, object] = {
            DRIVE + "Status": state.status.value.upper(),
            DRIVE + "Speed": round(ego.speed / KMH, 1),
            DRIVE + "Gap": round(gap, 1),
            DRIVE + "TimeGap": round(gap / ego.speed, 2) if gap > 0 and ego.speed > 0.5 else 0.0,
            DRIVE + "Alert": state.alert,
            DRIVE + "AlertText": state.alert_text,
            DRIVE + "TakeoverRequest": state.takeover_request,
            DRIVE + "Interventions": self.interventions,
            DRIVE + "LastIntervention": self.last_intervention,
            DRIVE + "Collisions": self.collisions,
            DRIVE + "Episode": self.episode,
            ENGAGE: active,
        }
        set_kmh = state.set_speed / KMH if state.set_speed is not None else self._requested_kmh
        if set_kmh is not None:
            low, high = SET_SPEED_RANGE_KMH
            values[SET_SPEED] = round(min(max(set_kmh, low), high), 1)
        monitor = self.assist.monitor
        shared: dict[str, object] = {
            DMS_WARNING: state.alert != "none",
            EYES_ON_ROAD: self.inputs.eyes_on_road,
            HANDS_ON_WHEEL: self.inputs.hands_on_wheel,
            ATTENTIVE: round(
                100.0 * (1.0 - monitor.state.distracted_s / monitor.settings.distracted_time), 1
            ),
            AUTONOMY_LEVEL: _autonomy_level(state.status),
        }
        values.update({p: v for p, v in shared.items() if p in self._shared})
        self._publish(values)

    # ---------------------------------------------------------------- running

    async def run(self) -> None:
        """Drive every `TICK_S` until `stop()` (also one that came before the run started);
        each step of the world runs in a worker thread, so the event loop stays free."""
        try:
            loop = asyncio.get_running_loop()
            next_at = loop.time()
            while not self._stop.is_set():
                try:
                    outcome = await asyncio.to_thread(self._step, self._decide())
                    self._apply(outcome)
                except CarmindError as exc:
                    log.warning("assisted driving: %s", exc)
                except Exception:  # the simulator failed: the rest of carmind drives on
                    log.exception("assisted driving stopped: the highway simulator failed")
                    self._publish({DRIVE + "Status": "UNAVAILABLE", ENGAGE: False})
                    return
                next_at = max(next_at + TICK_S, loop.time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), next_at - loop.time())
        finally:
            self._stop.clear()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.env.close()


def _capped(action: Action, speed: float, decision: _Decision) -> Action:
    """The policy's action within the set speed and the assist's acceleration cap."""
    accel = action.acceleration
    if decision.set_speed is not None:
        accel = min(accel, max(-SET_SPEED_DECEL, SET_SPEED_GAIN * (decision.set_speed - speed)))
    if decision.max_acceleration is not None:
        accel = min(accel, decision.max_acceleration)
    return action if accel == action.acceleration else Action(accel, action.steering)


def _autonomy_level(status: Status) -> str:
    if status in (Status.ENGAGED, Status.OVERRIDE):
        return "SAE_2"
    if status == Status.TAKEOVER:
        return "SAE_2_DISENGAGING"
    return "SAE_0"


def _scenario_name(name: str) -> str:
    return scenario(name).name  # a ScenarioError names the known ones


def check_names(policy: str, scenario_name: str) -> None:
    """Refuse an unknown policy (AgentError) or scenario (ScenarioError) without building
    anything: what `carmind run` checks before it starts."""
    _scenario_name(scenario_name)
    load_agent(_resolve_policy(policy, quiet=True))


def _resolve_policy(name: str, *, quiet: bool = False) -> str:
    """The policy to load: the default falls back to the expert while no model is shipped."""
    if name == DEFAULT_POLICY and not shipped_model().is_file():
        if quiet:
            return FALLBACK_POLICY
        log.warning(
            "the shipped driving model is not installed (%s): %s drives instead of %s",
            shipped_model(),
            FALLBACK_POLICY,
            DEFAULT_POLICY,
        )
        return FALLBACK_POLICY
    return name


def _placeholder_ego() -> EgoState:
    return EgoState(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
