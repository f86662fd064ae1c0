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

from carmind.signals.broker import Broker, Client, ProviderHandle
from carmind.signals.catalog import NodeType, Value
from carmind.vehicle import battery, dynamics
from carmind.vehicle.body import Body
from carmind.vehicle.controller import SpeedController
from carmind.vehicle.cycles import DriveCycle
from carmind.vehicle.errors import PrimeError
from carmind.vehicle.profiles import VehicleProfile
from carmind.vehicle.readings import attributes, motion_readings
from carmind.vehicle.route_driver import RouteDriver, RouteError
from carmind.vehicle.settings import (
    CABIN_HZ,
    CHARGE_LIMIT,
    CHARGE_LIMIT_MIN_PCT,
    CHARGER_POWER,
    CRUISE,
    CRUISE_MIN_SPEED_KMH,
    DC_DC_VOLTAGE_V,
    FAULT,
    HOME_CHARGER_KW,
    HVAC,
    INITIAL_SETTINGS,
    PRIMEABLE,
    ROUTE,
    SEAT_HEATER_W,
    SETTINGS,
    SIM,
    SLOW_PUBLISH_HZ,
    STANDSTILL_KMH,
    START_STOP,
    STATIONS,
    TARGET_SPEED,
    TYRE_NOMINAL_KPA,
    TYRE_SPREAD_KPA,
    WHEELS,
    as_float,
)
from carmind.vehicle.thermal import (
    MAX_TARGET_C,
    MIN_TARGET_C,
    CabinParameters,
    HvacSettings,
    cabin_step,
    initial_cabin,
)

