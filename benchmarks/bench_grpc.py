"""The KUKSA gRPC API: request latency and streaming throughput on loopback.

The server runs in its own process, as `carmind run` does; the clients run in this one and talk
to it over 127.0.0.1: a grpc.aio stub, and a blocking stub (grpc's C-core client, the kind
kuksa-client's VSSClient uses), whose own overhead is smaller.

- Latency: one client, one call at a time: v2 GetValue and v1 Get of one signal, 2000 calls each
  after 200 of warm-up; p50 and p99. Peer in the same run, its calls interleaved with those: v2
  GetServerInfo, which reaches the server and its authorization but not the hub, so the ratio
  shows what the hub and the value conversion cost on top of gRPC itself. The kuksa-client's aio
  `get_current_values` (v1 Get plus the client's own parsing) is shown for reference.
- Throughput: in the server process a provider publishes batches of 100 float signals on the hub
  as fast as it can (yielding to the loop after each batch); one v2 Subscribe client counts the
  datapoints it receives per second over 3 s, after 0.5 s of warm-up. A subscriber that cannot
  keep up gets the latest value per signal (coalescing), so the count is what actually reached
  it. Peer in the same run: the same publisher and one in-process subscriber on a hub in this
  process (no gRPC), the hub's own delivery rate.

Targets (issue: KUKSA gRPC API): GetValue and Get p50 below 1 ms; at least 20,000 updates/s
streamed to one gRPC subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grpc
from bench_broker import bench_catalog, float_paths
from common import percentile, report
from kuksa.val.v1 import types_pb2 as t1
from kuksa.val.v1 import val_pb2 as v1
from kuksa.val.v1 import val_pb2_grpc as v1_grpc
from kuksa.val.v2 import types_pb2 as t2
from kuksa.val.v2 import val_pb2 as v2
from kuksa.val.v2 import val_pb2_grpc as v2_grpc
from kuksa_client.grpc import VSSClient
from kuksa_client.grpc import aio as kuksa_aio

from carmind.signals.adapters.kuksa.server import GrpcServer, GrpcSettings
from carmind.signals.broker import Broker, ProviderHandle
from carmind.signals.catalog import Catalog

HOST = "127.0.0.1"
BATCH = 100
WARMUP_CALLS = 200
CALLS = 2000
WARMUP_S = 0.5
MEASURE_S = 3.0
READ_PATH = "Vehicle.Bench.Signal000"
TIMEOUT_S = 10.0


# --------------------------------------------------------------------------- the publisher


def claim(broker: Broker) -> tuple[ProviderHandle, list[dict[str, object]]]:
    """The benchmark's provider: its claim on the 100 signals, and 16 batches to cycle through."""
    paths = float_paths(BATCH)
    handle = broker.client("bench-provider").provide(paths)
    batches: list[dict[str, object]] = [
        {p: float(r + j) for j, p in enumerate(paths)} for r in range(16)
    ]
    handle.publish_many(batches[0])
    return handle, batches


async def publish_until(
    handle: ProviderHandle, batches: list[dict[str, object]], done: Callable[[], bool]
) -> int:
    """Publish batches back to back, yielding to the loop after each; datapoints published."""
    published = 0
    r = 0
    while not done():
        handle.publish_many(batches[r % 16])
        published += BATCH
        r += 1
        await asyncio.sleep(0)
    return published


# --------------------------------------------------------------------------- the server process


async def serve(catalog: Catalog) -> None:
    """Child process: serve a hub, print the port; on 'go' publish, on 'stop' report and exit."""
    broker = Broker(catalog)
    handle, batches = claim(broker)
    server = GrpcServer(broker, GrpcSettings(address=f"{HOST}:0", insecure=True))
    port = await server.start()
    print(port, flush=True)

    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(sys.stdin.fileno(), lambda: commands.put_nowait(sys.stdin.readline().strip()))
    stopping = False
    published = 0
    started = time.perf_counter()
    while not stopping:
        command = await commands.get()
        if command == "go":
            started = time.perf_counter()
            publisher = asyncio.create_task(
                publish_until(handle, batches, lambda: not commands.empty())
            )
            published = await publisher
        elif command in ("stop", ""):
            stopping = True
    elapsed = time.perf_counter() - started
    print(json.dumps({"published": published, "seconds": elapsed}), flush=True)
    await server.stop(0)


