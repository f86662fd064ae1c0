"""Answers to questions about the car, read from the hub: battery, range, tyres, doors, ..."""

from __future__ import annotations

from typing import Any, Final

from carmind.assistant.replies import Message
from carmind.signals.broker import Client
from carmind.signals.errors import SignalError
from carmind.vehicle.settings import TYRE_LOW_KPA

SOC: Final = "Vehicle.Powertrain.TractionBattery.StateOfCharge."
RANGE: Final = "Vehicle.Powertrain.Range"
CABIN_TEMPERATURE: Final = "Vehicle.Cabin.HVAC.AmbientAirTemperature"
OUTSIDE_TEMPERATURE: Final = "Vehicle.Exterior.AirTemperature"
SPEED: Final = "Vehicle.Speed"
TYRES: Final = {
    "front-left": "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.",
    "front-right": "Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.",
    "rear-left": "Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.",
    "rear-right": "Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.",
}
OPENINGS: Final = {
    "door-driver": "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen",
    "door-passenger": "Vehicle.Cabin.Door.Row1.PassengerSide.IsOpen",
    "door-rear-left": "Vehicle.Cabin.Door.Row2.DriverSide.IsOpen",
    "door-rear-right": "Vehicle.Cabin.Door.Row2.PassengerSide.IsOpen",
    "trunk": "Vehicle.Body.Trunk.Rear.IsOpen",
    "frunk": "Vehicle.Body.Trunk.Front.IsOpen",
    "hood": "Vehicle.Body.Hood.IsOpen",
}
LOCKS: Final = tuple(
    f"Vehicle.Cabin.Door.{d}.IsLocked"
    for d in ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
)


class StatusReader:
    """Reads the car's state for status questions and for the dialogue's safety checks."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def value(self, path: str) -> Any:
        try:
            return self.client.value(path)
        except SignalError:
            return None  # a catalog without this signal (a real car's own VSS export, say)

    def number(self, path: str) -> float | None:
        value = self.value(path)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None

    def speed_kmh(self) -> float:
        return abs(self.number(SPEED) or 0.0)

    def location(self) -> tuple[float, float] | None:
        lat = self.number("Vehicle.CurrentLocation.Latitude")
        lon = self.number("Vehicle.CurrentLocation.Longitude")
        return None if lat is None or lon is None else (lat, lon)

    def range_km(self) -> int | None:
        metres = self.number(RANGE)
        if metres is None:
            metres = self.number("Vehicle.Powertrain.TractionBattery.Range")
        return None if metres is None else round(metres / 1000)

    def read(self, item: str) -> tuple[Message, ...]:
        """The reply to a status question about `item`."""
        if item == "battery":
            soc = self.number(SOC + "Displayed")
            soc = soc if soc is not None else self.number(SOC + "Current")
            return self._one("status_battery", soc, 0)
        if item == "range":
            km = self.range_km()
            return self._one("status_range", None if km is None else float(km), 0)
        if item == "cabin-temperature":
            return self._one("status_cabin", self.number(CABIN_TEMPERATURE), 1)
        if item == "outside-temperature":
            return self._one("status_outside", self.number(OUTSIDE_TEMPERATURE), 1)
        if item == "speed":
            return self._one("status_speed", self.number(SPEED), 0)
        if item == "tyres":
            return self._tyres()
        return self._doors()

    @staticmethod
    def _one(key: str, value: float | None, digits: int) -> tuple[Message, ...]:
        if value is None:
            return (Message("status_unknown"),)
        shown: float | int = round(value, digits) if digits else round(value)
        return (Message(key, {"value": shown}),)

    def _tyres(self) -> tuple[Message, ...]:
        pressures = {wheel: self.number(base + "Pressure") for wheel, base in TYRES.items()}
        if any(p is None for p in pressures.values()):
            return (Message("status_unknown"),)
        bars = {w.replace("-", "_"): round((p or 0.0) / 100.0, 1) for w, p in pressures.items()}
        out = [Message("status_tyres", bars)]
        low = [w for w, p in pressures.items() if p is not None and p < TYRE_LOW_KPA]
        if low:
            out.append(Message("status_tyres_low", {"wheels": low}))
        return tuple(out)

    def _doors(self) -> tuple[Message, ...]:
        states = {part: self.value(path) for part, path in OPENINGS.items()}
        if all(v is None for v in states.values()):
            return (Message("status_unknown"),)
        open_parts = [part for part, value in states.items() if value is True]
        locked = all(self.value(path) is True for path in LOCKS)
        if open_parts:
            return (Message("status_open", {"parts": open_parts, "locked": locked}),)
        return (Message("status_closed_locked" if locked else "status_closed_unlocked"),)
