"""The moving parts inside `carmind.vehicle.body.Body`: latches, motors, doors, lids and seats.

Internal to `Body`; import the public model and its constants from `carmind.vehicle.body`. Each
part owns its VSS paths, publishes its current values into a `_Signals` and moves itself forward
in `advance()`; the interlocks that decide whether a part may move live in `Body`, not here.
"""

from __future__ import annotations

import math
from typing import Final

type Value = bool | int | float | str

# --- Actuator timing --------------------------------------------------------------------------

LOCK_ACTUATION_S: Final = 0.3
"""A door or trunk lock motor settles this long after the command (s)."""

DOOR_LATCH_S: Final = 0.5
"""An electric door latch pops the door ajar, or its soft-close motor pulls it shut, in this
time (s)."""

WINDOW_TRAVEL_S: Final = 3.5
"""A window travels fully closed to fully open (0 to 100 %) in this time (s)."""

LID_TRAVEL_S: Final = 4.0
"""A powered trunk or front-trunk lid travels fully closed to fully open in this time (s)."""

SEAT_SPEED_MM_PER_S: Final = 25.0
"""A front seat moves fore and aft at this speed (mm/s), a typical seat-track motor."""

SEAT_TRAVEL_MM: Final = 260
"""Fore-aft seat travel (mm) from the frontmost position (VSS `Seat.Position` = 0)."""

SEAT_INITIAL_MM: Final = 130
"""Where both front seats start (mm): the middle of their travel."""

HORN_HONK_S: Final = 0.5
"""A horn command sounds the horn this long (s), then it turns itself off."""

# --- VSS 5.1 path prefixes and tolerances -----------------------------------------------------

_DOOR = "Vehicle.Cabin.Door."
_TRUNK = "Vehicle.Body.Trunk."
_SEAT = "Vehicle.Cabin.Seat."

_EPS = 1e-9  # time and position tolerance: 0.1 + 0.1 + 0.1 must count as 0.3


# --- The parts --------------------------------------------------------------------------------


class _Signals:
    """The published values and the ones changed since they were last collected."""

    __slots__ = ("changed", "values")

    def __init__(self) -> None:
        self.values: dict[str, Value] = {}
        self.changed: dict[str, Value] = {}

    def set(self, path: str, value: Value) -> None:
        if self.values.get(path) != value:
            self.values[path] = value
            self.changed[path] = value


class _Latch:
    """A two-state actuator that settles `delay_s` after a command (a lock, a door latch)."""

    __slots__ = ("delay_s", "remaining", "target", "value")

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.value = False
        self.target = False
        self.remaining = 0.0

    def command(self, target: bool) -> None:
        if target != self.target:
            self.target = target
            self.remaining = self.delay_s

    @property
    def busy(self) -> bool:
        return self.target != self.value

    def advance(self, dt: float) -> bool:
        """Let `dt` seconds pass; true when the latch settled in this step."""
        self.remaining -= dt
        if self.remaining <= _EPS:
            self.value = self.target
            return True
        return False


class _Motor:
    """A position that moves at `rate` units/s toward its target (a window, a lid, a seat)."""

    __slots__ = ("position", "rate", "target")

    def __init__(self, rate: float, position: float = 0.0) -> None:
        self.rate = rate
        self.position = position
        self.target = position

    @property
    def busy(self) -> bool:
        return self.position != self.target

    def advance(self, dt: float) -> int:
        """Move for `dt` seconds; return the position as published (rounded to a whole unit)."""
        delta = self.target - self.position
        reach = self.rate * dt
        if abs(delta) <= reach + _EPS:
            self.position = self.target
        else:
            self.position += math.copysign(reach, delta)
        return round(self.position)

    def stop(self) -> None:
        self.target = self.position


