"""Remote commands carried out on the hub, with the car's own rules.

`Executor.execute(name, params, source, now)` checks the parameters, the per-vehicle rate limit
and then sets actuator targets with one all-or-nothing `actuate_many`; the car's interlocks (no
unlocking above walking speed, no charging while moving, ...) decide, and their reason comes back.
Signed cloud commands (after `Keychain.verify`) and Home Assistant's locally authorised commands
pass through the same checks. Every refusal is a `(ResultStatus.REFUSED, reason)`; a command the
hub could not deliver (no provider for a signal) is `FAILED`; success is `(EXECUTED, "")`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from carmind.connect.protocol import CommandName, ResultStatus
from carmind.signals.broker import Client
from carmind.signals.catalog import Value
from carmind.signals.errors import ActuationRefusedError, SignalError

log = logging.getLogger(__name__)

DOORS: Final = ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
STATIONS: Final = ("Row1.Driver", "Row1.Passenger", "Row2.Driver", "Row2.Passenger")
HVAC: Final = "Vehicle.Cabin.HVAC."
DOOR: Final = "Vehicle.Cabin.Door."
AC: Final = HVAC + "IsAirConditioningActive"
HORN: Final = "Vehicle.Body.Horn.IsActive"
HAZARD: Final = "Vehicle.Body.Lights.Hazard.IsSignaling"
START_STOP: Final = "Vehicle.Powertrain.TractionBattery.Charging.StartStopCharging"
CHARGE_LIMIT: Final = "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit"
DESTINATION: Final = "Vehicle.Cabin.Infotainment.Navigation.DestinationSet."

TEMPERATURE_RANGE_C: Final = (15.0, 30.0)
"""Set-points a remote command may ask for: the cabin's HVAC range (the car checks it too)."""
DEFAULT_TEMPERATURE_C: Final = 21.0
"""`climate_on` without `celsius` and without an earlier set-point: a comfortable default."""
CLIMATE_FAN_PCT: Final = 60
"""Fan speed for remote pre-conditioning: quick enough to reach the set-point in ~10 min,
quiet enough not to drain the pack at the charger."""
CHARGE_LIMIT_RANGE_PCT: Final = (50, 100)
"""Below 50 % a mistyped remote limit would leave the car without range the next morning; the
car refuses it on its own too."""
REMOTE_UNLOCK_MAX_SPEED_KMH: Final = 6.0
"""A remote unlock is refused above walking speed. The car itself lets occupants unlock while
driving (they must be able to get out); a remote party unlocking a car in traffic only helps a
thief at a traffic light. An unknown speed counts as moving."""
SPEED: Final = "Vehicle.Speed"
FLASH_S: Final = 5.0
"""How long `flash` runs the hazard lights: enough to find the car in a car park."""

COMMAND_BUCKET: Final = (10, 300.0)
"""10 commands per 5 min per car, refilling evenly: each remote command wakes the telematics unit
and body controllers from sleep (~20-40 W from the 12 V battery for up to a minute), so a runaway
app or automation could flatten a parked car's 12 V battery overnight."""
ALERT_BUCKET: Final = (3, 300.0)
"""Honk and flash: 3 per 5 min, on top of the command bucket. The horn and lights draw directly
on the 12 V battery, and a horn sounding over and over is a nuisance to the neighbours."""
RATE_EXEMPT_SOURCES: Final = frozenset({"local"})
"""Commands from the car's own screen: the car is awake and someone is in it."""


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled evenly over `period_s`; a command takes one."""

    capacity: int
    period_s: float
    tokens: float = -1.0
    updated: float = 0.0

    def _refill(self, now: float) -> None:
        if self.tokens < 0:
            self.tokens, self.updated = float(self.capacity), now
            return
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(
            float(self.capacity), self.tokens + elapsed * self.capacity / self.period_s
        )
        self.updated = now

    def wait_s(self, now: float) -> float:
        """Seconds until a token is free (0 when one is now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) * self.period_s / self.capacity

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0


