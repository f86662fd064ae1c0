"""MQTT ingest: what the cars send, validated and written to the database in batches.

The cloud subscribes to `carmind/v1/+/telemetry|events|results|status` with QoS 1 and a fixed
client id in a persistent session, so whatever the broker queued while the cloud was down arrives
after a restart. Each message is validated with the protocol's pydantic models; a malformed
payload, an unknown topic or an oversized message (more than `MAX_PAYLOAD_BYTES`) is counted,
logged and dropped, and never stops the loop.

Messages are collected for at most `batch_max_ms` or `batch_max_messages` and written in one
transaction: one INSERT for the telemetry batches (ON CONFLICT DO NOTHING RETURNING: a (vin, seq)
seen before is a repeat, dropped and counted), one for their points, one upsert of the newest
values. Results and status changes are written at once (a phone is waiting for them).

The same MQTT connection publishes commands (`publish`), so the relay and the ingest share one
session with the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import aiomqtt
from pydantic import ValidationError
from sqlalchemy import and_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carmind.connect import protocol
from carmind.connect.cloud import db
from carmind.connect.cloud.settings import CloudSettings
from carmind.connect.mqtt import make_client, parse_url
from carmind.errors import CarmindError

log = logging.getLogger(__name__)

SUBSCRIPTIONS: Final = tuple(
    f"{protocol.TOPIC_ROOT}/+/{stream.value}"
    for stream in (
        protocol.Stream.TELEMETRY,
        protocol.Stream.EVENTS,
        protocol.Stream.RESULTS,
        protocol.Stream.STATUS,
    )
)
_BACKLOG_FACTOR: Final = 8
"""The receive loop waits for the writer when this many batches' worth of messages are waiting."""
_RETRIES: Final = 3
_RECONNECT_S: Final = (0.2, 0.5, 1.0, 2.0, 5.0)


class RelayError(CarmindError):
    """A command could not be handed to the MQTT broker."""


@dataclass
class IngestCounters:
    """What the ingest has seen since start; served at `/api/v1/health`."""

    received: int = 0
    telemetry_batches: int = 0
    points: int = 0
    duplicates: int = 0
    events: int = 0
    results: int = 0
    results_unknown: int = 0
    status: int = 0
    malformed: int = 0
    unknown_topic: int = 0
    oversized: int = 0
    flushes: int = 0
    write_errors: int = 0
    dropped: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Batch:
    """Parsed messages waiting to be written together."""

    telemetry: list[protocol.TelemetryBatch] = field(default_factory=list)
    events: list[protocol.Event] = field(default_factory=list)
    results: list[protocol.CommandResult] = field(default_factory=list)
    status: list[tuple[str, bool, float]] = field(default_factory=list)
    attempts: int = 0

    def __len__(self) -> int:
        return len(self.telemetry) + len(self.events) + len(self.results) + len(self.status)

    def extend(self, other: Batch) -> None:
        self.telemetry += other.telemetry
        self.events += other.events
        self.results += other.results
        self.status += other.status


def _split_value(value: bool | int | float | str | None) -> tuple[str, float | None, str | None]:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n", None, None  # NaN and infinities are "no value" (JSON cannot carry them)
    if isinstance(value, bool):
        return "b", float(value), None
    if isinstance(value, int):
        return "i", float(value), None
    if isinstance(value, float):
        return "f", value, None
    return "s", None, value


def join_value(kind: str, num: float | None, txt: str | None) -> bool | int | float | str | None:
    """A stored value as the car sent it (the inverse of how ingest splits it)."""
    if kind == "b":
        return bool(num)
    if kind == "i" and num is not None:
        return int(num)
    if kind == "f":
        return num
    if kind == "s":
        return txt
    return None


