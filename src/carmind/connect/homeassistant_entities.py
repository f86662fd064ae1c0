"""What the car looks like to Home Assistant: entities, discovery payloads, states, commands.

Pure functions over hub values, so they test without a broker. `HomeAssistantBridge`
(`carmind.connect.homeassistant`) moves them over MQTT.

Topics, for a car with VIN `{vin}` (`base` = `carmind/{vin}/ha`):

    homeassistant/<component>/carmind_{vin}/<object_id>/config   discovery (retained)
    {base}/availability                                          online / offline (retained; the
                                                                 bridge's MQTT will is offline)
    {base}/<object_id>/state                                     entity states (retained)
    {base}/<object_id>/set, {base}/<object_id>/press             commands from Home Assistant
    {base}/event                                                 events (JSON, not retained):
                                                                 arriving_home, leaving_home,
                                                                 command_refused; each is also an
                                                                 MQTT device trigger

Keys follow Home Assistant's MQTT integration (https://www.home-assistant.io/integrations/mqtt/,
one page per component); `REQUIRED_KEYS` lists, per component, what its discovery schema
requires plus what carmind always sends (unique_id, device, availability).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from carmind.connect.protocol import CommandName
from carmind.errors import CarmindError
from carmind.signals.catalog import Value

DISCOVERY_PREFIX: Final = "homeassistant"
"""Home Assistant's default discovery prefix."""

ONLINE: Final = "online"
OFFLINE: Final = "offline"
"""Home Assistant's default availability payloads."""

ON: Final = "ON"
OFF: Final = "OFF"
LOCKED: Final = "LOCKED"
UNLOCKED: Final = "UNLOCKED"
PRESS: Final = "PRESS"
LOCK: Final = "LOCK"
UNLOCK: Final = "UNLOCK"
"""Home Assistant's default payloads for binary sensors, switches, locks and buttons."""

CLIMATE_MODES: Final = ("off", "heat_cool")
"""The car keeps one set-point, heating or cooling as needed: Home Assistant's `heat_cool`."""

MIN_TEMP_C: Final = 15.0
MAX_TEMP_C: Final = 30.0
TEMP_STEP_C: Final = 0.5
"""The car's settable climate range and step (`carmind.vehicle.thermal`, and the assistant's
half-degree rounding)."""

CHARGE_LIMIT_MIN_PCT: Final = 50
CHARGE_LIMIT_MAX_PCT: Final = 100
"""The charge limit a remote command may set (the executor checks it again)."""

EVENT_ARRIVING_HOME: Final = "arriving_home"
EVENT_LEAVING_HOME: Final = "leaving_home"
EVENT_COMMAND_REFUSED: Final = "command_refused"

# --- VSS paths the bridge reads (VSS 5.1 as carmind's catalog has them) -------------------------

_ID = "Vehicle.VehicleIdentification."
BRAND: Final = _ID + "Brand"
MODEL: Final = _ID + "Model"
VIN: Final = _ID + "VIN"
YEAR: Final = _ID + "Year"
SOC: Final = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed"
RANGE: Final = "Vehicle.Powertrain.Range"
SPEED: Final = "Vehicle.Speed"
CABIN_TEMP: Final = "Vehicle.Cabin.HVAC.AmbientAirTemperature"
ODOMETER: Final = "Vehicle.TraveledDistance"
_CHARGING = "Vehicle.Powertrain.TractionBattery.Charging."
IS_CHARGING: Final = _CHARGING + "IsCharging"
PLUGGED_IN: Final = _CHARGING + "ChargingPort.AnyPosition.IsChargingCableConnected"
CHARGE_LIMIT: Final = _CHARGING + "ChargeLimit"
LATITUDE: Final = "Vehicle.CurrentLocation.Latitude"
LONGITUDE: Final = "Vehicle.CurrentLocation.Longitude"
ACCURACY: Final = "Vehicle.CurrentLocation.HorizontalAccuracy"
HEADING: Final = "Vehicle.CurrentLocation.Heading"
DOORS: Final = ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
DOOR_OPEN: Final = tuple(f"Vehicle.Cabin.Door.{d}.IsOpen" for d in DOORS)
DOOR_LOCKED: Final = tuple(f"Vehicle.Cabin.Door.{d}.IsLocked" for d in DOORS)
_HVAC = "Vehicle.Cabin.HVAC.Station."
STATIONS: Final = ("Row1.Driver", "Row1.Passenger", "Row2.Driver", "Row2.Passenger")
TARGET_TEMP: Final = _HVAC + "Row1.Driver.Temperature"
"""The driver's set-point stands for the car's (remote climate sets every zone alike)."""
FAN_SPEEDS: Final = tuple(f"{_HVAC}{s}.FanSpeed" for s in STATIONS)
"""The thermal model heats and cools only with the blower running: a fan above 0 % is "on"."""

