"""Store-and-forward on disk: what the car sends is written here first and leaves only when the
cloud has acknowledged it.

`Outbox` is a SQLite database (WAL journal, `synchronous=FULL`: a committed message and its
sequence number survive a power cut). `put` assigns the stream's next sequence number and stores
the message in one transaction; the sender reads messages in order with `after(cursor, limit)`
(streamed from disk: a large backlog costs disk, not memory) and deletes them with `ack(stream,
ranges)` when the cloud's `Ack` names them (the broker's PUBACK deletes nothing: a broker that
crashes loses what it held). Sequence numbers are kept per stream in the database, so they keep
growing across restarts.

The outbox is bounded (`max_rows`, `max_bytes`). When a new message would exceed a bound, the
oldest telemetry batches are summarised: merged into one batch that keeps the latest value of each
signal, its `summarized` field counting the original batches it stands for, and the sequence
number of the newest of them. The first `window` messages are left alone: the sender never has
more than that many sent and unacknowledged, so a summary never replaces a batch the cloud may
already hold and acknowledge by its seq. Events and command results are never summarised or
dropped (when they alone exceed a bound, the outbox grows past it and says so in the log).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from carmind.connect.protocol import MAX_PAYLOAD_BYTES, Stream

log = logging.getLogger(__name__)

MAX_ROWS: Final = 500_000
"""Messages kept while offline: at one telemetry batch a second, about six days of driving."""
MAX_BYTES: Final = 256 * 1024 * 1024
"""Payload bytes kept while offline: a small share of a car's eMMC log partition."""
SUMMARY_CHUNK: Final = 1_000
"""Telemetry batches merged per summarising step: few enough to merge in milliseconds, many
enough that a full outbox is not summarised again on every new batch."""
MAX_POINTS: Final = 10_000
"""A summary holds at most this many points (the protocol's limit for one batch)."""
ACK_WINDOW: Final = 10_000
"""Messages the sender may have sent and not yet seen acknowledged by the cloud: a few of the
cloud's write batches (2,000 messages or 50 ms each), enough to keep a replay at the wire's rate,
few enough that a cloud that does not answer is not flooded with resends."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_stream ON outbox (stream, id);
CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (stream, seq);
CREATE TABLE IF NOT EXISTS sequence (stream TEXT PRIMARY KEY, next INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Queued:
    """A stored message: its row id (send order), stream, sequence number and JSON payload."""

    id: int
    stream: Stream
    seq: int
    payload: bytes


class Outbox:
    """The car's outgoing messages on disk, in send order."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_rows: int = MAX_ROWS,
        max_bytes: int = MAX_BYTES,
        window: int = ACK_WINDOW,
    ) -> None:
        if max_rows < 2 or max_bytes < 2 * MAX_PAYLOAD_BYTES:
            raise ValueError(
                f"outbox bounds too small: max_rows={max_rows} (at least 2), "
                f"max_bytes={max_bytes} (at least {2 * MAX_PAYLOAD_BYTES})"
            )
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.window = max(1, min(window, max_rows // 2))
        """The oldest this many messages may be in flight: summarising leaves them alone, and the
        sender keeps no more than this many unacknowledged (half the row bound at most)."""
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        rows, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox"
        ).fetchone()
        self.rows: int = rows
        """Messages waiting now."""
        self.bytes: int = size
        """Their payload bytes."""
        self._next: dict[str, int] = dict(self._db.execute("SELECT stream, next FROM sequence"))
        self.summaries = 0
        """Summarising steps taken since opening."""

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        return self.rows

    def next_seq(self, stream: Stream) -> int:
        """The sequence number the next message of `stream` will get."""
        return self._next.get(stream.value, 0)

    # ------------------------------------------------------------------ writing

    def put(self, stream: Stream, build: Callable[[int], bytes]) -> int:
        """Store one message; `build(seq)` makes its payload. Returns the sequence number."""
        return self.put_many(stream, [build])[-1]

    def put_many(self, stream: Stream, builds: Iterable[Callable[[int], bytes]]) -> list[int]:
        """Store messages of one stream in one transaction (all or nothing)."""
        seq = self.next_seq(stream)
        rows: list[tuple[str, int, bytes]] = []
        for build in builds:
            payload = build(seq)
            if len(payload) > MAX_PAYLOAD_BYTES:
                raise ValueError(
                    f"{stream.value} message of {len(payload)} bytes exceeds the protocol's "
                    f"{MAX_PAYLOAD_BYTES}"
                )
            rows.append((stream.value, seq, payload))
            seq += 1
        if not rows:
            return []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO outbox (stream, seq, payload) VALUES (?, ?, ?)", rows)
            db.execute(
                "INSERT INTO sequence (stream, next) VALUES (?, ?) "
                "ON CONFLICT (stream) DO UPDATE SET next = excluded.next",
                (stream.value, seq),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._next[stream.value] = seq
        self.rows += len(rows)
        self.bytes += sum(len(r[2]) for r in rows)
        self._bound()
        return [r[1] for r in rows]

    # ------------------------------------------------------------------ reading

    def after(self, cursor: int, limit: int) -> list[Queued]:
        """Up to `limit` messages with row id above `cursor`, in send order."""
        return [
            Queued(i, Stream(s), q, p)
            for i, s, q, p in self._db.execute(
                "SELECT id, stream, seq, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (cursor, limit),
            )
        ]

    def first_id(self) -> int | None:
        """The row id of the oldest message waiting; None when the outbox is empty."""
        row = self._db.execute("SELECT MIN(id) FROM outbox").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def ack(self, stream: Stream, ranges: Iterable[tuple[int, int]]) -> int:
        """Delete the messages of `stream` whose seq the cloud acknowledged (inclusive ranges;
        seqs no longer here are ignored). Returns how many were deleted."""
        keys = [(stream.value, first, last) for first, last in ranges]
        if not keys:
            return 0
        db = self._db
        # a deletion lost in a power cut only means a resend, which the cloud drops by seq:
        # no fsync for acks
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            removed = 0
            freed = 0
            for key in keys:
                for (size,) in db.execute(
                    "DELETE FROM outbox WHERE stream = ? AND seq BETWEEN ? AND ? "
                    "RETURNING LENGTH(payload)",
                    key,
                ):
                    removed += 1
                    freed += size
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.execute("PRAGMA synchronous=FULL")
        self.rows -= removed
        self.bytes -= freed
        return removed

    # ------------------------------------------------------------------ bounding

    def _over(self) -> bool:
        return self.rows > self.max_rows or self.bytes > self.max_bytes

    def _bound(self) -> None:
        while self._over():
            if not self._summarise():
                log.warning(
                    "outbox over its bound (%d rows, %d bytes) with nothing left to summarise: "
                    "events and results are kept",
                    self.rows,
                    self.bytes,
                )
                return

    def _summarise(self) -> bool:
        """Merge the oldest telemetry batches behind the window into one; False when there are
        fewer than 2 of them."""
        edge = self._db.execute(
            "SELECT id FROM outbox ORDER BY id LIMIT 1 OFFSET ?", (self.window - 1,)
        ).fetchone()
        if edge is None:
            return False
        chosen = self._db.execute(
            "SELECT id, seq, payload FROM outbox WHERE stream = ? AND id > ? ORDER BY id LIMIT ?",
            (Stream.TELEMETRY.value, edge[0], SUMMARY_CHUNK),
        ).fetchall()
        if len(chosen) < 2:
            return False
        merged = _merge([json.loads(p) for _, _, p in chosen])
        payload = json.dumps(merged, separators=(",", ":")).encode("utf-8")
        keep_id = chosen[-1][0]
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM outbox WHERE id = ?", [(c[0],) for c in chosen[:-1]])
            db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (payload, keep_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.rows -= len(chosen) - 1
        self.bytes += len(payload) - sum(len(c[2]) for c in chosen)
        self.summaries += 1
        log.info("outbox full: %d telemetry batches summarised into one", len(chosen))
        return True


def _merge(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """One TelemetryBatch (as JSON data) standing for `batches`, oldest first: the latest point
    of each signal, the newest batch's seq and sent_at, `summarized` = batches represented."""
    latest: dict[str, dict[str, Any]] = {}
    stands_for = 0
    for batch in batches:
        stands_for += max(1, int(batch.get("summarized", 0)))
        for point in batch["points"]:
            old = latest.get(point["path"])
            if old is None or point["ts"] >= old["ts"]:
                latest[point["path"]] = point
    points = sorted(latest.values(), key=lambda p: p["ts"])[-MAX_POINTS:]
    newest = batches[-1]
    return {**newest, "points": points, "summarized": stands_for}


__all__ = ["ACK_WINDOW", "MAX_BYTES", "MAX_ROWS", "Outbox", "Queued"]
