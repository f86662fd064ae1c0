"""Car, broker and cloud together, with PostgreSQL: nothing lost, nothing stored twice, no command
run twice, while the broker crashes, the car's connection drops and the cloud restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from carmind.config import load_config
from carmind.connect import protocol
from carmind.connect.cloud import db
from carmind.connect.cloud.service import CloudService
from carmind.connect.keychain import Keychain
from carmind.connect.link import VehicleLink
from carmind.vehicle.session import CarSession

from .conftest import Broker
from .test_cloud_kit import Phone, http, make_owner, settings_for

SPEED = "Vehicle.Speed"
CHARGE_LIMIT = "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit"

pytestmark = pytest.mark.services


async def until(check: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def stored_seqs(service: CloudService, vin: str) -> list[int]:
    async with service.sessions() as session:
        rows = await session.scalars(
            select(db.TelemetryBatch.seq).where(db.TelemetryBatch.vin == vin)
        )
        return sorted(rows)


async def stop(link: VehicleLink, task: asyncio.Task[None]) -> None:
    link.stop()
    await asyncio.wait_for(task, 15)


async def test_telemetry_arrives_exactly_once_in_postgresql(
    private_mosquitto: Broker, postgres_url: str, tmp_path: Path
) -> None:
    cloud = CloudService(
        settings_for(tmp_path, db_url=postgres_url, mqtt_url=private_mosquitto.url)
    )
    await cloud.start()
    owner = await make_owner(cloud)
    session = CarSession.create(load_config(environ={}), exclude=(SPEED,))
    speed = session.broker.client("test-speed", "read provide").provide(SPEED)
    produced = 0

    async def produce(seconds: float) -> None:
        nonlocal produced
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            produced += 1
            speed.publish_many({SPEED: float(produced % 200)})
            await asyncio.sleep(0.01)

    def new_link() -> VehicleLink:
        return VehicleLink(
            session.broker.client("link", "read actuate"),
            private_mosquitto.url,
            owner.vin,
            tmp_path / "car",
            telemetry={SPEED: 0.0},
        )

    link = new_link()
    task = asyncio.create_task(link.run())
    try:
        await until(lambda: link.stats.connected, what="the link")
        await produce(0.5)
        # the broker crashes mid-stream (SIGKILL), and comes back
        private_mosquitto.stop()
        await produce(0.5)
        private_mosquitto.start()
        await produce(0.5)
        # the car's connection is cut for a while
        await stop(link, task)
        await produce(0.5)
        task = asyncio.create_task(link.run())
        await produce(0.5)
        # the car restarts (a new link on the same outbox) during another broker crash
        private_mosquitto.stop()
        await produce(0.3)
        await stop(link, task)
        link = new_link()
        private_mosquitto.start()
        task = asyncio.create_task(link.run())
        await produce(0.3)
        # the outbox empties only as the cloud acknowledges what it committed; what a crashed
        # broker swallowed is sent again after `RESEND_AFTER_S` (10 s) without an ack
        await until(
            lambda: link.stats.queued == 0 and link.stats.connected,
            timeout=60,
            what="an outbox emptied by the cloud's acks",
        )
        sent = link.outbox.next_seq(protocol.Stream.TELEMETRY)
        assert sent > 50
        try:
            await until(
                lambda: _count(cloud, owner.vin, sent), timeout=30, what=f"{sent} batches stored"
            )
        finally:
            seqs = await stored_seqs(cloud, owner.vin)
            missing = sorted(set(range(sent)) - set(seqs))
            print("MISSING", len(missing), missing[:20], missing[-5:], link.stats)
        assert seqs == list(range(sent))  # every one, once
    finally:
        await stop(link, task)
        await cloud.stop()


async def _count(cloud: CloudService, vin: str, expected: int) -> bool:
    assert cloud.ingest is not None
    await cloud.ingest.flush()
    async with cloud.sessions() as session:
        n = await session.scalar(
            select(func.count()).select_from(db.TelemetryBatch).where(db.TelemetryBatch.vin == vin)
        )
    return int(n or 0) >= expected


async def test_commands_pending_across_a_cloud_restart_run_once_or_expire(
    private_mosquitto: Broker, postgres_url: str, tmp_path: Path
) -> None:
    skew = 0.5  # car and cloud share the clock-skew allowance (protocol.CLOCK_SKEW_S)
    settings = settings_for(tmp_path, db_url=postgres_url, mqtt_url=private_mosquitto.url)
    settings = dataclasses.replace(settings, expiry_grace_s=skew)
    cloud = CloudService(settings)
    await cloud.start()
    owner = await make_owner(cloud)
    phone = Phone()
    session = CarSession.create(load_config(environ={}))
    link = VehicleLink(
        session.broker.client("link", "read actuate"),
        private_mosquitto.url,
        owner.vin,
        tmp_path / "car",
        telemetry={},
        keychain=Keychain(tmp_path / "car", owner.vin, skew_s=skew),
    )
    link.enroll(link.start_pairing(), phone.public_pem, "phone")
    # the car connects once (its session and subscription live on at the broker), then drops
    task = asyncio.create_task(link.run())
    await until(lambda: link.stats.connected, what="the link")
    await stop(link, task)

    async def send(client: httpx.AsyncClient, command: protocol.Command) -> str:
        r = await client.post(
            f"/api/v1/vehicles/{owner.vin}/commands/{command.signed.name.value}",
            json=command.model_dump(mode="json"),
            headers=owner.headers,
        )
        assert r.status_code == 202, r.text
        return command.signed.id

    limit = phone.sign(owner.vin, protocol.CommandName.SET_CHARGE_LIMIT, {"percent": 70}, 300)
    honk = phone.sign(owner.vin, protocol.CommandName.HONK, ttl_s=1)
    async with http(cloud) as client:
        keep, short = await send(client, limit), await send(client, honk)
    await cloud.stop()  # the cloud goes down with both pending
    await asyncio.sleep(2.0)  # the honk runs out (and its skew) meanwhile
    cloud = CloudService(settings)
    await cloud.start()
    try:
        async with http(cloud) as client:

            async def status(cid: str) -> str:
                r = await client.get(f"/api/v1/commands/{cid}", headers=owner.headers)
                return str(r.json()["status"])

            await until(lambda: _is(status(short), "expired"), what="the honk marked expired")
            # the car comes back: the broker delivers what was queued for it
            task = asyncio.create_task(link.run())
            await until(lambda: _is(status(keep), "executed"), what="the kept command executed")
            target = session.client.get_target(CHARGE_LIMIT)
            assert target is not None and target.value == 70
            await until(lambda: link.stats.commands >= 2, what="the car to see the honk too")
            # the car refused the stale honk itself: it never ran, and the cloud says expired
            assert link.stats.commands_executed == 1
            assert await status(short) == "expired"
            r = await client.get(f"/api/v1/commands/{short}", headers=owner.headers)
            assert r.json()["reason"]
            # delivered again (as after another cloud or broker restart): still run once
            await cloud.ingest.publish(  # type: ignore[union-attr]
                protocol.topic(owner.vin, protocol.Stream.COMMANDS),
                limit.model_dump_json().encode(),
            )
            await until(lambda: link.stats.commands >= 3, what="the repeated command")
            assert link.stats.commands_executed == 1
            assert await status(keep) == "executed"
    finally:
        await stop(link, task)
        await cloud.stop()


async def _is(status: object, expected: str) -> bool:
    assert asyncio.iscoroutine(status)
    return bool(await status == expected)
