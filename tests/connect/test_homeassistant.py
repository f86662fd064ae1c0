"""The Home Assistant bridge: MQTT discovery, states, commands, geofence, availability.

The pure parts (payload tables, command parsing, the geofence) test without a broker; the rest
runs against the machine's Mosquitto with a simulated car and the real `Executor`, and checks
what Home Assistant would receive on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import pytest

from carmind.config import load_config
from carmind.connect.executor import Executor
from carmind.connect.geofence import (
    Geofence,
    GeofenceError,
    GeofenceEvent,
    GeofenceEventKind,
    HomeZone,
)
from carmind.connect.homeassistant import HomeAssistantBridge
from carmind.connect.homeassistant_entities import (
    DOOR_LOCKED,
    ENTITY_KEYS,
    FAN_SPEEDS,
    REQUIRED_KEYS,
    STATE_KEYS,
    TARGET_TEMP,
    HomeAssistantCommandError,
    Identity,
    Topics,
    discovery,
    parse_command,
    state_payloads,
)
from carmind.connect.mqtt import parse_url
from carmind.connect.protocol import CommandName, EventKind
from carmind.vehicle.session import CarSession

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
CONFIG_TOPIC = re.compile(r"^homeassistant/([a-z_]+)/(carmind_[a-z0-9]+)/([a-z_]+)/config$")
METRES_PER_DEGREE_LAT = 111_195.0


def _vin() -> str:
    """A VIN of the test's own: the shared broker keeps retained messages between tests."""
    return "TST" + "".join(random.choices(VIN_ALPHABET, k=14))


# --------------------------------------------------------------------------- pure parts


def test_discovery_table_has_every_component_and_required_keys() -> None:
    identity = Identity(vin="TSTAAAAAAAAAAAAAA", brand="Xiaomi", model="SU7")
    payloads = discovery(identity, Topics(identity.vin))
    components = set()
    unique_ids = set()
    for topic, payload in payloads.items():
        match = CONFIG_TOPIC.match(topic)
        assert match, topic
        component = match.group(1)
        components.add(component)
        assert REQUIRED_KEYS[component] <= payload.keys(), (topic, payload)
        if component != "device_automation":
            assert payload.keys() >= ENTITY_KEYS, topic
            unique_ids.add(payload["unique_id"])
    assert components == set(REQUIRED_KEYS)
    assert len(unique_ids) == len(payloads) - 3  # every entity its own id; three triggers


def test_state_payloads_convert_units_and_leave_unknown_signals_out() -> None:
    values: dict[str, Any] = {
        "Vehicle.Powertrain.Range": 412_345,
        "Vehicle.Speed": 29.6,
        **dict.fromkeys(DOOR_LOCKED, True),
        **dict.fromkeys(FAN_SPEEDS, 0),
    }
    states = state_payloads(values)
    assert states["range"] == "412"
    assert states["speed"] == "30"
    assert states["lock"] == "LOCKED"
    assert states["climate_mode"] == "off"
    assert "state_of_charge" not in states  # no value yet: Home Assistant keeps "unknown"
    assert "location" not in states


@pytest.mark.parametrize(
    ("key", "payload", "expected"),
    [
        ("lock", "UNLOCK", (CommandName.UNLOCK, {})),
        ("climate_mode", "heat_cool", (CommandName.CLIMATE_ON, {})),
        ("climate_target", "22.5", (CommandName.SET_TEMPERATURE, {"celsius": 22.5})),
        ("charge_limit", "80.0", (CommandName.SET_CHARGE_LIMIT, {"percent": 80})),
        ("charge", "OFF", (CommandName.CHARGE_STOP, {})),
        ("honk", "PRESS", (CommandName.HONK, {})),
    ],
)
def test_command_payloads_map_to_link_commands(
    key: str, payload: str, expected: tuple[CommandName, dict[str, Any]]
) -> None:
    assert parse_command(key, payload) == expected


@pytest.mark.parametrize(
    ("key", "payload", "named"),
    [
        ("lock", "OPEN", "'OPEN'"),
        ("climate_target", "warm", "'warm'"),
        ("climate_target", "nan", "'nan'"),
        ("charge_limit", "80.5", "'80.5'"),
        ("climate_mode", "cool", "'cool'"),
    ],
)
def test_malformed_command_payloads_are_refused_by_name(key: str, payload: str, named: str) -> None:
    with pytest.raises(HomeAssistantCommandError, match=named):
        parse_command(key, payload)


