"""From an intent to what happens: VSS actuator targets through the hub, or requests to services.

`CarActions.plan(intent)` works out the targets (reading current targets for relative commands and
clamping to what the car accepts) or the requests, and the reply; `execute(plan)` sets the targets
with one `actuate_many` call per intent (all or nothing). The car's own interlocks decide: a
refusal comes back as `ActuationRefusedError` and becomes the reply, with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from carmind.assistant.config import AssistantConfig
from carmind.assistant.model import Action, Intent, Request
from carmind.assistant.replies import Message
from carmind.assistant.status import StatusReader
from carmind.assistant.vehicle_terms import (
    CRUISE,
    CRUISE_STEP_KMH,
    DOOR,
    DOOR_OF,
    FAN_STEP_PCT,
    HEATED_SEATS,
    HVAC,
    LIGHT_PATHS,
    LIGHTS,
    MEDIA,
    MEDIA_ACTION,
    SEAT,
    SEAT_LEVELS,
    STATION,
    TEMPERATURE_STEP_C,
    VOLUME_STEP_PCT,
    seats_of,
)
from carmind.signals.broker import Client
from carmind.signals.catalog import Value
from carmind.signals.errors import ActuationRefusedError, SignalError
from carmind.vehicle.thermal import MAX_TARGET_C, MIN_TARGET_C

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one intent will do: targets (all or nothing), requests, and what to say."""

    intent: Intent
    targets: Mapping[str, Value] = field(default_factory=dict)
    requests: tuple[Request, ...] = ()
    messages: tuple[Message, ...] = ()
    ok: bool = True


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one intent did."""

    intent: Intent
    actions: tuple[Action, ...] = ()
    requests: tuple[Request, ...] = ()
    messages: tuple[Message, ...] = ()
    ok: bool = True


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _half(value: float) -> float:
    return round(value * 2.0) / 2.0


class CarActions:
    """Plans and carries out intents on one car, through its hub client."""

    def __init__(self, client: Client, config: AssistantConfig | None = None) -> None:
        self.client = client
        self.config = config or AssistantConfig()
        self.status = StatusReader(client)

    # ------------------------------------------------------------------ reading

    def current(self, path: str, default: float) -> float:
        """An actuator's latest target, else its current value, else `default`."""
        for datapoint in (self.client.get_target(path), self.client.get(path)):
            if datapoint is not None and isinstance(datapoint.value, int | float):
                return float(datapoint.value)
        return default

    # ------------------------------------------------------------------ planning

    def plan(self, intent: Intent) -> Plan:
        """The plan for an intent whose slots are complete (zones resolved, defaults filled)."""
        s = intent.slots
        name = intent.name
        planner = getattr(self, "_plan_" + name, None)
        if planner is not None:
            result: Plan = planner(intent)
            return result
        if name in MEDIA_ACTION:
            return self._set(intent, {MEDIA + "Action": MEDIA_ACTION[name]}, name)
        if name.startswith("Hass"):
            return Plan(intent, requests=(Request("home", name, dict(s)),), messages=_home(intent))
        requests = {
            "NavigationCancel": Request("navigation", "cancel"),
            "NavigationEta": Request("navigation", "eta"),
            "PhoneAnswer": Request("phone", "answer"),
            "PhoneHangUp": Request("phone", "hang_up"),
            "PhoneCall": Request("phone", "call", {"contact": s.get("contact")}),
            "CruiseSetFollowDistance": Request(
                "adas", "set_follow_distance", {"distance": s.get("distance")}
            ),
        }
        if name in requests:
            return Plan(intent, requests=(requests[name],), messages=(Message(name, dict(s)),))
        if name == "VehicleStatus":
            return Plan(intent, messages=self.status.read(str(s["item"])))
        log.warning("no action for intent %s", name)
        return Plan(intent, messages=(Message("not_understood"),), ok=False)

    def _set(self, intent: Intent, targets: Mapping[str, Value], key: str, **params: Any) -> Plan:
        return Plan(intent, targets=dict(targets), messages=(Message(key, params),))

    def _plan_ClimateSetTemperature(self, intent: Intent) -> Plan:
        zone = str(intent.slots["zone"])
        asked = float(intent.slots["temperature"])
        value = _half(_clamp(asked, MIN_TARGET_C, MAX_TARGET_C))
        targets = {f"{HVAC}Station.{STATION[z]}.Temperature": value for z in seats_of(zone)}
        messages = [Message("temperature_set", {"zone": zone, "value": value})]
        if value != asked:
            messages.append(_clamped(asked, MIN_TARGET_C, MAX_TARGET_C, "°C"))
        return Plan(intent, targets=targets, messages=tuple(messages))

    def _plan_ClimateAdjustTemperature(self, intent: Intent) -> Plan:
        zone = str(intent.slots["zone"])
        sign = 1.0 if intent.slots["direction"] == "up" else -1.0
        delta = float(intent.slots.get("delta", TEMPERATURE_STEP_C))
        targets: dict[str, Value] = {}
        for z in seats_of(zone):
            path = f"{HVAC}Station.{STATION[z]}.Temperature"
            now = self.current(path, 21.0)
            targets[path] = _half(_clamp(now + sign * delta, MIN_TARGET_C, MAX_TARGET_C))
        return self._adjusted(
            intent, targets, "temperature", zone, (MIN_TARGET_C, MAX_TARGET_C), "°C"
        )

    def _adjusted(
        self,
        intent: Intent,
        targets: dict[str, Value],
        what: str,
        zone: str | None,
        limits: tuple[float, float],
        unit: str,
    ) -> Plan:
        values = sorted({float(v) for v in targets.values() if isinstance(v, int | float)})
        direction = str(intent.slots["direction"])
        unchanged = all(self.current(p, float("nan")) == v for p, v in targets.items())
        if unchanged and values and values[-1] in limits:
            key = "already_max" if direction == "up" else "already_min"
            return Plan(intent, messages=(Message(key, {"value": values[-1], "unit": unit}),))
        params: dict[str, Any] = {"zone": zone, "unit": unit, "delta": intent.slots.get("delta")}
        key = f"{what}_{direction}"
        if len(values) == 1:
            params["value"] = values[0] if unit == "°C" else int(values[0])
        else:
            key += "_by"
        return Plan(intent, targets=targets, messages=(Message(key, params),))

    def _plan_ClimateSetAC(self, intent: Intent) -> Plan:
        on = bool(intent.slots["on"])
        return self._set(intent, {HVAC + "IsAirConditioningActive": on}, _onoff("ac", on))

    def _plan_ClimateSetRecirculation(self, intent: Intent) -> Plan:
        on = bool(intent.slots["on"])
        return self._set(intent, {HVAC + "IsRecirculationActive": on}, _onoff("recirculation", on))

    def _plan_ClimateSetDefrost(self, intent: Intent) -> Plan:
        on = bool(intent.slots["on"])
        which = str(intent.slots.get("window", "front"))
        paths = {"front": ("Front",), "rear": ("Rear",), "all": ("Front", "Rear")}[which]
        targets = {f"{HVAC}Is{p}DefrosterActive": on for p in paths}
        return self._set(intent, targets, _onoff("defrost", on), window=which)

    def _plan_ClimateSetFanSpeed(self, intent: Intent) -> Plan:
        zone = str(intent.slots["zone"])
        asked = int(intent.slots["speed"])
        value = int(_clamp(asked, 0, 100))
        targets = {f"{HVAC}Station.{STATION[z]}.FanSpeed": value for z in seats_of(zone)}
        key = "fan_set" if value else "fan_off"
        plan = self._set(intent, targets, key, zone=zone, value=value)
        return _with_clamp(plan, asked, value, (0, 100), "%")

    def _plan_ClimateAdjustFanSpeed(self, intent: Intent) -> Plan:
        zone = str(intent.slots["zone"])
        sign = 1 if intent.slots["direction"] == "up" else -1
        delta = int(intent.slots.get("delta", FAN_STEP_PCT))
        targets: dict[str, Value] = {}
        for z in seats_of(zone):
            path = f"{HVAC}Station.{STATION[z]}.FanSpeed"
            targets[path] = int(_clamp(self.current(path, 0) + sign * delta, 0, 100))
        return self._adjusted(intent, targets, "fan", zone, (0, 100), "%")

    def _plan_ClimateSetAirDistribution(self, intent: Intent) -> Plan:
        zone = str(intent.slots["zone"])
        where = str(intent.slots["distribution"])
        targets = {f"{HVAC}Station.{STATION[z]}.AirDistribution": where for z in seats_of(zone)}
        return self._set(intent, targets, "airflow", zone=zone, where=where)

    def _seat_plan(self, intent: Intent, sign: int, key: str) -> Plan:
        zone = str(intent.slots["zone"])
        level = int(_clamp(int(intent.slots["level"]), 0, SEAT_LEVELS))
        seats = [HEATED_SEATS[z] for z in seats_of(zone) if z in HEATED_SEATS]
        if not seats:
            return Plan(intent, messages=(Message("no_rear_seat_heating"),), ok=False)
        value = sign * round(level * 100 / SEAT_LEVELS)
        targets = {f"{SEAT}{seat}.HeatingCooling": value for seat in seats}
        return self._set(intent, targets, key if level else key + "_off", zone=zone, level=level)

    def _plan_ClimateSetSeatHeating(self, intent: Intent) -> Plan:
        return self._seat_plan(intent, 1, "seat_heating")

    def _plan_ClimateSetSeatVentilation(self, intent: Intent) -> Plan:
        return self._seat_plan(intent, -1, "seat_ventilation")

    def _plan_BodySetWindow(self, intent: Intent) -> Plan:
        zone = str(intent.slots["window"])
        position = int(_clamp(int(intent.slots["position"]), 0, 100))
        targets = {f"{DOOR}{DOOR_OF[z]}.Window.Position": position for z in seats_of(zone)}
        key = {0: "window_close", 100: "window_open"}.get(position, "window_position")
        return self._set(intent, targets, key, zone=zone, value=position)

    def _plan_BodySetDoorLock(self, intent: Intent) -> Plan:
        locked = bool(intent.slots["locked"])
        targets = {f"{DOOR}{d}.IsLocked": locked for d in DOOR_OF.values()}
        return self._set(intent, targets, "doors_locked" if locked else "doors_unlocked")

    def _plan_BodySetTrunk(self, intent: Intent) -> Plan:
        is_open = bool(intent.slots["open"])
        trunk = str(intent.slots.get("trunk", "rear"))
        path = f"Vehicle.Body.Trunk.{trunk.capitalize()}.IsOpen"
        key = f"{trunk}_trunk_{'open' if is_open else 'close'}"
        return self._set(intent, {path: is_open}, key)

    def _plan_BodySetLights(self, intent: Intent) -> Plan:
        on = bool(intent.slots["on"])
        lights = str(intent.slots["lights"])
        targets = dict.fromkeys(LIGHT_PATHS[lights], on)
        return self._set(intent, targets, _onoff("lights", on), lights=lights)

    def _plan_BodySetHazards(self, intent: Intent) -> Plan:
        on = bool(intent.slots["on"])
        return self._set(intent, {LIGHTS + "Hazard.IsSignaling": on}, _onoff("hazards", on))

    def _plan_BodyHonk(self, intent: Intent) -> Plan:
        return self._set(intent, {"Vehicle.Body.Horn.IsActive": True}, "honk")

    def _plan_MediaPlay(self, intent: Intent) -> Plan:
        query = intent.slots.get("query")
        if query:
            request = Request("media", "search_and_play", {"query": query})
            return Plan(
                intent, requests=(request,), messages=(Message("media_search", {"query": query}),)
            )
        return self._set(intent, {MEDIA + "Action": "PLAY"}, "MediaPlay")

    def _plan_MediaSetVolume(self, intent: Intent) -> Plan:
        asked = int(intent.slots["volume"])
        value = int(_clamp(asked, 0, 100))
        plan = self._set(intent, {MEDIA + "Volume": value}, "volume", value=value)
        return _with_clamp(plan, asked, value, (0, 100), "%")

    def _plan_MediaAdjustVolume(self, intent: Intent) -> Plan:
        sign = 1 if intent.slots["direction"] == "up" else -1
        delta = int(intent.slots.get("delta", VOLUME_STEP_PCT))
        path = MEDIA + "Volume"
        value = int(_clamp(self.current(path, 30) + sign * delta, 0, 100))
        return self._adjusted(intent, {path: value}, "volume", None, (0, 100), "%")

    def _plan_MediaSetSource(self, intent: Intent) -> Plan:
        source = str(intent.slots["source"])
        return self._set(intent, {MEDIA + "Played.Source": source}, "source", source=source)

    def _plan_NavigateTo(self, intent: Intent) -> Plan:
        if intent.slots.get("category") == "charging_station":
            request = Request(
                "navigation", "navigate", {"category": "charging_station", "nearest": True}
            )
            return Plan(intent, requests=(request,), messages=(Message("nav_charger"),))
        destination = str(intent.slots.get("destination", ""))
        if not destination:
            return Plan(intent, messages=(Message("not_understood"),), ok=False)
        request = Request("navigation", "navigate", {"destination": destination})
        key = {"home": "nav_home", "work": "nav_work"}.get(destination, "nav_to")
        return Plan(
            intent, requests=(request,), messages=(Message(key, {"destination": destination}),)
        )

    def _plan_NavigationRangeCheck(self, intent: Intent) -> Plan:
        destination = str(intent.slots["destination"])
        request = Request("navigation", "range_check", {"destination": destination})
        range_km = self.status.range_km()
        params = {"destination": destination, "range": range_km}
        key = "nav_range" if range_km is not None else "nav_range_unknown"
        return Plan(intent, requests=(request,), messages=(Message(key, params),))

    def _plan_NavigationSelectRoute(self, intent: Intent) -> Plan:
        data = {"option": intent.slots["option"], "destination": intent.slots.get("destination")}
        request = Request("navigation", "select_route", data)
        return Plan(intent, requests=(request,), messages=(Message("route_selected", data),))

    def _plan_CruiseSet(self, intent: Intent) -> Plan:
        on = bool(intent.slots["on"])
        targets: dict[str, Value] = {CRUISE + "IsActive": on}
        if on:
            targets = {CRUISE + "IsEnabled": True, **targets}
        return self._set(intent, targets, _onoff("cruise", on))

    def _plan_CruiseSetSpeed(self, intent: Intent) -> Plan:
        speed = float(round(float(intent.slots["speed"])))
        targets: dict[str, Value] = {
            CRUISE + "IsEnabled": True,
            CRUISE + "SpeedSet": speed,
            CRUISE + "IsActive": True,
        }
        return self._set(intent, targets, "cruise_speed", value=int(speed))

    def _plan_CruiseAdjustSpeed(self, intent: Intent) -> Plan:
        active = self.client.get_target(CRUISE + "IsActive")
        if active is None or active.value is not True:
            return Plan(intent, messages=(Message("cruise_not_active"),), ok=False)
        sign = 1.0 if intent.slots["direction"] == "up" else -1.0
        delta = float(intent.slots.get("delta", CRUISE_STEP_KMH))
        now = self.current(CRUISE + "SpeedSet", 0.0)
        speed = float(round(max(now + sign * delta, 0.0)))
        return self._set(intent, {CRUISE + "SpeedSet": speed}, "cruise_speed", value=int(speed))

    # ------------------------------------------------------------------ executing

    def execute(self, plan: Plan) -> Outcome:
        """Carry out a plan: one all-or-nothing actuation, then the requests."""
        if not plan.ok:
            return Outcome(plan.intent, messages=plan.messages, ok=False)
        if plan.targets:
            try:
                self.client.actuate_many(plan.targets)
            except ActuationRefusedError as exc:
                log.info("the car refused %s: %s", plan.intent.name, exc.reason)
                message = Message("refused", {"reason": exc.reason, "path": exc.path})
                return Outcome(plan.intent, messages=(message,), ok=False)
            except SignalError as exc:
                log.warning("%s failed: %s", plan.intent.name, exc)
                return Outcome(
                    plan.intent, messages=(Message("failed", {"reason": str(exc)}),), ok=False
                )
        actions = tuple(Action(path, value) for path, value in plan.targets.items())
        return Outcome(plan.intent, actions, plan.requests, plan.messages)


