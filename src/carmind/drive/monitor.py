"""Driver monitoring: is the driver watching the road and holding the wheel?

Modelled on openpilot's selfdrive/monitoring (learned from, no code copied): two timers, each
counting how long the driver has not done what assisted driving needs of them.

- Attention (driver camera: eyes on the road): a short total budget, because looking away at
  highway speed is the dangerous failure.
- Hands on the wheel (torque sensor): a longer one, because hands resting in the lap while the
  eyes watch the road is less urgent.

Each timer raises a *pre* alert (visual), then a *prompt* alert (visual and audible), then a
*terminal* alert, which requests a takeover and disengages. Attention regains the budget
faster than distraction spends it (RECOVERY_FACTOR), so a glance back does not reset the whole
timer; once terminal, only a takeover (`reset_awareness`) clears it. After MAX_TERMINAL_ALERTS
terminal alerts in one drive the system locks out until the car is parked or restarted
(`new_drive`).

The timings are openpilot's DRIVER_MONITOR_SETTINGS, which it derives from UN R79 (ACSF
hands-off warnings: optical at the latest after 15 s, acoustic after a further 15 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from carmind.drive.limits import InvalidDriveInput

Alert = Literal["none", "pre", "prompt", "terminal"]
Cause = Literal["none", "eyes", "hands"]

ALERT_RANK: dict[Alert, int] = {"none": 0, "pre": 1, "prompt": 2, "terminal": 3}
"""Alerts ordered by urgency."""

DISTRACTED_TIME_S = 11.0
"""Eyes off the road this long (accumulated) gives the terminal alert: openpilot's
_DISTRACTED_TIME (active monitoring)."""
DISTRACTED_PRE_TIME_TILL_TERMINAL_S = 8.0
"""The pre alert comes this long before terminal, i.e. after 3 s: openpilot."""
DISTRACTED_PROMPT_TIME_TILL_TERMINAL_S = 6.0
"""The prompt alert comes this long before terminal, i.e. after 5 s: openpilot."""

HANDS_OFF_TIME_S = 30.0
"""Hands off the wheel this long gives the terminal alert: openpilot's _AWARENESS_TIME (passive
wheel-touch timeout); UN R79 disengages at the latest after 60 s."""
HANDS_OFF_PRE_TIME_TILL_TERMINAL_S = 15.0
"""The pre alert comes after 15 s hands off: openpilot; UN R79's optical warning deadline."""
HANDS_OFF_PROMPT_TIME_TILL_TERMINAL_S = 6.0
"""The prompt alert comes after 24 s hands off: openpilot."""

RECOVERY_FACTOR = 5.0
"""A second of attention wins back this many seconds of budget: openpilot's largest recovery
factor (_RECOVERY_FACTOR_MAX)."""
MAX_TERMINAL_ALERTS = 3
"""Terminal alerts in one drive before the system locks out: openpilot's MAX_TERMINAL_ALERTS."""

_EPS = 1e-9

_TEXTS: dict[tuple[Cause, Alert], str] = {
    ("eyes", "pre"): "Pay attention to the road",
    ("eyes", "prompt"): "Look at the road now",
    ("eyes", "terminal"): "Driver distracted: take over now",
    ("hands", "pre"): "Hold the steering wheel",
    ("hands", "prompt"): "Hold the steering wheel now",
    ("hands", "terminal"): "Hands off the wheel: take over now",
}


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """The two timers' budgets (s) and alert points (s before terminal)."""

    distracted_time: float = DISTRACTED_TIME_S
    distracted_pre: float = DISTRACTED_PRE_TIME_TILL_TERMINAL_S
    distracted_prompt: float = DISTRACTED_PROMPT_TIME_TILL_TERMINAL_S
    hands_off_time: float = HANDS_OFF_TIME_S
    hands_off_pre: float = HANDS_OFF_PRE_TIME_TILL_TERMINAL_S
    hands_off_prompt: float = HANDS_OFF_PROMPT_TIME_TILL_TERMINAL_S
    recovery_factor: float = RECOVERY_FACTOR
    max_terminal_alerts: int = MAX_TERMINAL_ALERTS

    def __post_init__(self) -> None:
        for total, pre, prompt, name in (
            (self.distracted_time, self.distracted_pre, self.distracted_prompt, "distracted"),
            (self.hands_off_time, self.hands_off_pre, self.hands_off_prompt, "hands_off"),
        ):
            if not (0.0 < prompt < pre < total and math.isfinite(total)):
                raise InvalidDriveInput(
                    f"MonitorSettings.{name}: expected 0 < prompt < pre < time, got "
                    f"prompt={prompt!r}, pre={pre!r}, time={total!r}"
                )
        if not (math.isfinite(self.recovery_factor) and self.recovery_factor > 0.0):
            raise InvalidDriveInput(
                f"MonitorSettings.recovery_factor must be positive, got {self.recovery_factor!r}"
            )
        if self.max_terminal_alerts < 1:
            raise InvalidDriveInput(
                f"MonitorSettings.max_terminal_alerts must be ≥ 1, got {self.max_terminal_alerts}"
            )


