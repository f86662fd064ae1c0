"""The car in Home Assistant, over MQTT discovery: `HomeAssistantBridge`.

The bridge connects to the MQTT broker Home Assistant uses, with `offline` as its will on the
availability topic, and then:

- publishes one retained discovery message per entity (and per device trigger), so that the car
  appears as one device with sensors, binary sensors, a device tracker, a lock, a climate entity,
  buttons, a number and a switch (`carmind.connect.homeassistant_entities` has the table);
- follows the hub and publishes each state topic when its value changes, at most once per
  `min_interval_s` per topic (retained, so Home Assistant has the state after a restart);
- turns messages on the command topics into the vehicle link's commands and hands them to a
  `CommandHandler` (the `Executor`, with source "homeassistant"), so they pass the same checks as
  any other command. A refusal is logged, published as a `command_refused` event, and the
  affected states are sent again, so Home Assistant keeps showing what the car really does;
- follows the car in and out of the home zone and publishes `arriving_home` / `leaving_home`
  (also MQTT device triggers, for automations) and hands each to `on_event`.

`stop()` ends `run()`, which marks the car offline before it disconnects; if the bridge dies
instead, the broker publishes the will. `remove()` deletes the device from Home Assistant (empty
retained discovery payloads).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

import aiomqtt

import carmind
from carmind.connect.geofence import Geofence, GeofenceEvent, HomeZone
from carmind.connect.homeassistant_entities import (
    ACCURACY,
    EVENT_COMMAND_REFUSED,
    IDENTITY_PATHS,
    LATITUDE,
    LONGITUDE,
    OFFLINE,
    ONLINE,
    STATE_KEYS,
    STATE_PATHS,
    HomeAssistantCommandError,
    Identity,
    Topics,
    affected_states,
    command_topics,
    discovery,
    identity_from,
    parse_command,
    state_payloads,
)
from carmind.connect.mqtt import make_client, no_delay, parse_url
from carmind.connect.protocol import ResultStatus
from carmind.errors import CarmindError
from carmind.signals.broker import Client, Subscription
from carmind.signals.catalog import Value

log = logging.getLogger(__name__)

SOURCE: Final = "homeassistant"
"""The command source the executor sees (`Command.source` of the vehicle link)."""

MIN_PUBLISH_INTERVAL_S: Final = 1.0
"""At most one state message per topic per second. Home Assistant's recorder writes every state
change to its database; a car that publishes at 10 Hz would write ten rows a second per sensor,
while a dashboard (and any automation on a car) is served well by one update a second."""

RECONNECT_MIN_S: Final = 1.0
RECONNECT_MAX_S: Final = 60.0
"""Back-off between connection attempts, doubling: quick after a broker restart, and no storm
of reconnects against a broker that stays down."""

QOS: Final = 1
"""Discovery, states and events at least once: a lost discovery message is a missing entity."""


class CommandHandler(Protocol):
    """What carries out the car's commands: `carmind.connect.executor.Executor` fits."""

    def execute(
        self, name: str, params: Mapping[str, Any], source: str, now: float
    ) -> tuple[ResultStatus, str] | Awaitable[tuple[ResultStatus, str]]:
        """Check and carry out one command; `(EXECUTED, "")` or a status and the reason."""
        ...


type EventCallback = Callable[[GeofenceEvent], None]