class _Door:
    __slots__ = (
        "child_lock",
        "latch",
        "lock",
        "name",
        "p_child",
        "p_locked",
        "p_open",
        "p_win_open",
        "p_win_pos",
        "window",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.latch = _Latch(DOOR_LATCH_S)
        self.lock = _Latch(LOCK_ACTUATION_S)
        self.window = _Motor(100.0 / WINDOW_TRAVEL_S)
        self.child_lock = False
        base = f"{_DOOR}{name}."
        self.p_open = base + "IsOpen"
        self.p_locked = base + "IsLocked"
        self.p_child = base + "IsChildLockActive"
        self.p_win_pos = base + "Window.Position"
        self.p_win_open = base + "Window.IsOpen"

    @property
    def is_shut(self) -> bool:
        return not (self.latch.value or self.latch.target)

    @property
    def closing_or_shut(self) -> bool:
        return not self.latch.target

    def publish(self, out: _Signals) -> None:
        out.set(self.p_open, self.latch.value)
        out.set(self.p_locked, self.lock.value)
        out.set(self.p_child, self.child_lock)
        position = round(self.window.position)
        out.set(self.p_win_pos, position)
        out.set(self.p_win_open, position > 0)

    def advance(self, dt: float, powered: bool, out: _Signals) -> bool:
        """Move for `dt` seconds; true while something is still moving."""
        lock, latch, window = self.lock, self.latch, self.window
        # Unlocking always proceeds; locking waits until the door is shut.
        if lock.busy and (not lock.target or self.is_shut) and lock.advance(dt):
            out.set(self.p_locked, lock.value)
        # Closing always proceeds; opening waits until the door is unlocked.
        if latch.busy and (not latch.target or not lock.value) and latch.advance(dt):
            out.set(self.p_open, latch.value)
        if powered and window.busy:
            position = window.advance(dt)
            out.set(self.p_win_pos, position)
            out.set(self.p_win_open, position > 0)
        return lock.busy or latch.busy or window.busy


class _Lid:
    """A powered trunk lid (rear trunk or front trunk) with its lock."""

    __slots__ = ("lock", "motor", "name", "p_locked", "p_open", "p_pos")

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = _Latch(LOCK_ACTUATION_S)
        self.motor = _Motor(100.0 / LID_TRAVEL_S)
        base = f"{_TRUNK}{name}."
        self.p_open = base + "IsOpen"
        self.p_locked = base + "IsLocked"
        self.p_pos = base + "Position"

    @property
    def is_shut(self) -> bool:
        return self.motor.position == 0.0 and self.motor.target == 0.0

    @property
    def closing_or_shut(self) -> bool:
        return self.motor.target == 0.0

    def publish(self, out: _Signals) -> None:
        position = round(self.motor.position)
        out.set(self.p_open, position > 0)
        out.set(self.p_locked, self.lock.value)
        out.set(self.p_pos, position)

    def advance(self, dt: float, powered: bool, out: _Signals) -> bool:
        lock, motor = self.lock, self.motor
        if lock.busy and (not lock.target or self.is_shut) and lock.advance(dt):
            out.set(self.p_locked, lock.value)
        opening = motor.target > motor.position
        if powered and motor.busy and not (opening and lock.value):
            position = motor.advance(dt)
            out.set(self.p_pos, position)
            out.set(self.p_open, position > 0)
        return lock.busy or motor.busy


class _Seat:
    __slots__ = ("motor", "name", "p_heat", "p_pos")

    def __init__(self, name: str) -> None:
        self.name = name
        self.motor = _Motor(SEAT_SPEED_MM_PER_S, float(SEAT_INITIAL_MM))
        base = f"{_SEAT}{name}."
        self.p_heat = base + "HeatingCooling"
        self.p_pos = base + "Position"

    def publish(self, out: _Signals) -> None:
        out.set(self.p_heat, 0)
        out.set(self.p_pos, round(self.motor.position))

    def advance(self, dt: float, powered: bool, out: _Signals) -> bool:
        if powered and self.motor.busy:
            out.set(self.p_pos, self.motor.advance(dt))
        return self.motor.busy


type _Part = _Door | _Lid | _Seat
