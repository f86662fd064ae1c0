"""The simulated car's settings and limits: what it accepts, what it starts with, what it refuses.

The actuators listed in `SETTINGS` have no physical travel: their current value follows the
accepted target. The limits are the car's own rules, named, each with its reason.
"""

from __future__ import annotations

from typing import Final

from carmind.signals.catalog import Value

# --- Limits the car itself enforces (named, with their reasons) ---------------------------------

CHARGE_LIMIT_MIN_PCT: Final = 50
"""Lowest charge limit the car accepts (%): below it a daily-use car can strand its driver; 50 %
is the lower end of the range carmakers offer (Tesla 50-100 %)."""

CRUISE_MIN_SPEED_KMH: Final = 30.0
"""Cruise control engages only at or above this speed (km/h), as on most cars (25-40 km/h)."""

STANDSTILL_KMH: Final = 0.5
"""Below this speed the car counts as standing still (for plugging in a charger, say)."""

SEAT_HEATER_W: Final = 75.0
"""Electric power of one front seat heater or ventilation fan at 100 % (W); typical pads draw
50-100 W."""

TYRE_NOMINAL_KPA: Final = 250.0
TYRE_LOW_KPA: Final = 200.0
"""Cold inflation pressure of the simulation's tyres, and the warning threshold (kPa): TPMS warns
at a 20-25 % drop (UN R141)."""

TYRE_SPREAD_KPA: Final = 5.0
"""Cold pressures differ from tyre to tyre by up to this much (kPa): a gauge-and-pump tolerance."""

SLOW_PUBLISH_HZ: Final = 1.0
"""How often slowly changing sensors (temperatures, tyres, charging details) are published (Hz)."""

CABIN_HZ: Final = 5.0
"""Steps per second of the cabin thermal model: its time constants are minutes, and each step is
solved exactly, so 5 Hz loses nothing and keeps the simulator fast."""

DC_DC_VOLTAGE_V: Final = 14.2
"""12 V bus voltage while the DC/DC converter charges the low-voltage battery (V)."""

DOORS = ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
STATIONS = ("Row1.Driver", "Row1.Passenger", "Row2.Driver", "Row2.Passenger")
WHEELS = ("Row1.Wheel.Left", "Row1.Wheel.Right", "Row2.Wheel.Left", "Row2.Wheel.Right")

HVAC = "Vehicle.Cabin.HVAC."
CHARGING = "Vehicle.Powertrain.TractionBattery.Charging."
SIM = "Vehicle.Carmind.Simulation."
CRUISE = "Vehicle.ADAS.CruiseControl."

TARGET_SPEED = SIM + "TargetSpeed"
CHARGER_POWER = SIM + "ChargerPower"
FAULT = SIM + "Fault"
ROUTE = SIM + "Route"
CHARGE_LIMIT = CHARGING + "ChargeLimit"
START_STOP = CHARGING + "StartStopCharging"

# Actuators whose current value simply follows the target (settings with no physical travel).
SETTINGS: Final = frozenset(
    {
        *(
            f"{HVAC}Station.{s}.{leaf}"
            for s in STATIONS
            for leaf in ("Temperature", "FanSpeed", "AirDistribution")
        ),
        HVAC + "IsAirConditioningActive",
        HVAC + "IsRecirculationActive",
        HVAC + "IsFrontDefrosterActive",
        HVAC + "IsRearDefrosterActive",
        CHARGE_LIMIT,
        START_STOP,
        CHARGING + "ChargingPort.AnyPosition.IsChargingCableLocked",
        CHARGING + "ChargingPort.AnyPosition.IsFlapOpen",
        CRUISE + "IsEnabled",
        CRUISE + "IsActive",
        CRUISE + "SpeedSet",
        "Vehicle.ADAS.LaneDepartureDetection.IsEnabled",
        "Vehicle.ADAS.ObstacleDetection.IsEnabled",
        "Vehicle.ADAS.ABS.IsEnabled",
        "Vehicle.ADAS.ESC.IsEnabled",
        "Vehicle.ADAS.TCS.IsEnabled",
        "Vehicle.ADAS.EBA.IsEnabled",
        "Vehicle.ADAS.DMS.IsEnabled",
        "Vehicle.Body.Lights.LightSwitch",
        "Vehicle.Body.Mirrors.DriverSide.IsFolded",
        "Vehicle.Body.Mirrors.PassengerSide.IsFolded",
        "Vehicle.Body.Windshield.Front.Wiping.Mode",
        "Vehicle.Cabin.Infotainment.Media.Action",
        "Vehicle.Cabin.Infotainment.Media.Volume",
        "Vehicle.Cabin.Infotainment.Media.Played.Source",
        "Vehicle.Cabin.Infotainment.Media.SelectedURI",
        "Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Latitude",
        "Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Longitude",
        "Vehicle.Cabin.Infotainment.Navigation.Volume",
        "Vehicle.Cabin.Infotainment.Navigation.Mute",
        "Vehicle.Cabin.Infotainment.HMI.DayNightMode",
        "Vehicle.TripMeterReading",
        TARGET_SPEED,
        SIM + "RoadGrade",
        SIM + "RoadGrip",
        SIM + "AmbientTemperature",
        CHARGER_POWER,
        FAULT,
        ROUTE,
    }
)