def _north_of(zone: HomeZone, metres: float) -> tuple[float, float]:
    return zone.latitude + metres / METRES_PER_DEGREE_LAT, zone.longitude


def test_geofence_enters_and_leaves_with_hysteresis() -> None:
    zone = HomeZone(52.37, 4.89, radius_m=150, hysteresis_m=50)
    fence = Geofence(zone)
    kinds = []
    for step, metres in enumerate([0, 140, 160, 190, 155, 145, 160, 210, 190, 160, 140]):
        event = fence.update(*_north_of(zone, metres), at=float(step))
        kinds.append(event.kind if event else None)
    arrive, leave = GeofenceEventKind.ARRIVING_HOME, GeofenceEventKind.LEAVING_HOME
    # the first fix only sets the state; wandering between 140 and 190 m changes nothing
    assert kinds == [None, None, None, None, None, None, None, leave, None, None, arrive]


def test_geofence_ignores_fixes_too_vague_to_decide() -> None:
    zone = HomeZone(52.37, 4.89, radius_m=100, hysteresis_m=20)
    fence = Geofence(zone)
    fence.update(*_north_of(zone, 0), at=0.0)
    assert fence.update(*_north_of(zone, 500), at=1.0, accuracy_m=250.0) is None
    assert fence.inside is True
    event = fence.update(*_north_of(zone, 500), at=2.0, accuracy_m=5.0)
    assert event is not None and event.protocol_kind is EventKind.GEOFENCE_LEAVE
    assert event.as_dict()["event"] == "leaving_home"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"latitude": 91.0, "longitude": 0.0}, "91.0"),
        ({"latitude": 0.0, "longitude": 0.0, "radius_m": 5.0}, "5.0"),
        ({"latitude": 0.0, "longitude": 0.0, "radius_m": 100.0, "hysteresis_m": 150.0}, "150.0"),
    ],
)
def test_bad_home_zone_is_an_error_naming_the_value(kwargs: dict[str, float], named: str) -> None:
    with pytest.raises(GeofenceError, match=named):
        HomeZone(**kwargs)


# --------------------------------------------------------------------------- on the wire


@dataclass
class Listener:
    """A client that sees what Home Assistant would: the last message per topic, in order."""

    mqtt: aiomqtt.Client
    last: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str, bool]] = field(default_factory=list)
    _change: asyncio.Event = field(default_factory=asyncio.Event)

    async def pump(self) -> None:
        async for message in self.mqtt.messages:
            raw = message.payload
            text = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
            self.last[str(message.topic)] = text
            self.log.append((str(message.topic), text, message.retain))
            self._change.set()

    async def until(
        self, check: Callable[[], bool], session: CarSession | None = None, timeout: float = 5.0
    ) -> None:
        """Wait until `check()` holds, running the simulated car meanwhile."""
        async with asyncio.timeout(timeout):
            while not check():
                if session is not None:
                    session.advance(0.1)
                self._change.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._change.wait(), 0.02)

    def events(self, topics: Topics) -> list[dict[str, Any]]:
        return [json.loads(p) for t, p, _ in self.log if t == topics.event]


@dataclass
class Rig:
    session: CarSession
    bridge: HomeAssistantBridge
    listener: Listener
    topics: Topics
    events: list[GeofenceEvent]
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def rig(url: str, home: HomeZone | None = None) -> AsyncIterator[Rig]:
    vin = _vin()
    session = CarSession.create(load_config(environ={"CARMIND_VEHICLE_VIN": vin}))
    session.advance(0.5)
    events: list[GeofenceEvent] = []
    bridge = HomeAssistantBridge(
        session.broker.client("homeassistant"),
        url,
        Executor(session.broker.client("executor")),
        home=home,
        on_event=events.append,
        min_interval_s=0.05,
    )
    topics = bridge.topics
    settings = parse_url(url)
    async with aiomqtt.Client(settings.host, settings.port) as mqtt:
        await mqtt.subscribe("homeassistant/+/carmind_" + vin.lower() + "/+/config", qos=1)
        await mqtt.subscribe(f"{topics.base}/#", qos=1)
        listener = Listener(mqtt)
        pump = asyncio.create_task(listener.pump())
        task = asyncio.create_task(bridge.run())
        try:
            async with asyncio.timeout(10):
                await bridge.wait_connected()
            yield Rig(session, bridge, listener, topics, events, task)
        finally:
            bridge.stop()
            await asyncio.wait_for(task, 10)
            await bridge.remove()
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump


