"""Shared helpers for the cloud tests (no tests here): a started service, an owner with a
token, signed commands, telemetry messages and a fake car."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from carmind.connect import protocol
from carmind.connect.cloud import admin
from carmind.connect.cloud.service import CloudService
from carmind.connect.cloud.settings import CloudSettings
from carmind.connect.keychain import generate_key, key_id_of, sign_command
from carmind.connect.mqtt import parse_url

VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
ALL_SCOPES = "vehicle_device_data vehicle_location vehicle_cmds vehicle_charging_cmds"


def new_vin() -> str:
    """A random valid VIN, so tests on the shared broker never see each other's topics."""
    return "".join(random.choice(VIN_CHARS) for _ in range(17))


def settings_for(
    tmp_path: Path, db_url: str = "", mqtt_url: str | None = None, **kw: Any
) -> CloudSettings:
    return CloudSettings(
        data_dir=tmp_path / "cloud",
        db_url=db_url,
        mqtt_url=mqtt_url,
        mqtt_client_id=f"carmind-cloud-test-{uuid.uuid4().hex[:8]}",
        batch_max_ms=10,
        sweep_interval_s=0.2,
        expiry_grace_s=0.0,
        **kw,
    )


@dataclass
class Owner:
    """A user with a vehicle, a confidential client and a token holding every vehicle scope."""

    username: str
    password: str
    user_id: int
    vin: str
    client_id: str
    client_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def http(service: CloudService) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app), base_url="http://cloud"
    )


async def make_owner(
    service: CloudService, username: str = "alice", scopes: str = ALL_SCOPES
) -> Owner:
    password = "correct horse battery"
    user = await admin.add_user(service.sessions, username, password)
    vin = new_vin()
    await admin.add_vehicle(service.sessions, username, vin, "Test car")
    client = await admin.add_client(service.sessions, username, scopes=scopes)
    assert client.secret is not None
    token = service.tokens.issue(user.id, client.client_id, frozenset(scopes.split()))
    return Owner(username, password, user.id, vin, client.client_id, client.secret, token)


@pytest.fixture
async def sqlite_service(tmp_path: Path) -> AsyncIterator[CloudService]:
    """A started cloud on SQLite with no broker."""
    service = CloudService(settings_for(tmp_path))
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


class Phone:
    """The owner's phone: a P-256 key and a counter, signing commands as the contract says."""

    def __init__(self) -> None:
        self.private, self.public_pem = generate_key()
        self.key_id = key_id_of(self.public_pem)
        self.counter = 0

    def sign(
        self,
        vin: str,
        name: protocol.CommandName,
        params: dict[str, Any] | None = None,
        ttl_s: float = 60,
    ) -> protocol.Command:
        self.counter += 1
        part = protocol.SignedPart(
            id=uuid.uuid4().hex,
            vin=vin,
            name=name,
            params=params or {},
            counter=self.counter,
            expires_at=time.time() + ttl_s,
        )
        return sign_command(self.private, self.key_id, part)


def telemetry(
    vin: str, seq: int, points: dict[str, Any], ts: float | None = None
) -> protocol.TelemetryBatch:
    at = time.time() if ts is None else ts
    return protocol.TelemetryBatch(
        vin=vin,
        seq=seq,
        sent_at=at,
        points=tuple(protocol.Point(path=p, value=v, ts=at) for p, v in points.items()),
    )


async def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll an async or plain predicate until it is true."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def mqtt_client(
    url: str, identifier: str | None = None, persistent: bool = False
) -> aiomqtt.Client:
    target = parse_url(url)
    return aiomqtt.Client(
        target.host,
        target.port,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V311,
        clean_session=not persistent if identifier else None,
    )


async def publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish raw messages with QoS 1 (each is acknowledged by the broker)."""
    async with mqtt_client(url) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


class FakeCar:
    """A plain MQTT client standing in for the car: it records every command it receives and
    answers each with `status` (after checking the signature against the phone's key)."""

    def __init__(self, url: str, vin: str, phone: Phone, status: str = "executed") -> None:
        self.url = url
        self.vin = vin
        self.phone = phone
        self.status = status
        self.received: list[protocol.Command] = []
        self.seq = 0
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def _run(self) -> None:
        from carmind.connect.cloud.commands import verify_signature

        async with mqtt_client(self.url) as client:
            await client.subscribe(protocol.topic(self.vin, protocol.Stream.COMMANDS), qos=1)
            self._ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                command = protocol.Command.model_validate_json(message.payload)
                self.received.append(command)
                ok = verify_signature(command, self.phone.public_pem)
                self.seq += 1
                result = protocol.CommandResult(
                    id=command.signed.id,
                    vin=self.vin,
                    seq=self.seq,
                    status=protocol.ResultStatus(self.status)
                    if ok
                    else protocol.ResultStatus.REFUSED,
                    reason="" if ok else "bad signature",
                    at=time.time(),
                )
                await client.publish(
                    protocol.topic(self.vin, protocol.Stream.RESULTS),
                    result.model_dump_json(),
                    qos=1,
                )

    async def __aenter__(self) -> FakeCar:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def as_json(model: Any) -> Any:
    return json.loads(model.model_dump_json())
