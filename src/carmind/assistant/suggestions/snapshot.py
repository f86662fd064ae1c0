"""A snapshot of the signals the rules look at, each value with the time it took that value.

Rules are pure functions of a `Snapshot`; `SnapshotReader` makes one from the hub. Knowing *since
when* a value holds lets a rule say "parked for ten minutes with the doors unlocked" without a
timer of its own: a reading's `since` is the timestamp of the datapoint that brought the value,
or, for a provider that republishes unchanged values, the first time the reader saw it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from carmind.assistant.suggestions.model import Position, SuggestionError
from carmind.signals.broker import Client
from carmind.signals.catalog import Value

# --- The VSS paths the rules read -------------------------------------------------------------

SPEED: Final = "Vehicle.Speed"
IS_MOVING: Final = "Vehicle.IsMoving"
ODOMETER: Final = "Vehicle.TraveledDistance"
ACCEL_LONGITUDINAL: Final = "Vehicle.Acceleration.Longitudinal"
ACCEL_LATERAL: Final = "Vehicle.Acceleration.Lateral"
LATITUDE: Final = "Vehicle.CurrentLocation.Latitude"
LONGITUDE: Final = "Vehicle.CurrentLocation.Longitude"
DEST_LATITUDE: Final = "Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Latitude"
DEST_LONGITUDE: Final = "Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Longitude"
REROUTE_SAVING: Final = "Vehicle.Carmind.Navigation.RerouteSaving"
REROUTE_OFFER: Final = "Vehicle.Carmind.Navigation.RerouteOffer"
ACCEPT_REROUTE: Final = "Vehicle.Carmind.Navigation.AcceptReroute"
RANGE: Final = "Vehicle.Powertrain.Range"
SOC: Final = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
_CHARGING: Final = "Vehicle.Powertrain.TractionBattery.Charging."
IS_CHARGING: Final = _CHARGING + "IsCharging"
CABLE_CONNECTED: Final = _CHARGING + "ChargingPort.AnyPosition.IsChargingCableConnected"
CABIN_TEMPERATURE: Final = "Vehicle.Cabin.HVAC.AmbientAirTemperature"
EXTERIOR_TEMPERATURE: Final = "Vehicle.Exterior.AirTemperature"
HVAC: Final = "Vehicle.Cabin.HVAC."
HVAC_STATIONS: Final = ("Row1.Driver", "Row1.Passenger")
DRIVER_FAN: Final = HVAC + "Station.Row1.Driver.FanSpeed"
DRIVER_OCCUPIED: Final = "Vehicle.Cabin.Seat.Row1.DriverSide.IsOccupied"
CRASH_DETECTED: Final = "Vehicle.Carmind.Safety.IsCrashDetected"
HAZARD: Final = "Vehicle.Body.Lights.Hazard.IsSignaling"
INDICATOR_LEFT: Final = "Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling"
INDICATOR_RIGHT: Final = "Vehicle.Body.Lights.DirectionIndicator.Right.IsSignaling"
INTERVENTIONS: Final = tuple(
    f"Vehicle.ADAS.{system}.IsEngaged" for system in ("ABS", "TCS", "ESC", "EBA")
)
WARNINGS: Final = (
    "Vehicle.ADAS.DMS.IsWarning",
    "Vehicle.ADAS.LaneDepartureDetection.IsWarning",
    "Vehicle.ADAS.ObstacleDetection.IsWarning",
)

DOORS: Final = ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
WHEELS: Final = ("Row1.Wheel.Left", "Row1.Wheel.Right", "Row2.Wheel.Left", "Row2.Wheel.Right")

STANDSTILL_KMH: Final = 0.5
"""Below this speed the car stands still (where `Vehicle.IsMoving` is not published): GNSS and
wheel-speed noise of a parked car stays under it."""


def door_locked(door: str) -> str:
    return f"Vehicle.Cabin.Door.{door}.IsLocked"


def door_open(door: str) -> str:
    return f"Vehicle.Cabin.Door.{door}.IsOpen"


def window_position(door: str) -> str:
    return f"Vehicle.Cabin.Door.{door}.Window.Position"


def tyre_pressure(wheel: str) -> str:
    return f"Vehicle.Chassis.Axle.{wheel}.Tire.Pressure"


def tyre_low(wheel: str) -> str:
    return f"Vehicle.Chassis.Axle.{wheel}.Tire.IsPressureLow"


# --- Snapshot ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """A signal's value and since when it has had it (seconds since the Unix epoch)."""

    value: Value
    since: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Current values (and actuator targets) of the signals the rules read, at one moment."""

    readings: Mapping[str, Reading] = field(default_factory=dict)
    targets: Mapping[str, Reading] = field(default_factory=dict)
    """Actuator targets: the value requested and when it was requested."""

    @classmethod
    def of(
        cls,
        values: Mapping[str, Value],
        *,
        since: float | Mapping[str, float] = 0.0,
        targets: Mapping[str, Value] | None = None,
        targets_since: float = 0.0,
    ) -> Snapshot:
        """A snapshot from plain values (tests, replays); `since` per path or for all."""

        def when(path: str) -> float:
            return since.get(path, 0.0) if isinstance(since, Mapping) else since

        return cls(
            {p: Reading(v, when(p)) for p, v in values.items()},
            {p: Reading(v, targets_since) for p, v in (targets or {}).items()},
        )

    def value(self, path: str) -> Value | None:
        reading = self.readings.get(path)
        return None if reading is None else reading.value

    def number(self, path: str) -> float | None:
        """A numeric value as float; None when absent or not a number."""
        value = self.value(path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def flag(self, path: str) -> bool | None:
        """A boolean value; None when absent or not a boolean."""
        value = self.value(path)
        return value if isinstance(value, bool) else None

    def since(self, path: str) -> float | None:
        reading = self.readings.get(path)
        return None if reading is None else reading.since

    def target(self, path: str) -> Reading | None:
        return self.targets.get(path)

    def position(self, lat_path: str = LATITUDE, lon_path: str = LONGITUDE) -> Position | None:
        """A position from two signals; None when either is missing or out of range."""
        lat, lon = self.number(lat_path), self.number(lon_path)
        if lat is None or lon is None:
            return None
        try:
            return Position(lat, lon)
        except SuggestionError:
            return None

    def destination(self) -> Position | None:
        """The navigation destination, when one is set."""
        return self.position(DEST_LATITUDE, DEST_LONGITUDE)

    def stationary_since(self) -> float | None:
        """Since when the car stands still; None while it moves or when nobody knows.

        `Vehicle.IsMoving` where published, else `Vehicle.Speed` below `STANDSTILL_KMH`.
        """
        moving = self.flag(IS_MOVING)
        if moving is not None:
            return None if moving else self.since(IS_MOVING)
        speed = self.number(SPEED)
        if speed is None or abs(speed) >= STANDSTILL_KMH:
            return None
        return self.since(SPEED)


class SnapshotReader:
    """Reads snapshots of `paths` (and targets of `target_paths`) from the hub.

    Paths the hub's catalog lacks are left out (a car with a smaller VSS tree). The client needs
    the `read` scope on the rest.
    """

    def __init__(
        self, client: Client, paths: Iterable[str], target_paths: Iterable[str] = ()
    ) -> None:
        catalog = client.broker.catalog
        self.client = client
        self.paths = tuple(dict.fromkeys(p for p in paths if p in catalog))
        self.target_paths = tuple(dict.fromkeys(p for p in target_paths if p in catalog))
        self._seen: dict[str, Reading] = {}

    def read(self, now: float) -> Snapshot:
        """The current values; `since` is kept across reads while a value stays the same."""
        readings: dict[str, Reading] = {}
        for path in self.paths:
            datapoint = self.client.get(path)
            if datapoint is None:
                self._seen.pop(path, None)
                continue
            before = self._seen.get(path)
            since = min(datapoint.timestamp, now)
            if before is not None and before.value == datapoint.value:
                since = min(before.since, since)
            readings[path] = Reading(datapoint.value, since)
        self._seen = readings
        targets: dict[str, Reading] = {}
        for path in self.target_paths:
            datapoint = self.client.get_target(path)
            if datapoint is not None:
                targets[path] = Reading(datapoint.value, datapoint.timestamp)
        return Snapshot(readings, targets)


RULE_SIGNALS: Final = (
    SPEED,
    IS_MOVING,
    LATITUDE,
    LONGITUDE,
    DEST_LATITUDE,
    DEST_LONGITUDE,
    REROUTE_SAVING,
    REROUTE_OFFER,
    RANGE,
    SOC,
    IS_CHARGING,
    CABLE_CONNECTED,
    CABIN_TEMPERATURE,
    DRIVER_FAN,
    DRIVER_OCCUPIED,
    CRASH_DETECTED,
    ACCEL_LONGITUDINAL,
    ACCEL_LATERAL,
    HAZARD,
    INDICATOR_LEFT,
    INDICATOR_RIGHT,
    *INTERVENTIONS,
    *WARNINGS,
    *(f(d) for d in DOORS for f in (door_locked, door_open, window_position)),
    *(f(w) for w in WHEELS for f in (tyre_pressure, tyre_low)),
)
"""Every signal the built-in rules and the safety predicate read."""

LOCK_TARGETS: Final = tuple(door_locked(d) for d in DOORS)
"""Actuator targets the rules read: a lock request is a target before the lock moves."""