def _hub(session: CarSession, path: str) -> Any:
    return session.client.value(path)


@pytest.mark.services
async def test_discovery_on_the_wire_has_what_home_assistant_requires(
    shared_mosquitto: str,
) -> None:
    async with rig(shared_mosquitto) as r:
        node = f"carmind_{r.topics.vin.lower()}"

        def configs() -> dict[str, str]:
            return {t: p for t, p in r.listener.last.items() if t.endswith("/config")}

        expected = len(discovery(r.bridge.identity or Identity(r.topics.vin), r.topics))
        await r.listener.until(lambda: len(configs()) == expected)
        retained = {t for t, _, keep in r.listener.log if keep or t.endswith("/config")}
        by_component: dict[str, list[dict[str, Any]]] = {}
        for topic, text in configs().items():
            match = CONFIG_TOPIC.match(topic)
            assert match and match.group(2) == node, topic
            assert topic in retained
            payload = json.loads(text)
            component = match.group(1)
            by_component.setdefault(component, []).append(payload)
            missing = REQUIRED_KEYS[component] - payload.keys()
            assert not missing, f"{topic}: missing {sorted(missing)}"
            device = payload["device"]
            assert node in device["identifiers"]
            assert (device["manufacturer"], device["model"]) == ("Xiaomi", "SU7")
            assert device["serial_number"] == r.topics.vin
            if component != "device_automation":
                assert payload.keys() >= ENTITY_KEYS, topic
                assert payload["unique_id"].startswith(node)
                assert payload["availability"][0]["topic"] == r.topics.availability
        sensors = {p["unique_id"].removeprefix(node + "_"): p for p in by_component["sensor"]}
        assert sensors["state_of_charge"]["device_class"] == "battery"
        assert sensors["state_of_charge"]["unit_of_measurement"] == "%"
        assert sensors["range"]["unit_of_measurement"] == "km"
        assert sensors["speed"]["unit_of_measurement"] == "km/h"
        assert sensors["cabin_temperature"]["unit_of_measurement"] == "°C"
        assert sensors["odometer"]["state_class"] == "total_increasing"
        assert {p["device_class"] for p in by_component["binary_sensor"]} == {
            "battery_charging",
            "plug",
            "door",
        }
        tracker = by_component["device_tracker"][0]
        assert tracker["source_type"] == "gps"
        (climate,) = by_component["climate"]
        assert set(climate["modes"]) == {"off", "heat_cool"}
        assert (climate["min_temp"], climate["max_temp"], climate["temp_step"]) == (15, 30, 0.5)
        (number,) = by_component["number"]
        assert (number["min"], number["max"], number["step"]) == (50, 100, 1)
        assert {p["type"] for p in by_component["device_automation"]} == {
            "arriving_home",
            "leaving_home",
            "command_refused",
        }
        # states carry the simulated car's values
        last, t = r.listener.last, r.topics
        await r.listener.until(lambda: t.state("location") in last and t.state("lock") in last)
        assert last[t.availability] == "online"
        assert last[t.state("state_of_charge")] == "80.0"
        assert last[t.state("range")] == str(
            round(_hub(r.session, "Vehicle.Powertrain.Range") / 1000)
        )
        assert last[t.state("lock")] == "UNLOCKED"
        assert last[t.state("climate_mode")] == "off"
        assert last[t.state("plugged_in")] == "OFF"
        location = json.loads(last[t.state("location")])
        assert location["latitude"] == pytest.approx(60.1699)
        assert location["longitude"] == pytest.approx(24.9384)
        assert location["gps_accuracy"] >= 0
        # states follow the car
        r.session.prime({"Vehicle.Speed": 50.0})
        await r.listener.until(lambda: last.get(t.state("speed")) == "50", r.session)
        await r.listener.until(lambda: float(last[t.state("odometer")]) > 0, r.session)


