"""The connected car inside `carmind run`: broker, cloud, vehicle link and Home Assistant together.

With no `--mqtt` and no `--cloud`, everything runs in the one process: an embedded MQTT broker
(amqtt), an embedded cloud on SQLite in the data directory, the vehicle link, and the Home
Assistant bridge, so `make run` shows a connected car with nothing installed. With `--mqtt URL`
the link and the bridge use that broker (Mosquitto in production); with `--cloud URL` no cloud is
started here (the cloud at that URL reads the same broker).

It also provides `Vehicle.Carmind.Connect.*` on the hub: the link's state and backlog, the cloud
page, and pairing: setting `StartPairing` shows a code in the car that a phone needs to enrol its
key, so enrolment takes someone sitting in the car.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from carmind.config import ConnectConfig
from carmind.connect.cloud.server import EmbeddedCloud
from carmind.connect.embedded import EmbeddedBroker
from carmind.connect.geofence import GeofenceEvent, HomeZone
from carmind.connect.homeassistant import HomeAssistantBridge
from carmind.connect.link import VehicleLink
from carmind.connect.mqtt import parse_url
from carmind.errors import CarmindError
from carmind.signals.broker import Broker, ProviderHandle
from carmind.signals.catalog import Value

log = logging.getLogger(__name__)

CONNECT: Final = "Vehicle.Carmind.Connect."
VIN_PATH: Final = "Vehicle.VehicleIdentification.VIN"
OWNER: Final = "owner"
OWNER_PASSWORD_FILE: Final = "owner.password"
STATUS_EVERY_S: Final = 1.0
"""How often the link's state and backlog are published on the hub (s)."""