def _onoff(key: str, on: bool) -> str:
    return f"{key}_{'on' if on else 'off'}"


def _with_clamp(
    plan: Plan, asked: float, value: float, limits: tuple[float, float], unit: str
) -> Plan:
    if asked == value:
        return plan
    note = _clamped(asked, limits[0], limits[1], unit)
    return Plan(plan.intent, plan.targets, plan.requests, (*plan.messages, note), plan.ok)


def _clamped(asked: float, low: float, high: float, unit: str) -> Message:
    limit = high if asked > high else low
    return Message(
        "clamped", {"asked": asked, "low": low, "high": high, "unit": unit, "limit": limit}
    )


def _home(intent: Intent) -> tuple[Message, ...]:
    s = intent.slots
    entity = s.get("entity_id")
    domain = s.get("domain") or (str(entity).split(".", 1)[0] if entity else None)
    cover = domain == "cover"
    key = {
        "HassTurnOn": "home_open" if cover else "home_on",
        "HassTurnOff": "home_close" if cover else "home_off",
        "HassClimateSetTemperature": "home_temperature",
        "HassLightSet": "home_light",
    }.get(intent.name, "home_query")
    value = s.get("temperature", s.get("brightness"))
    return (Message(key, {"entity_id": entity, "area": s.get("area"), "value": value}),)
