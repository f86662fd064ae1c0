"""The engagement state machine of assisted driving, and a simulated driver to exercise it.

States:

- OFF: no vehicle data yet on this drive (or the car was just parked/restarted).
- READY: inside the operating design domain (ODD); may be engaged.
- UNAVAILABLE: outside the ODD (speed, lane markings); engage requests are refused.
- ENGAGED: the policy's action reaches the car; the driver monitor runs.
- OVERRIDE: the driver accelerates or steers lightly; the system yields until they let go.
- TAKEOVER: takeover requested (terminal monitor alert, or the ODD was left): terminal alert,
  the system keeps the lane and decelerates gently until the driver takes over.
- LOCKOUT: MAX_TERMINAL_ALERTS terminal alerts in this drive; refused until the car is parked.

The driver can always take over: the brake pedal, or a strong steering torque, disengages at
once from any active state.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum

from carmind.drive.limits import InvalidDriveInput
from carmind.drive.monitor import ALERT_RANK, Alert, DriverMonitor, MonitorSettings

KMH = 1.0 / 3.6
"""m/s per km/h."""

ENGAGE_MIN_SPEED_MPS = 60.0 * KMH
"""Highway assist engages from 60 km/h: the lower end of motorway traffic (highway-env's
highway runs at 20–30 m/s); slower traffic-jam driving is outside this system's ODD."""
ENGAGE_MAX_SPEED_MPS = 135.0 * KMH
"""…up to 135 km/h: above UN R157's 130 km/h ALKS ceiling by a margin for set-speed overshoot."""
SPEED_HYSTERESIS_MPS = 5.0 * KMH
"""Once engaged, the system holds on until 5 km/h outside the engage range (55 / 140 km/h),
so speed hovering at a bound does not toggle it."""
LANES_LOST_GRACE_S = 1.0
"""Lane markings may vanish this long (a worn patch, a junction) before a takeover request."""
STEERING_OVERRIDE_NM = 1.0
"""N·m at the wheel: a driver's steering torque above this overrides lateral control."""
STEERING_DISENGAGE_NM = 3.0
"""N·m: a steering torque above this disengages at once. UN R79 requires an override force of
at most 50 N at the rim (≈ 9 N·m on a 0.18 m radius wheel); 3 N·m is a deliberate turn."""
TAKEOVER_DECEL_MPS2 = 1.0
"""m/s², the gentle deceleration while waiting for a takeover: noticeable, well inside the
3.5 m/s² ISO 15622 comfort limit, so followers are not surprised."""

MAX_SET_SPEED_MPS = ENGAGE_MAX_SPEED_MPS
MIN_SET_SPEED_MPS = ENGAGE_MIN_SPEED_MPS


class Status(StrEnum):
    OFF = "off"
    READY = "ready"
    ENGAGED = "engaged"
    OVERRIDE = "override"
    TAKEOVER = "takeover"
    LOCKOUT = "lockout"
    UNAVAILABLE = "unavailable"


_ACTIVE = (Status.ENGAGED, Status.OVERRIDE, Status.TAKEOVER)


