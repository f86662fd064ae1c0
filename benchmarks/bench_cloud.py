"""Cloud ingest throughput and command round trip, through a real Mosquitto of the benchmark's own.

- Broker: the benchmark starts its own Mosquitto (`BROKER_CONF`, the production settings that
  `docs/cloud.md` recommends: no per-client queue limit to drop at, TCP_NODELAY), not the
  machine's shared one. The cloud connects with MQTT 5 and a Receive Maximum of a batch and a
  half, so the broker keeps that many QoS 1 messages in flight to it (Mosquitto's own default
  is 20).
- Publisher: a separate process that speaks MQTT 3.1.1 over a plain socket (CONNECT, then
  pre-encoded QoS 1 PUBLISH packets; a reader thread counts the broker's PUBACKs). A real MQTT
  client that costs next to no CPU, so the machine's cores go to the broker, the database and
  the cloud. One message = one `TelemetryBatch` of 5 points, 20 vehicles.
- Ingest, two ways, into PostgreSQL (a fresh schema of database `test`) and into SQLite:
  - live: the cloud is connected while the publisher sends as fast as the broker takes it;
    msg/s = N / (first message received -> everything committed);
  - backlog: the cloud connects once (persistent session), goes away, the publisher sends all
    N (the broker queues them), then the cloud starts again; msg/s = N / (start -> everything
    committed). The publisher is out of the way: this is the cloud's own ceiling.
  Per run: rows counted in the database at the end (lost = N - stored batches; stored twice is
  impossible by the primary key), and CPU seconds of the cloud process (all its threads,
  `time.process_time`), of Mosquitto and of PostgreSQL (all its processes) over the run, as
  messages per CPU-second: "per core" honestly, whatever else shares the machine.
- Peer in the same run: the database writer alone, fed pre-parsed batches (no MQTT, no JSON).
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
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile, report

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
BROKER_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
# a cloud ingest: never drop a QoS 1 message queued for a slow or restarting subscriber
# (the default is 1,000 per client); bound the queue in bytes instead
max_queued_messages 0
max_queued_bytes 1073741824
# MQTT 3.1.1 subscribers: how many unacknowledged messages in flight (default 20); MQTT 5 ones
# say it themselves with Receive Maximum on CONNECT, which Mosquitto 2 honours
max_inflight_messages 1000
set_tcp_nodelay true
persistence false
log_dest none
"""
PUBLISH_WINDOW = 20_000
"""The publisher keeps at most this many QoS 1 messages unacknowledged (ids are 16-bit)."""


def _vin() -> str:
    return "".join(random.choice(VIN_CHARS) for _ in range(17))


