"""MQTT ingest: what the cars send, validated and written to the database in batches.

The cloud subscribes to `carmind/v1/+/telemetry|events|results|status` with QoS 1 and a fixed
client id in a persistent session, so whatever the broker queued while the cloud was down arrives
after a restart. Each message is validated with the protocol's pydantic models; a malformed
payload, an unknown topic or an oversized message (more than `MAX_PAYLOAD_BYTES`) is counted,
logged and dropped, and never stops the loop.

Messages are collected for at most `batch_max_ms` or `batch_max_messages` and written in one
transaction: the telemetry batches (ON CONFLICT DO NOTHING RETURNING: a (vin, seq) seen before
is a repeat, dropped and counted), their points, one upsert of the newest values. On PostgreSQL
the rows travel by COPY (batches into a temporary staging table, then one INSERT ... SELECT ...
ON CONFLICT DO NOTHING; points straight into `telemetry`); on SQLite by executemany. Results and
status changes are written at once (a phone is waiting for them).

The hot path is lean: paho hands each message straight to `accept` (no per-message asyncio task
or queue), one `model_validate_json` per message, nothing re-encoded. On MQTT 5 a message is
acknowledged only after its transaction committed (the broker redelivers what a crashed cloud
never stored, and dedupe drops what it had), and the CONNECT's Receive Maximum
(`RECEIVE_WINDOW`) lets the broker keep a batch and a half in flight, which is also the ingest's
back-pressure: while the database is slow, the broker, not the cloud's memory, holds the rest.
On MQTT 3.1.1 (no Receive Maximum) messages are acknowledged on receipt, as before.

After each committed batch the ingest publishes an `Ack` (QoS 1, `carmind/v1/{vin}/acks`) per
car and stream, naming every message of the batch as ranges of seqs, repeats it dropped included;
the car deletes a message from its outbox only then. Malformed messages are not acknowledged, nor
are messages of a batch dropped after failed writes (the car sends them again). Acks are not
waited for: one lost with the broker costs a resend, which dedupe drops and acknowledges again.

The same MQTT connection publishes commands (`publish`), so the relay and the ingest share one
session with the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
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
from carmind.connect.mqtt import MqttSettings, ack, make_client, no_delay, parse_url, receive_raw
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
_WINDOW_FACTOR: Final = 1.5
"""MQTT 5: the broker may have this many batches' worth of messages unacknowledged (Receive
Maximum), so the next batch fills while one commits."""
_RETRIES: Final = 3
_TELEMETRY: Final = protocol.TelemetryBatch.__pydantic_validator__
_RECONNECT_S: Final = (0.2, 0.5, 1.0, 2.0, 5.0)
_INGESTED: Final = frozenset(
    (
        protocol.Stream.TELEMETRY,
        protocol.Stream.EVENTS,
        protocol.Stream.RESULTS,
        protocol.Stream.STATUS,
    )
)


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
    acks: int = 0
    """`Ack` messages published to cars."""
    ack_errors: int = 0
    """Acks that could not be handed to the broker (disconnected): the car resends."""
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
    acks: list[tuple[aiomqtt.Client, int]] = field(default_factory=list)
    """MQTT 5: (connection, message id) of every message in here and of the dropped ones
    between them, in arrival order, to acknowledge once the batch is committed."""
    attempts: int = 0

    def __len__(self) -> int:
        return len(self.telemetry) + len(self.events) + len(self.results) + len(self.status)

    def extend(self, other: Batch) -> None:
        self.telemetry += other.telemetry
        self.events += other.events
        self.results += other.results
        self.status += other.status
        self.acks += other.acks


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
        self._delta = IngestCounters()
        """What the transaction in progress stored; added to `counters` once it committed."""

    async def write(self, batch: Batch) -> None:
        """Write one batch in one transaction; raises on a database error (nothing written,
        nothing counted). One write at a time (the ingest's flushes take turns)."""
        self._delta = IngestCounters()
        async with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            touched = await self._telemetry(session, dialect, batch.telemetry)
            await self._events(session, dialect, batch.events)
            await self._results(session, batch.results)
            await self._status(session, batch.status)
        for name, value in asdict(self._delta).items():
            if value:
                setattr(self.counters, name, getattr(self.counters, name) + value)
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
        rows = [
            (b.vin, b.seq, b.sent_at, now, len(b.points), b.summarized) for b in unique.values()
        ]
        pg = await _asyncpg(session) if dialect == "postgresql" else None
        if pg is not None:
            fresh = await _pg_new_batches(pg, rows)
        else:
            fresh = await _new_batches(session, dialect, rows)
        self._delta.duplicates += len(batches) - len(fresh)
        self._delta.telemetry_batches += len(fresh)
        points: list[tuple[str, int, float, str, str, float | None, str | None]] = []
        newest: dict[tuple[str, str], tuple[str, str, float, str, float | None, str | None]] = {}
        for key in fresh:
            batch = unique[key]
            vin, seq = key
            for point in batch.points:
                kind, num, txt = _split_value(point.value)
                ts, path = point.ts, point.path
                points.append((vin, seq, ts, path, kind, num, txt))
                held = newest.get((vin, path))
                if held is None or held[2] <= ts:
                    newest[(vin, path)] = (vin, path, ts, kind, num, txt)
        if points:
            latest = [newest[k] for k in sorted(newest)]
            if pg is not None:
                await _pg_points(pg, points, latest)
            else:
                await _points(session, points, latest)
            self._delta.points += len(points)
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
        self._delta.events += stored
        self._delta.duplicates += len(events) - stored

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
                self._delta.results += 1
            else:
                self._delta.results_unknown += 1
                log.info("result for unknown or answered command %s of %s", result.id, result.vin)

    async def _status(self, session: AsyncSession, changes: list[tuple[str, bool, float]]) -> None:
        table = db.table(db.Vehicle)
        for vin, online, at in changes:
            await session.execute(
                update(table).where(table.c.vin == vin).values(online=online, status_at=at)
            )
            self._delta.status += 1


_BATCH_COLUMNS: Final = ("vin", "seq", "sent_at", "received_at", "points", "summarized")
_POINT_COLUMNS: Final = ("vin", "seq", "ts", "path", "kind", "num", "txt")
_LATEST_COLUMNS: Final = ("vin", "path", "ts", "kind", "num", "txt")
_STAGE_BATCHES: Final = "carmind_stage_batches"
_STAGE_LATEST: Final = "carmind_stage_latest"
_PG_STAGING: Final = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE_BATCHES} (vin varchar(17), seq bigint, "
    "sent_at float8, received_at float8, points integer, summarized integer) "
    "ON COMMIT DELETE ROWS",
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE_LATEST} (vin varchar(17), path varchar(200), "
    "ts float8, kind varchar(1), num float8, txt text) ON COMMIT DELETE ROWS",
)
"""Per-connection staging tables (emptied at every commit) that COPY fills: COPY cannot say
ON CONFLICT, the INSERT ... SELECT from them can."""
_UPSERT_LATEST: Final = (
    "INSERT INTO {target} (vin, path, ts, kind, num, txt) {source} "
    "ON CONFLICT (vin, path) DO UPDATE SET ts = excluded.ts, kind = excluded.kind, "
    "num = excluded.num, txt = excluded.txt WHERE excluded.ts >= {target}.ts"
)


