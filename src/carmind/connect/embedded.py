"""An MQTT broker inside `carmind run` (amqtt): the connected features with nothing installed.

amqtt speaks MQTT 3.1.1, so clients of the embedded broker connect with `?protocol=3.1.1`; in
production the broker is Mosquitto or any MQTT 5 broker, and the link uses MQTT 5.
"""

from __future__ import annotations

import logging
from typing import Any

from carmind.errors import CarmindError

log = logging.getLogger(__name__)


class EmbeddedBrokerError(CarmindError):
    """The embedded broker could not start (its port is taken, say)."""


class EmbeddedBroker:
    """amqtt on `host:port`, anonymous, for the car, the embedded cloud and Home Assistant."""

    def __init__(self, host: str = "127.0.0.1", port: int = 18830) -> None:
        self.host = host
        self.port = port
        self._broker: Any = None

    @property
    def url(self) -> str:
        """The URL clients use (MQTT 3.1.1: amqtt does not speak MQTT 5)."""
        return f"mqtt://{self.host}:{self.port}?protocol=3.1.1"

    async def start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True},
            "topic-check": {"enabled": False},
        }
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self._broker = Broker(config)
        try:
            await self._broker.start()
        except Exception as exc:  # amqtt raises its own BrokerError, or OSError from asyncio
            self._broker = None
            raise EmbeddedBrokerError(
                f"the embedded MQTT broker cannot listen on {self.host}:{self.port}: {exc}; "
                "choose another port ([connect] embedded_mqtt) or give --mqtt URL"
            ) from None
        log.info("embedded MQTT broker on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