class ParamError(ValueError):
    """A command's parameters are missing, unknown or out of range (the message says which)."""


_PARAMS: Final[dict[CommandName, dict[str, bool]]] = {
    CommandName.CLIMATE_ON: {"celsius": False},
    CommandName.SET_TEMPERATURE: {"celsius": True},
    CommandName.SET_CHARGE_LIMIT: {"percent": True},
    CommandName.SEND_DESTINATION: {"lat": True, "lon": True},
}
"""Parameters by command (name: required); commands not listed take none."""
_ALERTS: Final = frozenset({CommandName.HONK, CommandName.FLASH})


def _number(name: str, params: Mapping[str, Any], low: float, high: float) -> float:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParamError(f"{name} must be a number, got {value!r}")
    if not low <= value <= high:
        raise ParamError(f"{name} = {value:g} is out of range: allowed {low:g} to {high:g}")
    return float(value)


def _check_params(name: CommandName, params: Mapping[str, Any]) -> None:
    spec = _PARAMS.get(name, {})
    for key in params:
        if key not in spec:
            expected = ", ".join(spec) or "no parameters"
            raise ParamError(f"unknown parameter {key!r} for {name.value}; expected {expected}")
    for key, required in spec.items():
        if required and key not in params:
            raise ParamError(f"{name.value} needs parameter {key!r}")