async def _asyncpg(session: AsyncSession) -> Any:
    """The session's asyncpg connection, inside the session's transaction."""
    connection = await session.connection()
    # the first statement through SQLAlchemy opens the transaction on the driver connection
    for ddl in _PG_STAGING:
        await connection.exec_driver_sql(ddl)
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def _pg_new_batches(
    conn: Any, rows: list[tuple[str, int, float, float, int, int]]
) -> set[tuple[str, int]]:
    """COPY the batches into staging, insert the ones not seen before; their (vin, seq)."""
    await conn.copy_records_to_table(_STAGE_BATCHES, records=rows, columns=_BATCH_COLUMNS)
    columns = ", ".join(_BATCH_COLUMNS)
    fresh = await conn.fetch(
        f"INSERT INTO {db.TelemetryBatch.__tablename__} ({columns}) "
        f"SELECT {columns} FROM {_STAGE_BATCHES} "
        "ON CONFLICT (vin, seq) DO NOTHING RETURNING vin, seq"
    )
    return {(record[0], record[1]) for record in fresh}


async def _pg_points(
    conn: Any,
    points: list[tuple[str, int, float, str, str, float | None, str | None]],
    latest: list[tuple[str, str, float, str, float | None, str | None]],
) -> None:
    """COPY the points of new batches straight in; upsert the newest values through staging."""
    target = db.Latest.__tablename__
    await conn.copy_records_to_table(
        db.TelemetryPoint.__tablename__, records=points, columns=_POINT_COLUMNS
    )
    await conn.copy_records_to_table(_STAGE_LATEST, records=latest, columns=_LATEST_COLUMNS)
    source = f"SELECT {', '.join(_LATEST_COLUMNS)} FROM {_STAGE_LATEST} WHERE true"
    await conn.execute(_UPSERT_LATEST.format(target=target, source=source))


