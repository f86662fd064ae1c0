"""The body of the simulated car: doors, windows, lids, lights, horn and front seats.

`Body` is a deterministic, time-stepped model with no clock and no event loop. Commands arrive
through `apply()` as VSS 5.1 actuator targets; `step()` moves the model forward by `dt` seconds
and publishes current values, which the caller reads with `current_values()` (everything) or
`changed_values()` (only what changed since the last call, cheap enough for every publish tick).

Safety interlocks live here, in the car, not in the apps that command it: an opening refused by an
interlock comes back as a `Refusal` and changes nothing. On a crash or a loss of 12 V power every
door unlocks and stays unlocked until the condition clears and `reset_emergency()` is called.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Final

from carmind.errors import CarmindError
from carmind.vehicle.body_parts import (
    _DOOR,
    _EPS,
    _SEAT,
    _TRUNK,
    DOOR_LATCH_S,
    HORN_HONK_S,
    LID_TRAVEL_S,
    LOCK_ACTUATION_S,
    SEAT_INITIAL_MM,
    SEAT_SPEED_MM_PER_S,
    SEAT_TRAVEL_MM,
    WINDOW_TRAVEL_S,
    Value,
    _Door,
    _Lid,
    _Part,
    _Seat,
    _Signals,
)

__all__ = [
    "AUTO_LOCK_SPEED_KMH",
    "CHILD_LOCK_DOORS",
    "CRASH_UNLOCK_PATHS",
    "DOORS",
    "DOOR_LATCH_S",
    "HAZARD",
    "HOOD_IS_OPEN",
    "HORN_HONK_S",
    "HORN_IS_ACTIVE",
    "INDICATOR_LEFT",
    "INDICATOR_RIGHT",
    "LID_TRAVEL_S",
    "LIGHTS",
    "LOCK_ACTUATION_S",
    "LOW_VOLTAGE_DEBOUNCE_S",
    "LOW_VOLTAGE_THRESHOLD_V",
    "SEATS",
    "SEAT_INITIAL_MM",
    "SEAT_SPEED_MM_PER_S",
    "SEAT_TRAVEL_MM",
    "TRUNKS",
    "WALKING_SPEED_KMH",
    "WINDOW_TRAVEL_S",
    "Body",
    "BodyError",
    "DoorState",
    "Refusal",
    "SeatState",
    "Value",
]

log = logging.getLogger(__name__)

# --- Safety limits (the reasons are in docs/vehicle-body-thermal.md) ---------------------------

WALKING_SPEED_KMH: Final = 6.0
"""Doors, trunks and hood open only at or below this speed (km/h, either direction).

6 km/h is walking pace, the speed of parking and of shuffling forward in a queue, where people
really do open a door or the tailgate. Above it an opening door strikes cyclists and passing
traffic, an occupant can fall out, and a lid that swings up blocks the view or is torn off."""

AUTO_LOCK_SPEED_KMH: Final = 15.0
"""Drive-away locking: the car locks itself once it passes this speed (km/h).

A typical factory setting (carmakers use 8 to 24 km/h): above any parking manoeuvre, so that
nobody is locked out while moving the car a few metres, and low enough to lock before the first
junction, against carjacking at traffic lights. It re-arms once the car is below walking speed."""

LOW_VOLTAGE_THRESHOLD_V: Final = 9.0
"""12 V supply below this voltage counts as power loss (V).

9 V is the lower end of the supply range that 12 V body electronics are specified for (ISO 16750-2);
below it door modules, motors and latches can no longer be trusted to act."""

LOW_VOLTAGE_DEBOUNCE_S: Final = 0.5
"""How long the 12 V supply must stay below the threshold before it counts as lost (s).