class HomeAssistantBridge:
    """Publishes one car to Home Assistant and takes its commands; see the module docstring.

    `client` reads the car on the hub (it needs `read` on the vehicle's signals); `handler`
    carries out commands. `mqtt_url` is as `carmind.connect.mqtt.parse_url` reads it.
    """

    def __init__(
        self,
        client: Client,
        mqtt_url: str,
        handler: CommandHandler,
        *,
        home: HomeZone | None = None,
        on_event: EventCallback | None = None,
        discovery_prefix: str = "homeassistant",
        min_interval_s: float = MIN_PUBLISH_INTERVAL_S,
    ) -> None:
        self.client = client
        self.settings = parse_url(mqtt_url)
        self.handler = handler
        self.geofence = Geofence(home) if home is not None else None
        self.on_event = on_event
        self.discovery_prefix = discovery_prefix
        self.min_interval_s = min_interval_s
        self.identity: Identity | None = None
        self.refused = 0
        """Commands from Home Assistant that the car refused (or that were malformed)."""
        self.executed = 0
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._sent: dict[str, tuple[str, float]] = {}
        """Per state key: the payload last published and when (monotonic seconds)."""
        self._pending: set[str] = set()
        self._connected = asyncio.Event()

    # ------------------------------------------------------------------ identity and topics

    def _identify(self) -> tuple[Identity, Topics]:
        if self.identity is None:
            values = {p: self.client.value(p) for p in IDENTITY_PATHS}
            self.identity = identity_from(values, carmind.__version__)
        return self.identity, Topics(self.identity.vin, self.discovery_prefix)

    @property
    def topics(self) -> Topics:
        """The car's topics (reads the VIN from the hub on first use)."""
        return self._identify()[1]

    async def wait_connected(self) -> None:
        """Return once discovery and the first states are published."""
        await self._connected.wait()

    # ------------------------------------------------------------------ running

    def stop(self) -> None:
        """End `run()`: the car is marked offline and the connection closed."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()

    async def run(self) -> None:
        """Connect, publish and follow until `stop()` (also one that came before the run
        started), reconnecting with back-off."""
        self._stop_event = asyncio.Event()
        if self._stopping:
            self._stop_event.set()
        try:
            await self._run()
        finally:
            self._stopping = False  # the bridge can run again

    async def _run(self) -> None:
        assert self._stop_event is not None
        identity, topics = self._identify()
        will = aiomqtt.Will(topics.availability, OFFLINE, qos=QOS, retain=True)
        delay = RECONNECT_MIN_S
        while not self._stopping:
            try:
                async with make_client(
                    self.settings, identifier=f"{identity.node_id}_ha", will=will
                ) as mqtt:
                    no_delay(mqtt)
                    delay = RECONNECT_MIN_S
                    await self._session(mqtt, identity, topics)
                    await mqtt.publish(topics.availability, OFFLINE, qos=QOS, retain=True)
                    return
            except aiomqtt.MqttError as exc:
                self._connected.clear()
                log.warning(
                    "Home Assistant bridge: MQTT %s: %s; retrying in %.0f s",
                    self.settings.redacted(),
                    exc,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def _session(self, mqtt: aiomqtt.Client, identity: Identity, topics: Topics) -> None:
        for topic, payload in discovery(identity, topics).items():
            await mqtt.publish(topic, json.dumps(payload), qos=QOS, retain=True)
        await mqtt.publish(topics.availability, ONLINE, qos=QOS, retain=True)
        commands = command_topics(topics)
        for topic in commands:
            await mqtt.subscribe(topic, qos=QOS)
        self._sent.clear()
        sub = self.client.subscribe(list(STATE_PATHS))  # before the first states: miss nothing
        try:
            await self._check_geofence(mqtt, topics)
            await self._publish_states(mqtt, topics, force=True)
            self._connected.set()
            log.info(
                "Home Assistant bridge: %s published on %s",
                identity.name,
                self.settings.redacted(),
            )
            await self._serve(mqtt, topics, sub, commands)
        finally:
            sub.close()
            self._connected.clear()

    async def _serve(
        self, mqtt: aiomqtt.Client, topics: Topics, sub: Subscription, commands: Mapping[str, str]
    ) -> None:
        """Follow the hub and the command topics until `stop()` or a connection error."""
        assert self._stop_event is not None
        tasks = [
            asyncio.create_task(self._follow_hub(mqtt, topics, sub)),
            asyncio.create_task(self._read_commands(mqtt, topics, commands)),
        ]
        stop = asyncio.create_task(self._stop_event.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*tasks, stop):
                task.cancel()
            await asyncio.gather(*tasks, stop, return_exceptions=True)
        for task in done:
            if task is not stop and (exc := task.exception()) is not None:
                raise exc

    # ------------------------------------------------------------------ car -> Home Assistant

    def _snapshot(self) -> dict[str, Value | None]:
        return {path: self.client.value(path) for path in STATE_PATHS}

    async def _publish_states(
        self,
        mqtt: aiomqtt.Client,
        topics: Topics,
        *,
        force: bool = False,
        only: tuple[str, ...] = (),
    ) -> float | None:
        """Publish changed states that are due; seconds until the next pending one is due."""
        now = time.monotonic()
        next_due: float | None = None
        for key, payload in state_payloads(self._snapshot()).items():
            if only and key not in only:
                continue
            last = self._sent.get(key)
            if last is not None and last[0] == payload and not force:
                self._pending.discard(key)
                continue
            due = 0.0 if last is None or force else last[1] + self.min_interval_s - now
            if due > 0:
                self._pending.add(key)
                next_due = due if next_due is None else min(next_due, due)
                continue
            await mqtt.publish(topics.state(key), payload, qos=QOS, retain=True)
            self._sent[key] = (payload, now)
            self._pending.discard(key)
        return next_due

    async def _follow_hub(self, mqtt: aiomqtt.Client, topics: Topics, sub: Subscription) -> None:
        wait: float | None = None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.next_batch(), wait)
            await self._check_geofence(mqtt, topics)
            wait = await self._publish_states(mqtt, topics)

    async def _check_geofence(self, mqtt: aiomqtt.Client, topics: Topics) -> None:
        if self.geofence is None:
            return
        lat, lon = self.client.value(LATITUDE), self.client.value(LONGITUDE)
        if not isinstance(lat, float | int) or not isinstance(lon, float | int):
            return
        accuracy = self.client.value(ACCURACY)
        acc = float(accuracy) if isinstance(accuracy, float | int) else 0.0
        event = self.geofence.update(float(lat), float(lon), self.client.broker.clock(), acc)
        if event is None:
            return
        log.info("Home Assistant bridge: %s (%.0f m from home)", event.kind.value, event.distance_m)
        await mqtt.publish(topics.event, json.dumps(event.as_dict()), qos=QOS)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("the geofence event callback failed")

    # ------------------------------------------------------------------ Home Assistant -> car

    async def _read_commands(
        self, mqtt: aiomqtt.Client, topics: Topics, commands: Mapping[str, str]
    ) -> None:
        async for message in mqtt.messages:
            key = commands.get(str(message.topic))
            if key is None or message.retain:
                continue  # a retained command is stale: never replay it to the car
            raw = message.payload
            text = (
                raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
            )
            await self.handle_command(mqtt, topics, key, text)

    async def handle_command(
        self, mqtt: aiomqtt.Client, topics: Topics, key: str, payload: str
    ) -> tuple[ResultStatus, str]:
        """Carry out one command-topic message; refusals become events and fresh states."""
        name: str | None = None
        params: dict[str, Any] = {}
        try:
            command, params = parse_command(key, payload)
            name = command.value
            result = self.handler.execute(command, params, SOURCE, self.client.broker.clock())
            if inspect.isawaitable(result):
                result = await result
            status, reason = result
        except HomeAssistantCommandError as exc:
            status, reason = ResultStatus.REFUSED, str(exc)
        except CarmindError as exc:
            status, reason = ResultStatus.FAILED, str(exc)
        if status is ResultStatus.EXECUTED:
            self.executed += 1
            return status, reason
        self.refused += 1
        log.warning("Home Assistant command %s=%r %s: %s", key, payload, status.value, reason)
        event = {
            "event": EVENT_COMMAND_REFUSED,
            "entity": key,
            "payload": payload,
            "command": name,
            "params": params,
            "status": status.value,
            "reason": reason,
            "at": self.client.broker.clock(),
        }
        await mqtt.publish(topics.event, json.dumps(event), qos=QOS)
        await self._publish_states(mqtt, topics, force=True, only=affected_states(key))
        return status, reason

    # ------------------------------------------------------------------ removal

    async def remove(self) -> None:
        """Delete the car from Home Assistant: empty retained payloads on every discovery topic,
        and clear the retained states and availability. Uses a connection of its own."""
        identity, topics = self._identify()
        async with make_client(self.settings, identifier=f"{identity.node_id}_ha_remove") as mqtt:
            for topic in discovery(identity, topics):
                await mqtt.publish(topic, b"", qos=QOS, retain=True)
            for key in STATE_KEYS:
                await mqtt.publish(topics.state(key), b"", qos=QOS, retain=True)
            await mqtt.publish(topics.availability, b"", qos=QOS, retain=True)
        log.info("Home Assistant bridge: %s removed", identity.name)