@dataclass(frozen=True, slots=True)
class MonitorState:
    """What the monitor says after an update."""

    alert: Alert
    cause: Cause
    """Which timer raised the alert."""
    text: str
    distracted_s: float
    """Accumulated eyes-off time counted against the attention budget."""
    hands_off_s: float
    """Accumulated hands-off time counted against the hands budget."""
    terminal_alerts: int
    locked_out: bool


def _level(spent: float, total: float, pre: float, prompt: float) -> Alert:
    if spent >= total - _EPS:
        return "terminal"
    if spent >= total - prompt - _EPS:
        return "prompt"
    if spent >= total - pre - _EPS:
        return "pre"
    return "none"


class DriverMonitor:
    """The attention and hands-on-wheel timers of one drive."""

    def __init__(self, settings: MonitorSettings | None = None) -> None:
        self.settings = settings if settings is not None else MonitorSettings()
        self._distracted = 0.0
        self._hands_off = 0.0
        self._terminal: Cause = "none"
        self._terminal_alerts = 0
        self._state = self._snapshot()

    @property
    def state(self) -> MonitorState:
        return self._state

    @property
    def terminal_alerts(self) -> int:
        return self._terminal_alerts

    @property
    def locked_out(self) -> bool:
        return self._terminal_alerts >= self.settings.max_terminal_alerts

    def update(
        self, dt: float, eyes_on_road: bool, hands_on_wheel: bool, *, active: bool = True
    ) -> MonitorState:
        """Advance both timers by `dt` seconds. While not `active` (the system is not driving)
        the timers rest at zero and no alert is raised."""
        if not (math.isfinite(dt) and dt > 0.0):
            raise InvalidDriveInput(f"dt must be a positive number of seconds, got {dt!r}")
        s = self.settings
        if not active:
            self._distracted = 0.0
            self._hands_off = 0.0
            self._terminal = "none"
        elif self._terminal == "none":
            self._distracted = self._advance(self._distracted, eyes_on_road, dt, s.distracted_time)
            self._hands_off = self._advance(self._hands_off, hands_on_wheel, dt, s.hands_off_time)
            if self._distracted >= s.distracted_time - _EPS:
                self._enter_terminal("eyes")
            elif self._hands_off >= s.hands_off_time - _EPS:
                self._enter_terminal("hands")
        self._state = self._snapshot()
        return self._state

    def _advance(self, spent: float, attentive: bool, dt: float, total: float) -> float:
        if attentive:
            return max(0.0, spent - self.settings.recovery_factor * dt)
        return min(total, spent + dt)

    def _enter_terminal(self, cause: Cause) -> None:
        self._terminal = cause
        self._terminal_alerts += 1

    def reset_awareness(self) -> None:
        """The driver has taken over (or the system was re-engaged): full budgets, no alert.
        The count of terminal alerts in this drive is kept."""
        self._distracted = 0.0
        self._hands_off = 0.0
        self._terminal = "none"
        self._state = self._snapshot()

    def new_drive(self) -> None:
        """The car was parked or restarted: everything, the lockout included, starts afresh."""
        self._terminal_alerts = 0
        self.reset_awareness()

    def _snapshot(self) -> MonitorState:
        s = self.settings
        if self._terminal != "none":
            alert: Alert = "terminal"
            cause: Cause = self._terminal
        else:
            eyes = _level(
                self._distracted, s.distracted_time, s.distracted_pre, s.distracted_prompt
            )
            hands = _level(self._hands_off, s.hands_off_time, s.hands_off_pre, s.hands_off_prompt)
            if ALERT_RANK[eyes] >= ALERT_RANK[hands]:
                alert, cause = eyes, "eyes"
            else:
                alert, cause = hands, "hands"
            if alert == "none":
                cause = "none"
        return MonitorState(
            alert=alert,
            cause=cause,
            text=_TEXTS.get((cause, alert), ""),
            distracted_s=self._distracted,
            hands_off_s=self._hands_off,
            terminal_alerts=self._terminal_alerts,
            locked_out=self.locked_out,
        )