def _port_or_free(port: int, host: str = "127.0.0.1") -> int:
    """`port` if nothing listens on it, else a free one (another carmind may be running): the
    panel and `Vehicle.Carmind.Connect.*` show which was taken."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
            return port
        except OSError:
            probe.bind((host, 0))
            free = int(probe.getsockname()[1])
    log.warning("port %d is taken; the embedded service uses %d instead", port, free)
    return free


class ConnectError(CarmindError):
    """The connected services cannot start as configured."""


class ConnectedServices:
    """Everything `carmind run` needs to be a connected car; `start()`, then `stop()`."""

    def __init__(
        self,
        hub: Broker,
        config: ConnectConfig,
        data_dir: Path,
        *,
        mqtt_url: str | None = None,
        cloud_url: str | None = None,
    ) -> None:
        self.hub = hub
        self.config = config
        self.data_dir = data_dir
        self.mqtt_url = mqtt_url or config.mqtt or None
        self.cloud_url = cloud_url or config.cloud or None
        if self.mqtt_url is not None:
            parse_url(self.mqtt_url)  # a bad URL is an error before anything starts
        self.client = hub.client("connect", "read actuate provide")
        self.broker: EmbeddedBroker | None = None
        self.cloud: EmbeddedCloud | None = None
        self.link: VehicleLink | None = None
        self.bridge: HomeAssistantBridge | None = None
        self._handle: ProviderHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.vin = ""

    # ---------------------------------------------------------------- lifecycle

    def _vin(self) -> str:
        dp = self.client.get(VIN_PATH)
        if dp is None or not isinstance(dp.value, str) or not dp.value:
            raise ConnectError(f"the car publishes no VIN ({VIN_PATH}): the link needs one")
        return dp.value

    async def start(self) -> None:
        self.vin = self._vin()
        if self.mqtt_url is None:
            self.broker = EmbeddedBroker(port=_port_or_free(self.config.embedded_mqtt_port))
            await self.broker.start()
            self.mqtt_url = self.broker.url
        if self.cloud_url is None:
            self.cloud = EmbeddedCloud(
                self.mqtt_url,
                port=_port_or_free(self.config.embedded_cloud_port),
                data_dir=self.data_dir / "cloud",
            )
            await self.cloud.start()
            self.cloud_url = self.cloud.url
            await self._register_vehicle()
        self.link = VehicleLink(
            self.hub.client("link", "read actuate"), self.mqtt_url, self.vin, self.data_dir / "car"
        )
        self._tasks.append(asyncio.create_task(self.link.run(), name="vehicle-link"))
        if self.config.homeassistant:
            home = None
            if self.config.home_latitude is not None and self.config.home_longitude is not None:
                home = HomeZone(
                    self.config.home_latitude,
                    self.config.home_longitude,
                    radius_m=self.config.home_radius_m,
                )
            self.bridge = HomeAssistantBridge(
                self.hub.client("homeassistant", "read actuate"),
                self.mqtt_url,
                self.link.executor,
                home=home,
                on_event=self._geofence,
            )
            self._tasks.append(asyncio.create_task(self.bridge.run(), name="homeassistant"))
        self._attach()
        self._tasks.append(asyncio.create_task(self._publish_status(), name="connect-status"))

    async def _register_vehicle(self) -> None:
        """The embedded cloud knows this car from the start, owned by the local user `owner`,
        whose password is made once and kept in `cloud/owner.password` (readable by you only)."""
        from carmind.connect.cloud import admin

        assert self.cloud is not None
        sessions = self.cloud.service.sessions
        secret = self.data_dir / "cloud" / OWNER_PASSWORD_FILE
        if not secret.exists():
            secret.parent.mkdir(parents=True, exist_ok=True)
            secret.touch(mode=0o600)
            secret.write_text(secrets.token_urlsafe(12) + "\n", encoding="utf-8")
        with contextlib.suppress(admin.AdminError):  # made on an earlier run
            await admin.add_user(sessions, OWNER, secret.read_text(encoding="utf-8").strip())
        with contextlib.suppress(admin.AdminError):
            await admin.add_vehicle(sessions, OWNER, self.vin, name="simulated car")

    async def stop(self) -> None:
        if self.link is not None:
            self.link.stop()
        if self.bridge is not None:
            self.bridge.stop()
        for task in self._tasks:
            if task.get_name() == "connect-status":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, CarmindError, OSError):
                await asyncio.wait_for(task, 10.0)
        self._tasks.clear()
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self.cloud is not None:
            await self.cloud.stop()
        if self.broker is not None:
            await self.broker.stop()

    # ---------------------------------------------------------------- hub signals

    def _attach(self) -> None:
        paths = [
            CONNECT + leaf
            for leaf in (
                "State",
                "Broker",
                "QueuedMessages",
                "PairingCode",
                "StartPairing",
                "EnrolledKeys",
                "CloudUrl",
            )
        ]
        self._handle = self.client.provide(paths, actuator=self)
        self._handle.publish_many(
            {
                CONNECT + "Broker": parse_url(self.mqtt_url or "").redacted(),
                CONNECT + "CloudUrl": f"{self.cloud_url}/vehicles/{self.vin}"
                if self.cloud_url
                else "",
                CONNECT + "PairingCode": "",
                CONNECT + "StartPairing": False,
            }
        )

    def check_actuation(self, values: Mapping[str, Value]) -> Mapping[str, str]:
        if CONNECT + "StartPairing" in values and self.link is None:
            return {CONNECT + "StartPairing": "the vehicle link is not running"}
        return {}

    def actuate(self, values: Mapping[str, Value]) -> None:
        if values.get(CONNECT + "StartPairing") is True and self.link is not None:
            code = self.link.start_pairing()
            if self._handle is not None:
                self._handle.publish_many(
                    {CONNECT + "PairingCode": code, CONNECT + "StartPairing": False}
                )

    async def _publish_status(self) -> None:
        while True:
            link = self.link
            if link is not None and self._handle is not None:
                now = link.clock()
                code = link.keychain.pairing_code(now) or ""
                self._handle.publish_many(
                    {
                        CONNECT + "State": "ONLINE" if link.stats.connected else "OFFLINE",
                        CONNECT + "QueuedMessages": link.stats.queued,
                        CONNECT + "PairingCode": code,
                        CONNECT + "EnrolledKeys": sum(
                            1 for k in link.keychain.enrolled() if not k.revoked
                        ),
                    }
                )
            await asyncio.sleep(STATUS_EVERY_S)

    def _geofence(self, event: GeofenceEvent) -> None:
        if self.link is not None:
            self.link.emit_event(
                event.protocol_kind,
                {
                    "kind": event.kind.value,
                    "latitude": event.latitude,
                    "longitude": event.longitude,
                    "distance_m": round(event.distance_m, 1),
                },
            )

    def status(self) -> dict[str, Any]:
        link = self.link
        return {
            "state": "ONLINE" if link is not None and link.stats.connected else "OFFLINE",
            "broker": parse_url(self.mqtt_url).redacted() if self.mqtt_url else "",
            "cloud": self.cloud_url or "",
            "queued": link.stats.queued if link is not None else 0,
            "published": link.stats.published if link is not None else 0,
            "commands": link.stats.commands if link is not None else 0,
        }
