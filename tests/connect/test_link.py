"""The vehicle link: the on-disk outbox, and the link end to end over a real Mosquitto that the
tests kill and restart while the car streams telemetry and takes signed commands."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from carmind.config import load_config
from carmind.connect.keychain import generate_key, sign_command
from carmind.connect.link import VehicleLink
from carmind.connect.mqtt import MqttUrlError, parse_url
from carmind.connect.protocol import (
    Ack,
    CommandName,
    Event,
    EventKind,
    ResultStatus,
    SignedPart,
    Stream,
    TelemetryBatch,
    seq_ranges,
    topic,
)
from carmind.connect.queue import Outbox
from carmind.vehicle.session import CarSession

from .conftest import Broker

VIN = "WCARM1ND000000007"
SPEED = "Vehicle.Speed"


# ---------------------------------------------------------------------------- the outbox


def batch(seq: int, values: dict[str, float], ts: float) -> bytes:
    points = [{"path": p, "value": v, "ts": ts} for p, v in values.items()]
    return (
        TelemetryBatch.model_validate({"vin": VIN, "seq": seq, "sent_at": ts, "points": points})
        .model_dump_json()
        .encode()
    )


def event(seq: int) -> bytes:
    return Event(vin=VIN, seq=seq, ts=1.0, kind=EventKind.KEY_ENROLLED).model_dump_json().encode()


def telemetry(speed: float, ts: float) -> Callable[[int], bytes]:
    return telemetry_of({SPEED: speed}, ts)


def telemetry_of(values: dict[str, float], ts: float) -> Callable[[int], bytes]:
    return lambda seq: batch(seq, values, ts)


def test_outbox_keeps_order_removes_acked_and_survives_a_restart(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    assert outbox.put_many(Stream.TELEMETRY, [telemetry(i, i) for i in range(5)]) == [0, 1, 2, 3, 4]
    assert outbox.put(Stream.EVENTS, event) == 0
    assert outbox.put(Stream.TELEMETRY, telemetry(5, 5)) == 5
    rows = outbox.after(0, 100)
    assert [(r.stream, r.seq) for r in rows] == [
        *((Stream.TELEMETRY, i) for i in range(5)),
        (Stream.EVENTS, 0),
        (Stream.TELEMETRY, 5),
    ]
    assert [r.seq for r in outbox.after(rows[2].id, 2)] == [3, 4]
    assert outbox.first_id() == rows[0].id
    assert outbox.ack(Stream.TELEMETRY, [(0, 1), (0, 0)]) == 2  # the cloud's ranges of seqs
    assert outbox.ack(Stream.EVENTS, [(5, 9)]) == 0  # another stream's seqs: nothing
    assert len(outbox) == 5 and outbox.first_id() == rows[2].id
    outbox.close()

    reopened = Outbox(tmp_path / "outbox.sqlite")  # the car restarts
    assert len(reopened) == 5
    assert reopened.bytes == sum(len(r.payload) for r in rows[2:])
    assert [r.seq for r in reopened.after(0, 100)] == [2, 3, 4, 0, 5]
    assert reopened.put(Stream.TELEMETRY, telemetry(6, 6)) == 6  # seq goes on growing
    assert reopened.put(Stream.EVENTS, event) == 1
    reopened.ack(Stream.TELEMETRY, [(0, 6)])
    reopened.ack(Stream.EVENTS, [(0, 1)])
    assert len(reopened) == 0 and reopened.bytes == 0 and reopened.first_id() is None
    assert reopened.put(Stream.TELEMETRY, telemetry(7, 7)) == 7  # even when emptied


def test_a_full_outbox_summarises_old_telemetry_and_keeps_every_event(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", max_rows=50)
    for i in range(300):
        values = {SPEED: float(i), "Vehicle.Powertrain.Range": 1000.0 - i}
        if i % 7 == 0:
            values["Vehicle.TraveledDistance"] = float(i)
        outbox.put(Stream.TELEMETRY, telemetry_of(values, float(i)))
        if i % 30 == 0:
            outbox.put(Stream.EVENTS, event)
    rows = outbox.after(0, 1000)
    assert len(outbox) == len(rows) <= 50
    assert outbox.summaries >= 1
    events = [r.seq for r in rows if r.stream is Stream.EVENTS]
    assert events == list(range(10))  # never summarised or dropped
    batches = [
        TelemetryBatch.model_validate_json(r.payload) for r in rows if r.stream is Stream.TELEMETRY
    ]
    seqs = [b.seq for b in batches]
    assert seqs == sorted(seqs) and seqs[-1] == 299
    # every original batch is accounted for: summaries count what they stand for
    assert sum(b.summarized or 1 for b in batches) == 300
    summary = next(b for b in batches if b.summarized)
    latest = {p.path: p.value for p in summary.points}
    assert latest["Vehicle.Powertrain.Range"] == 1000.0 - summary.seq
    assert latest[SPEED] == float(summary.seq)
    assert "Vehicle.TraveledDistance" in latest


def test_summarising_leaves_the_messages_that_may_be_in_flight_alone(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", max_rows=40, window=10)
    outbox.put_many(Stream.TELEMETRY, [telemetry(float(i), float(i)) for i in range(10)])
    originals = [(r.seq, r.payload) for r in outbox.after(0, 10)]
    for i in range(10, 200):
        outbox.put(Stream.TELEMETRY, telemetry(float(i), float(i)))
    rows = outbox.after(0, 1000)
    assert len(rows) <= 40 and outbox.summaries >= 1
    # the oldest `window` batches are untouched (the cloud may hold them and ack their seqs)
    assert [(r.seq, r.payload) for r in rows[:10]] == originals
    summaries = [TelemetryBatch.model_validate_json(r.payload) for r in rows[10:]]
    assert sum(b.summarized or 1 for b in summaries) == 190


def test_events_alone_may_exceed_the_bound(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", max_rows=10)
    outbox.put_many(Stream.EVENTS, [event] * 25)
    assert len(outbox) == 25


def test_outbox_refuses_silly_bounds(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_rows"):
        Outbox(tmp_path / "o.sqlite", max_rows=1)


def test_mqtt_urls() -> None:
    s = parse_url("mqtts://car%40fleet:p%2Fw@broker.example?protocol=3.1.1")
    assert (s.host, s.port, s.tls, s.username, s.password, s.v5) == (
        "broker.example",
        8883,
        True,
        "car@fleet",
        "p/w",
        False,
    )
    assert parse_url("mqtt://127.0.0.1:1884").v5
    assert "p/w" not in s.redacted()
    for bad, why in [
        ("http://x", "scheme"),
        ("mqtt://", "no host"),
        ("mqtt://x?protocol=4", "protocol '4'"),
        ("mqtt://x?qos=2", "unknown option"),
        ("mqtt://x?ca=/etc/hosts", "needs mqtts"),
        ("mqtts://x?ca=/no/such/file", "does not exist"),
    ]:
        with pytest.raises(MqttUrlError, match=why):
            parse_url(bad)


# ---------------------------------------------------------------------------- end to end


class Collector:
    """The cloud's side, as a test sees it: a paho client on its own thread that keeps every
    message of the car by (stream, seq), dropping repeats, as the cloud does, and, while
    `acking`, acknowledges each one (repeats too) as the cloud does once it has stored it."""

    def __init__(self, url: str, *, acking: bool = True) -> None:
        settings = parse_url(url)
        self.host, self.port = settings.host, settings.port
        self.acking = acking
        self.messages: dict[tuple[str, int], dict[str, object]] = {}
        self.duplicates = 0
        self.status: list[str] = []
        self._lock = threading.Lock()
        self._client: paho.Client | None = None

    def connect(self) -> None:
        """Connect and subscribe, blocking (the test's event loop with it) until subscribed."""
        subscribed = threading.Event()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"collector-{time.time_ns()}")
        client.on_message = self._on_message
        client.on_subscribe = lambda *args: subscribed.set()
        client.connect(self.host, self.port)
        client.subscribe(f"carmind/v1/{VIN}/#", qos=1)
        client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("collector could not subscribe")
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def publish(self, stream: Stream, payload: bytes) -> None:
        assert self._client is not None
        self._client.publish(topic(VIN, stream), payload, qos=1).wait_for_publish(5)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        stream = msg.topic.rsplit("/", 1)[-1]
        if stream == Stream.STATUS:
            self.status.append(msg.payload.decode())
            return
        if stream in (Stream.COMMANDS, Stream.ACKS):
            return
        data = json.loads(msg.payload)
        with self._lock:
            key = (stream, int(data["seq"]))
            if key in self.messages:
                self.duplicates += 1
            self.messages[key] = data
        if self.acking:
            self.ack(Stream(stream), [key[1]])

    def ack(self, stream: Stream, seqs: list[int]) -> None:
        """Acknowledge `seqs` of `stream` to the car (not waiting: the paho thread publishes)."""
        assert self._client is not None
        ack = Ack.model_validate({"vin": VIN, "stream": stream.value, "ranges": seq_ranges(seqs)})
        self._client.publish(topic(VIN, Stream.ACKS), ack.model_dump_json().encode(), qos=1)

    def ack_raw(self, payload: bytes) -> None:
        assert self._client is not None
        self._client.publish(topic(VIN, Stream.ACKS), payload, qos=1).wait_for_publish(5)

    def seqs(self, stream: Stream) -> set[int]:
        with self._lock:
            return {seq for s, seq in self.messages if s == stream.value}

    def results(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {
                str(d["id"]): d for (s, _), d in self.messages.items() if s == Stream.RESULTS.value
            }


async def until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)


