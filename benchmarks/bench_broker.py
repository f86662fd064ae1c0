"""Broker throughput and latency.

- Throughput: a provider publishes batches of 100 signals; 1 and 10 subscribers drain them as
  async iterators. Updates/s counts datapoints *delivered* to subscribers (each subscriber keeps
  up, so nothing is coalesced). Baseline in the same run: the same fan-out through one plain
  `asyncio.Queue` per subscriber, one item per update.
- Latency: single-signal publishes at 10,000 updates/s (10 every millisecond), from publish to the
  subscriber's callback; p50 and p99.

Targets (issue: foundation): >= 200k updates/s to one subscriber (batched); p99 < 1 ms at 10k/s.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile, report

from carmind.signals.broker import Broker, Datapoint
from carmind.signals.catalog import Catalog, catalog_from_tree, default_catalog

BATCH = 100
ROUNDS = 3000


def bench_catalog() -> Catalog:
    """carmind's catalog plus 100 float sensors of a benchmark branch (VSS JSON, as any overlay)."""
    tree = {
        "Vehicle": {
            "type": "branch",
            "children": {
                "Bench": {
                    "type": "branch",
                    "children": {
                        f"Signal{i:03d}": {
                            "type": "sensor",
                            "datatype": "float",
                            "min": -1e9,
                            "max": 1e9,
                        }
                        for i in range(BATCH)
                    },
                }
            },
        }
    }
    return default_catalog().merged(catalog_from_tree(tree, overlay=True))


def float_paths(n: int) -> list[str]:
    return [f"Vehicle.Bench.Signal{i:03d}" for i in range(n)]


CATALOG: Catalog


async def broker_throughput(subscribers: int) -> tuple[float, int]:
    broker = Broker(CATALOG)
    provider = broker.client("bench-provider")
    paths = float_paths(BATCH)
    subs = [broker.client(f"s{i}").subscribe(paths) for i in range(subscribers)]
    delivered = [0] * subscribers

    async def drain(i: int) -> None:
        async for batch in subs[i]:
            delivered[i] += len(batch)

    tasks = [asyncio.create_task(drain(i)) for i in range(subscribers)]
    await asyncio.sleep(0)
    batches = [{p: float(r + j) for j, p in enumerate(paths)} for r in range(16)]
    gc.disable()
    start = time.perf_counter()
    for r in range(ROUNDS):
        provider.publish_many(batches[r % 16])
        await asyncio.sleep(0)  # the subscribers run
    await asyncio.sleep(0)
    elapsed = time.perf_counter() - start
    gc.enable()
    for s in subs:
        s.close()
    await asyncio.gather(*tasks)
    coalesced = sum(s.coalesced for s in subs)
    return sum(delivered) / elapsed, coalesced


async def queue_baseline(subscribers: int) -> float:
    queues: list[asyncio.Queue[tuple[str, Datapoint] | None]] = [
        asyncio.Queue() for _ in range(subscribers)
    ]
    paths = float_paths(BATCH)
    delivered = [0] * subscribers

    async def drain(i: int) -> None:
        q = queues[i]
        while await q.get() is not None:
            delivered[i] += 1

    tasks = [asyncio.create_task(drain(i)) for i in range(subscribers)]
    gc.disable()
    start = time.perf_counter()
    for r in range(ROUNDS):
        now = time.time()
        for j, p in enumerate(paths):
            dp = Datapoint(float(r + j), now)
            for q in queues:
                q.put_nowait((p, dp))
        await asyncio.sleep(0)
    for q in queues:
        q.put_nowait(None)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    gc.enable()
    return sum(delivered) / elapsed


async def latency(rate: int = 10_000, seconds: float = 3.0) -> list[float]:
    broker = Broker(CATALOG, clock=time.perf_counter)
    provider = broker.client("bench-provider")
    paths = float_paths(10)
    samples: list[float] = []

    def on_batch(batch: dict[str, Datapoint]) -> None:
        now = time.perf_counter()
        samples.extend(now - dp.timestamp for dp in batch.values())

    sub = broker.client("listener").subscribe(paths, callback=on_batch)
    await asyncio.sleep(0.01)
    samples.clear()
    per_ms = rate // 1000
    start = time.perf_counter()
    tick = 0
    while time.perf_counter() - start < seconds:
        due = start + tick / 1000.0
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        for j in range(per_ms):
            provider.publish(paths[j], float(tick))
            await asyncio.sleep(0)
        tick += 1
    await asyncio.sleep(0.01)
    sub.close()
    return samples


async def main() -> None:
    global CATALOG
    CATALOG = bench_catalog()
    one, coalesced_one = await broker_throughput(1)
    ten, coalesced_ten = await broker_throughput(10)
    base_one = await queue_baseline(1)
    base_ten = await queue_baseline(10)
    samples = await latency()
    p50 = percentile(samples, 0.5) * 1e3
    p99 = percentile(samples, 0.99) * 1e3
    rows = [
        {
            "metric": "updates/s delivered, 1 subscriber (batches of 100)",
            "value": round(one),
            "unit": "updates/s",
            "target": ">= 200,000",
            "met": one >= 200_000,
        },
        {
            "metric": "updates/s delivered, 10 subscribers (total)",
            "value": round(ten),
            "unit": "updates/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "baseline asyncio.Queue fan-out, 1 subscriber",
            "value": round(base_one),
            "unit": "updates/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "baseline asyncio.Queue fan-out, 10 subscribers",
            "value": round(base_ten),
            "unit": "updates/s",
            "target": None,
            "met": None,
        },
        {
            "metric": "broker / baseline, 1 subscriber",
            "value": round(one / base_one, 2),
            "unit": "ratio",
            "target": None,
            "met": None,
        },
        {
            "metric": "broker / baseline, 10 subscribers",
            "value": round(ten / base_ten, 2),
            "unit": "ratio",
            "target": None,
            "met": None,
        },
        {
            "metric": "coalesced while keeping up (1 / 10 subscribers)",
            "value": coalesced_one + coalesced_ten,
            "unit": "updates",
            "target": "0",
            "met": coalesced_one + coalesced_ten == 0,
        },
        {
            "metric": "latency p50 at 10k updates/s",
            "value": round(p50, 4),
            "unit": "ms",
            "target": None,
            "met": None,
        },
        {
            "metric": "latency p99 at 10k updates/s",
            "value": round(p99, 4),
            "unit": "ms",
            "target": "< 1 ms",
            "met": p99 < 1.0,
        },
        {
            "metric": "latency samples",
            "value": len(samples),
            "unit": "",
            "target": None,
            "met": None,
        },
    ]
    report("broker", rows)


if __name__ == "__main__":
    asyncio.run(main())