class Writer:
    """Writes parsed messages to the database: one transaction per batch (no MQTT here, so
    tests and benchmarks can drive it directly)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        counters: IngestCounters,
        on_telemetry: Callable[[set[str]], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self.counters = counters
        self._on_telemetry = on_telemetry

    async def write(self, batch: Batch) -> None:
        """Write one batch in one transaction; raises on a database error (nothing written)."""
        async with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            touched = await self._telemetry(session, dialect, batch.telemetry)
            await self._events(session, dialect, batch.events)
            await self._results(session, batch.results)
            await self._status(session, batch.status)
        self.counters.flushes += 1
        if touched and self._on_telemetry is not None:
            self._on_telemetry(touched)

    async def _telemetry(
        self, session: AsyncSession, dialect: str, batches: list[protocol.TelemetryBatch]
    ) -> set[str]:
        if not batches:
            return set()
        unique: dict[tuple[str, int], protocol.TelemetryBatch] = {}
        for batch in batches:
            unique.setdefault((batch.vin, batch.seq), batch)
        now = time.time()
        insert = db.dialect_insert(dialect, db.TelemetryBatch)
        statement = insert.on_conflict_do_nothing(index_elements=["vin", "seq"]).returning(
            db.TelemetryBatch.vin, db.TelemetryBatch.seq
        )
        rows = [
            {
                "vin": b.vin,
                "seq": b.seq,
                "sent_at": b.sent_at,
                "received_at": now,
                "points": len(b.points),
                "summarized": b.summarized,
            }
            for b in unique.values()
        ]
        fresh = {(row[0], row[1]) for row in (await session.execute(statement, rows)).all()}
        self.counters.duplicates += len(batches) - len(fresh)
        self.counters.telemetry_batches += len(fresh)
        points: list[dict[str, Any]] = []
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for key in fresh:
            batch = unique[key]
            for point in batch.points:
                kind, num, txt = _split_value(point.value)
                row = {
                    "vin": batch.vin,
                    "seq": batch.seq,
                    "ts": point.ts,
                    "path": point.path,
                    "kind": kind,
                    "num": num,
                    "txt": txt,
                }
                points.append(row)
                held = newest.get((batch.vin, point.path))
                if held is None or held["ts"] <= point.ts:
                    newest[(batch.vin, point.path)] = row
        if points:
            await session.execute(db.table(db.TelemetryPoint).insert(), points)
            self.counters.points += len(points)
            latest = db.dialect_insert(dialect, db.Latest)
            upsert = latest.on_conflict_do_update(
                index_elements=["vin", "path"],
                set_={
                    "ts": latest.excluded.ts,
                    "kind": latest.excluded.kind,
                    "num": latest.excluded.num,
                    "txt": latest.excluded.txt,
                },
                where=latest.excluded.ts >= db.table(db.Latest).c.ts,
            )
            values = [
                {k: v for k, v in row.items() if k != "seq"}
                for row in sorted(newest.values(), key=lambda r: (r["vin"], r["path"]))
            ]
            await session.execute(upsert, values)
        return {vin for vin, _seq in fresh}

    async def _events(
        self, session: AsyncSession, dialect: str, events: list[protocol.Event]
    ) -> None:
        if not events:
            return
        insert = db.dialect_insert(dialect, db.EventRow)
        statement = insert.on_conflict_do_nothing(index_elements=["vin", "seq"]).returning(
            db.EventRow.id
        )
        rows = [
            {"vin": e.vin, "seq": e.seq, "ts": e.ts, "kind": e.kind.value, "data": e.data}
            for e in events
        ]
        stored = len((await session.execute(statement, rows)).all())
        self.counters.events += stored
        self.counters.duplicates += len(events) - stored

    async def _results(self, session: AsyncSession, results: list[protocol.CommandResult]) -> None:
        table = db.table(db.CommandRow)
        for result in results:
            # The car's word is final: it replaces a pending status or one the cloud decided on
            # its own (expired while the car was away), but never an earlier answer of the car.
            statement = (
                update(table)
                .where(
                    and_(
                        table.c.id == result.id,
                        table.c.vin == result.vin,
                        table.c.result_seq.is_(None),
                    )
                )
                .values(
                    status=result.status.value,
                    reason=result.reason,
                    result_at=result.at,
                    result_seq=result.seq,
                )
            )
            outcome = await session.execute(statement)
            if getattr(outcome, "rowcount", 0):
                self.counters.results += 1
            else:
                self.counters.results_unknown += 1
                log.info("result for unknown or answered command %s of %s", result.id, result.vin)

    async def _status(self, session: AsyncSession, changes: list[tuple[str, bool, float]]) -> None:
        table = db.table(db.Vehicle)
        for vin, online, at in changes:
            await session.execute(
                update(table).where(table.c.vin == vin).values(online=online, status_at=at)
            )
            self.counters.status += 1


class Ingest:
    """The MQTT side: subscribe, parse, hand batches to the `Writer`; also publish commands."""

    def __init__(
        self,
        settings: CloudSettings,
        writer: Writer,
    ) -> None:
        if settings.mqtt_url is None:
            raise RelayError("no MQTT URL: the ingest needs a broker")
        self._settings = settings
        self._target = parse_url(settings.mqtt_url)
        self._writer = writer
        self.counters = writer.counters
        self._pending = Batch()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._client: aiomqtt.Client | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()

    # -- parsing (pure, no I/O) ---------------------------------------------------------------

    def accept(self, topic: str, payload: bytes) -> None:
        """Validate one MQTT message and queue it for the next write; bad ones are counted."""
        self.counters.received += 1
        if len(payload) > protocol.MAX_PAYLOAD_BYTES:
            self.counters.oversized += 1
            log.warning(
                "dropped %d-byte message on %s: larger than %d bytes",
                len(payload),
                topic,
                protocol.MAX_PAYLOAD_BYTES,
            )
            return
        parsed = protocol.parse_topic(topic)
        if parsed is None or parsed[1] == protocol.Stream.COMMANDS:
            self.counters.unknown_topic += 1
            log.warning("dropped message on unknown topic %r", topic)
            return
        vin, stream = parsed
        try:
            self._queue(vin, stream, payload)
        except (ValidationError, ValueError) as exc:
            self.counters.malformed += 1
            log.warning(
                "dropped malformed %s message from %s: %s",
                stream.value,
                vin,
                str(exc).splitlines()[0],
            )

    def _queue(self, vin: str, stream: protocol.Stream, payload: bytes) -> None:
        pending = self._pending
        if stream == protocol.Stream.STATUS:
            text = payload.decode("utf-8", errors="replace").strip()
            if text not in ("online", "offline") or not _is_vin(vin):
                raise ValueError(f"status {text!r} of {vin!r}: expected online or offline")
            pending.status.append((vin, text == "online", time.time()))
            self._wake.set()
            return
        message: protocol.TelemetryBatch | protocol.Event | protocol.CommandResult
        if stream == protocol.Stream.TELEMETRY:
            message = protocol.TelemetryBatch.model_validate_json(payload)
        elif stream == protocol.Stream.EVENTS:
            message = protocol.Event.model_validate_json(payload)
        else:
            message = protocol.CommandResult.model_validate_json(payload)
        if message.vin != vin:
            raise ValueError(f"payload VIN {message.vin} differs from topic VIN {vin}")
        if isinstance(message, protocol.TelemetryBatch) and not all(
            math.isfinite(p.ts) for p in message.points
        ):
            raise ValueError("a point's time stamp is not a finite number")
        if isinstance(message, protocol.TelemetryBatch):
            pending.telemetry.append(message)
            if len(pending) >= self._settings.batch_max_messages:
                self._wake.set()
        elif isinstance(message, protocol.Event):
            pending.events.append(message)
        else:
            pending.results.append(message)
            self._wake.set()

    # -- writing ------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write whatever is queued now (one transaction); keep it for a retry on error."""
        batch, self._pending = self._pending, Batch()
        if not len(batch):
            return
        try:
            await self._writer.write(batch)
        except Exception as exc:  # a database outage must not end the ingest
            self.counters.write_errors += 1
            batch.attempts += 1
            if batch.attempts >= _RETRIES:
                self.counters.dropped += len(batch)
                log.error(
                    "dropped %d messages after %d failed writes: %s",
                    len(batch),
                    batch.attempts,
                    exc,
                )
            else:
                log.warning("write of %d messages failed (%s); retrying", len(batch), exc)
                batch.extend(self._pending)
                self._pending = batch
        finally:
            if len(self._pending) < self._settings.batch_max_messages * _BACKLOG_FACTOR:
                self._room.set()

    async def _writer_loop(self) -> None:
        timeout = self._settings.batch_max_ms / 1000
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            await self.flush()

    # -- MQTT ---------------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        target = self._target
        attempt = 0
        while True:
            try:
                async with make_client(
                    target,
                    identifier=self._settings.mqtt_client_id,
                    persistent=True,
                    session_expiry_s=self._settings.mqtt_session_expiry_s,
                ) as client:
                    _no_delay(client)
                    await client.subscribe([(topic, 1) for topic in SUBSCRIPTIONS])
                    self._client = client
                    self.connected.set()
                    attempt = 0
                    log.info("ingest connected to %s:%d", target.host, target.port)
                    limit = self._settings.batch_max_messages * _BACKLOG_FACTOR
                    async for message in client.messages:
                        payload = message.payload
                        if not isinstance(payload, bytes | bytearray):
                            payload = str(payload).encode()
                        self.accept(message.topic.value, bytes(payload))
                        if len(self._pending) >= limit:
                            self._room.clear()
                            self._wake.set()
                            await self._room.wait()
            except aiomqtt.MqttError as exc:
                self._client = None
                self.connected.clear()
                delay = _RECONNECT_S[min(attempt, len(_RECONNECT_S) - 1)]
                attempt += 1
                log.warning(
                    "MQTT broker %s:%d unreachable (%s); retrying in %.1f s",
                    target.host,
                    target.port,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish with QoS 1 (returns when the broker has it); `RelayError` when it cannot."""
        client = self._client
        if client is None:
            raise RelayError("the MQTT broker is not reachable from the cloud right now")
        try:
            await client.publish(topic, payload, qos=1, timeout=5.0)
        except aiomqtt.MqttError as exc:
            raise RelayError(f"the MQTT broker refused the command: {exc}") from exc

    async def start(self) -> None:
        """Start receiving and writing; returns at once (the connection comes up behind)."""
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name="cloud-ingest-receive"),
            asyncio.create_task(self._writer_loop(), name="cloud-ingest-write"),
        ]

    async def stop(self) -> None:
        """Disconnect, then write what was received (nothing accepted is left unwritten)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._client = None
        self.connected.clear()
        for _ in range(_RETRIES):
            if not len(self._pending):
                break
            await self.flush()


def _no_delay(client: aiomqtt.Client) -> None:
    """Turn Nagle's algorithm off on the broker connection.

    QoS 1 means a small PUBACK per message; with Nagle on, a PUBACK waits for the broker's
    delayed TCP ACK (~40 ms on Linux), which caps ingest at a few hundred messages/s (the
    broker sends only `max_inflight_messages` unacknowledged ones) and adds ~40 ms to every
    command's round trip.
    """
    sock = client._client.socket()  # aiomqtt exposes no socket options after connecting
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _is_vin(text: str) -> bool:
    return len(text) == 17 and all(
        c.isdigit() or ("A" <= c <= "Z" and c not in "IOQ") for c in text
    )
