"""The car's terms for what people say: zones and seats as VSS branches, steps, light paths.

Zones are the seats a command applies to (`driver`, `passenger`, `rear-left`, `rear-right`, or
a group: `front`, `rear`, `left`, `right`, `all`). VSS names the rear seat on the driver's side
`Row2.Driver` for HVAC stations and `Row2.DriverSide` for doors and windows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

HVAC: Final = "Vehicle.Cabin.HVAC."
DOOR: Final = "Vehicle.Cabin.Door."
SEAT: Final = "Vehicle.Cabin.Seat."
LIGHTS: Final = "Vehicle.Body.Lights."
MEDIA: Final = "Vehicle.Cabin.Infotainment.Media."
CRUISE: Final = "Vehicle.ADAS.CruiseControl."

SINGLE_ZONES: Final = ("driver", "passenger", "rear-left", "rear-right")
ZONE_SEATS: Final[Mapping[str, tuple[str, ...]]] = {
    **{z: (z,) for z in SINGLE_ZONES},
    "front": ("driver", "passenger"),
    "rear": ("rear-left", "rear-right"),
    "left": ("driver", "rear-left"),
    "right": ("passenger", "rear-right"),
    "all": SINGLE_ZONES,
}
STATION: Final = {
    "driver": "Row1.Driver",
    "passenger": "Row1.Passenger",
    "rear-left": "Row2.Driver",
    "rear-right": "Row2.Passenger",
}
"""HVAC stations by seat (VSS: Row2.Driver is the rear seat on the driver's side)."""
DOOR_OF: Final = {
    "driver": "Row1.DriverSide",
    "passenger": "Row1.PassengerSide",
    "rear-left": "Row2.DriverSide",
    "rear-right": "Row2.PassengerSide",
}
HEATED_SEATS: Final = {"driver": "Row1.DriverSide", "passenger": "Row1.PassengerSide"}
"""Seats with heating and ventilation (the front seats, as in the catalog)."""

TEMPERATURE_STEP_C: Final = 1.0
FAN_STEP_PCT: Final = 20
VOLUME_STEP_PCT: Final = 10
CRUISE_STEP_KMH: Final = 5.0
SEAT_LEVELS: Final = 3
LIGHT_PATHS: Final = {
    "headlights": (LIGHTS + "Beam.Low.IsOn",),
    "high-beam": (LIGHTS + "Beam.High.IsOn",),
    "fog": (LIGHTS + "Fog.Front.IsOn", LIGHTS + "Fog.Rear.IsOn"),
    "parking": (LIGHTS + "Parking.IsOn",),
}
MEDIA_ACTION: Final = {
    "MediaPause": "STOP",
    "MediaNext": "SKIP_FORWARD",
    "MediaPrevious": "SKIP_BACKWARD",
}
DEFAULT_STEPS: Final[Mapping[str, float]] = {
    "ClimateAdjustTemperature": TEMPERATURE_STEP_C,
    "ClimateAdjustFanSpeed": FAN_STEP_PCT,
    "MediaAdjustVolume": VOLUME_STEP_PCT,
    "CruiseAdjustSpeed": CRUISE_STEP_KMH,
}


def seats_of(zone: str) -> tuple[str, ...]:
    """The single seats of a zone (empty for an unknown zone)."""
    return ZONE_SEATS.get(zone, ())
