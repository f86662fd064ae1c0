"""Schemathesis fuzzes the REST API from its own OpenAPI document: no input gives a 5xx.

The cloud runs in a thread of its own (uvicorn on a free port, SQLite, the machine's Mosquitto, so
that a command that passes every check is really relayed), as a user would run it;
every operation is called with generated data and a token holding every scope, on a vehicle
that exists and has data.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carmind.connect.cloud.ingest import Batch
from carmind.connect.cloud.server import CloudServer
from tests.connect.test_cloud_api import _drive_and_charge
from tests.connect.test_cloud_kit import Owner, make_owner, settings_for

EXAMPLES = 25


class ThreadedCloud:
    """A `CloudServer` on its own event loop in a background thread."""

    def __init__(self, tmp_path: Path, mqtt_url: str) -> None:
        self.server = CloudServer(settings_for(tmp_path, mqtt_url=mqtt_url, port=0))
        self.loop = asyncio.new_event_loop()
        self.owner: Owner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedCloud:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    async def _start(self) -> None:
        await self.server.start()
        self.owner = await make_owner(self.server.service)
        batches = _drive_and_charge(self.owner.vin, time.time() - 7200)
        await self.server.service.writer.write(Batch(telemetry=batches))

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def cloud(tmp_path: Path, shared_mosquitto: str) -> Iterator[ThreadedCloud]:
    with ThreadedCloud(tmp_path, shared_mosquitto) as running:
        yield running


pytestmark = pytest.mark.services


def test_no_server_errors_from_generated_requests(cloud: ThreadedCloud) -> None:
    assert cloud.owner is not None
    base = cloud.server.url
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = {"Authorization": f"Bearer {cloud.owner.token}"}
    vin = cloud.owner.vin
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    failures: list[str] = []
    seen: set[int] = set()
    for operation in operations:
        strategy = operation.as_strategy()

        @given(case=strategy, use_vin=st.booleans())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: schemathesis.Case, use_vin: bool) -> None:
            if use_vin and case.path_parameters and "vin" in case.path_parameters:
                case.path_parameters["vin"] = vin  # reach the code behind the ownership check
            response = case.call(base_url=base, headers=headers, timeout=10)
            seen.add(response.status_code)
            if response.status_code >= 500:
                answer = f"{response.status_code} {response.text[:200]}"
                failures.append(f"{case.method} {case.formatted_path}: {answer}")

        run()
    assert failures == []
    assert {200, 404, 422} <= seen, seen  # the generated data got past validation too