@dataclass
class Mosquitto:
    """A Mosquitto process of the benchmark's own, with `BROKER_CONF`."""

    workdir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        conf = self.workdir / "mosquitto.conf"
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf.write_text(BROKER_CONF.format(port=self.port))
        self.process = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"mosquitto did not start on port {self.port}") from None
                time.sleep(0.05)

    def cpu_s(self) -> float:
        import psutil

        assert self.process is not None
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def _postgres_cpu_s() -> float:
    """CPU seconds of every PostgreSQL process (backends, WAL writer, checkpointer...)."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


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


def _remaining(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def _publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    body = _utf8(topic) + struct.pack("!H", mid) + payload
    return b"\x32" + _remaining(len(body)) + body  # PUBLISH, QoS 1


def _publisher(port: int, vins: list[str], n: int, ready: Any, go: Any, done: Any) -> None:
    """Child process: MQTT 3.1.1 over a plain socket; QoS 1 PUBLISH as fast as the broker
    acknowledges (at most `PUBLISH_WINDOW` unacknowledged); reports (msg/s, PUBACKs)."""
    packets = [
        _publish_packet(topic, payload, i % 65535 + 1)
        for i, (topic, payload) in enumerate(_payloads(vins, n))
    ]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connect = b"\x00\x04MQTT\x04\x02\x00\x3c" + _utf8(f"bench-pub-{uuid.uuid4().hex[:8]}")
    sock.sendall(b"\x10" + _remaining(len(connect)) + connect)
    connack = sock.recv(4)
    if connack[:1] != b"\x20" or connack[3:4] != b"\x00":
        raise RuntimeError(f"broker refused the publisher: {connack!r}")
    acked = 0
    moved = threading.Condition()

    def read_acks() -> None:
        nonlocal acked
        buffer = b""
        while acked < n:
            chunk = sock.recv(1 << 16)
            if not chunk:
                return
            buffer += chunk
            whole = len(buffer) // 4  # PUBACK: 0x40 0x02 id id
            if whole:
                if any(buffer[i * 4] != 0x40 for i in range(whole)):
                    raise RuntimeError("unexpected packet from the broker")
                buffer = buffer[whole * 4 :]
                with moved:
                    acked += whole
                    moved.notify_all()

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    ready.set()
    go.wait()
    start = time.perf_counter()
    chunk = 500
    for i in range(0, n, chunk):
        with moved:
            moved.wait_for(lambda i=i: i - acked < PUBLISH_WINDOW - chunk, timeout=60)
        sock.sendall(b"".join(packets[i : i + chunk]))
    with moved:
        moved.wait_for(lambda: acked >= n, timeout=120)
    done.put((n / (time.perf_counter() - start), acked))
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()


async def _pg_schema() -> tuple[str, str]:
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(f"postgresql://{PG}")
    await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.close()
    return f"postgresql+asyncpg://{PG}?options=-csearch_path%3D{schema}", schema


async def _drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://{PG}")
    await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    await conn.close()


def _settings(data_dir: Path, db_url: str, mqtt_url: str, client_id: str, **kw: Any) -> Any:
    from carmind.connect.cloud.settings import CloudSettings

    return CloudSettings(
        data_dir=data_dir, db_url=db_url, mqtt_url=mqtt_url, mqtt_client_id=client_id, **kw
    )


async def _stored(service: Any) -> tuple[int, int]:
    """(telemetry batches, points) in the database: what was committed, not what was counted."""
    from sqlalchemy import func, select

    from carmind.connect.cloud import db

    async with service.sessions() as session:
        batches = await session.scalar(select(func.count()).select_from(db.TelemetryBatch))
        points = await session.scalar(select(func.count()).select_from(db.TelemetryPoint))
    return int(batches or 0), int(points or 0)


@dataclass
class IngestRun:
    rate: float
    publisher_rate: float
    broker_acked: int
    stored: int
    points: int
    cloud_cpu_s: float
    broker_cpu_s: float
    postgres_cpu_s: float

    @property
    def lost(self) -> int:
        return MESSAGES - self.stored


async def bench_ingest(
    mode: str, db_url: str, data_dir: Path, broker: Mosquitto, pg: bool
) -> IngestRun:
    """One ingest run, `live` or `backlog` (see the module docstring)."""
    from carmind.connect.cloud import db
    from carmind.connect.cloud import service as cloud_service
    from carmind.connect.cloud.service import CloudService

    # drives and charges are derived in the background every 2 s; that is not ingest, and with
    # these cars (always moving: one drive that never closes) it re-reads the whole drive on
    # every pass, so it is paused here and its cost left to its own measurement
    cloud_service.DERIVE_INTERVAL_S = 3600.0

    settings = _settings(data_dir, db_url, broker.url, f"carmind-bench-{uuid.uuid4().hex[:8]}")
    vins = [_vin() for _ in range(20)]
    ctx = multiprocessing.get_context("fork")
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_publisher, args=(broker.port, vins, MESSAGES, ready, go, done))
    proc.start()
    service = CloudService(settings)
    await service.start()
    assert service.ingest is not None
    await asyncio.wait_for(service.ingest.connected.wait(), 10)
    await asyncio.to_thread(ready.wait, 120)  # the child has its packets and a connection
    if mode == "backlog":
        await service.stop()  # the broker keeps the session and queues for it
        go.set()
        publisher_rate, acked = await asyncio.to_thread(done.get, True, 300)
        service = CloudService(settings)
        await db.migrate(service.engine)  # start() migrates again: a no-op, but not in the count
        cpu0, broker0, pg0 = time.process_time(), broker.cpu_s(), _postgres_cpu_s()
        first = time.perf_counter()
        await service.start()
        assert service.ingest is not None
    else:
        cpu0, broker0, pg0 = time.process_time(), broker.cpu_s(), _postgres_cpu_s()
        go.set()
        while service.counters.received == 0:
            await asyncio.sleep(0.0005)
        first = time.perf_counter()
    ingest = service.ingest
    last_change, seen = time.perf_counter(), -1
    # until every message is in, or nothing new arrived for 5 s (something lost it)
    while ingest is not None and time.perf_counter() - last_change < 5.0:
        received = service.counters.received
        if received >= MESSAGES:
            break
        if received != seen:
            seen, last_change = received, time.perf_counter()
        await asyncio.sleep(0.005)
    if ingest is not None:
        await ingest.flush()  # returns when everything received is committed
    last = time.perf_counter()
    cpu = time.process_time() - cpu0
    broker_cpu = broker.cpu_s() - broker0
    pg_cpu = _postgres_cpu_s() - pg0 if pg else 0.0
    if mode == "live":
        publisher_rate, acked = await asyncio.to_thread(done.get, True, 300)
    proc.join(10)
    stored, points = await _stored(service)
    await service.stop()
    return IngestRun(
        rate=stored / (last - first),
        publisher_rate=float(publisher_rate),
        broker_acked=int(acked),
        stored=stored,
        points=points,
        cloud_cpu_s=cpu,
        broker_cpu_s=broker_cpu,
        postgres_cpu_s=pg_cpu,
    )


async def bench_writer(db_url: str) -> float:
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


async def bench_round_trip(db_url: str, data_dir: Path, broker: Mosquitto) -> list[float]:
    import aiomqtt
    import httpx

    from carmind.connect import protocol
    from carmind.connect.cloud import admin
    from carmind.connect.cloud.server import CloudServer
    from carmind.connect.keychain import generate_key, key_id_of, sign_command
    from carmind.connect.mqtt import no_delay

    server = CloudServer(_settings(data_dir, db_url, broker.url, "carmind-bench-rt", port=0))
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
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            no_delay(client)
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


def _row(
    metric: str, value: float, unit: str, target: str | None = None, met: bool | None = None
) -> dict[str, Any]:
    return {"metric": metric, "value": value, "unit": unit, "target": target, "met": met}


def _ingest_rows(label: str, mode: str, run: IngestRun, target: bool) -> list[dict[str, Any]]:
    per_cpu = run.stored / run.cloud_cpu_s if run.cloud_cpu_s else 0.0
    rows = [
        _row(
            f"ingest into {label}, {mode}",
            round(run.rate),
            "msg/s",
            ">= 10,000 per core" if target else None,
            None,
        ),
        _row(
            "  per CPU-second of the cloud process",
            round(per_cpu),
            "msg/cpu-s",
            ">= 10,000" if target else None,
            per_cpu >= 10_000 if target else None,
        ),
        _row("  cloud CPU per message", round(run.cloud_cpu_s / max(run.stored, 1) * 1e6, 1), "us"),
        _row(
            "  Mosquitto CPU per message",
            round(run.broker_cpu_s / max(run.stored, 1) * 1e6, 1),
            "us",
        ),
    ]
    if label == "PostgreSQL":
        rows.append(
            _row(
                "  PostgreSQL CPU per message",
                round(run.postgres_cpu_s / max(run.stored, 1) * 1e6, 1),
                "us",
            )
        )
    rows += [
        _row("  publisher rate in that run", round(run.publisher_rate), "msg/s"),
        _row(
            "  lost (sent, acknowledged by broker, not stored)", run.lost, "msg", "0", run.lost == 0
        ),
    ]
    return rows


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="carmind-bench-cloud-") as tmp:
        base = Path(tmp)
        broker = Mosquitto(base / "mosquitto")
        broker.start()
        try:
            runs: dict[tuple[str, str], IngestRun] = {}
            for mode in ("live", "backlog"):
                pg_url, schema = await _pg_schema()
                try:
                    runs[("PostgreSQL", mode)] = await bench_ingest(
                        mode, pg_url, base / f"pg-{mode}", broker, pg=True
                    )
                finally:
                    await _drop_schema(schema)
                lite_url = f"sqlite+aiosqlite:///{base / f'ingest-{mode}.sqlite'}"
                runs[("SQLite", mode)] = await bench_ingest(
                    mode, lite_url, base / f"lite-{mode}", broker, pg=False
                )
            pg_url2, schema2 = await _pg_schema()
            try:
                pg_writer = await bench_writer(pg_url2)
            finally:
                await _drop_schema(schema2)
            lite_writer = await bench_writer(f"sqlite+aiosqlite:///{base / 'w.sqlite'}")
            times = await bench_round_trip(
                f"sqlite+aiosqlite:///{base / 'rt.sqlite'}", base / "rt", broker
            )
        finally:
            broker.stop()
    rows: list[dict[str, Any]] = []
    for (label, mode), run in runs.items():
        rows += _ingest_rows(label, mode, run, target=label == "PostgreSQL")
    rows += [
        _row("writer alone, PostgreSQL (peer)", round(pg_writer), "msg/s"),
        _row("writer alone, SQLite (peer)", round(lite_writer), "msg/s"),
        _row("command round trip p50", round(percentile(times, 0.5), 2), "ms"),
        _row(
            "command round trip p99",
            round(percentile(times, 0.99), 2),
            "ms",
            "< 100",
            percentile(times, 0.99) < 100,
        ),
    ]
    stored_ok = all(run.stored == MESSAGES for run in runs.values())
    points_ok = all(run.points == MESSAGES * len(PATHS) for run in runs.values())
    notes = (
        f"{MESSAGES:,} messages of {len(PATHS)} points per run "
        f"({'all' if stored_ok and points_ok else 'NOT all'} stored, with all their points); "
        f"{len(times)} sequential commands; {os.cpu_count()} CPUs shared by Mosquitto, the "
        "publisher, PostgreSQL and the cloud (one event loop). The background derivation of "
        "drives and charges is paused during the ingest runs (not ingest). Broker: the "
        "benchmark's own Mosquitto with "
        + "; ".join(
            line for line in BROKER_CONF.splitlines()[2:] if line and not line.startswith("#")
        )
        + "; the cloud's Receive Maximum 3,000 (MQTT 5)."
    )
    report("cloud", rows, notes)


if __name__ == "__main__":
    asyncio.run(main())
