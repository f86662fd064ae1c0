"""The vehicle link: the car's hub connected to the carmind cloud over MQTT.

    link = VehicleLink(client, "mqtts://broker.example:8883", vin, data_dir)
    task = asyncio.create_task(link.run())
    ...
    link.stop(); await task

What it does (topics and payloads: `carmind.connect.protocol`):

- connects with client id = VIN and a persistent session (clean start off, session expiry
  `SESSION_EXPIRY_S`), the will `offline` (retained) on the status topic, and publishes `online`;
  reconnects with jittered exponential backoff;
- samples telemetry from the hub on change, each signal at most once per its minimum interval
  (speed 1 s, location 2 s, state of charge 30 s, ...), batched into `TelemetryBatch`es; a parked
  car whose signals do not change sends nothing;
- writes every telemetry batch, event and command result to the on-disk `Outbox` before sending,
  sends them in order at QoS 1 and deletes them only when the cloud's `Ack` names them (the
  broker's PUBACK is not enough: a broker that crashes loses what it held, and the cloud's
  subscription with it). What is sent and not acknowledged is sent again, in order, after every
  (re)connect and, while connected, when the oldest of it has waited `RESEND_AFTER_S` (doubling
  up to `RESEND_MAX_S` while the cloud stays silent). At most the outbox's `window` messages are
  unacknowledged at a time. Each message carries its stream's `seq`, so the cloud keeps exactly
  one copy of what is sent twice;
- receives commands (QoS 1), verifies them with the `Keychain`, executes them with the
  `Executor` and answers with a `CommandResult`;
- receives pairing requests (QoS 1): a phone's public key with proof that it knows the code shown
  in the car (`Keychain.enroll_with_proof`); enrols it or refuses, answers with a
  `CommandResult` of the request's id, and reports `key_enrolled`;
- counts malformed, oversized and unexpected messages in `stats`, logs them, and carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiomqtt
from pydantic import ValidationError

from carmind.connect.executor import Executor
from carmind.connect.keychain import CommandRefused, Keychain, KeychainError
from carmind.connect.mqtt import make_client, no_delay, parse_url
from carmind.connect.protocol import (
    MAX_PAYLOAD_BYTES,
    Ack,
    Command,
    CommandResult,
    Event,
    EventKind,
    PairingRequest,
    Point,
    ResultStatus,
    Stream,
    TelemetryBatch,
    parse_topic,
    topic,
)
from carmind.connect.queue import MAX_BYTES, MAX_ROWS, Outbox
from carmind.signals.broker import Client, Datapoint
from carmind.signals.errors import SignalError

log = logging.getLogger(__name__)

TELEMETRY: Final[dict[str, float]] = {
    "Vehicle.Speed": 1.0,
    "Vehicle.IsMoving": 0.0,
    "Vehicle.CurrentLocation.Latitude": 2.0,
    "Vehicle.CurrentLocation.Longitude": 2.0,
    "Vehicle.CurrentLocation.Heading": 2.0,
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current": 30.0,
    "Vehicle.Powertrain.Range": 30.0,
    "Vehicle.Powertrain.TractionBattery.Charging.IsCharging": 0.0,
    "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit": 0.0,
    "Vehicle.Powertrain.TractionBattery.Charging.TimeToComplete": 60.0,
    "Vehicle.Cabin.Door.*.*.IsLocked": 0.0,
    "Vehicle.Cabin.Door.*.*.IsOpen": 0.0,
    "Vehicle.Cabin.Door.*.*.Window.Position": 2.0,
    "Vehicle.Body.Trunk.*.IsOpen": 0.0,
    "Vehicle.Cabin.HVAC.IsAirConditioningActive": 0.0,
    "Vehicle.Cabin.HVAC.Station.*.*.Temperature": 0.0,
    "Vehicle.Cabin.HVAC.AmbientAirTemperature": 30.0,
    "Vehicle.Exterior.AirTemperature": 60.0,
    "Vehicle.TraveledDistance": 30.0,
}
"""Signals sent to the cloud and their minimum interval in seconds: position and speed often
enough for a live map (1-2 s), slow physical quantities (charge, temperatures, odometer) at the
rate they meaningfully change, states a user acts on (locks, doors, charging) at once. Patterns
this car's catalog lacks are skipped."""
SESSION_EXPIRY_S: Final = 24 * 3600
"""The broker keeps the car's session (subscription, queued commands) for a day offline; commands
expire within 10 minutes anyway, so a longer session would only hold stale ones."""
RECONNECT_MIN_S: Final = 0.5
RECONNECT_MAX_S: Final = 60.0
"""Backoff between connection attempts doubles from 0.5 s to at most a minute (with jitter), so
a fleet does not reconnect in lockstep after a broker restart."""
SEND_WINDOW: Final = 256
"""Messages handed to the MQTT client ahead of their PUBACK: keeps a long round trip busy."""
RESEND_AFTER_S: Final = 10.0
"""A message sent this long ago and not acknowledged by the cloud is sent again (with all that
followed it), so a cloud that lost its subscription in a broker crash gets it once it is back:
several times the cloud's write delay (50 ms batches), short against a broker restart."""
RESEND_MAX_S: Final = 300.0
"""While resends bring no ack (the cloud is down), the wait between them doubles up to this."""
MAX_INFLIGHT: Final = 20
"""QoS 1 messages unacknowledged on the wire: Mosquitto's default receive maximum."""
PUBLISH_TIMEOUT_S: Final = 30.0
"""A PUBACK that has not come by then means the connection is dead: reconnect and resend."""
STATUS_ONLINE: Final = b"online"
STATUS_OFFLINE: Final = b"offline"