class Executor:
    """Carries out commands on one car through its hub client (needs `actuate` and `read`)."""

    def __init__(
        self,
        client: Client,
        *,
        command_bucket: tuple[int, float] = COMMAND_BUCKET,
        alert_bucket: tuple[int, float] = ALERT_BUCKET,
    ) -> None:
        self.client = client
        self.commands = TokenBucket(*command_bucket)
        self.alerts = TokenBucket(*alert_bucket)
        self.executed = 0
        self.refused = 0

    def execute(
        self, name: str, params: Mapping[str, Any], source: str, now: float
    ) -> tuple[ResultStatus, str]:
        """Check and carry out one command; `now` (Unix seconds) drives the rate limit."""
        status, reason = self._execute(name, params, source, now)
        if status is ResultStatus.EXECUTED:
            self.executed += 1
            log.info("executed %s from %s", name, source)
        else:
            self.refused += 1
            log.info("%s %s from %s: %s", status.value, name, source, reason)
        return status, reason

    def _execute(
        self, name: str, params: Mapping[str, Any], source: str, now: float
    ) -> tuple[ResultStatus, str]:
        try:
            command = CommandName(name)
        except ValueError:
            known = ", ".join(c.value for c in CommandName)
            return ResultStatus.REFUSED, f"unknown command {name!r}; known: {known}"
        try:
            _check_params(command, params)
            targets = self._targets(command, params)
        except ParamError as exc:
            return ResultStatus.REFUSED, str(exc)
        if source not in RATE_EXEMPT_SOURCES:
            buckets = [self.commands, self.alerts] if command in _ALERTS else [self.commands]
            wait = max(b.wait_s(now) for b in buckets)
            if wait > 0:
                return (
                    ResultStatus.REFUSED,
                    f"rate limit: too many remote commands to protect the 12 V battery; "
                    f"try again in {math.ceil(wait)} s",
                )
            for bucket in buckets:
                bucket.take(now)
        if command is CommandName.UNLOCK:
            refusal = self._unlock_refusal()
            if refusal is not None:
                return ResultStatus.REFUSED, refusal
        try:
            self.client.actuate_many(targets)
        except ActuationRefusedError as exc:
            return ResultStatus.REFUSED, f"the car refused: {exc.reason}"
        except SignalError as exc:
            return ResultStatus.FAILED, str(exc)
        if command is CommandName.FLASH:
            self._schedule_hazards_off()
        return ResultStatus.EXECUTED, ""

    def _unlock_refusal(self) -> str | None:
        try:
            speed = self.client.value(SPEED)
        except SignalError:
            speed = None
        if not isinstance(speed, int | float):
            return "vehicle speed unknown: a remote unlock needs a car known to stand still"
        if abs(speed) > REMOTE_UNLOCK_MAX_SPEED_KMH:
            return (
                f"vehicle moving at {abs(speed):.0f} km/h: remote unlock only at or below "
                f"{REMOTE_UNLOCK_MAX_SPEED_KMH:g} km/h"
            )
        return None

    def _current(self, path: str) -> Value | None:
        for datapoint in (self.client.get_target(path), self.client.get(path)):
            if datapoint is not None:
                return datapoint.value
        return None

    def _targets(self, command: CommandName, params: Mapping[str, Any]) -> dict[str, Value]:
        """The actuator targets of a command (raising `ParamError` for bad parameters)."""
        match command:
            case CommandName.LOCK | CommandName.UNLOCK:
                locked = command is CommandName.LOCK
                return {f"{DOOR}{d}.IsLocked": locked for d in DOORS}
            case CommandName.CLIMATE_ON:
                if "celsius" in params:
                    celsius = _half(_number("celsius", params, *TEMPERATURE_RANGE_C))
                else:
                    now = self._current(f"{HVAC}Station.{STATIONS[0]}.Temperature")
                    celsius = float(now) if isinstance(now, int | float) else DEFAULT_TEMPERATURE_C
                targets: dict[str, Value] = {AC: True}
                for s in STATIONS:
                    targets[f"{HVAC}Station.{s}.FanSpeed"] = CLIMATE_FAN_PCT
                    targets[f"{HVAC}Station.{s}.Temperature"] = celsius
                return targets
            case CommandName.CLIMATE_OFF:
                return {AC: False, **{f"{HVAC}Station.{s}.FanSpeed": 0 for s in STATIONS}}
            case CommandName.SET_TEMPERATURE:
                celsius = _half(_number("celsius", params, *TEMPERATURE_RANGE_C))
                return {f"{HVAC}Station.{s}.Temperature": celsius for s in STATIONS}
            case CommandName.CHARGE_START | CommandName.CHARGE_STOP:
                return {START_STOP: "START" if command is CommandName.CHARGE_START else "STOP"}
            case CommandName.SET_CHARGE_LIMIT:
                value = params["percent"]
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ParamError(f"percent must be a whole number, got {value!r}")
                low, high = CHARGE_LIMIT_RANGE_PCT
                if not low <= value <= high:
                    raise ParamError(
                        f"charge limit {value} % is out of range: allowed {low} to {high} %"
                    )
                return {CHARGE_LIMIT: value}
            case CommandName.HONK:
                return {HORN: True}
            case CommandName.FLASH:
                return {HAZARD: True}
            case CommandName.CLOSE_WINDOWS:
                return {f"{DOOR}{d}.Window.Position": 0 for d in DOORS}
            case CommandName.SEND_DESTINATION:
                lat = _number("lat", params, -90.0, 90.0)
                lon = _number("lon", params, -180.0, 180.0)
                return {DESTINATION + "Latitude": lat, DESTINATION + "Longitude": lon}
        raise ParamError(f"no action for command {command.value}")  # pragma: no cover

    def _schedule_hazards_off(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the hazards stay on until switched off
        loop.call_later(FLASH_S, self._hazards_off)

    def _hazards_off(self) -> None:
        try:
            self.client.actuate_many({HAZARD: False})
        except SignalError as exc:
            log.warning("could not end the flash: %s", exc)


def _half(value: float) -> float:
    """Set-points go in half degrees, as the car's controls do."""
    return round(value * 2.0) / 2.0


__all__ = [
    "ALERT_BUCKET",
    "CHARGE_LIMIT_RANGE_PCT",
    "COMMAND_BUCKET",
    "TEMPERATURE_RANGE_C",
    "Executor",
    "TokenBucket",
]