@dataclass(frozen=True, slots=True)
class AssistParams:
    """The operating design domain and the driver-input thresholds."""

    engage_min_speed: float = ENGAGE_MIN_SPEED_MPS
    engage_max_speed: float = ENGAGE_MAX_SPEED_MPS
    speed_hysteresis: float = SPEED_HYSTERESIS_MPS
    lanes_lost_grace: float = LANES_LOST_GRACE_S
    steering_override: float = STEERING_OVERRIDE_NM
    steering_disengage: float = STEERING_DISENGAGE_NM
    takeover_decel: float = TAKEOVER_DECEL_MPS2
    monitor: MonitorSettings = field(default_factory=MonitorSettings)

    def __post_init__(self) -> None:
        if not (0.0 <= self.engage_min_speed < self.engage_max_speed):
            raise InvalidDriveInput(
                f"AssistParams: expected 0 ≤ engage_min_speed < engage_max_speed, got "
                f"{self.engage_min_speed!r} and {self.engage_max_speed!r}"
            )
        if not (0.0 < self.steering_override < self.steering_disengage):
            raise InvalidDriveInput(
                f"AssistParams: expected 0 < steering_override < steering_disengage, got "
                f"{self.steering_override!r} and {self.steering_disengage!r}"
            )
        for name in ("speed_hysteresis", "lanes_lost_grace", "takeover_decel"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise InvalidDriveInput(f"AssistParams.{name} must be ≥ 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class DriverInputs:
    """What the car senses of its driver in one step."""

    eyes_on_road: bool
    hands_on_wheel: bool
    steering_torque: float
    """N·m, left positive."""
    brake_pedal: bool
    accelerator_pedal: bool


@dataclass(frozen=True, slots=True)
class AssistState:
    """The system's state as the HUD and the car see it."""

    status: Status
    alert: Alert = "none"
    alert_text: str = ""
    takeover_request: bool = False
    set_speed: float | None = None
    """m/s, the cruise speed while engaged."""
    terminal_alerts: int = 0
    engaged: bool = False
    """Whether the policy's action may reach the car."""
    max_acceleration: float | None = None
    """m/s², a cap on the longitudinal command (during TAKEOVER: −TAKEOVER_DECEL_MPS2)."""
    reason: str = ""
    """Why the system is in this status (the last transition's cause)."""


def _kmh(speed: float) -> str:
    return f"{speed / KMH:.0f} km/h"


def _range(low: float, high: float) -> str:
    return f"{low / KMH:.0f}–{high / KMH:.0f} km/h"


class DriveAssist:
    """Engagement, driver override, the driver monitor and the operating domain."""

    def __init__(self, params: AssistParams | None = None) -> None:
        self.params = params if params is not None else AssistParams()
        self.monitor = DriverMonitor(self.params.monitor)
        self._status = Status.OFF
        self._reason = "no vehicle data yet"
        self._set_speed: float | None = None
        self._speed: float | None = None
        self._lanes_valid = False
        self._lanes_lost_s = 0.0
        self._brake = False
        self._takeover_text = ""
        self._state = self._snapshot()

    @property
    def state(self) -> AssistState:
        return self._state

    # -- driver requests ---------------------------------------------------------------------

    def request_engage(self, set_speed: float | None = None) -> str | None:
        """Engage (or change the set speed while engaged). Returns why not, or None."""
        if set_speed is not None and not math.isfinite(set_speed):
            raise InvalidDriveInput(f"set_speed must be a finite speed in m/s, got {set_speed!r}")
        p = self.params
        refusal = self.refusal(set_speed)
        if refusal is not None:
            self._state = self._snapshot()
            return refusal
        speed = self._speed if self._speed is not None else 0.0
        if set_speed is None:
            set_speed = (
                self._set_speed
                if self._status in (Status.ENGAGED, Status.OVERRIDE) and self._set_speed
                else min(max(speed, p.engage_min_speed), p.engage_max_speed)
            )
        self._set_speed = set_speed
        if self._status not in (Status.ENGAGED, Status.OVERRIDE):
            self.monitor.reset_awareness()
            self._status = Status.ENGAGED
            self._reason = "engaged by the driver"
        self._state = self._snapshot()
        return None

    def refusal(self, set_speed: float | None = None) -> str | None:
        """Why engaging (with this set speed, m/s) would be refused now; None if it would not.
        Asking changes nothing."""
        p = self.params
        if self._status == Status.OFF or self._speed is None:
            return "system off: no vehicle data yet"
        if self._status == Status.LOCKOUT or self.monitor.locked_out:
            return (
                f"locked out after {self.monitor.terminal_alerts} terminal alerts: "
                "park the car to reset"
            )
        if self._status == Status.TAKEOVER:
            return f"take over first: {self._reason}"
        if set_speed is not None and not (p.engage_min_speed <= set_speed <= p.engage_max_speed):
            return (
                f"set speed {_kmh(set_speed)} is outside "
                f"{_range(p.engage_min_speed, p.engage_max_speed)}"
            )
        if self._status in (Status.ENGAGED, Status.OVERRIDE):
            return None
        if self._brake:
            return "release the brake pedal to engage"
        if not self._lanes_valid:
            return "lane markings not detected"
        if not (p.engage_min_speed <= self._speed <= p.engage_max_speed):
            return (
                f"speed {_kmh(self._speed)} is outside the operating range "
                f"{_range(p.engage_min_speed, p.engage_max_speed)}"
            )
        return None

    def request_cancel(self) -> None:
        """The driver's cancel button: disengage from any active state."""
        if self._status in _ACTIVE:
            self._disengage("cancelled by the driver")
            self._state = self._snapshot()

    def park(self) -> None:
        """The car is parked or restarted: a new drive; the lockout is lifted."""
        self.monitor.new_drive()
        self._status = Status.OFF
        self._reason = "parked"
        self._set_speed = None
        self._speed = None
        self._lanes_lost_s = 0.0
        self._state = self._snapshot()

    # -- the periodic update -----------------------------------------------------------------

    def update(
        self, dt: float, inputs: DriverInputs, speed: float, lanes_valid: bool
    ) -> AssistState:
        """Advance by `dt` seconds with the driver's inputs, the speed (m/s) and the lane camera."""
        if not (math.isfinite(dt) and dt > 0.0):
            raise InvalidDriveInput(f"dt must be a positive number of seconds, got {dt!r}")
        if not (math.isfinite(speed) and speed >= 0.0):
            raise InvalidDriveInput(f"speed must be a finite speed ≥ 0 m/s, got {speed!r}")
        if not math.isfinite(inputs.steering_torque):
            raise InvalidDriveInput(
                f"steering_torque must be finite N·m, got {inputs.steering_torque!r}"
            )
        p = self.params
        self._speed = speed
        self._lanes_valid = lanes_valid
        self._brake = inputs.brake_pedal
        self._lanes_lost_s = 0.0 if lanes_valid else self._lanes_lost_s + dt
        torque = abs(inputs.steering_torque)
        steering = torque >= p.steering_override
        status = self._status

        if status in (Status.ENGAGED, Status.OVERRIDE):
            odd_exit = self._odd_exit(speed)
            if inputs.brake_pedal:
                self._disengage("driver braked")
            elif torque >= p.steering_disengage:
                self._disengage("driver steered")
            elif odd_exit is not None:
                self._request_takeover(odd_exit)
            else:
                monitor = self.monitor.update(
                    dt, inputs.eyes_on_road, inputs.hands_on_wheel or steering
                )
                if monitor.alert == "terminal":
                    self._request_takeover(monitor.text)
                elif inputs.accelerator_pedal or steering:
                    self._status = Status.OVERRIDE
                    self._reason = "driver " + ("steering" if steering else "accelerating")
                else:
                    self._status = Status.ENGAGED
                    if status == Status.OVERRIDE:
                        self._reason = "driver let go: engaged"
        elif status == Status.TAKEOVER:
            if inputs.brake_pedal or steering or inputs.accelerator_pedal:
                self._disengage("driver took over")
        elif status in (Status.OFF, Status.READY, Status.UNAVAILABLE):
            self._idle()
        self._state = self._snapshot()
        return self._state

    def _odd_exit(self, speed: float) -> str | None:
        p = self.params
        if self._lanes_lost_s > p.lanes_lost_grace:
            return "lane markings lost"
        low = p.engage_min_speed - p.speed_hysteresis
        high = p.engage_max_speed + p.speed_hysteresis
        if not (low <= speed <= high):
            return f"speed {_kmh(speed)} outside {_range(low, high)}"
        return None

    def _request_takeover(self, why: str) -> None:
        self._status = Status.TAKEOVER
        self._reason = why
        self._takeover_text = f"Take over now: {why}"

    def _disengage(self, why: str) -> None:
        self.monitor.reset_awareness()
        self._set_speed = None
        self._reason = why
        if self.monitor.locked_out:
            self._status = Status.LOCKOUT
            self._reason = f"{why}; locked out after {self.monitor.terminal_alerts} terminal alerts"
        else:
            self._idle(keep_reason=True)

    def _idle(self, keep_reason: bool = False) -> None:
        p = self.params
        speed = self._speed if self._speed is not None else 0.0
        if self.monitor.locked_out:
            self._status = Status.LOCKOUT
            return
        if not self._lanes_valid:
            status, why = Status.UNAVAILABLE, "lane markings not detected"
        elif not (p.engage_min_speed <= speed <= p.engage_max_speed):
            status, why = Status.UNAVAILABLE, f"speed {_kmh(speed)} outside the operating range"
        else:
            status, why = Status.READY, "ready"
        self._status = status
        if not keep_reason:
            self._reason = why

    def _snapshot(self) -> AssistState:
        status = self._status
        monitor = self.monitor.state
        if status == Status.TAKEOVER:
            alert: Alert = "terminal"
            text = self._takeover_text
        elif status in (Status.ENGAGED, Status.OVERRIDE):
            alert, text = monitor.alert, monitor.text
        elif status == Status.LOCKOUT:
            alert, text = "none", "Assisted driving locked out: park the car to reset"
        else:
            alert, text = "none", ""
        return AssistState(
            status=status,
            alert=alert,
            alert_text=text,
            takeover_request=status == Status.TAKEOVER,
            set_speed=self._set_speed if status in _ACTIVE else None,
            terminal_alerts=self.monitor.terminal_alerts,
            engaged=status in (Status.ENGAGED, Status.TAKEOVER),
            max_acceleration=-self.params.takeover_decel if status == Status.TAKEOVER else None,
            reason=self._reason,
        )


# -- a simulated driver ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriverProfile:
    """How a simulated driver behaves. Intervals are means of exponential waits (s)."""

    glance_interval: float
    glance_min: float
    glance_max: float
    hands_off_interval: float
    hands_off_min: float
    hands_off_max: float
    reacts_to: Alert
    """The least urgent alert the driver responds to."""
    reaction_time: float
    torque_noise: float = 0.2
    """N·m, standard deviation of the torque of hands resting on the wheel."""


ATTENTIVE = DriverProfile(
    glance_interval=10.0,  # a mirror or dashboard check every ~10 s
    glance_min=0.5,
    glance_max=2.0,  # NHTSA's visual-manual guideline: glances ≤ 2 s
    hands_off_interval=60.0,
    hands_off_min=5.0,
    hands_off_max=20.0,  # sometimes long enough for the 15 s pre alert
    reacts_to="pre",
    reaction_time=1.0,
)
"""A driver who mostly watches the road and answers the first alert."""

DISTRACTED = DriverProfile(
    glance_interval=4.0,
    glance_min=3.0,
    glance_max=15.0,  # reading a phone
    hands_off_interval=10.0,
    hands_off_min=20.0,
    hands_off_max=60.0,
    reacts_to="terminal",
    reaction_time=2.0,
)
"""A driver on the phone who ignores alerts until the takeover request."""


RESTING_TORQUE_MAX_NM = 0.6
"""N·m: resting hands never push harder than this (below STEERING_OVERRIDE_NM)."""


class SimulatedDriver:
    """A seeded driver for simulation: glances away and lets go of the wheel at random."""

    def __init__(
        self, seed: int, *, distracted: bool = False, profile: DriverProfile | None = None
    ) -> None:
        self.profile = profile if profile is not None else (DISTRACTED if distracted else ATTENTIVE)
        self._rng = random.Random(seed)
        p = self.profile
        self._eyes_timer = self._rng.expovariate(1.0 / p.glance_interval)
        self._eyes_on = True
        self._hands_timer = self._rng.expovariate(1.0 / p.hands_off_interval)
        self._hands_on = True
        self._alerted_s = 0.0

    def step(self, dt: float, state: AssistState | None = None) -> DriverInputs:
        """The driver's inputs for the next `dt` seconds, reacting to the system's `state`."""
        if not (math.isfinite(dt) and dt > 0.0):
            raise InvalidDriveInput(f"dt must be a positive number of seconds, got {dt!r}")
        p = self.profile
        rng = self._rng
        self._eyes_timer -= dt
        if self._eyes_timer <= 0.0:
            self._eyes_on = not self._eyes_on
            self._eyes_timer = (
                rng.expovariate(1.0 / p.glance_interval)
                if self._eyes_on
                else rng.uniform(p.glance_min, p.glance_max)
            )
        self._hands_timer -= dt
        if self._hands_timer <= 0.0:
            self._hands_on = not self._hands_on
            self._hands_timer = (
                rng.expovariate(1.0 / p.hands_off_interval)
                if self._hands_on
                else rng.uniform(p.hands_off_min, p.hands_off_max)
            )

        brake = False
        if state is not None and ALERT_RANK[state.alert] >= ALERT_RANK[p.reacts_to]:
            self._alerted_s += dt
            if self._alerted_s >= p.reaction_time:
                # Look back and take the wheel; a takeover request is answered by braking.
                self._eyes_on = True
                self._eyes_timer = rng.expovariate(1.0 / p.glance_interval)
                self._hands_on = True
                self._hands_timer = rng.expovariate(1.0 / p.hands_off_interval)
                brake = state.takeover_request
                self._alerted_s = 0.0
        else:
            self._alerted_s = 0.0
        torque = rng.gauss(0.0, p.torque_noise) if self._hands_on else 0.0
        torque = max(-RESTING_TORQUE_MAX_NM, min(RESTING_TORQUE_MAX_NM, torque))
        return DriverInputs(
            eyes_on_road=self._eyes_on,
            hands_on_wheel=self._hands_on,
            steering_torque=torque,
            brake_pedal=brake,
            accelerator_pedal=False,
        )