@pytest.mark.services
async def test_lock_and_climate_commands_go_through_the_car_checks(shared_mosquitto: str) -> None:
    async with rig(shared_mosquitto) as r:
        t, last, mqtt = r.topics, r.listener.last, r.listener.mqtt
        r.session.prime(dict.fromkeys(DOOR_LOCKED, True))
        await r.listener.until(lambda: last.get(t.state("lock")) == "LOCKED", r.session)

        await mqtt.publish(t.command("lock"), "UNLOCK", qos=1)
        await r.listener.until(
            lambda: all(_hub(r.session, p) is False for p in DOOR_LOCKED), r.session
        )
        await r.listener.until(lambda: last.get(t.state("lock")) == "UNLOCKED", r.session)

        await mqtt.publish(t.command("climate_target"), "22", qos=1)
        await r.listener.until(lambda: _hub(r.session, TARGET_TEMP) == 22.0, r.session)
        await r.listener.until(lambda: last.get(t.state("climate_target")) == "22.0", r.session)
        await mqtt.publish(t.command("climate_mode"), "heat_cool", qos=1)
        await r.listener.until(lambda: last.get(t.state("climate_mode")) == "heat_cool", r.session)
        assert all(_hub(r.session, p) > 0 for p in FAN_SPEEDS)

        # out of the allowed range: refused by the executor, published, state unchanged
        await mqtt.publish(t.command("charge_limit"), "30", qos=1)
        await r.listener.until(lambda: len(r.listener.events(t)) == 1)
        (refusal,) = r.listener.events(t)
        assert refusal["event"] == "command_refused"
        assert refusal["command"] == "set_charge_limit" and "30" in refusal["reason"]
        assert last[t.state("charge_limit")] == "90"
        assert _hub(r.session, "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit") == 90

        # a malformed payload never reaches the car
        await mqtt.publish(t.command("climate_target"), "warm", qos=1)
        await r.listener.until(lambda: len(r.listener.events(t)) == 2)
        assert "'warm'" in r.listener.events(t)[1]["reason"]
        assert _hub(r.session, TARGET_TEMP) == 22.0
        assert r.bridge.refused == 2


@pytest.mark.services
async def test_unlock_while_moving_is_refused_and_the_lock_stays_locked(
    shared_mosquitto: str,
) -> None:
    async with rig(shared_mosquitto) as r:
        t, last, mqtt = r.topics, r.listener.last, r.listener.mqtt
        r.session.prime({**dict.fromkeys(DOOR_LOCKED, True), "Vehicle.Speed": 30.0})
        await r.listener.until(lambda: last.get(t.state("lock")) == "LOCKED", r.session)
        await r.listener.until(lambda: last.get(t.state("speed")) == "30", r.session)

        sent_before = sum(1 for topic, _, _ in r.listener.log if topic == t.state("lock"))
        await mqtt.publish(t.command("lock"), "UNLOCK", qos=1)
        await r.listener.until(lambda: len(r.listener.events(t)) == 1, r.session)
        (refusal,) = r.listener.events(t)
        assert refusal["command"] == "unlock" and refusal["status"] == "refused"
        r.session.advance(2.0)
        assert all(_hub(r.session, p) is True for p in DOOR_LOCKED)
        # the lock state is sent again, truthfully
        await r.listener.until(
            lambda: (
                sum(1 for topic, _, _ in r.listener.log if topic == t.state("lock")) > sent_before
            )
        )
        assert last[t.state("lock")] == "LOCKED"


