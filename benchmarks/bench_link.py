"""The vehicle link with a large offline backlog: memory and replay throughput.

- Backlog: 200,000 telemetry batches (5 points each, ~600 bytes) queued on disk while offline,
  as after days in a garage without coverage (written in transactions of 1,000; the link's own
  rate, one fsync'd transaction per batch, is measured separately on 2,000 batches).
- Memory: resident set size of the process while a `VehicleLink` replays the whole backlog,
  above the RSS before the link started (sampled every 10 ms; the peak is reported). Peer: the
  payload bytes an in-memory queue would hold for the same backlog.
- Replay: from `run()` to an empty outbox: every batch PUBACKed by a local Mosquitto, received
  by a subscriber that plays the cloud's part and acknowledged end to end by it (an `Ack` of
  ranges of seqs every 1,000 messages or 20 ms, as the cloud acks a committed write batch), and
  deleted by the link on that ack. Baseline in the same run: the same payloads published from
  memory by one aiomqtt client with the same in-flight window and no outbox (the wire's ceiling
  here; the subscriber acks them too, and nobody listens); the ratio is the cost of
  store-and-forward with end-to-end acknowledgement. The subscriber is another process (this
  script with `--acker`, a paho client), so acking costs the measured process nothing but
  handling the acks.

Needs the `mosquitto` program (started privately on a free port).
Targets (issue 6): peak RSS growth < 50 MiB with 200k queued; store and forward costs at most
20 % of the wire's rate (link / baseline >= 0.8).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import paho.mqtt.client as paho
from common import report
from paho.mqtt.enums import CallbackAPIVersion

from carmind.connect.link import MAX_INFLIGHT, SEND_WINDOW, VehicleLink
from carmind.connect.mqtt import make_client, parse_url
from carmind.connect.protocol import Stream, TelemetryBatch, seq_ranges, topic
from carmind.connect.queue import ACK_WINDOW, Outbox
from carmind.signals.broker import Broker
from carmind.signals.catalog import default_catalog

VIN = "WCARM1ND0BENCH001"
BACKLOG = 200_000
SINGLE = 2_000
CHUNK = 1_000
ACK_EVERY = 1_000
ACK_EVERY_S = 0.02
PATHS = (
    "Vehicle.Speed",
    "Vehicle.CurrentLocation.Latitude",
    "Vehicle.CurrentLocation.Longitude",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
    "Vehicle.Powertrain.Range",
)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def payload(seq: int) -> bytes:
    ts = 1_750_000_000.0 + seq
    points = [{"path": p, "value": float(seq % 200) + i, "ts": ts} for i, p in enumerate(PATHS)]
    batch = TelemetryBatch.model_validate({"vin": VIN, "seq": seq, "sent_at": ts, "points": points})
    return batch.model_dump_json().encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\n"
        "log_dest none\n"
    )
    process = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"mqtt://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start") from None
            time.sleep(0.05)


class Acker:
    """The cloud's part in its own process (this script with `--acker`): receives telemetry,
    acknowledges it end to end in ranges, and exits after `n` distinct batches."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.count = 0
        self._process: subprocess.Popen[bytes] | None = None

    def expect(self, n: int) -> None:
        settings = parse_url(self.url)
        self.count = 0
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--acker", settings.host, str(settings.port), str(n)],
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        self._process.stdout.readline()  # "subscribed"

    def wait(self, timeout: float) -> int:
        assert self._process is not None
        out, _ = self._process.communicate(timeout=timeout)
        self.count = int(out.split()[-1])
        return self.count

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def acker(host: str, port: int, n: int) -> None:
    """Subscribe to the car's telemetry, ack what arrived every `ACK_EVERY` messages or
    `ACK_EVERY_S`, print the number of distinct seqs received once it reaches `n`."""
    seen: set[int] = set()
    pending: list[int] = []
    ack_topic = topic(VIN, Stream.ACKS)

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        seq = json.loads(message.payload)["seq"]
        seen.add(seq)
        pending.append(seq)

    def flush() -> None:
        if pending:
            ack = {"v": 1, "vin": VIN, "stream": "telemetry", "ranges": seq_ranges(pending)}
            client.publish(ack_topic, json.dumps(ack, separators=(",", ":")), qos=1)
            pending.clear()

    subscribed = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"acker-{time.time_ns()}")
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.append(True)
    client.connect(host, port)
    client.subscribe(topic(VIN, Stream.TELEMETRY), qos=1)
    while not subscribed:
        client.loop(0.1)
    print("subscribed", flush=True)
    last = time.monotonic()
    while len(seen) < n:
        client.loop(ACK_EVERY_S)
        if len(pending) >= ACK_EVERY or time.monotonic() - last >= ACK_EVERY_S:
            flush()
            last = time.monotonic()
    flush()
    for _ in range(20):  # hand the last acks to the broker
        client.loop(0.01)
    client.disconnect()
    print(len(seen), flush=True)


