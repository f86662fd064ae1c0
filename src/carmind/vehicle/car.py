"""The simulated electric car as a provider on the signal hub.

`SimulatedCar` ties the powertrain (dynamics, battery, controller), the body and the cabin to the
broker: it claims the VSS signals a car provides, makes actuator targets real through its models
(refusing, with a reason, what its own interlocks forbid) and publishes current values at a fixed
rate. It runs on a simulated clock: as fast as possible (`advance`, for tests and cycles) or in
real time (`run_realtime`, the live car of `carmind run`), deterministically for a given seed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from carmind.signals.broker import Broker, Client, ProviderHandle
from carmind.signals.catalog import NodeType, Value
from carmind.vehicle import battery, dynamics
from carmind.vehicle.body import Body
from carmind.vehicle.controller import SpeedController
from carmind.vehicle.cycles import DriveCycle
from carmind.vehicle.errors import PrimeError
from carmind.vehicle.profiles import VehicleProfile
from carmind.vehicle.thermal import (
    MAX_TARGET_C,
    MIN_TARGET_C,
    CabinParameters,
    HvacSettings,
    cabin_step,
    initial_cabin,
)

log = logging.getLogger(__name__)

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

_DOORS = ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
_STATIONS = ("Row1.Driver", "Row1.Passenger", "Row2.Driver", "Row2.Passenger")
_WHEELS = ("Row1.Wheel.Left", "Row1.Wheel.Right", "Row2.Wheel.Left", "Row2.Wheel.Right")

_HVAC = "Vehicle.Cabin.HVAC."
_CHG = "Vehicle.Powertrain.TractionBattery.Charging."
_SIM = "Vehicle.Carmind.Simulation."
_CRUISE = "Vehicle.ADAS.CruiseControl."

TARGET_SPEED = _SIM + "TargetSpeed"
CHARGER_POWER = _SIM + "ChargerPower"
FAULT = _SIM + "Fault"
CHARGE_LIMIT = _CHG + "ChargeLimit"
START_STOP = _CHG + "StartStopCharging"

# Actuators whose current value simply follows the target (settings with no physical travel).
_SETTINGS: Final = frozenset(
    {
        *(
            f"{_HVAC}Station.{s}.{leaf}"
            for s in _STATIONS
            for leaf in ("Temperature", "FanSpeed", "AirDistribution")
        ),
        _HVAC + "IsAirConditioningActive",
        _HVAC + "IsRecirculationActive",
        _HVAC + "IsFrontDefrosterActive",
        _HVAC + "IsRearDefrosterActive",
        CHARGE_LIMIT,
        START_STOP,
        _CHG + "ChargingPort.AnyPosition.IsChargingCableLocked",
        _CHG + "ChargingPort.AnyPosition.IsFlapOpen",
        _CRUISE + "IsEnabled",
        _CRUISE + "IsActive",
        _CRUISE + "SpeedSet",
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
        _SIM + "RoadGrade",
        _SIM + "RoadGrip",
        _SIM + "AmbientTemperature",
        CHARGER_POWER,
        FAULT,
    }
)

_INITIAL_SETTINGS: Final[dict[str, Value]] = {
    **{f"{_HVAC}Station.{s}.Temperature": 21.0 for s in _STATIONS},
    **{f"{_HVAC}Station.{s}.FanSpeed": 0 for s in _STATIONS},
    **{f"{_HVAC}Station.{s}.AirDistribution": "MIDDLE" for s in _STATIONS},
    _HVAC + "IsAirConditioningActive": False,
    _HVAC + "IsRecirculationActive": False,
    _HVAC + "IsFrontDefrosterActive": False,
    _HVAC + "IsRearDefrosterActive": False,
    CHARGE_LIMIT: 90,
    START_STOP: "STOP",
    _CHG + "ChargingPort.AnyPosition.IsChargingCableLocked": False,
    _CHG + "ChargingPort.AnyPosition.IsFlapOpen": False,
    _CRUISE + "IsEnabled": True,
    _CRUISE + "IsActive": False,
    _CRUISE + "SpeedSet": 0.0,
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
    _SIM + "RoadGrade": 0.0,
    _SIM + "RoadGrip": 1.0,
    CHARGER_POWER: 0.0,
    FAULT: "NONE",
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


def _f(value: Value) -> float:
    """A numeric setting as float (settings hold validated VSS values)."""
    assert isinstance(value, int | float) and not isinstance(value, bool)
    return float(value)


class SimClock:
    """Simulated time: `epoch` (Unix seconds at simulation start) plus the simulated seconds."""

    def __init__(self, epoch: float | None = None) -> None:
        self.epoch = time.time() if epoch is None else epoch
        self.elapsed = 0.0

    def __call__(self) -> float:
        return self.epoch + self.elapsed


@dataclass(frozen=True, slots=True)
class CarOptions:
    soc_pct: float = 80.0
    ambient_c: float = 20.0
    latitude: float = 60.1699
    longitude: float = 24.9384
    heading_deg: float = 0.0
    vin: str = ""
    seed: int = 0
    tick_hz: float = 20.0
    publish_hz: float = 10.0


class SimulatedCar:
    """The simulated EV: physics, body and cabin on a simulated clock, a provider on the hub."""

    def __init__(
        self,
        broker: Broker,
        profile: VehicleProfile,
        options: CarOptions | None = None,
        clock: SimClock | None = None,
        name: str = "vehicle",
    ) -> None:
        self.options = opts = options or CarOptions()
        self.profile = profile
        self.clock = clock or SimClock()
        self.client: Client = broker.client(name, "read provide")
        self.dt = 1.0 / opts.tick_hz
        self._publish_every = max(1, round(opts.tick_hz / opts.publish_hz))
        self._cabin_every = max(1, round(opts.tick_hz / CABIN_HZ))
        self._tick = 0

        self.motion = dynamics.initial_state(profile, opts.soc_pct, opts.ambient_c)
        self.body = Body()
        self.cabin_params = CabinParameters()
        self.cabin = initial_cabin(opts.ambient_c)
        self.controller = SpeedController(profile)
        self.settings: dict[str, Value] = dict(_INITIAL_SETTINGS)
        self.settings[_SIM + "AmbientTemperature"] = opts.ambient_c
        self._hvac = self._hvac_settings()

        self.latitude = opts.latitude
        self.longitude = opts.longitude
        self.heading = opts.heading_deg
        self.altitude = 0.0
        self.odometer_km = 0.0
        self.trip_start_km = 0.0
        self.driver: DriveCycle | None = None
        self._driver_t0 = 0.0
        self.charging = False
        # no two tyres hold exactly the same pressure: a per-seed spread around the nominal
        spread = random.Random(opts.seed)
        self.tyre_kpa: dict[str, float] = {
            w: float(round(TYRE_NOMINAL_KPA + spread.uniform(-TYRE_SPREAD_KPA, TYRE_SPREAD_KPA)))
            for w in _WHEELS
        }
        self._recent = battery.RecentConsumption()
        self._last_refusal = ""
        self._published: dict[str, Value] = {}
        self._dirty: dict[str, Value] = {}
        self._publishable: frozenset[str] = frozenset()
        self._seat_w = 0.0
        self._publishes = 0
        self._slow_every = max(1, round(opts.publish_hz / SLOW_PUBLISH_HZ))
        self._rtf = 0.0
        self._reset_after_fault = False
        self._last_drive = dynamics.HOLD
        self._road = dynamics.Road()
        self._road_key: tuple[Value, Value] = (0.0, 1.0)

        self._handle: ProviderHandle | None = None
        self._stop = asyncio.Event()

    # ------------------------------------------------------------------ hub wiring

    def attach(self) -> None:
        """Claim the car's signals on the hub and publish attributes and first values."""
        catalog = self.client.broker.catalog
        actuators = [p for p in (*_SETTINGS, *Body.ACTUATORS) if p in catalog]
        sensors = [
            p
            for p in (*self._state_values(), *Body.PATHS)
            if p in catalog and catalog.get(p).type is not NodeType.ACTUATOR
        ]
        self._publishable = frozenset(actuators) | frozenset(sensors)
        attributes = {p: v for p, v in self._attributes().items() if p in catalog}
        self._handle = self.client.provide([*actuators, *sensors, *attributes], actuator=self)
        self._handle.publish_many(attributes, self.clock())
        self.publish(force=True)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _attributes(self) -> dict[str, Value]:
        p = self.profile
        return {
            "Vehicle.VehicleIdentification.VIN": self.options.vin or p.vin_example,
            "Vehicle.VehicleIdentification.Brand": p.brand,
            "Vehicle.VehicleIdentification.Model": p.model,
            "Vehicle.VehicleIdentification.Year": p.model_year,
            "Vehicle.VehicleIdentification.BodyType": p.body_type,
            "Vehicle.VehicleIdentification.VehicleSeatingCapacity": p.seats,
            "Vehicle.Powertrain.Type": "ELECTRIC",
            "Vehicle.CurbWeight": round(p.curb_mass_kg),
            "Vehicle.Chassis.Wheelbase": round(p.wheelbase_m * 1000),
            "Vehicle.Powertrain.ElectricMotor.MaxPower": round(p.peak_power_kw),
            "Vehicle.Powertrain.ElectricMotor.MaxTorque": round(p.peak_torque_nm),
            "Vehicle.Powertrain.ElectricMotor.MaxRegenPower": round(p.regen_limit_kw),
            "Vehicle.Powertrain.TractionBattery.GrossCapacity": round(p.gross_battery_kwh),
            "Vehicle.Powertrain.TractionBattery.NominalVoltage": round(p.nominal_voltage_v),
            "Vehicle.LowVoltageBattery.NominalVoltage": 12,
            "Vehicle.LowVoltageBattery.NominalCapacity": 60,
            "Vehicle.ADAS.SupportedAutonomyLevel": "SAE_2",
            "Vehicle.Cabin.DoorCount": 5 if p.body_type in ("SUV", "hatchback") else 4,
            _SIM + "Profile": p.id,
        }

    # ------------------------------------------------------------------ actuation provider

    @property
    def speed_kmh(self) -> float:
        return self.motion.speed_mps * 3.6

    def check_actuation(self, values: Mapping[str, Value]) -> Mapping[str, str]:
        """The car's own rules: interlocks, accepted ranges, what the situation allows."""
        speed = self.speed_kmh
        refusals: dict[str, str] = {}
        merged = {**self.settings, **values}
        for path, value in values.items():
            reason: str | None = None
            if path in Body.ACTUATORS:
                refusal = self.body.check(path, value, speed)
                reason = refusal.reason if refusal else None
            elif path.endswith(".Temperature") and path.startswith(_HVAC):
                assert isinstance(value, float)
                if not MIN_TARGET_C <= value <= MAX_TARGET_C:
                    reason = (
                        f"climate set-points range from {MIN_TARGET_C:g} to {MAX_TARGET_C:g} °C"
                    )
            elif path == CHARGE_LIMIT:
                assert isinstance(value, int)
                if value < CHARGE_LIMIT_MIN_PCT:
                    reason = f"the charge limit ranges from {CHARGE_LIMIT_MIN_PCT} to 100 %"
            elif path == CHARGER_POWER:
                if isinstance(value, float) and value > 0:
                    reason = self._drive_intent(speed, merged)
            elif path == TARGET_SPEED:
                assert isinstance(value, float)
                if value > 0 and _f(merged[CHARGER_POWER]) > 0:
                    reason = "the charging cable is connected: unplug before driving"
            elif path == START_STOP and value == "START":
                if _f(merged[CHARGER_POWER]) <= 0:
                    reason = "no charger is connected"
            elif path == _CRUISE + "IsActive" and value is True:
                if merged[_CRUISE + "IsEnabled"] is not True:
                    reason = "cruise control is switched off"
                elif speed < CRUISE_MIN_SPEED_KMH:
                    reason = f"cruise control engages from {CRUISE_MIN_SPEED_KMH:g} km/h"
            elif path == _CRUISE + "SpeedSet":
                assert isinstance(value, float)
                if value > self.profile.top_speed_limit_kmh:
                    reason = (
                        f"above the car's top speed of {self.profile.top_speed_limit_kmh:g} km/h"
                    )
            if reason is not None:
                refusals[path] = reason
        if refusals:
            path, reason = next(iter(refusals.items()))
            self._last_refusal = f"{path}={values[path]!r}: {reason}"
        return refusals

    def _drive_intent(self, speed: float, settings: Mapping[str, Value]) -> str | None:
        """Why the car cannot be plugged in now: it moves, or is set to move."""
        if speed > STANDSTILL_KMH:
            return f"cannot plug in a charger while moving at {speed:.0f} km/h"
        if settings[_CRUISE + "IsActive"] is True:
            return "cannot plug in a charger while cruise control is active"
        if self.driver is not None:
            return f"cannot plug in a charger while the driver follows the {self.driver.name} cycle"
        if _f(settings[TARGET_SPEED]) > 0:
            return (
                f"cannot plug in a charger while the target speed is "
                f"{_f(settings[TARGET_SPEED]):g} km/h: set it to 0 first"
            )
        return None

    def actuate(self, values: Mapping[str, Value]) -> None:
        speed = self.speed_kmh
        hvac_changed = False
        for path, value in values.items():
            if path in Body.ACTUATORS:
                refusal = self.body.apply(path, value, speed)
                if refusal is not None:  # checked a moment ago; the world cannot have changed
                    log.warning("body refused %s after check: %s", path, refusal.reason)
                continue
            self._set(path, value)
            if path.startswith(_HVAC):
                hvac_changed = True
            elif path == TARGET_SPEED:
                self.driver = None  # a manual target takes over from a drive cycle
            elif path == CHARGER_POWER:
                self.charging = _f(value) > 0 and self.motion.soc_pct < _f(
                    self.settings[CHARGE_LIMIT]
                )
                self._set(START_STOP, "START" if self.charging else "STOP")
            elif path == START_STOP:
                self.charging = value == "START"
            elif path == _CRUISE + "IsEnabled" and value is False:
                self._set(_CRUISE + "IsActive", False)  # switching cruise off ends it
            elif path == _CRUISE + "IsActive" and value is True:
                if _f(self.settings[_CRUISE + "SpeedSet"]) < CRUISE_MIN_SPEED_KMH:
                    self._set(
                        _CRUISE + "SpeedSet", float(round(speed))
                    )  # "set" takes the speed now
            elif path == FAULT and value == "NONE":
                self._reset_after_fault = True  # once the body has seen the cause gone
        if hvac_changed:
            self._hvac = self._hvac_settings()

    def _set(self, path: str, value: Value) -> None:
        """Change a setting; it is published on the next publish tick."""
        self.settings[path] = value
        self._dirty[path] = value

    def _hvac_settings(self) -> HvacSettings:
        s = self.settings
        station = f"{_HVAC}Station."
        return HvacSettings(
            zone_targets_c={st: _f(s[f"{station}{st}.Temperature"]) for st in _STATIONS},
            fan_speed_pct={st: _f(s[f"{station}{st}.FanSpeed"]) for st in _STATIONS},
            air_distribution={st: str(s[f"{station}{st}.AirDistribution"]) for st in _STATIONS},
            ac_on=s[_HVAC + "IsAirConditioningActive"] is True,
            recirculation=s[_HVAC + "IsRecirculationActive"] is True,
            front_defrost=s[_HVAC + "IsFrontDefrosterActive"] is True,
            rear_defrost=s[_HVAC + "IsRearDefrosterActive"] is True,
        )

    # ------------------------------------------------------------------ priming

    def prime(self, path: str, value: Value) -> None:
        """Put a sensor into a state directly (tests, `--set`); see `PRIMEABLE`."""
        if path == "Vehicle.Speed":
            speed = _f(value) / 3.6
            self.motion = dynamics.with_speed(self.motion, speed)
            self._set(TARGET_SPEED, _f(value))
            self.controller.reset()
        elif path.startswith("Vehicle.Powertrain.TractionBattery.StateOfCharge."):
            self.motion = dynamics.with_soc(self.motion, _f(value))
        elif path == "Vehicle.Exterior.AirTemperature":
            self._set(_SIM + "AmbientTemperature", _f(value))
        elif path == "Vehicle.Cabin.HVAC.AmbientAirTemperature":
            self.cabin = initial_cabin(_f(value))
        elif path == "Vehicle.CurrentLocation.Latitude":
            self.latitude = _f(value)
        elif path == "Vehicle.CurrentLocation.Longitude":
            self.longitude = _f(value)
        elif path == "Vehicle.CurrentLocation.Heading":
            self.heading = _f(value) % 360.0
        elif path == "Vehicle.CurrentLocation.Altitude":
            self.altitude = _f(value)
        elif path.endswith("IsChargingCableConnected"):
            self._set(CHARGER_POWER, HOME_CHARGER_KW if value else 0.0)
            self.charging = bool(value) and self.motion.soc_pct < _f(self.settings[CHARGE_LIMIT])
        elif path.endswith(".Tire.Pressure"):
            wheel = path.removeprefix("Vehicle.Chassis.Axle.").removesuffix(".Tire.Pressure")
            self.tyre_kpa[wheel] = _f(value)
        elif path == "Vehicle.TraveledDistance":
            self.odometer_km = _f(value)
        else:
            raise PrimeError(path, PRIMEABLE)
        self.publish(force=True)

    # ------------------------------------------------------------------ time

    def drive_cycle(self, cycle: DriveCycle | None) -> None:
        """Let the simulated driver follow `cycle` (looping), or stop following one."""
        self.driver = cycle
        self._driver_t0 = self.clock.elapsed

    def _target_speed_mps(self) -> float:
        if _f(self.settings[CHARGER_POWER]) > 0:
            return 0.0  # the cable is connected: the car holds still, whatever it was asked
        if self.settings[_CRUISE + "IsActive"] is True:
            return _f(self.settings[_CRUISE + "SpeedSet"]) / 3.6
        if self.driver is not None:
            t = (self.clock.elapsed - self._driver_t0) % self.driver.duration_s
            return self.driver.speed_at(t) / 3.6
        return _f(self.settings[TARGET_SPEED]) / 3.6

    def step(self) -> None:
        """Advance the whole car by one tick and publish when a publish tick comes round."""
        dt = self.dt
        s = self.settings
        ambient = _f(s[_SIM + "AmbientTemperature"])
        fault = s[FAULT]
        self._tick += 1
        if self._tick % self._cabin_every == 0:  # the cabin is slow: step it at a lower rate
            self.cabin = cabin_step(
                self.cabin_params, self.cabin, self._hvac, ambient, dt * self._cabin_every
            )
            self._seat_w = self._seat_power_w()
        extra_w = self.cabin.hvac_power_w + self._seat_w  # on top of the profile's 12 V load
        before_m = self.motion.distance_m
        if self.charging and self.motion.speed_mps < 0.1:
            limit = _f(s[CHARGE_LIMIT])
            self.motion = battery.charge_step(
                self.profile, self.motion, _f(s[CHARGER_POWER]), limit, dt, extra_w, ambient
            )
            if self.motion.soc_pct >= limit - 1e-6:
                self.charging = False
                self._set(START_STOP, "STOP")
        else:
            target = self._target_speed_mps()
            motion = self.motion
            if target <= 0.0 and motion.speed_mps <= 0.0:
                drive = dynamics.HOLD
            else:
                drive = self.controller.update(target, motion, dt)
            if self._road_key != (s[_SIM + "RoadGrade"], s[_SIM + "RoadGrip"]):
                self._road_key = (s[_SIM + "RoadGrade"], s[_SIM + "RoadGrip"])
                self._road = dynamics.Road(
                    grade_pct=_f(s[_SIM + "RoadGrade"]), grip_factor=_f(s[_SIM + "RoadGrip"])
                )
            self.motion = dynamics.step(
                self.profile, motion, drive, self._road, dt, extra_w, ambient
            )
            self._last_drive = drive
        moved_m = self.motion.distance_m - before_m
        if moved_m > 0.0:
            self._move(moved_m, self._road.grade_pct)
            self._recent.add(self.motion)
        low_voltage = 0.0 if fault == "LOW_VOLTAGE_LOSS" else DC_DC_VOLTAGE_V
        self.body.step(dt, self.speed_kmh, low_voltage, fault == "CRASH")
        if self._reset_after_fault:
            self._reset_after_fault = False
            self.body.reset_emergency()
        self.clock.elapsed += dt
        if self._tick % self._publish_every == 0:
            self.publish()

    def _seat_power_w(self) -> float:
        total = 0.0
        for seat in ("Row1.DriverSide", "Row1.PassengerSide"):
            total += abs(self.body.seat(seat).heating_cooling) / 100.0 * SEAT_HEATER_W
        return total

    def _move(self, distance_m: float, grade_pct: float) -> None:
        self.odometer_km += distance_m / 1000.0
        heading = math.radians(self.heading)
        dlat = distance_m * math.cos(heading) / 111_320.0
        dlon = (
            distance_m
            * math.sin(heading)
            / (111_320.0 * max(0.01, math.cos(math.radians(self.latitude))))
        )
        self.latitude = max(-90.0, min(90.0, self.latitude + dlat))
        self.longitude = (self.longitude + dlon + 180.0) % 360.0 - 180.0
        self.altitude += distance_m * grade_pct / 100.0 / math.sqrt(1 + (grade_pct / 100.0) ** 2)

    @property
    def recent_consumption(self) -> float | None:
        """Battery energy per 100 km over the recent distance, once there is enough of it."""
        return self._recent.kwh_per_100km

    def advance(self, seconds: float) -> None:
        """Run the car for `seconds` of simulated time, as fast as possible."""
        for _ in range(round(seconds / self.dt)):
            self.step()

    async def run_realtime(self, speed_factor: float = 1.0) -> None:
        """Run in real time (or `speed_factor` times faster) until `stop()`."""
        self._stop.clear()
        loop = asyncio.get_running_loop()
        start_wall = loop.time()
        start_sim = self.clock.elapsed
        window_wall, window_sim = start_wall, start_sim
        while not self._stop.is_set():
            due = start_wall + (self.clock.elapsed - start_sim) / speed_factor
            delay = due - loop.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
            self.step()
            now = loop.time()
            if now - window_wall >= 1.0:
                self._rtf = (self.clock.elapsed - window_sim) / (now - window_wall)
                window_wall, window_sim = now, self.clock.elapsed
            if delay <= 0:
                await asyncio.sleep(0)  # let subscribers run even when behind

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ publishing

    def _state_values(self, slow: bool = True) -> dict[str, Value]:
        """The sensors the models drive: motion every publish, the slow rest when `slow`."""
        m = self.motion
        speed_kmh = max(0.0, m.speed_mps * 3.6)
        drive = self._last_drive
        values: dict[str, Value] = {
            "Vehicle.Speed": round(speed_kmh, 2),
            "Vehicle.IsMoving": speed_kmh > STANDSTILL_KMH,
            "Vehicle.TraveledDistance": round(self.odometer_km, 3),
            "Vehicle.Acceleration.Longitudinal": round(m.acceleration_mps2, 2),
            "Vehicle.CurrentLocation.Latitude": round(self.latitude, 6),
            "Vehicle.CurrentLocation.Longitude": round(self.longitude, 6),
            "Vehicle.CurrentLocation.Heading": round(self.heading % 360.0, 1),
            "Vehicle.CurrentLocation.Altitude": round(self.altitude, 1),
            "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current": round(m.soc_pct, 2),
            "Vehicle.Powertrain.TractionBattery.CurrentPower": round(m.battery_power_kw * 1000.0),
            "Vehicle.Powertrain.ElectricMotor.Power": round(m.motor_power_kw),
            "Vehicle.Powertrain.ElectricMotor.Torque": round(m.motor_torque_nm),
            "Vehicle.Powertrain.ElectricMotor.Speed": round(m.motor_speed_rpm),
            "Vehicle.Chassis.Accelerator.PedalPosition": round(drive.accelerator * 100),
            "Vehicle.Chassis.Brake.PedalPosition": round(drive.brake * 100),
            "Vehicle.ADAS.TCS.IsEngaged": m.traction_limit == "grip" and drive.accelerator > 0,
            "Vehicle.ADAS.ABS.IsEngaged": m.traction_limit == "grip" and drive.brake > 0,
        }
        if slow:
            values.update(self._slow_values())
        return values

    def _slow_values(self) -> dict[str, Value]:
        m = self.motion
        p = self.profile
        s = self.settings
        speed_kmh = max(0.0, m.speed_mps * 3.6)
        consumption = self.recent_consumption
        range_m = round(battery.estimate_range_km(p, m.soc_pct, consumption) * 1000.0)
        charger_kw = _f(s[CHARGER_POWER])
        charge_kw = battery.charge_power_kw(p, m.soc_pct, charger_kw) if self.charging else 0.0
        limit = _f(s[CHARGE_LIMIT])
        to_full = (
            battery.time_to_charge_s(p, m.soc_pct, limit, charger_kw)
            if self.charging and m.soc_pct < limit
            else 0.0
        )
        fault = s[FAULT]
        aux_w = p.aux_power_w + self.cabin.hvac_power_w + self._seat_w
        since_start = self.odometer_km - self.trip_start_km
        trip_s = self.clock.elapsed
        ambient = _f(s[_SIM + "AmbientTemperature"])
        current_a = m.battery_power_kw * 1000.0 / p.nominal_voltage_v
        values: dict[str, Value] = {
            "Vehicle.TraveledDistanceSinceStart": round(since_start, 2),
            "Vehicle.TripDuration": round(trip_s),
            "Vehicle.AverageSpeed": round(since_start / trip_s * 3600.0, 1) if trip_s > 0 else 0.0,
            "Vehicle.Acceleration.Lateral": 0.0,
            "Vehicle.Acceleration.Vertical": 0.0,
            "Vehicle.AngularVelocity.Yaw": 0.0,
            "Vehicle.Chassis.SteeringWheel.Angle": 0,
            "Vehicle.LowVoltageSystemState": "ON",
            "Vehicle.CurrentLocation.HorizontalAccuracy": 2.5,
            "Vehicle.Powertrain.Range": range_m,
            "Vehicle.Powertrain.TractionBattery.Range": range_m,
            "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed": float(round(m.soc_pct)),
            "Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy": round(
                p.usable_battery_kwh * m.soc_pct / 100.0, 2
            ),
            "Vehicle.Powertrain.TractionBattery.NetCapacity": round(p.usable_battery_kwh),
            "Vehicle.Powertrain.TractionBattery.StateOfHealth": 100.0,
            "Vehicle.Powertrain.TractionBattery.Temperature.Average": round(m.battery_temp_c, 1),
            "Vehicle.Powertrain.TractionBattery.CurrentVoltage": float(p.nominal_voltage_v),
            "Vehicle.Powertrain.TractionBattery.CurrentCurrent": round(current_a, 1),
            "Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy": round(
                m.energy_used_kwh, 2
            ),
            "Vehicle.Powertrain.TractionBattery.AccumulatedChargedEnergy": round(
                m.energy_regen_kwh + m.energy_charged_kwh, 2
            ),
            "Vehicle.Powertrain.ElectricMotor.Temperature": round(m.motor_temp_c, 1),
            _CHG + "IsCharging": self.charging,
            _CHG + "ChargingPort.AnyPosition.IsChargingCableConnected": charger_kw > 0,
            _CHG + "ChargeRate": round(charge_kw / self._kwh_per_km()) if self.charging else 0.0,
            _CHG + "MaxPower": round(charger_kw, 1),
            _CHG + "AveragePower": round(charge_kw, 1),
            _CHG + "TimeToComplete": round(to_full),
            _CHG + "ChargeVoltage.DC": float(p.nominal_voltage_v) if self.charging else 0.0,
            _CHG + "ChargeCurrent.DC": (
                round(charge_kw * 1000.0 / p.nominal_voltage_v, 1) if self.charging else 0.0
            ),
            "Vehicle.Exterior.AirTemperature": ambient,
            "Vehicle.Cabin.HVAC.AmbientAirTemperature": round(self.cabin.cabin_temp_c, 1),
            "Vehicle.LowVoltageBattery.CurrentVoltage": (
                0.0 if fault == "LOW_VOLTAGE_LOSS" else DC_DC_VOLTAGE_V
            ),
            "Vehicle.LowVoltageBattery.CurrentCurrent": round(aux_w / DC_DC_VOLTAGE_V, 1),
            "Vehicle.ADAS.ActiveAutonomyLevel": (
                "SAE_1" if s[_CRUISE + "IsActive"] is True else "SAE_0"
            ),
            "Vehicle.ADAS.CruiseControl.IsError": False,
            "Vehicle.ADAS.ESC.IsEngaged": False,
            "Vehicle.ADAS.EBA.IsEngaged": False,
            _SIM + "RealTimeFactor": round(self._rtf, 1),
            "Vehicle.Carmind.Safety.IsCrashDetected": fault == "CRASH",
            "Vehicle.Carmind.Safety.IsLowVoltageLost": not self.body.is_powered,
            "Vehicle.Carmind.Safety.LastRefusal": self._last_refusal,
            "Vehicle.Carmind.Energy.HVACPower": round(self.cabin.hvac_power_w),
            "Vehicle.Carmind.Energy.AuxiliaryPower": round(aux_w),
            "Vehicle.Carmind.Energy.RecentConsumption": round(
                consumption if consumption is not None else p.rated_consumption_kwh_per_100km, 2
            ),
        }
        tyre_c = round(ambient + min(25.0, speed_kmh / 6.0), 1)
        for wheel, kpa in self.tyre_kpa.items():
            base = f"Vehicle.Chassis.Axle.{wheel}.Tire."
            values[base + "Pressure"] = round(kpa)
            values[base + "IsPressureLow"] = kpa < TYRE_LOW_KPA
            values[base + "Temperature"] = tyre_c
        return values

    def _kwh_per_km(self) -> float:
        consumption = self.recent_consumption or self.profile.rated_consumption_kwh_per_100km
        return consumption / 100.0

    def publish(self, force: bool = False) -> None:
        """Publish every value that changed since the last publish (all of them with `force`)."""
        self._publishes += 1
        slow = force or self._publishes % self._slow_every == 0
        values = self._state_values(slow)
        if force:
            values.update(self.settings)
            values.update(self.body.current_values())
        else:
            values.update(self._dirty)
            values.update(self.body.changed_values())
        self._dirty.clear()
        published = self._published
        known = self._publishable
        changed = {
            p: v for p, v in values.items() if p in known and (force or published.get(p) != v)
        }
        if changed:
            assert self._handle is not None, "attach() the car before it publishes"
            self._handle.publish_many(changed, self.clock())
            published.update(changed)

    @property
    def real_time_factor(self) -> float:
        return self._rtf