@pytest.mark.services
async def test_geofence_events_reach_home_assistant_and_the_caller(shared_mosquitto: str) -> None:
    zone = HomeZone(60.1699, 24.9384, radius_m=150, hysteresis_m=50)
    async with rig(shared_mosquitto, home=zone) as r:
        t = r.topics
        for metres in (170, 190, 260, 170, 120, 160):
            lat, _ = _north_of(zone, metres)
            r.session.prime({"Vehicle.CurrentLocation.Latitude": lat})

            def published(lat: float = lat) -> bool:
                location = json.loads(r.listener.last.get(t.state("location"), "{}"))
                return bool(location.get("latitude") == round(lat, 6))

            await r.listener.until(published, r.session)
        await r.listener.until(lambda: len(r.listener.events(t)) == 2)
        kinds = [e["event"] for e in r.listener.events(t)]
        assert kinds == ["leaving_home", "arriving_home"]
        assert [e.kind.value for e in r.events] == kinds
        assert [e.protocol_kind for e in r.events] == [
            EventKind.GEOFENCE_LEAVE,
            EventKind.GEOFENCE_ENTER,
        ]


@pytest.mark.services
async def test_availability_goes_offline_on_stop_and_removal_clears_discovery(
    shared_mosquitto: str,
) -> None:
    async with rig(shared_mosquitto) as r:
        t, last = r.topics, r.listener.last
        await r.listener.until(lambda: last.get(t.availability) == "online")
        r.bridge.stop()
        await asyncio.wait_for(r.task, 5)
        await r.listener.until(lambda: last.get(t.availability) == "offline")
        await r.bridge.remove()
        await r.listener.until(
            lambda: all(p == "" for topic, p in last.items() if topic.endswith("/config"))
        )


BRIDGE_PROCESS = """
import asyncio, sys
from carmind.config import load_config
from carmind.connect.executor import Executor
from carmind.connect.homeassistant import HomeAssistantBridge
from carmind.vehicle.session import CarSession

async def main():
    session = CarSession.create(load_config(environ={"CARMIND_VEHICLE_VIN": sys.argv[2]}))
    session.advance(0.5)
    bridge = HomeAssistantBridge(session.client, sys.argv[1], Executor(session.client))
    task = asyncio.create_task(bridge.run())
    await bridge.wait_connected()
    print("ready", flush=True)
    await task

asyncio.run(main())
"""


@pytest.mark.services
async def test_a_bridge_that_dies_goes_offline_through_its_will(shared_mosquitto: str) -> None:
    vin = _vin()
    topics = Topics(vin)
    settings = parse_url(shared_mosquitto)
    process = subprocess.Popen(
        [sys.executable, "-c", BRIDGE_PROCESS, shared_mosquitto, vin],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
        assert line.strip() == b"ready"
        async with aiomqtt.Client(settings.host, settings.port) as mqtt:
            await mqtt.subscribe(topics.availability, qos=1)
            listener = Listener(mqtt)
            pump = asyncio.create_task(listener.pump())
            await listener.until(lambda: listener.last.get(topics.availability) == "online")
            process.send_signal(signal.SIGKILL)  # no goodbye: only the broker can tell
            await listener.until(
                lambda: listener.last.get(topics.availability) == "offline", timeout=10
            )
            pump.cancel()
            identity = Identity(vin=vin, brand="Xiaomi", model="SU7")
            for topic in [*discovery(identity, topics), topics.availability]:
                await mqtt.publish(topic, b"", qos=1, retain=True)
    finally:
        process.kill()
        process.wait(10)


def test_every_state_key_is_known_for_removal() -> None:
    values: dict[str, Any] = {
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed": 80.0,
        "Vehicle.Powertrain.Range": 1000,
        "Vehicle.Speed": 0.0,
        "Vehicle.Cabin.HVAC.AmbientAirTemperature": 20.0,
        "Vehicle.TraveledDistance": 1.0,
        "Vehicle.Powertrain.TractionBattery.Charging.IsCharging": False,
        "Vehicle.Powertrain.TractionBattery.Charging.ChargingPort.AnyPosition"
        ".IsChargingCableConnected": False,
        "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit": 90,
        "Vehicle.CurrentLocation.Latitude": 1.0,
        "Vehicle.CurrentLocation.Longitude": 2.0,
        TARGET_TEMP: 21.0,
        **dict.fromkeys(DOOR_LOCKED, False),
        **dict.fromkeys(FAN_SPEEDS, 0),
        **{p.replace("IsLocked", "IsOpen"): False for p in DOOR_LOCKED},
    }
    assert set(state_payloads(values)) == set(STATE_KEYS)
