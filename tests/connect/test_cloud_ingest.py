"""MQTT ingest through the real Mosquitto: dedupe on PostgreSQL, bad messages counted and
survived, and messages queued by the broker while the cloud was down."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from carmind.connect import protocol
from carmind.connect.cloud import db, derive
from carmind.connect.cloud.service import CloudService
from tests.connect.conftest import Broker
from tests.connect.test_cloud_kit import (
    make_owner,
    mqtt_client,
    new_vin,
    publish,
    settings_for,
    telemetry,
    wait_for,
)

pytestmark = pytest.mark.services


async def _rows(service: CloudService, vin: str) -> tuple[int, int]:
    async with service.sessions() as session:
        batches = await session.scalar(
            select(func.count()).select_from(db.TelemetryBatch).where(db.TelemetryBatch.vin == vin)
        )
        points = await session.scalar(
            select(func.count()).select_from(db.TelemetryPoint).where(db.TelemetryPoint.vin == vin)
        )
    return int(batches or 0), int(points or 0)


async def test_same_seq_twice_one_row_on_postgresql(
    tmp_path: Path, postgres_url: str, shared_mosquitto: str
) -> None:
    service = CloudService(settings_for(tmp_path, postgres_url, mqtt_url=shared_mosquitto))
    await service.start()
    try:
        assert service.ingest is not None
        await asyncio.wait_for(service.ingest.connected.wait(), 10)
        vin = new_vin()
        topic = protocol.topic(vin, protocol.Stream.TELEMETRY)
        first = telemetry(vin, 7, {derive.SPEED: 42.0, derive.SOC: 55.5}).model_dump_json().encode()
        second = telemetry(vin, 8, {derive.SPEED: 43.0}).model_dump_json().encode()
        await publish(
            shared_mosquitto, [(topic, first), (topic, first), (topic, second), (topic, first)]
        )
        await wait_for(lambda: service.counters.received >= 4, what="four messages received")
        await wait_for(lambda: _flushed(service), what="the batch written")
        assert await _rows(service, vin) == (2, 3)
        assert service.counters.duplicates == 2 and service.counters.telemetry_batches == 2
    finally:
        await service.stop()


async def _flushed(service: CloudService) -> bool:
    assert service.ingest is not None
    await service.ingest.flush()
    return service.counters.telemetry_batches + service.counters.duplicates >= 4


async def test_bad_messages_are_counted_and_survived(tmp_path: Path, shared_mosquitto: str) -> None:
    service = CloudService(settings_for(tmp_path, mqtt_url=shared_mosquitto))
    await service.start()
    try:
        owner = await make_owner(service)
        assert service.ingest is not None
        await asyncio.wait_for(service.ingest.connected.wait(), 10)
        vin = owner.vin
        other = new_vin()
        good = telemetry(vin, 1, {derive.SPEED: 1.0}).model_dump_json().encode()
        wrong_vin = telemetry(other, 2, {derive.SPEED: 1.0}).model_dump_json().encode()
        extra_field = json.dumps({**json.loads(good), "seq": 3, "surprise": 1}).encode()
        huge = json.dumps({"pad": "x" * (protocol.MAX_PAYLOAD_BYTES + 10)}).encode()
        bad = [
            (protocol.topic(vin, protocol.Stream.TELEMETRY), b"{not json"),
            (protocol.topic(vin, protocol.Stream.TELEMETRY), wrong_vin),
            (protocol.topic(vin, protocol.Stream.TELEMETRY), extra_field),
            (
                protocol.topic(vin, protocol.Stream.EVENTS),
                b'{"v": 1, "vin": "' + vin.encode() + b'"}',
            ),
            (protocol.topic(vin, protocol.Stream.RESULTS), b"\xff\xfe binary"),
            (protocol.topic(vin, protocol.Stream.STATUS), b"sleeping"),
            (protocol.topic(vin, protocol.Stream.TELEMETRY), huge),
        ]
        await publish(shared_mosquitto, bad)
        # an unknown topic inside the subscription is impossible to reach from outside (the
        # filters name the streams), so feed one as the broker would
        service.ingest.accept(f"{protocol.TOPIC_ROOT}/{vin}/whatever", good)
        service.ingest.accept("carmind/v2/x/telemetry", good)
        await publish(
            shared_mosquitto,
            [
                (protocol.topic(vin, protocol.Stream.TELEMETRY), good),
                (protocol.topic(vin, protocol.Stream.STATUS), b"online"),
            ],
        )
        # (not `counters.status == 1`: a retained status of another test's car on the shared
        # broker is counted too)
        await wait_for(lambda: _online(service, vin), what="status written")
        await wait_for(lambda: _flushed_one(service), what="the good batch written")
        counters = service.counters
        assert counters.malformed == 6 and counters.oversized == 1 and counters.unknown_topic == 2
        assert await _rows(service, vin) == (1, 1)
        async with service.sessions() as session:
            vehicle = await session.scalar(select(db.Vehicle).where(db.Vehicle.vin == vin))
        assert vehicle is not None and vehicle.online is True
    finally:
        await service.stop()


async def _online(service: CloudService, vin: str) -> bool:
    async with service.sessions() as session:
        vehicle = await session.scalar(select(db.Vehicle).where(db.Vehicle.vin == vin))
    return vehicle is not None and vehicle.online is True


async def _flushed_one(service: CloudService) -> bool:
    assert service.ingest is not None
    await service.ingest.flush()
    return service.counters.telemetry_batches == 1


async def test_messages_queued_while_cloud_was_down_arrive(
    tmp_path: Path, private_mosquitto: Broker
) -> None:
    settings = settings_for(tmp_path, mqtt_url=private_mosquitto.url)
    vin = new_vin()
    topic = protocol.topic(vin, protocol.Stream.TELEMETRY)
    first = CloudService(settings)
    await first.start()
    assert first.ingest is not None
    await asyncio.wait_for(first.ingest.connected.wait(), 10)
    await first.stop()  # the broker keeps the session (fixed client id, clean start off)
    now = time.time()
    messages = [
        (topic, telemetry(vin, s, {derive.SPEED: float(s)}, now + s).model_dump_json().encode())
        for s in range(50)
    ]
    await publish(private_mosquitto.url, messages)
    second = CloudService(settings)
    await second.start()
    try:
        await wait_for(lambda: second.counters.received >= 50, what="queued messages delivered")
        assert second.ingest is not None
        await second.ingest.flush()
        assert await _rows(second, vin) == (50, 50)
    finally:
        await second.stop()


async def test_ingest_writes_what_it_holds_on_stop(tmp_path: Path, shared_mosquitto: str) -> None:
    service = CloudService(settings_for(tmp_path, mqtt_url=shared_mosquitto))
    await service.start()
    assert service.ingest is not None
    vin = new_vin()
    for seq in range(5):
        service.ingest.accept(
            protocol.topic(vin, protocol.Stream.TELEMETRY),
            telemetry(vin, seq, {derive.SPEED: 1.0}).model_dump_json().encode(),
        )
    await service.stop()
    reopened = CloudService(settings_for(tmp_path))
    await reopened.start()
    try:
        assert await _rows(reopened, vin) == (5, 5)
    finally:
        await reopened.stop()


async def test_the_cloud_acknowledges_what_it_committed_repeats_included(
    tmp_path: Path, postgres_url: str, shared_mosquitto: str
) -> None:
    service = CloudService(settings_for(tmp_path, postgres_url, mqtt_url=shared_mosquitto))
    await service.start()
    vin = new_vin()
    acks: list[protocol.Ack] = []
    try:
        assert service.ingest is not None
        await asyncio.wait_for(service.ingest.connected.wait(), 10)
        async with mqtt_client(shared_mosquitto) as car:
            await car.subscribe(protocol.topic(vin, protocol.Stream.ACKS), qos=1)

            async def listen() -> None:
                async for message in car.messages:
                    assert isinstance(message.payload, bytes)
                    acks.append(protocol.Ack.model_validate_json(message.payload))

            listener = asyncio.create_task(listen())
            tel = protocol.topic(vin, protocol.Stream.TELEMETRY)
            batches = [
                (tel, telemetry(vin, s, {derive.SPEED: float(s)}).model_dump_json().encode())
                for s in (0, 1, 2, 5, 1)  # 1 twice: the repeat is acknowledged as well
            ]
            event = protocol.Event(vin=vin, seq=3, ts=1.0, kind=protocol.EventKind.KEY_ENROLLED)
            await publish(
                shared_mosquitto,
                [
                    *batches,
                    (tel, b"{not json"),  # malformed: counted, never acknowledged
                    (protocol.topic(vin, protocol.Stream.EVENTS), event.model_dump_json().encode()),
                    (protocol.topic(vin, protocol.Stream.STATUS), b"online"),
                ],
            )
            await wait_for(lambda: service.counters.received >= 8, what="eight messages received")
            await service.ingest.flush()
            await wait_for(lambda: _acked(acks) == {"telemetry": {0, 1, 2, 5}, "events": {3}})
            # a batch stored before, sent again (the car missed the ack): acknowledged again
            await publish(shared_mosquitto, [batches[0]])
            await wait_for(lambda: service.counters.duplicates >= 2, what="the repeat dropped")
            await service.ingest.flush()
            await wait_for(lambda: sum(a.stream == "telemetry" for a in acks) >= 2)
            listener.cancel()
        assert acks[-1].ranges == ((0, 0),) and acks[-1].vin == vin
        assert {a.ranges for a in acks[:2]} >= {((0, 2), (5, 5))}
        assert service.counters.malformed == 1 and await _rows(service, vin) == (4, 4)
    finally:
        await service.stop()


def _acked(acks: list[protocol.Ack]) -> dict[str, set[int]]:
    seqs: dict[str, set[int]] = {}
    for ack in acks:
        for first, last in ack.ranges:
            seqs.setdefault(ack.stream, set()).update(range(first, last + 1))
    return seqs


def test_seq_ranges_and_ack_validation() -> None:
    assert protocol.seq_ranges([7, 1, 2, 3, 2, 9, 8]) == [(1, 3), (7, 9)]
    assert protocol.seq_ranges([]) == []
    vin = new_vin()
    for bad in (
        {"vin": vin, "stream": "commands", "ranges": [[0, 1]]},
        {"vin": vin, "stream": "events", "ranges": []},
        {"vin": vin, "stream": "events", "ranges": [[3, 2]]},
        {"vin": vin, "stream": "events", "ranges": [[-1, 2]]},
        {"vin": "nope", "stream": "events", "ranges": [[0, 0]]},
    ):
        with pytest.raises(ValidationError):
            protocol.Ack.model_validate(bad)
