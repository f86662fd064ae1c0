"""Command relay through the real Mosquitto: REST -> MQTT -> a fake car -> result via REST, and
a cloud restart while commands are pending (they expire with a clear result, never re-sent)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from carmind.connect import protocol
from carmind.connect.cloud import admin
from carmind.connect.cloud.service import CloudService
from tests.connect.conftest import Broker
from tests.connect.test_cloud_kit import FakeCar, Phone, http, make_owner, settings_for, wait_for

pytestmark = pytest.mark.services


async def _status(service: CloudService, token: str, command_id: str) -> dict[str, object]:
    async with http(service) as client:
        answer = await client.get(
            f"/api/v1/commands/{command_id}", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_every_command_round_trips(tmp_path: Path, shared_mosquitto: str) -> None:
    service = CloudService(settings_for(tmp_path, mqtt_url=shared_mosquitto))
    await service.start()
    try:
        owner = await make_owner(service)
        phone = Phone()
        await admin.add_device(service.sessions, owner.user_id, "phone", phone.public_pem)
        assert service.ingest is not None
        await asyncio.wait_for(service.ingest.connected.wait(), 10)
        params: dict[protocol.CommandName, dict[str, object]] = {
            protocol.CommandName.SET_TEMPERATURE: {"celsius": 21.5},
            protocol.CommandName.SET_CHARGE_LIMIT: {"percent": 80},
            protocol.CommandName.SEND_DESTINATION: {
                "latitude": 60.17,
                "longitude": 24.94,
                "name": "Home",
            },
        }
        async with FakeCar(shared_mosquitto, owner.vin, phone) as car, http(service) as client:
            ids = []
            for name in protocol.CommandName:
                command = phone.sign(owner.vin, name, params.get(name))
                sent = await client.post(
                    f"/api/v1/vehicles/{owner.vin}/commands/{name.value}",
                    json=command.model_dump(mode="json"),
                    headers=owner.headers,
                )
                assert sent.status_code == 202, sent.text
                assert sent.json()["status"] in ("pending", "executed")
                ids.append(command.signed.id)
            for command_id in ids:
                await wait_for(
                    lambda cid=command_id: _executed(service, owner.token, cid),
                    what=f"result of {command_id}",
                )
            duplicate = await client.post(
                f"/api/v1/vehicles/{owner.vin}/commands/lock",
                json=car.received[0].model_dump(mode="json"),
                headers=owner.headers,
            )
        assert duplicate.status_code == 409
        # relayed unchanged: the car got exactly what the phone signed, once each
        assert [c.signed.id for c in car.received] == ids
        assert all(c.signature and c.key_id == phone.key_id for c in car.received)
        assert service.counters.results == len(ids)
    finally:
        await service.stop()


async def _executed(service: CloudService, token: str, command_id: str) -> bool:
    return (await _status(service, token, command_id))["status"] == "executed"


async def test_refused_result_is_recorded_with_reason(
    tmp_path: Path, shared_mosquitto: str
) -> None:
    service = CloudService(settings_for(tmp_path, mqtt_url=shared_mosquitto))
    await service.start()
    try:
        owner = await make_owner(service)
        assert service.ingest is not None
        await asyncio.wait_for(service.ingest.connected.wait(), 10)
        phone, stranger = Phone(), Phone()
        # the car trusts `phone`; a command signed by another key is refused by the car
        async with FakeCar(shared_mosquitto, owner.vin, phone), http(service) as client:
            command = stranger.sign(owner.vin, protocol.CommandName.UNLOCK)
            sent = await client.post(
                f"/api/v1/vehicles/{owner.vin}/commands/unlock",
                json=command.model_dump(mode="json"),
                headers=owner.headers,
            )
            assert sent.status_code == 202
            await wait_for(
                lambda: _is(service, owner.token, command.signed.id, "refused"),
                what="refused result",
            )
        final = await _status(service, owner.token, command.signed.id)
        assert final["reason"] == "bad signature" and final["result_at"] is not None
    finally:
        await service.stop()


async def _is(service: CloudService, token: str, command_id: str, status: str) -> bool:
    return (await _status(service, token, command_id))["status"] == status


async def test_restart_with_pending_commands(tmp_path: Path, private_mosquitto: Broker) -> None:
    """Commands pending when the cloud stops expire with a clear result; nothing is re-sent."""
    settings = settings_for(tmp_path, mqtt_url=private_mosquitto.url)
    received: list[bytes] = []

    async def car_listener() -> None:
        from tests.connect.test_cloud_kit import mqtt_client

        async with mqtt_client(private_mosquitto.url) as client:
            await client.subscribe(f"{protocol.TOPIC_ROOT}/+/commands", qos=1)
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                received.append(message.payload)

    listener = asyncio.create_task(car_listener())
    await asyncio.sleep(0.3)
    first = CloudService(settings)
    await first.start()
    phone = Phone()
    try:
        owner = await make_owner(first)
        assert first.ingest is not None
        await asyncio.wait_for(first.ingest.connected.wait(), 10)
        async with http(first) as client:
            short = phone.sign(owner.vin, protocol.CommandName.FLASH, ttl_s=0.6)
            long = phone.sign(owner.vin, protocol.CommandName.HONK, ttl_s=600)
            for command in (short, long):
                sent = await client.post(
                    f"/api/v1/vehicles/{owner.vin}/commands/{command.signed.name.value}",
                    json=command.model_dump(mode="json"),
                    headers=owner.headers,
                )
                assert sent.status_code == 202
        await wait_for(lambda: len(received) == 2, what="both commands at the car")
    finally:
        await first.stop()
    await asyncio.sleep(0.8)  # the short command's expiry passes while the cloud is down
    second = CloudService(settings)
    await second.start()  # the startup sweep runs before start returns
    try:
        assert (await _status(second, owner.token, short.signed.id))["status"] == "expired"
        assert "did not answer" in str(
            (await _status(second, owner.token, short.signed.id))["reason"]
        )
        assert (await _status(second, owner.token, long.signed.id))["status"] == "pending"
        await asyncio.sleep(0.5)
        assert len(received) == 2  # never re-sent after the restart
        # a late answer from the car for the long one is still recorded, once
        from tests.connect.test_cloud_kit import publish

        result = protocol.CommandResult(
            id=long.signed.id,
            vin=owner.vin,
            seq=1,
            status=protocol.ResultStatus.EXECUTED,
            at=time.time(),
        )
        topic = protocol.topic(owner.vin, protocol.Stream.RESULTS)
        await publish(private_mosquitto.url, [(topic, result.model_dump_json().encode())] * 2)
        await wait_for(
            lambda: _is(second, owner.token, long.signed.id, "executed"), what="late result"
        )
        await wait_for(lambda: second.counters.results_unknown == 1, what="repeat counted")
    finally:
        await second.stop()
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener


async def test_broker_down_fails_the_command_clearly(
    tmp_path: Path, private_mosquitto: Broker
) -> None:
    service = CloudService(settings_for(tmp_path, mqtt_url=private_mosquitto.url))
    await service.start()
    try:
        owner = await make_owner(service)
        assert service.ingest is not None
        await asyncio.wait_for(service.ingest.connected.wait(), 10)
        private_mosquitto.stop()
        await wait_for(lambda: not service.ingest.connected.is_set(), what="disconnect noticed")  # type: ignore[union-attr]
        command = Phone().sign(owner.vin, protocol.CommandName.LOCK)
        async with http(service) as client:
            sent = await client.post(
                f"/api/v1/vehicles/{owner.vin}/commands/lock",
                json=command.model_dump(mode="json"),
                headers=owner.headers,
            )
            health = (await client.get("/api/v1/health")).json()
        assert sent.status_code == 503 and "not reachable" in sent.json()["detail"]
        assert (await _status(service, owner.token, command.signed.id))["status"] == "failed"
        assert health["mqtt"] == "disconnected"
    finally:
        await service.stop()