def make_link(session: CarSession, url: str, data_dir: Path) -> VehicleLink:
    return VehicleLink(
        session.client,
        url,
        VIN,
        data_dir,
        telemetry={SPEED: 0.0},
        reconnect_min_s=0.2,
        reconnect_max_s=0.5,
    )


async def stop(link: VehicleLink, task: asyncio.Task[None]) -> None:
    link.stop()
    await asyncio.wait_for(task, 10)


@pytest.mark.services
async def test_every_seq_arrives_through_broker_crashes_and_car_restarts(
    private_mosquitto: Broker, tmp_path: Path
) -> None:
    session = CarSession.create(load_config(environ={}), exclude=(SPEED,))
    speed = session.broker.client("test-speed", "read provide").provide(SPEED)
    collector = Collector(private_mosquitto.url)
    collector.connect()
    produced = 0

    async def produce(seconds: float) -> None:
        nonlocal produced
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            produced += 1
            speed.publish_many({SPEED: float(produced % 250)})
            await asyncio.sleep(0.004)

    link = make_link(session, private_mosquitto.url, tmp_path / "car")
    task = asyncio.create_task(link.run())
    await until(lambda: link.stats.connected, what="the link to connect")
    await until(lambda: "online" in collector.status, what="online status")
    await produce(0.5)

    # 1. the broker crashes mid-stream; the car queues on disk; the broker comes back
    private_mosquitto.stop()
    collector.close()
    await produce(0.5)
    assert link.outbox.rows > 0  # queued while the broker was down
    private_mosquitto.start()
    collector.connect()  # blocks the loop: the collector subscribes before the car returns
    await produce(0.3)

    # 2. the car's connection is cut (the link stops) while events are raised, then resumes
    await stop(link, task)
    for _ in range(5):
        link.emit_event(EventKind.GEOFENCE_LEAVE, {"zone": "home"})
    task = asyncio.create_task(link.run())
    await produce(0.3)

    # 3. the car restarts with a backlog: broker down, telemetry queued, a new link object
    private_mosquitto.stop()
    collector.close()
    await produce(0.4)
    await stop(link, task)
    backlog = link.stats.queued
    assert backlog > 0
    link = make_link(session, private_mosquitto.url, tmp_path / "car")
    private_mosquitto.start()
    collector.connect()
    task = asyncio.create_task(link.run())
    await produce(0.3)

    await until(lambda: link.stats.queued == 0 and link.stats.connected, what="an empty outbox")
    telemetry_sent = link.outbox.next_seq(Stream.TELEMETRY)
    events_sent = link.outbox.next_seq(Stream.EVENTS)
    await until(
        lambda: len(collector.seqs(Stream.TELEMETRY)) >= telemetry_sent,
        what="every telemetry seq at the collector",
    )
    await stop(link, task)
    # the link says offline on its way out; it reaches the collector a moment later
    await until(lambda: collector.status[-1:] == ["offline"], what="the offline status")
    collector.close()

    assert telemetry_sent > 100
    assert collector.seqs(Stream.TELEMETRY) == set(range(telemetry_sent))  # none lost
    assert collector.seqs(Stream.EVENTS) == set(range(events_sent)) and events_sent == 5
    last = collector.messages[(Stream.TELEMETRY.value, telemetry_sent - 1)]
    assert last["points"][-1]["value"] == float(produced % 250)  # type: ignore[index]
    assert link.stats.connects >= 1 and collector.status[-1] == "offline"