class ServerProcess:
    """The benchmark server in a child process, commanded over its stdin."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        self.port = int(self.process.stdout.readline())

    def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stop(self) -> dict[str, Any]:
        self.command("stop")
        assert self.process.stdout is not None
        stats: dict[str, Any] = json.loads(self.process.stdout.readline())
        self.process.wait(TIMEOUT_S)
        return stats


# --------------------------------------------------------------------------- latency


async def timed(calls: dict[str, Callable[[], Awaitable[object]]]) -> dict[str, list[float]]:
    """Seconds per call of each kind, the kinds interleaved so that noise hits them alike."""
    for _ in range(WARMUP_CALLS):
        for call in calls.values():
            await call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    gc.disable()
    for _ in range(CALLS):
        for name, call in calls.items():
            start = time.perf_counter()
            await call()
            samples[name].append(time.perf_counter() - start)
    gc.enable()
    return samples


async def latencies(port: int) -> dict[str, list[float]]:
    get_value = v2.GetValueRequest(signal_id=t2.SignalID(path=READ_PATH))
    get_v1 = v1.GetRequest(
        entries=[
            v1.EntryRequest(path=READ_PATH, view=t1.VIEW_CURRENT_VALUE, fields=[t1.FIELD_VALUE])
        ]
    )
    info = v2.GetServerInfoRequest()
    async with (
        grpc.aio.insecure_channel(f"{HOST}:{port}") as channel,
        kuksa_aio.VSSClient(HOST, port) as client,
    ):
        stub2 = v2_grpc.VALStub(channel)
        stub1 = v1_grpc.VALStub(channel)
        return await timed(
            {
                "v2 GetValue": lambda: stub2.GetValue(get_value, timeout=TIMEOUT_S),
                "v1 Get": lambda: stub1.Get(get_v1, timeout=TIMEOUT_S),
                "v2 GetServerInfo": lambda: stub2.GetServerInfo(info, timeout=TIMEOUT_S),
                "kuksa-client aio get_current_values": lambda: client.get_current_values(
                    [READ_PATH], timeout=TIMEOUT_S
                ),
            }
        )


def sync_latencies(port: int) -> dict[str, list[float]]:
    """The same calls from blocking stubs (grpc's C-core client, as kuksa-client's VSSClient)."""
    get_value = v2.GetValueRequest(signal_id=t2.SignalID(path=READ_PATH))
    get_v1 = v1.GetRequest(
        entries=[
            v1.EntryRequest(path=READ_PATH, view=t1.VIEW_CURRENT_VALUE, fields=[t1.FIELD_VALUE])
        ]
    )
    info = v2.GetServerInfoRequest()
    with grpc.insecure_channel(f"{HOST}:{port}") as channel, VSSClient(HOST, port) as client:
        stub2 = v2_grpc.VALStub(channel)
        stub1 = v1_grpc.VALStub(channel)
        calls: dict[str, Callable[[], object]] = {
            "sync v2 GetValue": lambda: stub2.GetValue(get_value, timeout=TIMEOUT_S),
            "sync v1 Get": lambda: stub1.Get(get_v1, timeout=TIMEOUT_S),
            "sync v2 GetServerInfo": lambda: stub2.GetServerInfo(info, timeout=TIMEOUT_S),
            "kuksa-client VSSClient get_current_values": lambda: client.get_current_values(
                [READ_PATH], timeout=TIMEOUT_S
            ),
        }
        for _ in range(WARMUP_CALLS):
            for call in calls.values():
                call()
        samples: dict[str, list[float]] = {name: [] for name in calls}
        gc.disable()
        for _ in range(CALLS):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - start)
        gc.enable()
        return samples


# --------------------------------------------------------------------------- throughput


async def grpc_throughput(server: ServerProcess) -> tuple[float, float, dict[str, Any]]:
    """(datapoints/s received, messages/s received, the server's publishing stats)."""
    received = messages = 0
    counting = False
    async with grpc.aio.insecure_channel(f"{HOST}:{server.port}") as channel:
        stub = v2_grpc.VALStub(channel)
        call = stub.Subscribe(
            v2.SubscribeRequest(signal_paths=float_paths(BATCH)),
            timeout=WARMUP_S + MEASURE_S + TIMEOUT_S,
        )
        await asyncio.wait_for(call.read(), TIMEOUT_S)  # current values: subscribed

        async def drain() -> None:
            nonlocal received, messages
            while (response := await call.read()) is not grpc.aio.EOF:
                if counting:
                    received += len(response.entries)
                    messages += 1

        reader = asyncio.create_task(drain())
        server.command("go")
        await asyncio.sleep(WARMUP_S)
        counting = True
        start = time.perf_counter()
        await asyncio.sleep(MEASURE_S)
        counting = False
        elapsed = time.perf_counter() - start
        call.cancel()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await reader
    stats = server.stop()
    return received / elapsed, messages / elapsed, stats


async def in_process_throughput(catalog: Catalog) -> float:
    """Datapoints/s the hub itself delivers to one subscriber with the same publisher."""
    broker = Broker(catalog)
    handle, batches = claim(broker)
    sub = broker.client("listener").subscribe(float_paths(BATCH))
    received = 0
    counting = False

    async def drain() -> None:
        nonlocal received
        async for batch in sub:
            if counting:
                received += len(batch)

    reader = asyncio.create_task(drain())
    loop = asyncio.get_running_loop()
    end = loop.time() + WARMUP_S
    await publish_until(handle, batches, lambda: loop.time() >= end)
    counting = True
    start = time.perf_counter()
    end = loop.time() + MEASURE_S
    await publish_until(handle, batches, lambda: loop.time() >= end)
    await asyncio.sleep(0)
    counting = False
    elapsed = time.perf_counter() - start
    sub.close()
    await reader
    return received / elapsed


# --------------------------------------------------------------------------- report


def ms(samples: list[float], q: float) -> float:
    return round(percentile(samples, q) * 1e3, 4)


async def main() -> None:
    catalog = bench_catalog()

    server = ServerProcess()
    try:
        samples = await latencies(server.port)
        samples |= await asyncio.to_thread(sync_latencies, server.port)
    finally:
        server.stop()

    server = ServerProcess()
    try:
        rate, message_rate, stats = await grpc_throughput(server)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    peer = await in_process_throughput(catalog)
    published_rate = stats["published"] / stats["seconds"]

    rows: list[dict[str, Any]] = []
    for name in ("v2 GetValue", "v1 Get", "sync v2 GetValue", "sync v1 Get"):
        p50 = ms(samples[name], 0.5)
        rows.append(
            {
                "metric": f"{name} latency p50",
                "value": p50,
                "unit": "ms",
                "target": "< 1 ms",
                "met": p50 < 1.0,
            }
        )
        rows.append(
            {
                "metric": f"{name} latency p99",
                "value": ms(samples[name], 0.99),
                "unit": "ms",
                "target": None,
                "met": None,
            }
        )
    floor = percentile(samples["v2 GetServerInfo"], 0.5)
    rows += [
        {
            "metric": "v2 GetServerInfo latency p50 (gRPC floor, peer)",
            "value": ms(samples["v2 GetServerInfo"], 0.5),
            "unit": "ms",
            "target": None,
            "met": None,
        },
        {
            "metric": "sync v2 GetServerInfo latency p50 (gRPC floor, peer)",
            "value": ms(samples["sync v2 GetServerInfo"], 0.5),
            "unit": "ms",
            "target": None,
            "met": None,
        },
        {
            "metric": "kuksa-client VSSClient get_current_values p50",
            "value": ms(samples["kuksa-client VSSClient get_current_values"], 0.5),
            "unit": "ms",
            "target": None,
            "met": None,
        },
        {
            "metric": "v2 GetValue p50 / GetServerInfo p50",
            "value": round(percentile(samples["v2 GetValue"], 0.5) / floor, 2),
            "unit": "ratio",
            "target": None,
            "met": None,
        },
        {
            "metric": "kuksa-client aio get_current_values p50",
            "value": ms(samples["kuksa-client aio get_current_values"], 0.5),
            "unit": "ms",
            "target": None,
            "met": None,
        },
        {
            "metric": "updates/s streamed to 1 gRPC subscriber (v2 Subscribe)",
            "value": round(rate),
            "unit": "updates/s",
            "target": ">= 20,000",
            "met": rate >= 20_000,
        },
        {
            "metric": "updates/s delivered in-process, 1 subscriber (peer)",
            "value": round(peer),
            "unit": "updates/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "gRPC / in-process",
            "value": round(rate / peer, 3),
            "unit": "ratio",
            "target": None,
            "met": None,
        },
        {
            "metric": "messages/s to the gRPC subscriber",
            "value": round(message_rate),
            "unit": "messages/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "updates/s published meanwhile in the server",
            "value": round(published_rate),
            "unit": "updates/s",
            "target": None,
            "met": None,
        },
    ]
    report(
        "grpc",
        rows,
        notes=(
            f"server in its own process; {CALLS} calls per latency after {WARMUP_CALLS} of "
            f"warm-up; throughput over {MEASURE_S:g} s after {WARMUP_S:g} s; the gRPC subscriber "
            "gets the latest value per signal when it falls behind the publisher"
        ),
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        asyncio.run(serve(bench_catalog()))
    else:
        asyncio.run(main())