@dataclass(slots=True)
class LinkStats:
    """What the link has done since it was created."""

    connects: int = 0
    disconnects: int = 0
    telemetry_batches: int = 0
    telemetry_points: int = 0
    events: int = 0
    published: int = 0
    """Messages handed to the broker, resends included."""
    resent: int = 0
    """Of those, sent again because the cloud had not acknowledged them."""
    acked: int = 0
    """Messages the cloud acknowledged (deleted from the outbox)."""
    acks: int = 0
    """`Ack` messages received from the cloud."""
    commands: int = 0
    commands_executed: int = 0
    commands_refused: int = 0
    pairing_requests: int = 0
    """Well-formed pairing requests received over the link."""
    pairing_enrolled: int = 0
    pairing_refused: int = 0
    """Of those, refused: no pairing window, wrong proof (a wrong code), bad key, ..."""
    malformed: int = 0
    oversized: int = 0
    unknown_topic: int = 0
    queued: int = 0
    """Messages in the outbox not yet acknowledged by the cloud (updated as the link works)."""
    connected: bool = False


class VehicleLink:
    """Connects one car's hub to the cloud. `run()` until `stop()`; see the module doc."""

    def __init__(
        self,
        client: Client,
        mqtt_url: str,
        vin: str,
        data_dir: str | Path,
        *,
        telemetry: Mapping[str, float] | None = None,
        intervals: Mapping[str, float] | None = None,
        keychain: Keychain | None = None,
        executor: Executor | None = None,
        ca_file: str | Path | None = None,
        max_rows: int = MAX_ROWS,
        max_bytes: int = MAX_BYTES,
        reconnect_min_s: float = RECONNECT_MIN_S,
        reconnect_max_s: float = RECONNECT_MAX_S,
        resend_after_s: float = RESEND_AFTER_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`telemetry`: the signals to send and their minimum intervals (default `TELEMETRY`);
        `intervals`: overrides of the intervals of some of them (pattern or path: seconds)."""
        self.client = client
        self.settings = parse_url(mqtt_url, ca_file=ca_file)
        self.vin = vin
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.keychain = keychain or Keychain(self.data_dir, vin)
        self.executor = executor or Executor(client)
        self.clock = clock
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.resend_after_s = resend_after_s
        self.stats = LinkStats()
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._outbox: Outbox | None = None
        self._intervals = self._resolve(telemetry, intervals)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_sent: dict[str, tuple[float, object]] = {}

    # ------------------------------------------------------------------ public API

    @property
    def outbox(self) -> Outbox:
        """The on-disk outbox (opened on first use; `run()` closes it when it ends)."""
        if self._outbox is None:
            self._outbox = Outbox(
                self.data_dir / "outbox.sqlite", max_rows=self._max_rows, max_bytes=self._max_bytes
            )
            self.stats.queued = self._outbox.rows
        return self._outbox

    @property
    def telemetry_paths(self) -> dict[str, float]:
        """The signals sent and their minimum interval (s)."""
        return dict(self._intervals)

    def emit_event(self, kind: EventKind, data: Mapping[str, Any] | None = None) -> int:
        """Queue an event for the cloud; returns its seq."""
        now = self.clock()
        payload = dict(data or {})

        def build(seq: int) -> bytes:
            event = Event(vin=self.vin, seq=seq, ts=now, kind=kind, data=payload)
            return event.model_dump_json().encode("utf-8")

        seq = self._put(Stream.EVENTS, build)
        self.stats.events += 1
        return seq

    def start_pairing(self) -> str:
        """Open a pairing window; the 6-digit code is to be shown in the car."""
        return self.keychain.start_pairing(self.clock())

    def enroll(self, code: str, public_pem: str, name: str) -> str:
        """Enrol a phone key with the code shown in the car; tells the cloud (key_enrolled)."""
        key_id = self.keychain.enroll(code, public_pem, name, self.clock())
        self.emit_event(EventKind.KEY_ENROLLED, {"key_id": key_id, "name": name})
        return key_id

    def handle_pairing(self, request: PairingRequest) -> tuple[ResultStatus, str]:
        """Enrol the key of a pairing request that came over the link, or refuse it; the answer
        (a `CommandResult` with the request's id) is queued for the cloud."""
        now = self.clock()
        status, reason = ResultStatus.REFUSED, ""
        if request.vin != self.vin:
            reason = f"pairing request is for VIN {request.vin}, this car is {self.vin}"
        elif now > request.expires_at + self.keychain.skew_s:
            status = ResultStatus.EXPIRED
            reason = f"pairing request expired {now - request.expires_at:.0f} s ago"
        else:
            try:
                key_id = self.keychain.enroll_with_proof(
                    request.proof, request.public_pem, request.name, request.id, now
                )
            except KeychainError as exc:
                reason = str(exc)
            else:
                status, reason = ResultStatus.EXECUTED, f"key {key_id} enrolled as {request.name}"
                self.emit_event(
                    EventKind.KEY_ENROLLED,
                    {"key_id": key_id, "name": request.name, "request": request.id},
                )
        if status is not ResultStatus.EXECUTED:
            log.warning("pairing request %s refused: %s", request.id, reason)
        self._result(request.id, status, reason, now)
        return status, reason

    def revoke(self, key_id: str) -> None:
        """Revoke a phone key (from the car only); tells the cloud (key_revoked)."""
        key = self.keychain.revoke(key_id, self.clock())
        self.emit_event(EventKind.KEY_REVOKED, {"key_id": key_id, "name": key.name})

    def stop(self) -> None:
        """Ask `run()` to say `offline`, disconnect and return."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Sample, send and receive until `stop()` (also one that came before the run started);
        reconnects on its own."""
        sampler = asyncio.create_task(self._sample(), name=f"link-sample-{self.vin}")
        delay = self.reconnect_min_s
        try:
            while not self._stopping.is_set():
                try:
                    await self._session()
                    delay = self.reconnect_min_s
                except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
                    if self.stats.connected:
                        delay = self.reconnect_min_s
                    log.info("link to %s down: %s", self.settings.redacted(), exc)
                finally:
                    if self.stats.connected:
                        self.stats.disconnects += 1
                    self.stats.connected = False
                if self._stopping.is_set():
                    break
                wait = delay * random.uniform(0.5, 1.0)
                delay = min(delay * 2, self.reconnect_max_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), wait)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            if self._outbox is not None:
                self.stats.queued = self._outbox.rows
                self._outbox.close()
                self._outbox = None
            self._stopping.clear()  # the link can run again

    # ------------------------------------------------------------------ connection

    async def _session(self) -> None:
        status_topic = topic(self.vin, Stream.STATUS)
        will = aiomqtt.Will(status_topic, STATUS_OFFLINE, qos=1, retain=True)
        mqtt = make_client(
            self.settings,
            identifier=self.vin,
            will=will,
            persistent=True,
            session_expiry_s=SESSION_EXPIRY_S,
            max_inflight=MAX_INFLIGHT,
        )
        # the send window keeps this many publish calls pending by design: no warning for it
        mqtt.pending_calls_threshold = SEND_WINDOW + MAX_INFLIGHT
        async with mqtt:
            no_delay(mqtt)
            self.stats.connected = True
            self.stats.connects += 1
            log.info("link connected to %s as %s", self.settings.redacted(), self.vin)
            await mqtt.subscribe(
                [
                    (topic(self.vin, Stream.COMMANDS), 1),
                    (topic(self.vin, Stream.ACKS), 1),
                    (topic(self.vin, Stream.PAIRING), 1),
                ]
            )
            await mqtt.publish(status_topic, STATUS_ONLINE, qos=1, retain=True)
            tasks = [
                asyncio.create_task(self._send(mqtt)),
                asyncio.create_task(self._receive(mqtt)),
                asyncio.create_task(self._stopping.wait()),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    raise error
            # stopping: say goodbye (a clean disconnect suppresses the will)
            await mqtt.publish(status_topic, STATUS_OFFLINE, qos=1, retain=True, timeout=5.0)

    async def _send(self, mqtt: aiomqtt.Client) -> None:
        """Stream the outbox to the broker in order, from its oldest message (what an earlier
        connection sent may not have reached the cloud); send again what the cloud leaves
        unacknowledged for `resend_after_s`. Deleting is `_ack`'s job."""
        outbox = self.outbox
        loop = asyncio.get_running_loop()
        publishing: deque[asyncio.Task[None]] = deque()
        sent: deque[tuple[int, float]] = deque()
        """(row id, when) of what this connection sent, oldest first; entries below the
        outbox's first row are acknowledged and trimmed, so its length bounds what is out."""
        cursor = 0
        resend_after = self.resend_after_s
        acked = self.stats.acked
        resending = 0
        wake: asyncio.Task[bool] | None = None
        try:
            while True:
                self._wake.clear()
                while publishing and publishing[0].done():
                    publishing.popleft().result()  # a failed publish ends the session
                now = loop.time()
                first = outbox.first_id()
                while sent and (first is None or sent[0][0] < first):
                    sent.popleft()
                if self.stats.acked != acked:  # the cloud answers: back to the short wait
                    acked = self.stats.acked
                    resend_after = self.resend_after_s
                if sent and now - sent[0][1] >= resend_after:
                    log.info(
                        "no ack from the cloud for %.0f s: sending %d messages again",
                        now - sent[0][1],
                        len(sent),
                    )
                    resending = sent[-1][0]
                    cursor = sent[0][0] - 1
                    sent.clear()
                    resend_after = min(resend_after * 2, RESEND_MAX_S)
                room = min(SEND_WINDOW - len(publishing), outbox.window - len(sent))
                if room > 0:
                    for row in outbox.after(cursor, room):
                        publishing.append(
                            asyncio.create_task(
                                mqtt.publish(
                                    topic(self.vin, row.stream),
                                    row.payload,
                                    qos=1,
                                    timeout=PUBLISH_TIMEOUT_S,
                                )
                            )
                        )
                        sent.append((row.id, now))
                        cursor = row.id
                        self.stats.published += 1
                        if row.id <= resending:
                            self.stats.resent += 1
                if len(publishing) >= SEND_WINDOW:
                    # refill in steps of a quarter window, not one read per PUBACK; raises when
                    # the connection fails (the session ends)
                    await publishing[SEND_WINDOW // 4 - 1]
                    continue
                # wait for a new message, an ack, a PUBACK or the oldest message's resend time
                if wake is None or wake.done():
                    wake = asyncio.create_task(self._wake.wait())
                waiting: list[asyncio.Future[Any]] = [wake]
                if publishing:
                    waiting.append(publishing[0])
                timeout = max(0.0, sent[0][1] + resend_after - now) if sent else None
                await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if wake is not None:
                wake.cancel()
            for task in publishing:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: the session's own error says it all
                task.cancel()

    async def _receive(self, mqtt: aiomqtt.Client) -> None:
        async for message in mqtt.messages:
            try:
                self._handle(str(message.topic), message.payload)
            except Exception:  # a bug must not take the link down; it is logged with its cause
                log.exception("handling a message on %s failed", message.topic)

    # ------------------------------------------------------------------ commands

    def _handle(self, name: str, payload: object) -> None:
        parsed = parse_topic(name)
        if (
            parsed is None
            or parsed[0] != self.vin
            or parsed[1] not in (Stream.COMMANDS, Stream.ACKS, Stream.PAIRING)
        ):
            self.stats.unknown_topic += 1
            log.warning("message on unexpected topic %r ignored", name)
            return
        if not isinstance(payload, bytes | bytearray):
            self.stats.malformed += 1
            log.warning("command with a non-binary payload ignored")
            return
        if len(payload) > MAX_PAYLOAD_BYTES:
            self.stats.oversized += 1
            log.warning("command of %d bytes refused unread", len(payload))
            return
        if parsed[1] is Stream.ACKS:
            self._ack(payload)
            return
        if parsed[1] is Stream.PAIRING:
            self._pairing(payload)
            return
        try:
            command = Command.model_validate_json(payload)
        except ValidationError as exc:
            self.stats.malformed += 1
            log.warning("malformed command ignored: %s", exc.errors()[0].get("msg", exc))
            return
        self.stats.commands += 1
        status, _ = self.handle_command(command)
        if status is ResultStatus.EXECUTED:
            self.stats.commands_executed += 1
        else:
            self.stats.commands_refused += 1

    def _pairing(self, payload: bytes | bytearray) -> None:
        try:
            request = PairingRequest.model_validate_json(payload)
        except ValidationError as exc:
            self.stats.malformed += 1
            log.warning("malformed pairing request ignored: %s", exc.errors()[0].get("msg", exc))
            return
        self.stats.pairing_requests += 1
        status, _ = self.handle_pairing(request)
        if status is ResultStatus.EXECUTED:
            self.stats.pairing_enrolled += 1
        else:
            self.stats.pairing_refused += 1

    def _ack(self, payload: bytes | bytearray) -> None:
        """The cloud committed these messages: delete them from the outbox."""
        try:
            ack = Ack.model_validate_json(payload)
        except ValidationError as exc:
            self.stats.malformed += 1
            log.warning("malformed ack ignored: %s", exc.errors()[0].get("msg", exc))
            return
        if ack.vin != self.vin:
            self.stats.malformed += 1
            log.warning("ack for %s on this car's topic ignored", ack.vin)
            return
        self.stats.acks += 1
        removed = self.outbox.ack(Stream(ack.stream), ack.ranges)
        if removed:
            self.stats.acked += removed
            self.stats.queued = self.outbox.rows
            self._wake.set()  # room in the window

    def handle_command(self, command: Command) -> tuple[ResultStatus, str]:
        """Verify, execute and answer one command (the result is queued for the cloud)."""
        now = self.clock()
        part = command.signed
        try:
            self.keychain.verify(command, now)
        except CommandRefused as exc:
            status, reason = exc.status, exc.reason
            self.emit_event(
                EventKind.COMMAND_REFUSED,
                {
                    "id": part.id,
                    "key_id": command.key_id,
                    "name": part.name.value,
                    "reason": reason,
                },
            )
        else:
            # commands over MQTT are remote whatever their `source` says (it is not signed)
            status, reason = self.executor.execute(part.name, part.params, "cloud", now)
        self._result(part.id, status, reason, now)
        return status, reason

    def _result(self, command_id: str, status: ResultStatus, reason: str, now: float) -> None:
        def build(seq: int) -> bytes:
            result = CommandResult(
                id=command_id, vin=self.vin, seq=seq, status=status, reason=reason, at=now
            )
            return result.model_dump_json().encode("utf-8")

        self._put(Stream.RESULTS, build)

    def _put(self, stream: Stream, build: Callable[[int], bytes]) -> int:
        seq = self.outbox.put(stream, build)
        self.stats.queued = self.outbox.rows
        self._wake.set()
        return seq

    # ------------------------------------------------------------------ telemetry

    def _resolve(
        self, telemetry: Mapping[str, float] | None, overrides: Mapping[str, float] | None
    ) -> dict[str, float]:
        """Each telemetry path with its interval; the later pattern wins where two match."""
        chosen = dict(TELEMETRY if telemetry is None else telemetry)
        chosen.update(overrides or {})
        paths: dict[str, float] = {}
        for pattern, interval in chosen.items():
            if interval < 0:
                raise ValueError(f"telemetry interval of {pattern} must be >= 0, got {interval}")
            try:
                signals = self.client.metadata(pattern)
            except SignalError:
                if telemetry is None and pattern in TELEMETRY:
                    log.debug("telemetry signal %s not in this car's catalog", pattern)
                    continue
                raise
            for signal in signals:
                paths[signal.path] = interval
        return paths

    async def _sample(self) -> None:
        """Turn hub updates into telemetry batches, each signal at most once per interval."""
        if not self._intervals:
            return
        sub = self.client.subscribe(list(self._intervals))
        pending: dict[str, Datapoint] = {}
        last = self._last_sent
        intervals = self._intervals
        loop = asyncio.get_running_loop()
        try:
            while True:
                timeout: float | None = None
                if pending:
                    now = loop.time()
                    timeout = max(
                        0.0,
                        min(last.get(p, (-1e18, None))[0] + intervals[p] for p in pending) - now,
                    )
                try:
                    batch = await asyncio.wait_for(sub.next_batch(), timeout)
                except TimeoutError:
                    batch = {}
                except StopAsyncIteration:
                    return
                for path, datapoint in batch.items():
                    if not isinstance(datapoint.value, bool | int | float | str | None):
                        continue  # arrays do not fit a telemetry point
                    sent = last.get(path)
                    if sent is not None and sent[1] == datapoint.value:
                        pending.pop(path, None)  # back to what the cloud already has
                    else:
                        pending[path] = datapoint
                now = loop.time()
                due = [p for p in pending if now >= last.get(p, (-1e18, None))[0] + intervals[p]]
                if due:
                    points = [
                        Point(path=p, value=pending[p].value, ts=pending[p].timestamp) for p in due
                    ]
                    for p in due:
                        last[p] = (now, pending.pop(p).value)
                    self._telemetry(points)
        finally:
            sub.close()

    def _telemetry(self, points: list[Point]) -> None:
        sent_at = self.clock()

        def build(seq: int) -> bytes:
            batch = TelemetryBatch(vin=self.vin, seq=seq, sent_at=sent_at, points=tuple(points))
            return batch.model_dump_json().encode("utf-8")

        self._put(Stream.TELEMETRY, build)
        self.stats.telemetry_batches += 1
        self.stats.telemetry_points += len(points)


__all__ = ["TELEMETRY", "LinkStats", "VehicleLink"]