@pytest.mark.services
async def test_a_parked_car_stays_quiet(private_mosquitto: Broker, tmp_path: Path) -> None:
    session = CarSession.create(load_config(environ={}))
    collector = Collector(private_mosquitto.url)
    collector.connect()
    link = VehicleLink(session.client, private_mosquitto.url, VIN, tmp_path)
    task = asyncio.create_task(link.run())
    await until(lambda: link.stats.telemetry_batches == 1 and link.stats.queued == 0)
    first_points = link.stats.telemetry_points
    assert first_points >= 10  # the first batch is the car's state
    for _ in range(20):
        session.advance(0.5)  # a parked car ticking: nothing changes
        await asyncio.sleep(0.02)
    assert link.stats.telemetry_batches == 1
    session.client.actuate("Vehicle.Cabin.Door.Row1.DriverSide.IsLocked", True)
    session.advance(1.0)
    await until(lambda: link.stats.telemetry_batches == 2, what="the lock to be reported")
    await stop(link, task)
    collector.close()


@pytest.mark.services
async def test_only_the_clouds_ack_empties_the_outbox_and_silence_means_resend(
    private_mosquitto: Broker, tmp_path: Path
) -> None:
    session = CarSession.create(load_config(environ={}))
    cloud = Collector(private_mosquitto.url, acking=False)  # it receives, but says nothing
    cloud.connect()
    link = VehicleLink(
        session.client, private_mosquitto.url, VIN, tmp_path, telemetry={}, resend_after_s=0.3
    )
    for i in range(3):
        link.emit_event(EventKind.GEOFENCE_ENTER, {"zone": f"z{i}"})
    task = asyncio.create_task(link.run())
    await until(lambda: cloud.seqs(Stream.EVENTS) == {0, 1, 2}, what="the events delivered")
    # the broker has them (PUBACK), the cloud has not acknowledged them: they stay on disk
    await asyncio.sleep(0.5)
    assert link.stats.queued == 3 and link.stats.acked == 0
    # unacknowledged for longer than resend_after_s: sent again, in order
    await until(lambda: link.stats.resent >= 3, what="a resend")
    assert cloud.duplicates >= 3
    # junk on the ack topic is counted and changes nothing
    cloud.ack_raw(b"{not json")
    cloud.ack_raw(b'{"v": 1, "vin": "WCARM1ND000000008", "stream": "events", "ranges": [[0, 9]]}')
    cloud.ack_raw(
        b'{"v": 1, "vin": "' + VIN.encode() + b'", "stream": "events", "ranges": [[2, 1]]}'
    )
    await until(lambda: link.stats.malformed == 3, what="bad acks counted")
    assert link.stats.queued == 3
    # an ack for some of them removes exactly those; the rest wait for theirs
    cloud.ack(Stream.EVENTS, [0, 2])
    await until(lambda: link.stats.queued == 1, what="two acknowledged")
    assert [r.seq for r in link.outbox.after(0, 10)] == [1]
    cloud.ack(Stream.EVENTS, [1])
    await until(lambda: link.stats.queued == 0, what="an empty outbox")
    assert link.stats.acked == 3
    await stop(link, task)
    cloud.close()