IDENTITY_PATHS: Final = (BRAND, MODEL, VIN, YEAR)
STATE_PATHS: Final = (
    SOC,
    RANGE,
    SPEED,
    CABIN_TEMP,
    ODOMETER,
    IS_CHARGING,
    PLUGGED_IN,
    CHARGE_LIMIT,
    LATITUDE,
    LONGITUDE,
    ACCURACY,
    HEADING,
    TARGET_TEMP,
    *DOOR_OPEN,
    *DOOR_LOCKED,
    *FAN_SPEEDS,
)
"""Every signal a state topic is derived from."""

REQUIRED_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "sensor": frozenset({"state_topic"}),
    "binary_sensor": frozenset({"state_topic"}),
    "device_tracker": frozenset({"json_attributes_topic"}),
    "lock": frozenset({"command_topic"}),
    "climate": frozenset(),
    "button": frozenset({"command_topic"}),
    "number": frozenset({"command_topic"}),
    "switch": frozenset({"command_topic"}),
    "device_automation": frozenset({"automation_type", "topic", "type", "subtype", "device"}),
}
"""Keys Home Assistant's discovery schema requires, per component (device triggers also need
`device`; a device tracker needs `state_topic` or `json_attributes_topic`, and `state_topic` is
deprecated for it)."""

ENTITY_KEYS: Final = frozenset({"unique_id", "device", "availability", "name"})
"""What carmind sends with every entity: a unique_id (so it can be renamed and grouped under the
device), the device, and the availability topic."""


class HomeAssistantCommandError(CarmindError):
    """A command from Home Assistant's command topic is malformed; nothing was sent to the car."""


class VehicleIdentityError(CarmindError):
    """The car publishes no VIN, so Home Assistant cannot tell it from another car."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the car is, from its `Vehicle.VehicleIdentification.*` attributes."""

    vin: str
    brand: str = "carmind"
    model: str = "EV"
    year: int | None = None
    sw_version: str = ""

    @property
    def node_id(self) -> str:
        return f"carmind_{self.vin.lower()}"

    @property
    def name(self) -> str:
        return f"{self.brand} {self.model}"

    def device(self) -> dict[str, Any]:
        device: dict[str, Any] = {
            "identifiers": [self.node_id],
            "name": self.name,
            "manufacturer": self.brand,
            "model": self.model,
            "serial_number": self.vin,
        }
        if self.sw_version:
            device["sw_version"] = self.sw_version
        if self.year is not None:
            device["hw_version"] = str(self.year)
        return device


def identity_from(values: Mapping[str, Value | None], sw_version: str = "") -> Identity:
    """The car's identity from hub values; `VehicleIdentityError` when the VIN is missing."""
    vin = values.get(VIN)
    if not isinstance(vin, str) or not vin:
        raise VehicleIdentityError(
            f"the car publishes no {VIN}: Home Assistant needs it to identify the device"
        )
    brand = values.get(BRAND)
    model = values.get(MODEL)
    year = values.get(YEAR)
    return Identity(
        vin=vin,
        brand=brand if isinstance(brand, str) and brand else "carmind",
        model=model if isinstance(model, str) and model else "EV",
        year=year if isinstance(year, int) and not isinstance(year, bool) else None,
        sw_version=sw_version,
    )