log = logging.getLogger(__name__)


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
    exclude: tuple[str, ...] = ()
    """Signal patterns the car leaves to other providers (a real part, a remote process)."""


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
        self.settings: dict[str, Value] = dict(INITIAL_SETTINGS)
        self.settings[SIM + "AmbientTemperature"] = opts.ambient_c
        self._hvac = self._hvac_settings()

        self.latitude = opts.latitude
        self.longitude = opts.longitude
        self.heading = opts.heading_deg
        self.altitude = 0.0
        self.odometer_km = 0.0
        self.trip_start_km = 0.0
        self.driver: DriveCycle | None = None
        self.route: RouteDriver | None = None
        self._driver_t0 = 0.0
        self.charging = False
        # no two tyres hold exactly the same pressure: a per-seed spread around the nominal
        spread = random.Random(opts.seed)
        self.tyre_kpa: dict[str, float] = {
            w: float(round(TYRE_NOMINAL_KPA + spread.uniform(-TYRE_SPREAD_KPA, TYRE_SPREAD_KPA)))
            for w in WHEELS
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
        left_out = {s.path for pattern in self.options.exclude for s in catalog.match(pattern)}

        def mine(path: str) -> bool:
            return path in catalog and path not in left_out

        actuators = [p for p in (*SETTINGS, *Body.ACTUATORS) if mine(p)]
        sensors = [
            p
            for p in (*motion_readings(self), *Body.PATHS)
            if mine(p) and catalog.get(p).type is not NodeType.ACTUATOR
        ]
        self._publishable = frozenset(actuators) | frozenset(sensors)
        attrs = {p: v for p, v in attributes(self).items() if mine(p)}
        self._handle = self.client.provide([*actuators, *sensors, *attrs], actuator=self)
        self._handle.publish_many(attrs, self.clock())
        self.publish(force=True)

    @property
    def provided_paths(self) -> frozenset[str]:
        """The signals the car claimed on its hub (sensors, actuators; not attributes)."""
        return self._publishable

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

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
            elif path.endswith(".Temperature") and path.startswith(HVAC):
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
                if value > 0 and as_float(merged[CHARGER_POWER]) > 0:
                    reason = "the charging cable is connected: unplug before driving"
            elif path == ROUTE and value:
                assert isinstance(value, str)
                try:
                    RouteDriver.from_json(value)
                except RouteError as exc:
                    reason = str(exc)
                else:
                    if as_float(merged[CHARGER_POWER]) > 0:
                        reason = "the charging cable is connected: unplug before driving"
            elif path == START_STOP and value == "START":
                if as_float(merged[CHARGER_POWER]) <= 0:
                    reason = "no charger is connected"
            elif path == CRUISE + "IsActive" and value is True:
                if merged[CRUISE + "IsEnabled"] is not True:
                    reason = "cruise control is switched off"
                elif speed < CRUISE_MIN_SPEED_KMH:
                    reason = f"cruise control engages from {CRUISE_MIN_SPEED_KMH:g} km/h"
            elif path == CRUISE + "SpeedSet":
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
        if settings[CRUISE + "IsActive"] is True:
            return "cannot plug in a charger while cruise control is active"
        if self.driver is not None:
            return f"cannot plug in a charger while the driver follows the {self.driver.name} cycle"
        if self.route is not None:
            return "cannot plug in a charger while the car drives a route"
        if as_float(settings[TARGET_SPEED]) > 0:
            return (
                f"cannot plug in a charger while the target speed is "
                f"{as_float(settings[TARGET_SPEED]):g} km/h: set it to 0 first"
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
            if path.startswith(HVAC):
                hvac_changed = True
            elif path == TARGET_SPEED:
                self.driver = None  # a manual target takes over from a drive cycle
                self.route = None
            elif path == ROUTE:
                self._follow(str(value))
            elif path == CHARGER_POWER:
                self.charging = as_float(value) > 0 and self.motion.soc_pct < as_float(
                    self.settings[CHARGE_LIMIT]
                )
                self._set(START_STOP, "START" if self.charging else "STOP")
            elif path == START_STOP:
                self.charging = value == "START"
            elif path == CRUISE + "IsEnabled" and value is False:
                self._set(CRUISE + "IsActive", False)  # switching cruise off ends it
            elif path == CRUISE + "IsActive" and value is True:
                if as_float(self.settings[CRUISE + "SpeedSet"]) < CRUISE_MIN_SPEED_KMH:
                    self._set(CRUISE + "SpeedSet", float(round(speed)))  # "set" takes the speed now
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
        station = f"{HVAC}Station."
        return HvacSettings(
            zone_targets_c={st: as_float(s[f"{station}{st}.Temperature"]) for st in STATIONS},
            fan_speed_pct={st: as_float(s[f"{station}{st}.FanSpeed"]) for st in STATIONS},
            air_distribution={st: str(s[f"{station}{st}.AirDistribution"]) for st in STATIONS},
            ac_on=s[HVAC + "IsAirConditioningActive"] is True,
            recirculation=s[HVAC + "IsRecirculationActive"] is True,
            front_defrost=s[HVAC + "IsFrontDefrosterActive"] is True,
            rear_defrost=s[HVAC + "IsRearDefrosterActive"] is True,
        )

    # ------------------------------------------------------------------ priming

    def prime(self, path: str, value: Value) -> None:
        """Put a sensor into a state directly (tests, `--set`); see `PRIMEABLE`."""
        if path == "Vehicle.Speed":
            speed = as_float(value) / 3.6
            self.motion = dynamics.with_speed(self.motion, speed)
            self._set(TARGET_SPEED, as_float(value))
            self.controller.reset()
        elif path.startswith("Vehicle.Powertrain.TractionBattery.StateOfCharge."):
            self.motion = dynamics.with_soc(self.motion, as_float(value))
        elif path == "Vehicle.Exterior.AirTemperature":
            self._set(SIM + "AmbientTemperature", as_float(value))
        elif path == "Vehicle.Cabin.HVAC.AmbientAirTemperature":
            self.cabin = initial_cabin(as_float(value))
        elif path == "Vehicle.CurrentLocation.Latitude":
            self.latitude = as_float(value)
        elif path == "Vehicle.CurrentLocation.Longitude":
            self.longitude = as_float(value)
        elif path == "Vehicle.CurrentLocation.Heading":
            self.heading = as_float(value) % 360.0
        elif path == "Vehicle.CurrentLocation.Altitude":
            self.altitude = as_float(value)
        elif path.endswith("IsChargingCableConnected"):
            self._set(CHARGER_POWER, HOME_CHARGER_KW if value else 0.0)
            limit = as_float(self.settings[CHARGE_LIMIT])
            self.charging = bool(value) and self.motion.soc_pct < limit
        elif path.endswith(".Tire.Pressure"):
            wheel = path.removeprefix("Vehicle.Chassis.Axle.").removesuffix(".Tire.Pressure")
            self.tyre_kpa[wheel] = as_float(value)
        elif path == "Vehicle.TraveledDistance":
            self.odometer_km = as_float(value)
        else:
            raise PrimeError(path, PRIMEABLE)
        self.publish(force=True)

    # ------------------------------------------------------------------ time

    def drive_cycle(self, cycle: DriveCycle | None) -> None:
        """Let the simulated driver follow `cycle` (looping), or stop following one."""
        self.driver = cycle
        self._driver_t0 = self.clock.elapsed

    def _follow(self, text: str) -> None:
        """Drive `text` (a route as JSON, checked already) from its start, or stop following."""
        if not text:
            self.route = None
            return
        self.route = RouteDriver.from_json(text)
        self.driver = None
        pose = self.route.pose(0.0)
        self.latitude, self.longitude, self.heading = pose.latitude, pose.longitude, pose.heading

    def _target_speed_mps(self) -> float:
        if as_float(self.settings[CHARGER_POWER]) > 0:
            return 0.0  # the cable is connected: the car holds still, whatever it was asked
        if self.route is not None:
            return self.route.target_speed_mps()
        if self.settings[CRUISE + "IsActive"] is True:
            return as_float(self.settings[CRUISE + "SpeedSet"]) / 3.6
        if self.driver is not None:
            t = (self.clock.elapsed - self._driver_t0) % self.driver.duration_s
            return self.driver.speed_at(t) / 3.6
        return as_float(self.settings[TARGET_SPEED]) / 3.6

    def step(self) -> None:
        """Advance the whole car by one tick and publish when a publish tick comes round."""
        dt = self.dt
        s = self.settings
        ambient = as_float(s[SIM + "AmbientTemperature"])
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
            limit = as_float(s[CHARGE_LIMIT])
            self.motion = battery.charge_step(
                self.profile, self.motion, as_float(s[CHARGER_POWER]), limit, dt, extra_w, ambient
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
            if self._road_key != (s[SIM + "RoadGrade"], s[SIM + "RoadGrip"]):
                self._road_key = (s[SIM + "RoadGrade"], s[SIM + "RoadGrip"])
                self._road = dynamics.Road(
                    grade_pct=as_float(s[SIM + "RoadGrade"]),
                    grip_factor=as_float(s[SIM + "RoadGrip"]),
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
        self.altitude += distance_m * grade_pct / 100.0 / math.sqrt(1 + (grade_pct / 100.0) ** 2)
        if self.route is not None:
            pose = self.route.advance(distance_m)
            self.latitude, self.longitude = pose.latitude, pose.longitude
            self.heading = pose.heading
            if self.route.finished and self.motion.speed_mps < 0.2:
                self.route = None
                self._set(ROUTE, "")
            return
        heading = math.radians(self.heading)
        dlat = distance_m * math.cos(heading) / 111_320.0
        dlon = (
            distance_m
            * math.sin(heading)
            / (111_320.0 * max(0.01, math.cos(math.radians(self.latitude))))
        )
        self.latitude = max(-90.0, min(90.0, self.latitude + dlat))
        self.longitude = (self.longitude + dlon + 180.0) % 360.0 - 180.0

    @property
    def recent_consumption(self) -> float | None:
        """Battery energy per 100 km over the recent distance, once there is enough of it."""
        return self._recent.kwh_per_100km

    def advance(self, seconds: float) -> None:
        """Run the car for `seconds` of simulated time, as fast as possible."""
        for _ in range(round(seconds / self.dt)):
            self.step()

    async def run_realtime(self, speed_factor: float = 1.0) -> None:
        """Run in real time (or `speed_factor` times faster) until `stop()`.

        A `stop()` that came before the run started ends it at once (a Ctrl-C during start-up);
        the car can be run again afterwards."""
        try:
            await self._run_realtime(speed_factor)
        finally:
            self._stop.clear()

    async def _run_realtime(self, speed_factor: float) -> None:
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

    def publish(self, force: bool = False) -> None:
        """Publish every value that changed since the last publish (all of them with `force`)."""
        self._publishes += 1
        slow = force or self._publishes % self._slow_every == 0
        values = motion_readings(self, slow)
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