async def replay(url: str, data_dir: Path, counter: Acker) -> tuple[float, int, int]:
    """Seconds to drain the backlog, peak RSS growth, messages counted by the subscriber."""
    broker = Broker(default_catalog())
    client = broker.client("bench")
    counter.expect(BACKLOG)
    baseline = rss_bytes()
    peak = baseline
    link = VehicleLink(client, url, VIN, data_dir, telemetry={})
    start = time.perf_counter()
    task = asyncio.create_task(link.run())
    while link.stats.queued > 0 or not link.stats.acked:
        peak = max(peak, rss_bytes())
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    link.stop()
    await task
    return elapsed, peak - baseline, await asyncio.to_thread(counter.wait, 60)


async def raw_publish(url: str, payloads: list[bytes], counter: Acker) -> float:
    """The same payloads from memory, windowed like the link, no outbox."""
    counter.expect(len(payloads))
    name = topic(VIN, Stream.TELEMETRY)
    client = make_client(parse_url(url), max_inflight=MAX_INFLIGHT)
    client.pending_calls_threshold = SEND_WINDOW + MAX_INFLIGHT
    async with client as mqtt:
        start = time.perf_counter()
        pending: list[asyncio.Task[None]] = []
        for data in payloads:
            pending.append(asyncio.create_task(mqtt.publish(name, data, qos=1, timeout=60)))
            if len(pending) >= SEND_WINDOW:
                await pending[0]
                pending = [t for t in pending if not t.done()]
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - start
    await asyncio.to_thread(counter.wait, 60)
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = work / "car"
        data_dir.mkdir()
        outbox = Outbox(data_dir / "outbox.sqlite")
        start = time.perf_counter()
        for _ in range(SINGLE):
            outbox.put(Stream.TELEMETRY, payload)
        single_rate = SINGLE / (time.perf_counter() - start)
        outbox.ack(Stream.TELEMETRY, [(0, SINGLE - 1)])
        start = time.perf_counter()
        payload_bytes = 0
        for _ in range(0, BACKLOG, CHUNK):
            outbox.put_many(Stream.TELEMETRY, [payload] * CHUNK)
        bulk_rate = BACKLOG / (time.perf_counter() - start)
        payload_bytes = outbox.bytes
        disk = sum(f.stat().st_size for f in data_dir.iterdir())
        outbox.close()

        process, url = start_mosquitto(work)
        counter = Acker(url)
        try:
            elapsed, rss_growth, received = asyncio.run(replay(url, data_dir, counter))
            payloads = [payload(i) for i in range(BACKLOG)]
            raw_s = asyncio.run(raw_publish(url, payloads, counter))
            raw_received = counter.count
        finally:
            counter.close()
            process.kill()
            process.wait()

    link_rate = BACKLOG / elapsed
    raw_rate = BACKLOG / raw_s
    mib = 1024 * 1024
    rows = [
        {"metric": "backlog", "value": BACKLOG, "unit": "batches", "target": None, "met": None},
        {"metric": "backlog on disk", "value": disk / mib, "unit": "MiB", "target": None},
        {"metric": "payload bytes (an in-memory queue)", "value": payload_bytes / mib,
         "unit": "MiB", "target": None, "met": None},
        {"metric": "peak RSS growth while replaying", "value": rss_growth / mib, "unit": "MiB",
         "target": "< 50", "met": rss_growth < 50 * mib},
        {"metric": "enqueue, one fsync'd transaction per batch", "value": single_rate,
         "unit": "batches/s", "target": None, "met": None},
        {"metric": "enqueue, 1,000 per transaction", "value": bulk_rate, "unit": "batches/s",
         "target": None, "met": None},
        {"metric": "replay through the link (outbox, cloud's ack, delete)", "value": link_rate,
         "unit": "batches/s", "target": None, "met": None},
        {"metric": "baseline: same payloads from memory, no outbox", "value": raw_rate,
         "unit": "batches/s", "target": None, "met": None},
        {"metric": "link / baseline", "value": link_rate / raw_rate, "unit": "ratio",
         "target": ">= 0.8", "met": link_rate / raw_rate >= 0.8},
        {"metric": "received by the subscriber (link)", "value": received, "unit": "messages",
         "target": f"{BACKLOG:,}", "met": received == BACKLOG},
        {"metric": "received by the subscriber (baseline)", "value": raw_received,
         "unit": "messages", "target": f"{BACKLOG:,}", "met": raw_received == BACKLOG},
    ]  # fmt: skip
    report(
        "link",
        rows,
        notes=(
            f"window {SEND_WINDOW} ahead of PUBACK, {MAX_INFLIGHT} in flight, {ACK_WINDOW:,} "
            f"ahead of the cloud's ack; acks every {ACK_EVERY:,} messages or "
            f"{ACK_EVERY_S * 1000:.0f} ms; local Mosquitto; SQLite WAL, synchronous=FULL"
        ),
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--acker"]:
        acker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        sys.exit(0)
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        sys.exit("bench_link needs the mosquitto program")
    main()