@dataclass(frozen=True, slots=True)
class Topics:
    """The bridge's MQTT topics for one car."""

    vin: str
    prefix: str = DISCOVERY_PREFIX

    @property
    def base(self) -> str:
        return f"carmind/{self.vin}/ha"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    def state(self, key: str) -> str:
        return f"{self.base}/{key}/state"

    def command(self, key: str, verb: str = "set") -> str:
        return f"{self.base}/{key}/{verb}"

    def config(self, component: str, node_id: str, object_id: str) -> str:
        return f"{self.prefix}/{component}/{node_id}/{object_id}/config"


@dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant entity (or device trigger) of the car."""

    component: str
    object_id: str
    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    """Component-specific keys; topics are filled in by `discovery`."""


def _sensor(oid: str, name: str, device_class: str, unit: str, state_class: str) -> Entity:
    return Entity(
        "sensor",
        oid,
        name,
        {
            "device_class": device_class,
            "unit_of_measurement": unit,
            "state_class": state_class,
        },
    )


ENTITIES: Final = (
    _sensor("state_of_charge", "State of charge", "battery", "%", "measurement"),
    _sensor("range", "Range", "distance", "km", "measurement"),
    _sensor("speed", "Speed", "speed", "km/h", "measurement"),
    _sensor("cabin_temperature", "Cabin temperature", "temperature", "°C", "measurement"),
    _sensor("odometer", "Odometer", "distance", "km", "total_increasing"),
    Entity("binary_sensor", "charging", "Charging", {"device_class": "battery_charging"}),
    Entity("binary_sensor", "plugged_in", "Plugged in", {"device_class": "plug"}),
    Entity("binary_sensor", "doors", "Doors", {"device_class": "door"}),
    Entity("device_tracker", "location", "Location", {"source_type": "gps"}),
    Entity("lock", "lock", "Doors lock", {}),
    Entity(
        "climate",
        "climate",
        "Climate",
        {
            "modes": list(CLIMATE_MODES),
            "min_temp": MIN_TEMP_C,
            "max_temp": MAX_TEMP_C,
            "temp_step": TEMP_STEP_C,
            "precision": 0.5,
            "temperature_unit": "C",
        },
    ),
    Entity("button", "honk", "Honk", {"icon": "mdi:bullhorn"}),
    Entity("button", "flash", "Flash lights", {"icon": "mdi:car-light-high"}),
    Entity(
        "number",
        "charge_limit",
        "Charge limit",
        {
            "min": CHARGE_LIMIT_MIN_PCT,
            "max": CHARGE_LIMIT_MAX_PCT,
            "step": 1,
            "unit_of_measurement": "%",
            "mode": "slider",
            "icon": "mdi:battery-charging-high",
        },
    ),
    Entity("switch", "charge", "Charge", {"icon": "mdi:ev-station"}),
)

TRIGGERS: Final = (
    (EVENT_ARRIVING_HOME, "home"),
    (EVENT_LEAVING_HOME, "home"),
    (EVENT_COMMAND_REFUSED, "homeassistant"),
)
"""Device triggers (type, subtype): one per event the bridge publishes on `Topics.event`."""


def discovery(identity: Identity, topics: Topics) -> dict[str, dict[str, Any]]:
    """Every discovery message of the car: config topic -> payload (entities, then triggers)."""
    node = identity.node_id
    device = identity.device()
    origin = {"name": "carmind", "sw_version": identity.sw_version or "unknown"}
    availability = [
        {
            "topic": topics.availability,
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
        }
    ]
    out: dict[str, dict[str, Any]] = {}
    for entity in ENTITIES:
        oid = entity.object_id
        payload: dict[str, Any] = {
            "name": entity.name,
            "unique_id": f"{node}_{oid}",
            "device": device,
            "origin": origin,
            "availability": availability,
            "qos": 1,
            **entity.config,
            **_entity_topics(entity, topics),
        }
        out[topics.config(entity.component, node, oid)] = payload
    for kind, subtype in TRIGGERS:
        out[topics.config("device_automation", node, kind)] = {
            "automation_type": "trigger",
            "topic": topics.event,
            "type": kind,
            "subtype": subtype,
            "payload": kind,
            "value_template": "{{ value_json.event }}",
            "qos": 1,
            "device": device,
            "origin": origin,
        }
    return out


def _entity_topics(entity: Entity, topics: Topics) -> dict[str, str]:
    oid = entity.object_id
    match entity.component:
        case "sensor" | "binary_sensor":
            return {"state_topic": topics.state(oid)}
        case "device_tracker":
            return {"json_attributes_topic": topics.state(oid)}
        case "lock" | "number" | "switch":
            return {"state_topic": topics.state(oid), "command_topic": topics.command(oid)}
        case "button":
            return {"command_topic": topics.command(oid, "press")}
        case "climate":
            return {
                "mode_state_topic": topics.state("climate_mode"),
                "mode_command_topic": topics.command("climate_mode"),
                "temperature_state_topic": topics.state("climate_target"),
                "temperature_command_topic": topics.command("climate_target"),
                "current_temperature_topic": topics.state("cabin_temperature"),
            }
    raise ValueError(f"no topics for component {entity.component!r}")  # a programming error


STATE_KEYS: Final = (
    "state_of_charge",
    "range",
    "speed",
    "cabin_temperature",
    "odometer",
    "charging",
    "charge",
    "plugged_in",
    "charge_limit",
    "climate_target",
    "climate_mode",
    "doors",
    "lock",
    "location",
)
"""Every state topic key `state_payloads` can produce."""


# --- states -----------------------------------------------------------------------------------


def _number(value: Value | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: float | None, digits: int) -> str | None:
    if value is None:
        return None
    return f"{round(value, digits):.{digits}f}" if digits else str(round(value))


def _onoff(value: Value | None) -> str | None:
    return None if not isinstance(value, bool) else (ON if value else OFF)


def state_payloads(values: Mapping[str, Value | None]) -> dict[str, str]:
    """State topic key -> payload, from hub values; a key is left out while its signal is unknown.

    Numbers are rounded to what a dashboard shows, which also keeps sensor noise from becoming
    a stream of state changes.
    """
    v = values.get
    range_m = _number(v(RANGE))
    raw: dict[str, str | None] = {
        "state_of_charge": _fmt(_number(v(SOC)), 1),
        "range": _fmt(None if range_m is None else range_m / 1000.0, 0),
        "speed": _fmt(_number(v(SPEED)), 0),
        "cabin_temperature": _fmt(_number(v(CABIN_TEMP)), 1),
        "odometer": _fmt(_number(v(ODOMETER)), 1),
        "charging": _onoff(v(IS_CHARGING)),
        "charge": _onoff(v(IS_CHARGING)),
        "plugged_in": _onoff(v(PLUGGED_IN)),
        "charge_limit": _fmt(_number(v(CHARGE_LIMIT)), 0),
        "climate_target": _fmt(_number(v(TARGET_TEMP)), 1),
    }
    doors_open = [v(p) for p in DOOR_OPEN]
    if all(isinstance(d, bool) for d in doors_open):
        raw["doors"] = ON if any(doors_open) else OFF
    locks = [v(p) for p in DOOR_LOCKED]
    if all(isinstance(d, bool) for d in locks):
        raw["lock"] = LOCKED if all(locks) else UNLOCKED
    fans = [_number(v(p)) for p in FAN_SPEEDS]
    if all(f is not None for f in fans):
        raw["climate_mode"] = "heat_cool" if any(f for f in fans) else "off"
    lat, lon = _number(v(LATITUDE)), _number(v(LONGITUDE))
    if lat is not None and lon is not None:
        location: dict[str, Any] = {
            "latitude": round(lat, 6),
            "longitude": round(lon, 6),
            "gps_accuracy": round(_number(v(ACCURACY)) or 0.0, 1),
        }
        heading = _number(v(HEADING))
        if heading is not None:
            location["heading"] = round(heading)
        raw["location"] = json.dumps(location, separators=(",", ":"))
    return {key: text for key, text in raw.items() if text is not None}


# --- commands ---------------------------------------------------------------------------------

TEMPERATURE_PARAM: Final = "celsius"
CHARGE_LIMIT_PARAM: Final = "percent"
"""Parameter names of `set_temperature` and `set_charge_limit` (`carmind.connect.executor`)."""


def command_topics(topics: Topics) -> dict[str, str]:
    """Command topic -> command key (the entity's object id)."""
    keys = {
        topics.command("lock"): "lock",
        topics.command("climate_mode"): "climate_mode",
        topics.command("climate_target"): "climate_target",
        topics.command("honk", "press"): "honk",
        topics.command("flash", "press"): "flash",
        topics.command("charge_limit"): "charge_limit",
        topics.command("charge"): "charge",
    }
    return keys


def parse_command(key: str, payload: str) -> tuple[CommandName, dict[str, Any]]:
    """The vehicle link's command for a message on a command topic.

    Raises `HomeAssistantCommandError` (naming the payload and what was expected) for a payload
    the entity does not send; range checks are the executor's, as for any other command.
    """
    text = payload.strip()
    match key:
        case "lock":
            table = {LOCK: CommandName.LOCK, UNLOCK: CommandName.UNLOCK}
            return _choice(key, text, table), {}
        case "charge":
            table = {ON: CommandName.CHARGE_START, OFF: CommandName.CHARGE_STOP}
            return _choice(key, text, table), {}
        case "climate_mode":
            table = {"heat_cool": CommandName.CLIMATE_ON, "off": CommandName.CLIMATE_OFF}
            return _choice(key, text, table), {}
        case "honk" | "flash":
            table = {PRESS: CommandName.HONK if key == "honk" else CommandName.FLASH}
            return _choice(key, text, table), {}
        case "climate_target":
            return CommandName.SET_TEMPERATURE, {TEMPERATURE_PARAM: _float(key, text)}
        case "charge_limit":
            number = _float(key, text)
            if not number.is_integer():
                raise HomeAssistantCommandError(
                    f"{key}: {payload!r} is not a whole percentage; expected an integer"
                )
            return CommandName.SET_CHARGE_LIMIT, {CHARGE_LIMIT_PARAM: int(number)}
    raise HomeAssistantCommandError(f"no command topic {key!r}")


def _choice(key: str, text: str, table: Mapping[str, CommandName]) -> CommandName:
    if text not in table:
        expected = " or ".join(repr(k) for k in table)
        raise HomeAssistantCommandError(f"{key}: payload {text!r} unknown; expected {expected}")
    return table[text]


def _float(key: str, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise HomeAssistantCommandError(f"{key}: {text!r} is not a number") from None
    if not math.isfinite(number):
        raise HomeAssistantCommandError(f"{key}: {text!r} is not a finite number")
    return number


def affected_states(key: str) -> tuple[str, ...]:
    """State keys that show the outcome of a command on `key` (re-sent after a refusal)."""
    return {
        "lock": ("lock",),
        "charge": ("charge", "charging"),
        "climate_mode": ("climate_mode",),
        "climate_target": ("climate_target",),
        "charge_limit": ("charge_limit",),
    }.get(key, ())