Long enough to ride through switching transients and load dips of tens to hundreds of
milliseconds; short compared with how fast a battery fire or a cut cable escalates."""

# --- Actuator timing and travel (LOCK_ACTUATION_S ... HORN_HONK_S) ---------------------------
# They live in carmind.vehicle.body_parts, beside the parts they time, and are re-exported here.

# --- The parts and their VSS 5.1 paths --------------------------------------------------------

DOORS: Final = ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
CHILD_LOCK_DOORS: Final = ("Row2.DriverSide", "Row2.PassengerSide")
TRUNKS: Final = ("Rear", "Front")
SEATS: Final = ("Row1.DriverSide", "Row1.PassengerSide")

HOOD_IS_OPEN: Final = "Vehicle.Body.Hood.IsOpen"
HORN_IS_ACTIVE: Final = "Vehicle.Body.Horn.IsActive"
HAZARD: Final = "Vehicle.Body.Lights.Hazard.IsSignaling"
INDICATOR_LEFT: Final = "Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling"
INDICATOR_RIGHT: Final = "Vehicle.Body.Lights.DirectionIndicator.Right.IsSignaling"
LIGHTS: Final = (
    "Vehicle.Body.Lights.Beam.Low.IsOn",
    "Vehicle.Body.Lights.Beam.High.IsOn",
    HAZARD,
    INDICATOR_LEFT,
    INDICATOR_RIGHT,
    "Vehicle.Body.Lights.Running.IsOn",
    "Vehicle.Body.Lights.Parking.IsOn",
    "Vehicle.Body.Lights.Fog.Front.IsOn",
    "Vehicle.Body.Lights.Fog.Rear.IsOn",
)

CRASH_UNLOCK_PATHS: Final = tuple(f"{_DOOR}{d}.IsLocked" for d in DOORS) + tuple(
    f"{_TRUNK}{t}.IsLocked" for t in TRUNKS
)
"""What unlocks on a crash or 12 V loss: every door, so occupants can get out and rescuers in,
and both trunks, a second way in and the way to the 12 V battery in many cars."""


class BodyError(CarmindError):
    """The body model was called with something it cannot use (an unknown path, a bad `dt`)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A command the car refused: the VSS path, the requested value and why. Nothing changed."""

    path: str
    value: object
    reason: str


@dataclass(frozen=True, slots=True)
class DoorState:
    """One door as it is now."""

    is_open: bool
    is_locked: bool
    is_child_lock_active: bool
    window_position: int


@dataclass(frozen=True, slots=True)
class SeatState:
    """One front seat as it is now."""

    position_mm: int
    heating_cooling: int


type _Handler = Callable[[object, float, bool], Refusal | None]


def _as_bool(path: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise BodyError(f"{path} takes a boolean, got {value!r}")
    return value


def _as_int(path: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise BodyError(f"{path} takes a whole number, got {value!r}")


def _door_paths(d: str) -> tuple[str, ...]:
    b = f"{_DOOR}{d}."
    return (b + "IsOpen", b + "IsLocked", b + "Window.Position", b + "Window.IsOpen")


_ACTUATORS = frozenset(
    [p for d in DOORS for p in _door_paths(d)]
    + [f"{_TRUNK}{t}.{leaf}" for t in TRUNKS for leaf in ("IsOpen", "IsLocked", "Position")]
    + [f"{_SEAT}{s}.{leaf}" for s in SEATS for leaf in ("HeatingCooling", "Position")]
    + [HOOD_IS_OPEN, HORN_IS_ACTIVE, *LIGHTS]
)
_SENSORS = frozenset(f"{_DOOR}{d}.IsChildLockActive" for d in DOORS)


class Body:
    """Doors, windows, trunks, hood, lights, horn and front seats of one car.

    All state changes happen in `apply()`, `step()` and the few explicit methods below; the model
    is deterministic and reads no clock. Speeds are in km/h, times in seconds.
    """

    ACTUATORS: ClassVar[frozenset[str]] = _ACTUATORS
    """The VSS actuator paths `apply()` accepts."""
    PATHS: ClassVar[frozenset[str]] = _ACTUATORS | _SENSORS
    """Every VSS path this model publishes (actuators' current values and sensors)."""

    def __init__(self, *, auto_lock: bool = True) -> None:
        """A parked car: everything closed and unlocked, lights off, seats mid-travel."""
        self.auto_lock = auto_lock
        self._signals = _Signals()
        self._doors = {name: _Door(name) for name in DOORS}
        self._lids = {name: _Lid(name) for name in TRUNKS}
        self._seats = {name: _Seat(name) for name in SEATS}
        self._lockable: tuple[_Door | _Lid, ...] = (*self._doors.values(), *self._lids.values())
        self._active: dict[_Part, None] = {}  # an ordered set: iteration order is deterministic
        self._pending: dict[str, Value] = {}  # immediate values, published on the next step
        self._horn_on_pending = False
        self._horn_remaining = 0.0
        self._low_voltage_s = 0.0
        self._powered = True
        self._crash_now = False
        self._emergency: str | None = None
        self._auto_lock_armed = True
        for part in (*self._lockable, *self._seats.values()):
            part.publish(self._signals)
        for path in (*LIGHTS, HOOD_IS_OPEN, HORN_IS_ACTIVE):
            self._signals.set(path, False)
        self._handlers = self._build_handlers()

    # --- Commands -----------------------------------------------------------------------------

    def apply(self, path: str, value: object, speed_kmh: float) -> Refusal | None:
        """Accept a target for the actuator at `path`, or refuse it by interlock.

        An accepted target takes effect over the next steps with the part's delay; a refusal
        changes nothing. `speed_kmh` is the vehicle speed now. Raises `BodyError` for a path this
        model does not own or a value of the wrong type.
        """
        refusal = self._handler(path)(value, speed_kmh, True)
        if refusal is not None:
            log.info("refused %s = %r: %s", refusal.path, refusal.value, refusal.reason)
        return refusal

    def check(self, path: str, value: object, speed_kmh: float) -> Refusal | None:
        """The refusal `apply()` would give now, changing nothing (validate, then actuate).

        Each path is checked against the present state: a batch that unlocks a door and opens it
        passes only if applied in order, through `apply()`.
        """
        return self._handler(path)(value, speed_kmh, False)

    def central_lock(self, locked: bool) -> list[Refusal]:
        """Lock or unlock all four doors and both trunks at once; all or nothing.

        Unlocking always succeeds. Locking is refused (every refusal listed, nothing changed) in
        an emergency or while any door or trunk is open.
        """
        refusals = [
            r for part in self._lockable if (r := self._check_lock(part, locked)) is not None
        ]
        if refusals:
            return refusals
        for part in self._lockable:
            self._command_lock(part, locked)
        return []

    def open_from_inside(self, door: str, speed_kmh: float) -> Refusal | None:
        """An occupant pulls the inner handle of `door` ("Row2.PassengerSide", say).

        Refused where the child lock is active, then as `apply(... IsOpen, True)`: above walking
        speed, or while the door is locked.
        """
        part = self._door(door)
        if part.child_lock:
            return Refusal(part.p_open, True, "child lock active: opens only from outside")
        return self.apply(part.p_open, True, speed_kmh)

    def set_child_lock(self, door: str, active: bool) -> None:
        """Set the child lock of a rear door (a state, as the VSS sensor says, not an actuation)."""
        if door not in CHILD_LOCK_DOORS:
            raise BodyError(f"child locks exist on {', '.join(CHILD_LOCK_DOORS)}, not {door!r}")
        part = self._doors[door]
        part.child_lock = active
        self._signals.set(part.p_child, active)

    def reset_emergency(self) -> None:
        """Clear a crash or 12 V-loss emergency once its cause is gone, allowing locking again.

        Raises `BodyError` while the crash signal is still present or the 12 V supply is still
        below `LOW_VOLTAGE_THRESHOLD_V` (as seen by the last `step()`); then nothing changes.
        """
        if self._emergency is None:
            return
        if self._crash_now:
            raise BodyError("cannot reset the emergency: the crash signal is still present")
        if not self._powered:
            raise BodyError(
                f"cannot reset the emergency: 12 V supply still below {LOW_VOLTAGE_THRESHOLD_V} V"
            )
        log.info("emergency reset (was: %s)", self._emergency)
        self._emergency = None

    # --- Time ---------------------------------------------------------------------------------

    def step(self, dt: float, speed_kmh: float, low_voltage_v: float, crash_detected: bool) -> None:
        """Move the model forward by `dt` seconds and publish the new current values.

        `speed_kmh` is the vehicle speed, `low_voltage_v` the 12 V supply voltage and
        `crash_detected` the airbag controller's crash signal during this step.
        """
        if not dt >= 0.0 or math.isinf(dt):
            raise BodyError(f"dt must be a finite number of seconds >= 0, got {dt!r}")
        self._supervise(dt, low_voltage_v, crash_detected)
        if self._horn_remaining > 0.0:
            self._horn_remaining -= dt
            if self._horn_remaining <= _EPS:
                self._horn_remaining = 0.0
                self._signals.set(HORN_IS_ACTIVE, False)
        if self._active:
            powered, out = self._powered, self._signals
            done = [part for part in self._active if not part.advance(dt, powered, out)]
            for part in done:
                del self._active[part]
        if self._pending:
            for path, value in self._pending.items():
                self._signals.set(path, value)
            self._pending.clear()
        if self._horn_on_pending:
            self._horn_on_pending = False
            self._horn_remaining = HORN_HONK_S
            self._signals.set(HORN_IS_ACTIVE, True)
        self._auto_lock(abs(speed_kmh))

    # --- Reading ------------------------------------------------------------------------------

    def current_values(self) -> dict[str, Value]:
        """Every VSS path this model owns and its current value (a fresh dict)."""
        return dict(self._signals.values)

    def changed_values(self) -> dict[str, Value]:
        """The values that changed since the last call (the first call returns all of them)."""
        changed = self._signals.changed
        if not changed:
            return {}
        self._signals.changed = {}
        return changed

    def door(self, name: str) -> DoorState:
        """The door `name` ("Row1.DriverSide", ...) as it is now."""
        d = self._door(name)
        return DoorState(d.latch.value, d.lock.value, d.child_lock, round(d.window.position))

    def seat(self, name: str) -> SeatState:
        """The front seat `name` ("Row1.DriverSide" or "Row1.PassengerSide") as it is now."""
        if name not in self._seats:
            raise BodyError(f"seat must be one of {', '.join(SEATS)}, got {name!r}")
        s = self._seats[name]
        heating = self._signals.values[s.p_heat]
        assert isinstance(heating, int)
        return SeatState(round(s.motor.position), heating)

    @property
    def emergency(self) -> str | None:
        """Why the doors are held unlocked (crash or 12 V loss), or None in normal operation."""
        return self._emergency

    @property
    def is_powered(self) -> bool:
        """False while the 12 V supply has been below the threshold for the debounce time."""
        return self._powered

    @property
    def is_idle(self) -> bool:
        """True when nothing moves and nothing is pending: `step()` then only supervises."""
        return not (
            self._active or self._pending or self._horn_on_pending or self._horn_remaining > 0.0
        )

    # --- Internals ----------------------------------------------------------------------------

    def _handler(self, path: str) -> _Handler:
        handler = self._handlers.get(path)
        if handler is None:
            if path in _SENSORS:
                raise BodyError(
                    f"{path} is a sensor, not an actuator; set child locks with set_child_lock()"
                )
            raise BodyError(f"{path} is not a body actuator (see Body.ACTUATORS)")
        return handler

    def _door(self, name: str) -> _Door:
        if name not in self._doors:
            raise BodyError(f"door must be one of {', '.join(DOORS)}, got {name!r}")
        return self._doors[name]

    def _supervise(self, dt: float, low_voltage_v: float, crash_detected: bool) -> None:
        if low_voltage_v < LOW_VOLTAGE_THRESHOLD_V:
            self._low_voltage_s += dt
        else:
            self._low_voltage_s = 0.0
        powered = self._low_voltage_s < LOW_VOLTAGE_DEBOUNCE_S - _EPS
        if self._powered and not powered:
            log.warning("12 V supply at %.1f V: motors stopped, doors unlock", low_voltage_v)
            for door in self._doors.values():
                door.window.stop()
            for lid in self._lids.values():
                lid.motor.stop()
            for seat in self._seats.values():
                seat.motor.stop()
            self._enter_emergency(f"12 V supply below {LOW_VOLTAGE_THRESHOLD_V} V")
        self._powered = powered
        if crash_detected and not self._crash_now:  # on the rising edge of the crash signal
            log.warning("crash detected: doors unlock, hazard lights on")
            self._pending[HAZARD] = True
            self._enter_emergency("crash detected")
        self._crash_now = crash_detected

    def _enter_emergency(self, reason: str) -> None:
        if self._emergency is None:
            self._emergency = reason
        for part in self._lockable:
            self._command_lock(part, False)

    def _auto_lock(self, speed: float) -> None:
        if speed < WALKING_SPEED_KMH:
            self._auto_lock_armed = True
        elif self._auto_lock_armed and speed >= AUTO_LOCK_SPEED_KMH:
            self._auto_lock_armed = False
            if self.auto_lock:
                refusals = self.central_lock(True)
                if refusals:
                    log.info("auto-lock skipped: %s", "; ".join(r.reason for r in refusals))

    def _check_lock(self, part: _Door | _Lid, locked: bool) -> Refusal | None:
        if not locked:
            return None
        if self._emergency is not None:
            return Refusal(part.p_locked, True, f"{self._emergency}: doors stay unlocked")
        if not part.closing_or_shut:  # a closing part locks once shut, as "close and lock" does
            return Refusal(part.p_locked, True, f"{part.name} is open; close it first")
        return None

    def _command_lock(self, part: _Door | _Lid, locked: bool) -> None:
        part.lock.command(locked)
        if part.lock.busy:
            self._active[part] = None

    def _speed_interlock(self, path: str, value: object, speed_kmh: float) -> Refusal | None:
        if abs(speed_kmh) > WALKING_SPEED_KMH:
            return Refusal(
                path,
                value,
                f"vehicle moving at {abs(speed_kmh):.1f} km/h; opens only at or below "
                f"walking speed ({WALKING_SPEED_KMH} km/h)",
            )
        return None

    def _no_power(self, path: str, value: object, what: str) -> Refusal | None:
        if self._powered:
            return None
        return Refusal(path, value, f"12 V supply below {LOW_VOLTAGE_THRESHOLD_V} V: {what}")

    def _build_handlers(self) -> dict[str, _Handler]:
        h: dict[str, _Handler] = {}
        for door in self._doors.values():
            h.update(self._door_handlers(door))
        for lid in self._lids.values():
            h.update(self._lid_handlers(lid))
        for seat in self._seats.values():
            h.update(self._seat_handlers(seat))
        for path in LIGHTS:
            h[path] = self._light_handler(path)
        h[HOOD_IS_OPEN] = lambda v, s, c: self._cmd_hood(_as_bool(HOOD_IS_OPEN, v), s, c)
        h[HORN_IS_ACTIVE] = lambda v, s, c: self._cmd_horn(_as_bool(HORN_IS_ACTIVE, v), c)
        assert h.keys() == _ACTUATORS
        return h

    # Each handler takes (value, speed_kmh, commit): it checks the interlocks, and only when
    # `commit` is true and nothing refused does it change the model.

    def _door_handlers(self, d: _Door) -> dict[str, _Handler]:
        def is_open(v: object, s: float, c: bool) -> Refusal | None:
            return self._cmd_door_open(d, _as_bool(d.p_open, v), s, c)

        def is_locked(v: object, s: float, c: bool) -> Refusal | None:
            return self._cmd_lock(d, _as_bool(d.p_locked, v), c)

        def window_position(v: object, s: float, c: bool) -> Refusal | None:
            return self._cmd_window(d, d.p_win_pos, v, _as_int(d.p_win_pos, v), c)

        def window_is_open(v: object, s: float, c: bool) -> Refusal | None:
            position = 100 if _as_bool(d.p_win_open, v) else 0
            return self._cmd_window(d, d.p_win_open, v, position, c)

        return {
            d.p_open: is_open,
            d.p_locked: is_locked,
            d.p_win_pos: window_position,
            d.p_win_open: window_is_open,
        }

    def _lid_handlers(self, t: _Lid) -> dict[str, _Handler]:
        def is_open(v: object, s: float, c: bool) -> Refusal | None:
            return self._cmd_lid(t, t.p_open, v, 100 if _as_bool(t.p_open, v) else 0, s, c)

        def position(v: object, s: float, c: bool) -> Refusal | None:
            return self._cmd_lid(t, t.p_pos, v, _as_int(t.p_pos, v), s, c)

        def is_locked(v: object, s: float, c: bool) -> Refusal | None:
            return self._cmd_lock(t, _as_bool(t.p_locked, v), c)

        return {t.p_open: is_open, t.p_pos: position, t.p_locked: is_locked}

    def _seat_handlers(self, st: _Seat) -> dict[str, _Handler]:
        def position(v: object, s: float, c: bool) -> Refusal | None:
            return self._cmd_seat(st, _as_int(st.p_pos, v), c)

        def heating_cooling(v: object, s: float, c: bool) -> Refusal | None:
            level = min(max(_as_int(st.p_heat, v), -100), 100)
            if c:
                self._pending[st.p_heat] = level
            return None

        return {st.p_pos: position, st.p_heat: heating_cooling}

    def _light_handler(self, path: str) -> _Handler:
        def light(v: object, s: float, c: bool) -> Refusal | None:
            on = _as_bool(path, v)
            if c:
                self._pending[path] = on
                if on and path == INDICATOR_LEFT:  # one stalk: signalling left cancels right
                    self._pending[INDICATOR_RIGHT] = False
                elif on and path == INDICATOR_RIGHT:
                    self._pending[INDICATOR_LEFT] = False
            return None

        return light

    def _cmd_door_open(
        self, d: _Door, value: bool, speed_kmh: float, commit: bool
    ) -> Refusal | None:
        if value:
            if (r := self._speed_interlock(d.p_open, value, speed_kmh)) is not None:
                return r
            if d.lock.target:
                return Refusal(d.p_open, value, f"door {d.name} is locked; unlock it first")
        if commit:
            d.latch.command(value)
            if d.latch.busy:
                self._active[d] = None
        return None

    def _cmd_lock(self, part: _Door | _Lid, value: bool, commit: bool) -> Refusal | None:
        if (r := self._check_lock(part, value)) is not None:
            return r
        if commit:
            self._command_lock(part, value)
        return None

    def _cmd_window(
        self, d: _Door, path: str, value: object, position: int, commit: bool
    ) -> Refusal | None:
        if (r := self._no_power(path, value, "the window motor has no power")) is not None:
            return r
        if commit:
            d.window.target = float(min(max(position, 0), 100))
            if d.window.busy:
                self._active[d] = None
        return None

    def _cmd_lid(
        self, t: _Lid, path: str, value: object, position: int, speed_kmh: float, commit: bool
    ) -> Refusal | None:
        target = float(min(max(position, 0), 100))
        if target > t.motor.position:  # the lid would move up
            if (r := self._speed_interlock(path, value, speed_kmh)) is not None:
                return r
            if t.lock.target:
                return Refusal(path, value, f"trunk {t.name} is locked; unlock it first")
        if (r := self._no_power(path, value, "the lid motor has no power")) is not None:
            return r
        if commit:
            t.motor.target = target
            if t.motor.busy:
                self._active[t] = None
        return None

    def _cmd_seat(self, s: _Seat, position: int, commit: bool) -> Refusal | None:
        if not 0 <= position <= SEAT_TRAVEL_MM:
            return Refusal(s.p_pos, position, f"beyond the seat travel of 0..{SEAT_TRAVEL_MM} mm")
        if (r := self._no_power(s.p_pos, position, "the seat motor has no power")) is not None:
            return r
        if commit:
            s.motor.target = float(position)
            if s.motor.busy:
                self._active[s] = None
        return None

    def _cmd_hood(self, is_open: bool, speed_kmh: float, commit: bool) -> Refusal | None:
        if is_open and (r := self._speed_interlock(HOOD_IS_OPEN, True, speed_kmh)) is not None:
            return r
        if commit:
            self._pending[HOOD_IS_OPEN] = is_open
        return None

    def _cmd_horn(self, active: bool, commit: bool) -> Refusal | None:
        if not commit:
            return None
        if active:
            self._horn_on_pending = True
        else:
            self._horn_on_pending = False
            self._horn_remaining = 0.0
            self._pending[HORN_IS_ACTIVE] = False
        return None