INITIAL_SETTINGS: Final[dict[str, Value]] = {
    **{f"{HVAC}Station.{s}.Temperature": 21.0 for s in STATIONS},
    **{f"{HVAC}Station.{s}.FanSpeed": 0 for s in STATIONS},
    **{f"{HVAC}Station.{s}.AirDistribution": "MIDDLE" for s in STATIONS},
    HVAC + "IsAirConditioningActive": False,
    HVAC + "IsRecirculationActive": False,
    HVAC + "IsFrontDefrosterActive": False,
    HVAC + "IsRearDefrosterActive": False,
    CHARGE_LIMIT: 90,
    START_STOP: "STOP",
    CHARGING + "ChargingPort.AnyPosition.IsChargingCableLocked": False,
    CHARGING + "ChargingPort.AnyPosition.IsFlapOpen": False,
    CRUISE + "IsEnabled": True,
    CRUISE + "IsActive": False,
    CRUISE + "SpeedSet": 0.0,
    "Vehicle.ADAS.LaneDepartureDetection.IsEnabled": True,
    "Vehicle.ADAS.ObstacleDetection.IsEnabled": True,
    "Vehicle.ADAS.ABS.IsEnabled": True,
    "Vehicle.ADAS.ESC.IsEnabled": True,
    "Vehicle.ADAS.TCS.IsEnabled": True,
    "Vehicle.ADAS.EBA.IsEnabled": True,
    "Vehicle.ADAS.DMS.IsEnabled": True,
    "Vehicle.Body.Lights.LightSwitch": "AUTO",
    "Vehicle.Body.Mirrors.DriverSide.IsFolded": False,
    "Vehicle.Body.Mirrors.PassengerSide.IsFolded": False,
    "Vehicle.Body.Windshield.Front.Wiping.Mode": "OFF",
    "Vehicle.Cabin.Infotainment.Media.Action": "STOP",
    "Vehicle.Cabin.Infotainment.Media.Volume": 30,
    "Vehicle.Cabin.Infotainment.Media.Played.Source": "BLUETOOTH",
    "Vehicle.Cabin.Infotainment.Navigation.Volume": 50,
    "Vehicle.Cabin.Infotainment.Navigation.Mute": "UNMUTED",
    "Vehicle.Cabin.Infotainment.HMI.DayNightMode": "DAY",
    "Vehicle.TripMeterReading": 0.0,
    TARGET_SPEED: 0.0,
    SIM + "RoadGrade": 0.0,
    SIM + "RoadGrip": 1.0,
    CHARGER_POWER: 0.0,
    FAULT: "NONE",
    ROUTE: "",
}

# Sensors `prime()` can put into a state directly (the rest follow from the models).
PRIMEABLE: Final = (
    "Vehicle.Speed",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed",
    "Vehicle.Exterior.AirTemperature",
    "Vehicle.Cabin.HVAC.AmbientAirTemperature",
    "Vehicle.CurrentLocation.Latitude",
    "Vehicle.CurrentLocation.Longitude",
    "Vehicle.CurrentLocation.Heading",
    "Vehicle.CurrentLocation.Altitude",
    "Vehicle.Powertrain.TractionBattery.Charging.ChargingPort.AnyPosition.IsChargingCableConnected",
    "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure",
    "Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure",
    "Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure",
    "Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure",
    "Vehicle.TraveledDistance",
)

HOME_CHARGER_KW: Final = 11.0
"""Charger assumed when a test primes 'cable connected' without naming a power (a home wallbox)."""


def as_float(value: Value) -> float:
    """A numeric setting as float (settings hold validated VSS values)."""
    assert isinstance(value, int | float) and not isinstance(value, bool)
    return float(value)
