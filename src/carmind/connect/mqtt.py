"""MQTT connection settings from a URL, and the client factory every connect module uses.

    mqtt://host:1883                      plain TCP, MQTT 5
    mqtts://user:secret@host:8883         TLS (system CA store, or `ca_file`), user and password
    mqtt://host:1883?protocol=3.1.1       for brokers that speak only 3.1.1 (the embedded amqtt)
    mqtts://host?ca=/etc/carmind/ca.pem   a CA file for a private broker

User names and passwords may be percent-encoded (`%40` for `@`). A bad URL raises
`MqttUrlError`, naming the part that is wrong.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import aiomqtt
import paho.mqtt.client as paho_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from carmind.errors import CarmindError

DEFAULT_PORTS: Final = {"mqtt": 1883, "mqtts": 8883}
"""IANA-registered MQTT ports, used when the URL names none."""
PROTOCOLS: Final = {
    "5": aiomqtt.ProtocolVersion.V5,
    "5.0": aiomqtt.ProtocolVersion.V5,
    "3.1.1": aiomqtt.ProtocolVersion.V311,
}
KEEPALIVE_S: Final = 30
"""How often an idle connection pings: a cellular link that died is noticed within ~1.5x this,
while a parked car's modem is not woken more than twice a minute."""
CONNECT_TIMEOUT_S: Final = 10.0
"""A broker that has not answered CONNECT by then is treated as down (the link backs off)."""


class MqttUrlError(CarmindError):
    """An MQTT URL carmind cannot use."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where and how to connect, parsed from a URL."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    protocol: aiomqtt.ProtocolVersion = aiomqtt.ProtocolVersion.V5
    ca_file: Path | None = None

    @property
    def v5(self) -> bool:
        return self.protocol is aiomqtt.ProtocolVersion.V5

    def redacted(self) -> str:
        """The URL for logs, without the password."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_url(url: str, *, ca_file: str | Path | None = None) -> MqttSettings:
    """Settings from an `mqtt://` or `mqtts://` URL; `ca_file` overrides a `?ca=` option."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise MqttUrlError(f"MQTT URL {url!r}: scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise MqttUrlError(f"MQTT URL {url!r}: no host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise MqttUrlError(f"MQTT URL {url!r}: port must be 1..65535") from exc
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(options) - {"protocol", "ca"})
    if unknown:
        raise MqttUrlError(f"MQTT URL {url!r}: unknown option {unknown[0]!r}; known: protocol, ca")
    version = options.get("protocol", ["5"])[-1]
    if version not in PROTOCOLS:
        raise MqttUrlError(
            f"MQTT URL {url!r}: protocol {version!r} unknown; use one of {', '.join(PROTOCOLS)}"
        )
    ca_text = str(ca_file) if ca_file is not None else options.get("ca", [""])[-1]
    ca = Path(ca_text) if ca_text else None
    if ca is not None and parts.scheme != "mqtts":
        raise MqttUrlError(f"MQTT URL {url!r}: a CA file needs mqtts://")
    if ca is not None and not ca.is_file():
        raise MqttUrlError(f"MQTT URL {url!r}: CA file {str(ca)!r} does not exist")
    return MqttSettings(
        host=parts.hostname,
        port=port,
        tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        protocol=PROTOCOLS[version],
        ca_file=ca,
    )


def make_client(
    settings: MqttSettings,
    *,
    identifier: str | None = None,
    will: aiomqtt.Will | None = None,
    persistent: bool = False,
    session_expiry_s: int = 0,
    keepalive_s: int = KEEPALIVE_S,
    max_inflight: int | None = None,
    receive_maximum: int | None = None,
) -> aiomqtt.Client:
    """An (unconnected) aiomqtt client; use it as `async with make_client(...) as client`.

    `persistent` keeps the broker-side session (subscriptions, queued QoS 1 messages) across
    connections: clean start off and, on MQTT 5, a session expiry of `session_expiry_s`.
    `receive_maximum` (MQTT 5 only, 1..65535) is how many unacknowledged QoS 1 messages the
    broker may send this client at once; without it Mosquitto 2 uses its
    `max_inflight_messages` (20 by default). `max_inflight` is the same limit the other way,
    for what this client publishes.
    """
    properties: Properties | None = None
    clean_session: bool | None = None
    # MQTT 3.1.1 has no clean start: paho insists on its "first only" default there
    clean_start: bool | Literal[3] = paho_client.MQTT_CLEAN_START_FIRST_ONLY
    if settings.v5:
        clean_start = not persistent
        if (persistent and session_expiry_s > 0) or receive_maximum is not None:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent and session_expiry_s > 0:
            assert properties is not None
            properties.SessionExpiryInterval = session_expiry_s
        if receive_maximum is not None:
            assert properties is not None
            properties.ReceiveMaximum = max(1, min(receive_maximum, 65535))
    else:
        clean_session = not persistent
    tls_context: ssl.SSLContext | None = None
    if settings.tls:
        tls_context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
    return aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password,
        identifier=identifier,
        protocol=settings.protocol,
        will=will,
        clean_session=clean_session,
        clean_start=clean_start,
        keepalive=keepalive_s,
        timeout=CONNECT_TIMEOUT_S,
        properties=properties,
        tls_context=tls_context,
        max_inflight_messages=max_inflight,
    )


RawHandler = Callable[[str, bytes, int, int], None]
"""Called with (topic, payload, message id, QoS) for every message, in the event loop."""


def no_delay(client: aiomqtt.Client) -> None:
    """Turn Nagle's algorithm off on a connected client's socket (call it right after
    connecting).

    QoS 1 means a small PUBACK per message; with Nagle on, a small packet can wait for the
    peer's delayed TCP ACK (~40 ms on Linux). That caps a subscriber at a few hundred messages/s
    (the broker sends only so many unacknowledged ones) and adds ~40 ms to a command's round
    trip. Applies to TLS sockets too; anything but TCP (a WebSocket transport) is left alone.
    """
    sock = client._client.socket()  # aiomqtt exposes no socket options after connecting
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def receive_raw(client: aiomqtt.Client, handler: RawHandler, *, manual_ack: bool) -> None:
    """Hand every incoming message straight to `handler`, bypassing `client.messages`.

    aiomqtt wraps each message in objects and an asyncio queue and wakes a task per message;
    a high-rate subscriber (the cloud ingest) skips that. `client.messages` then yields
    nothing but still raises `MqttError` when the connection drops. With `manual_ack`, QoS 1
    messages are acknowledged only by `ack` (say, after they are committed); call this before
    connecting.
    """
    paho = client._client  # aiomqtt has no raw-message hook

    def on_message(_paho: Any, _userdata: Any, message: paho_client.MQTTMessage) -> None:
        handler(message.topic, bytes(message.payload), message.mid, message.qos)

    paho.manual_ack_set(manual_ack)
    paho.on_message = on_message


def ack(client: aiomqtt.Client, mid: int, qos: int = 1) -> None:
    """Acknowledge a message received with `receive_raw(..., manual_ack=True)`."""
    client._client.ack(mid, qos)


__all__ = [
    "MqttSettings",
    "MqttUrlError",
    "RawHandler",
    "ack",
    "make_client",
    "no_delay",
    "parse_url",
    "receive_raw",
]