async def _new_batches(
    session: AsyncSession, dialect: str, rows: list[tuple[str, int, float, float, int, int]]
) -> set[tuple[str, int]]:
    """Insert the batches not seen before (one multi-row INSERT ... RETURNING per chunk)."""
    insert = db.dialect_insert(dialect, db.TelemetryBatch)
    statement = insert.on_conflict_do_nothing(index_elements=["vin", "seq"]).returning(
        db.TelemetryBatch.vin, db.TelemetryBatch.seq
    )
    params = [dict(zip(_BATCH_COLUMNS, row, strict=True)) for row in rows]
    return {(row[0], row[1]) for row in (await session.execute(statement, params)).all()}


async def _points(
    session: AsyncSession,
    points: list[tuple[str, int, float, str, str, float | None, str | None]],
    latest: list[tuple[str, str, float, str, float | None, str | None]],
) -> None:
    """executemany of plain tuples (SQLite): no per-row statement compiling or dicts."""
    connection = await session.connection()
    marks = ", ".join("?" * len(_POINT_COLUMNS))
    await connection.exec_driver_sql(
        f"INSERT INTO {db.TelemetryPoint.__tablename__} ({', '.join(_POINT_COLUMNS)}) "
        f"VALUES ({marks})",
        points,
    )
    source = f"VALUES ({', '.join('?' * len(_LATEST_COLUMNS))})"
    await connection.exec_driver_sql(
        _UPSERT_LATEST.format(target=db.Latest.__tablename__, source=source),
        latest,
    )


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
        self._manual_ack = self._target.v5
        self._writer = writer
        self.counters = writer.counters
        self._pending = Batch()
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._closing = False
        self._client: aiomqtt.Client | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    @property
    def receive_window(self) -> int:
        """MQTT 5 Receive Maximum: how many unacknowledged messages the broker may send."""
        return max(1, min(65535, math.ceil(self._settings.batch_max_messages * _WINDOW_FACTOR)))

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
        if parsed is None or parsed[1] not in _INGESTED:
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
            # the model's validator itself: `model_validate_json` without its Python wrapper
            message = _TELEMETRY.validate_json(payload)
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
        """Write whatever is queued now (one transaction); keep it for a retry on error.

        Flushes take turns: when this returns, everything accepted before the call is committed
        (a flush that finds the writer busy waits for it, then writes what is left)."""
        async with self._flushing:
            batch, self._pending = self._pending, Batch()
            if not len(batch):
                self._acknowledge(batch)
                return
            try:
                await self._writer.write(batch)
            except asyncio.CancelledError:
                batch.extend(self._pending)  # not written: keep it, in order, for the next flush
                self._pending = batch
                raise
            except Exception as exc:  # a database outage must not end the ingest
                self.counters.write_errors += 1
                batch.attempts += 1
                if batch.attempts < _RETRIES:
                    log.warning("write of %d messages failed (%s); retrying", len(batch), exc)
                    batch.extend(self._pending)
                    self._pending = batch
                    return
                self.counters.dropped += len(batch)
                log.error(
                    "dropped %d messages after %d failed writes: %s",
                    len(batch),
                    batch.attempts,
                    exc,
                )
            else:
                self._receipts(batch)
            self._acknowledge(batch)

    def _receipts(self, batch: Batch) -> None:
        """Tell each car which of its messages this committed batch holds (see the module doc);
        published without waiting for the broker."""
        client = self._client
        if client is None:
            return
        seqs: dict[tuple[str, str], list[int]] = {}
        for messages, stream in (
            (batch.telemetry, "telemetry"),
            (batch.events, "events"),
            (batch.results, "results"),
        ):
            for message in messages:
                seqs.setdefault((message.vin, stream), []).append(message.seq)
        paho = client._client  # aiomqtt's publish waits for the PUBACK; acks need not
        for (vin, stream), numbers in seqs.items():
            target = protocol.topic(vin, protocol.Stream.ACKS)
            ranges = protocol.seq_ranges(numbers)
            for start in range(0, len(ranges), protocol.MAX_ACK_RANGES):
                payload = json.dumps(
                    {
                        "v": protocol.PROTOCOL_VERSION,
                        "vin": vin,
                        "stream": stream,
                        "ranges": ranges[start : start + protocol.MAX_ACK_RANGES],
                    },
                    separators=(",", ":"),
                ).encode()
                info = paho.publish(target, payload, qos=1)
                if info.rc == 0:
                    self.counters.acks += 1
                else:
                    self.counters.ack_errors += 1

    def _acknowledge(self, batch: Batch) -> None:
        """Acknowledge (MQTT 5) what this batch settled; a message received on a connection
        that has since gone is not: the broker sends it again and dedupe drops it."""
        client = self._client
        for holder, mid in batch.acks:
            if holder is client:
                ack(holder, mid)

    async def _writer_loop(self) -> None:
        timeout = self._settings.batch_max_ms / 1000
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            await self.flush()

    # -- MQTT ---------------------------------------------------------------------------------

    def _on_message(
        self, client: aiomqtt.Client, topic: str, payload: bytes, mid: int, qos: int
    ) -> None:
        if not self._manual_ack:
            self.accept(topic, payload)  # acknowledged on receipt: keep it even while stopping
        elif not self._closing:  # stopping: not acknowledged, the broker keeps it for next time
            self.accept(topic, payload)
            if qos:
                self._pending.acks.append((client, mid))

    def _client_for(self, target: MqttSettings) -> aiomqtt.Client:
        client = make_client(
            target,
            identifier=self._settings.mqtt_client_id,
            persistent=True,
            session_expiry_s=self._settings.mqtt_session_expiry_s,
            receive_maximum=self.receive_window if self._manual_ack else None,
        )

        def handler(topic: str, payload: bytes, mid: int, qos: int) -> None:
            self._on_message(client, topic, payload, mid, qos)

        receive_raw(client, handler, manual_ack=self._manual_ack)
        return client

    async def _receive_loop(self) -> None:
        target = self._target
        attempt = 0
        while True:
            try:
                async with self._client_for(target) as client:
                    no_delay(client)
                    await client.subscribe([(topic, 1) for topic in SUBSCRIPTIONS])
                    self._client = client
                    self.connected.set()
                    attempt = 0
                    log.info("ingest connected to %s:%d", target.host, target.port)
                    async for message in client.messages:  # raw receive: ends only on a drop
                        payload = message.payload
                        if not isinstance(payload, bytes | bytearray):
                            payload = str(payload).encode()
                        self.accept(message.topic.value, bytes(payload))
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
        self._closing = False
        self._receiver = asyncio.create_task(self._receive_loop(), name="cloud-ingest-receive")
        self._flusher = asyncio.create_task(self._writer_loop(), name="cloud-ingest-write")

    async def stop(self) -> None:
        """Write what was received (acknowledging it while still connected), then disconnect.

        The writer is never cancelled in the middle of a transaction: it is asked to finish."""
        self._closing = True
        self._wake.set()
        if self._flusher is not None:
            await self._flusher
            self._flusher = None
        if self._receiver is not None:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver
            self._receiver = None
        self._client = None
        self.connected.clear()
        for _ in range(_RETRIES):
            if not len(self._pending):
                break
            await self.flush()


def _is_vin(text: str) -> bool:
    return len(text) == 17 and all(
        c.isdigit() or ("A" <= c <= "Z" and c not in "IOQ") for c in text
    )
