"""Cloud ingest throughput and command round trip, through the real Mosquitto.

- Ingest: a separate process publishes N telemetry messages (one `TelemetryBatch` of 5 points
  each, QoS 1) to Mosquitto on 127.0.0.1:1883 as fast as it can; the cloud (one process, one event
  loop, so one core) receives, validates and writes them in batches. Messages/s = N / (first
  received -> last committed). Into PostgreSQL (a fresh schema of database `test`) and into
  SQLite. The publisher's own rate is reported beside it: where the cloud keeps up with the
  publisher, the measured rate is the publisher's and the cloud's ceiling is higher. Peer in the
  same run: the database writer alone, fed pre-parsed batches (no MQTT, no JSON).
- Command round trip: REST POST (uvicorn on loopback, real TCP) -> MQTT -> a responder (a plain
  MQTT client answering `executed`) -> result ingested -> visible via REST GET; p50 and p99 over
  sequential commands.

Targets (issue 6): >= 10,000 messages/s per core into PostgreSQL; command round trip p99 < 100 ms.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile, report

BROKER = ("127.0.0.1", 1883)
PG = os.environ.get("CARMIND_BENCH_PG", "postgres@127.0.0.1:5432/test")
MESSAGES = int(os.environ.get("CARMIND_BENCH_CLOUD_MESSAGES", "30000"))
COMMANDS = int(os.environ.get("CARMIND_BENCH_CLOUD_COMMANDS", "200"))
PATHS = (
    "Vehicle.Speed",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
    "Vehicle.CurrentLocation.Latitude",
    "Vehicle.CurrentLocation.Longitude",
    "Vehicle.TraveledDistance",
)
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def _vin() -> str:
    return "".join(random.choice(VIN_CHARS) for _ in range(17))


def _payloads(vins: list[str], n: int) -> list[tuple[str, bytes]]:
    from carmind.connect import protocol

    now = time.time()
    out = []
    for i in range(n):
        vin = vins[i % len(vins)]
        batch = protocol.TelemetryBatch(
            vin=vin,
            seq=i,
            sent_at=now,
            points=tuple(
                protocol.Point(path=p, value=float(i % 100) + k, ts=now + i * 0.001)
                for k, p in enumerate(PATHS)
            ),
        )
        out.append(
            (protocol.topic(vin, protocol.Stream.TELEMETRY), batch.model_dump_json().encode())
        )
    return out


def _publisher(vins: list[str], n: int, go: Any, done: Any) -> None:
    """Child process: publish n messages with QoS 1 and report the rate (paho, threaded loop)."""
    import paho.mqtt.client as mqtt

    messages = _payloads(vins, n)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(*BROKER)
    client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.loop_start()
    go.wait()
    start = time.perf_counter()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(60)
    done.put(n / (time.perf_counter() - start))
    client.loop_stop()
    client.disconnect()


async def _pg_schema() -> tuple[str, str]:
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    user_host, db_name = PG.rsplit("/", 1)
    conn = await asyncpg.connect(f"postgresql://{PG}")
    await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.close()
    _ = user_host, db_name
    return f"postgresql+asyncpg://{PG}?options=-csearch_path%3D{schema}", schema


async def _drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://{PG}")
    await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    await conn.close()


def _settings(data_dir: Path, db_url: str, **kw: Any) -> Any:
    from carmind.connect.cloud.settings import CloudSettings

    return CloudSettings(
        data_dir=data_dir,
        db_url=db_url,
        mqtt_url=f"mqtt://{BROKER[0]}:{BROKER[1]}",
        mqtt_client_id=f"carmind-cloud-bench-{uuid.uuid4().hex[:8]}",
        **kw,
    )


async def bench_ingest(label: str, db_url: str, data_dir: Path) -> dict[str, float]:
    from carmind.connect.cloud.service import CloudService

    service = CloudService(_settings(data_dir, db_url))
    await service.start()
    assert service.ingest is not None
    await asyncio.wait_for(service.ingest.connected.wait(), 10)
    vins = [_vin() for _ in range(20)]
    ctx = multiprocessing.get_context("fork")
    go, done = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_publisher, args=(vins, MESSAGES, go, done))
    proc.start()
    await asyncio.sleep(1.0)  # the child prepares its payloads
    go.set()
    while service.counters.received == 0:
        await asyncio.sleep(0.0005)
    first = last = time.perf_counter()
    seen = -1
    # until everything is stored, or nothing new arrived for 2 s (the broker dropped the rest)
    while service.counters.telemetry_batches < MESSAGES and time.perf_counter() - last < 2.0:
        if service.counters.telemetry_batches != seen:
            seen, last = service.counters.telemetry_batches, time.perf_counter()
        await asyncio.sleep(0.002)
    elapsed = last - first
    stored = service.counters.telemetry_batches
    publisher_rate = float(await asyncio.to_thread(done.get, True, 120))
    proc.join(10)
    await service.stop()
    return {
        f"{label}: ingest": stored / elapsed,
        f"{label}: publisher": publisher_rate,
        f"{label}: stored": float(stored),
        f"{label}: lost at broker": float(MESSAGES - service.counters.received),
    }


async def bench_writer(label: str, db_url: str, data_dir: Path) -> float:
    """The database writer alone: pre-parsed batches, one transaction per 2,000 messages."""
    from carmind.connect import protocol
    from carmind.connect.cloud import db
    from carmind.connect.cloud.ingest import Batch, IngestCounters, Writer

    engine = db.make_engine(db_url)
    await db.migrate(engine)
    writer = Writer(db.sessions(engine), IngestCounters())
    vins = [_vin() for _ in range(20)]
    parsed = [protocol.TelemetryBatch.model_validate_json(p) for _, p in _payloads(vins, MESSAGES)]
    start = time.perf_counter()
    for i in range(0, len(parsed), 2000):
        await writer.write(Batch(telemetry=parsed[i : i + 2000]))
    rate = len(parsed) / (time.perf_counter() - start)
    await engine.dispose()
    return rate


async def bench_round_trip(db_url: str, data_dir: Path) -> list[float]:
    import aiomqtt
    import httpx

    from carmind.connect import protocol
    from carmind.connect.cloud import admin
    from carmind.connect.cloud.server import CloudServer
    from carmind.connect.keychain import generate_key, key_id_of, sign_command

    server = CloudServer(_settings(data_dir, db_url, port=0))
    await server.start()
    service = server.service
    assert service.ingest is not None
    await asyncio.wait_for(service.ingest.connected.wait(), 10)
    user = await admin.add_user(service.sessions, "bench", "bench-password")
    vin = _vin()
    await admin.add_vehicle(service.sessions, "bench", vin)
    token = service.tokens.issue(user.id, "bench", frozenset({"vehicle_cmds"}))
    private, public = generate_key()
    key_id = key_id_of(public)

    async def responder(ready: asyncio.Event) -> None:
        async with aiomqtt.Client(*BROKER) as client:
            client._client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await client.subscribe(protocol.topic(vin, protocol.Stream.COMMANDS), qos=1)
            ready.set()
            seq = 0
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                command = protocol.Command.model_validate_json(message.payload)
                seq += 1
                result = protocol.CommandResult(
                    id=command.signed.id,
                    vin=vin,
                    seq=seq,
                    status=protocol.ResultStatus.EXECUTED,
                    at=time.time(),
                )
                await client.publish(
                    protocol.topic(vin, protocol.Stream.RESULTS), result.model_dump_json(), qos=1
                )

    ready = asyncio.Event()
    task = asyncio.create_task(responder(ready))
    await ready.wait()
    times: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
        for i in range(COMMANDS + 10):
            part = protocol.SignedPart(
                id=uuid.uuid4().hex,
                vin=vin,
                name=protocol.CommandName.HONK,
                counter=i + 1,
                expires_at=time.time() + 60,
            )
            body = sign_command(private, key_id, part).model_dump(mode="json")
            start = time.perf_counter()
            sent = await client.post(f"/api/v1/vehicles/{vin}/commands/honk", json=body)
            assert sent.status_code == 202, sent.text
            while True:
                answer = await client.get(f"/api/v1/commands/{part.id}")
                if answer.json()["status"] != "pending":
                    break
                await asyncio.sleep(0.001)
            if i >= 10:  # warm-up left out
                times.append((time.perf_counter() - start) * 1000)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await server.stop()
    return times


async def main() -> None:
    rows: list[dict[str, Any]] = []
    notes = []
    with tempfile.TemporaryDirectory(prefix="carmind-bench-cloud-") as tmp:
        base = Path(tmp)
        pg_url, schema = await _pg_schema()
        try:
            pg = await bench_ingest("PostgreSQL", pg_url, base / "pg")
        finally:
            await _drop_schema(schema)
        sqlite_url = f"sqlite+aiosqlite:///{base / 'ingest.sqlite'}"
        lite = await bench_ingest("SQLite", sqlite_url, base / "lite")
        pg_url2, schema2 = await _pg_schema()
        try:
            pg_writer = await bench_writer("PostgreSQL", pg_url2, base / "w")
        finally:
            await _drop_schema(schema2)
        lite_writer = await bench_writer(
            "SQLite", f"sqlite+aiosqlite:///{base / 'w.sqlite'}", base / "w2"
        )
        times = await bench_round_trip(f"sqlite+aiosqlite:///{base / 'rt.sqlite'}", base / "rt")
    pg_rate = pg["PostgreSQL: ingest"]
    rows += [
        {
            "metric": "ingest into PostgreSQL (5-point batches)",
            "value": round(pg_rate),
            "unit": "msg/s",
            "target": ">= 10,000",
            "met": pg_rate >= 10_000,
        },
        {
            "metric": "  publisher rate in that run",
            "value": round(pg["PostgreSQL: publisher"]),
            "unit": "msg/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "  lost at the broker (its queue limit)",
            "value": int(pg["PostgreSQL: lost at broker"]),
            "unit": "msg",
            "target": "0",
            "met": pg["PostgreSQL: lost at broker"] == 0,
        },
        {
            "metric": "ingest into SQLite",
            "value": round(lite["SQLite: ingest"]),
            "unit": "msg/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "  publisher rate in that run",
            "value": round(lite["SQLite: publisher"]),
            "unit": "msg/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "writer alone, PostgreSQL (peer)",
            "value": round(pg_writer),
            "unit": "msg/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "writer alone, SQLite (peer)",
            "value": round(lite_writer),
            "unit": "msg/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "ingest / writer alone, PostgreSQL",
            "value": round(pg_rate / pg_writer, 3),
            "unit": "ratio",
            "target": None,
            "met": None,
        },
        {
            "metric": "command round trip p50",
            "value": round(percentile(times, 0.5), 2),
            "unit": "ms",
            "target": None,
            "met": None,
        },
        {
            "metric": "command round trip p99",
            "value": round(percentile(times, 0.99), 2),
            "unit": "ms",
            "target": "< 100",
            "met": percentile(times, 0.99) < 100,
        },
    ]
    stored_ok = pg["PostgreSQL: stored"] == MESSAGES and lite["SQLite: stored"] == MESSAGES
    notes.append(
        f"{MESSAGES:,} messages per backend ({'all' if stored_ok else 'NOT all'} stored); "
        f"{len(times)} sequential commands; {os.cpu_count()} CPUs shared by Mosquitto, the "
        "publisher process, PostgreSQL and the cloud (one event loop)."
    )
    report("cloud", rows, "\n".join(notes))


if __name__ == "__main__":
    asyncio.run(main())