@pytest.mark.services
async def test_signed_commands_over_mqtt(private_mosquitto: Broker, tmp_path: Path) -> None:
    session = CarSession.create(load_config(environ={}))
    link = VehicleLink(session.client, private_mosquitto.url, VIN, tmp_path, telemetry={})
    private, pem = generate_key()
    key_id = link.enroll(link.start_pairing(), pem, "Anna's phone")
    collector = Collector(private_mosquitto.url)
    collector.connect()
    task = asyncio.create_task(link.run())
    await until(lambda: link.stats.connected)
    await until(lambda: "online" in collector.status)

    def command(cid: str, name: CommandName, counter: int, **params: object) -> SignedPart:
        return SignedPart(
            id=cid,
            vin=VIN,
            name=name,
            params=params,
            counter=counter,
            expires_at=time.time() + 60,
        )

    async def result(cid: str) -> dict[str, object]:
        await until(lambda: cid in collector.results(), what=f"the result of {cid}")
        return collector.results()[cid]

    limit = sign_command(
        private, key_id, command("cmd-limit-1", CommandName.SET_CHARGE_LIMIT, 1, percent=70)
    )
    collector.publish(Stream.COMMANDS, limit.model_dump_json().encode())
    assert (await result("cmd-limit-1"))["status"] == ResultStatus.EXECUTED
    target = session.client.get_target("Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit")
    assert target is not None and target.value == 70

    # replayed verbatim: refused, and nothing runs twice
    session.client.actuate("Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit", 90)
    collector.messages.pop((Stream.RESULTS.value, 0))
    collector.publish(Stream.COMMANDS, limit.model_dump_json().encode())
    replay = await result("cmd-limit-1")
    assert replay["status"] == ResultStatus.REFUSED and "replay" in str(replay["reason"])
    assert session.client.value("Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit") == 90

    # forged by someone without the phone's key (the cloud, say)
    forger, _ = generate_key()
    forged = sign_command(forger, key_id, command("cmd-unlock-2", CommandName.UNLOCK, 2))
    collector.publish(Stream.COMMANDS, forged.model_dump_json().encode())
    refused = await result("cmd-unlock-2")
    assert refused["status"] == ResultStatus.REFUSED and "bad signature" in str(refused["reason"])

    # the car's own rules: a charge limit of 40 % is refused with its reason
    low = sign_command(
        private, key_id, command("cmd-limit-3", CommandName.SET_CHARGE_LIMIT, 3, percent=40)
    )
    collector.publish(Stream.COMMANDS, low.model_dump_json().encode())
    assert "allowed 50 to 100" in str((await result("cmd-limit-3"))["reason"])

    # expired
    stale = command("cmd-lock-4", CommandName.LOCK, 4).model_copy(
        update={"expires_at": time.time() - 120}
    )
    collector.publish(
        Stream.COMMANDS, sign_command(private, key_id, stale).model_dump_json().encode()
    )
    assert (await result("cmd-lock-4"))["status"] == ResultStatus.EXPIRED

    # junk never crashes the link: counted, and the next command still runs
    collector.publish(Stream.COMMANDS, b"{not json")
    collector.publish(Stream.COMMANDS, b'{"v": 1, "signed": {}}')
    collector.publish(Stream.COMMANDS, b"x" * (300 * 1024))
    link._handle("carmind/v1/WCARM1ND000000008/commands", b"{}")
    lock = sign_command(private, key_id, command("cmd-lock-5", CommandName.LOCK, 5))
    collector.publish(Stream.COMMANDS, lock.model_dump_json().encode())
    assert (await result("cmd-lock-5"))["status"] == ResultStatus.EXECUTED
    assert (link.stats.malformed, link.stats.oversized, link.stats.unknown_topic) == (2, 1, 1)
    assert link.stats.commands_executed == 2 and link.stats.commands_refused == 4

    # refusals by verification are also events for the cloud; enrolment was one too
    await until(lambda: len(collector.seqs(Stream.EVENTS)) == 4, what="the events")
    kinds = sorted(str(d["kind"]) for (s, _), d in collector.messages.items() if s == "events")
    assert kinds == ["command_refused"] * 3 + ["key_enrolled"]
    await stop(link, task)
    collector.close()
