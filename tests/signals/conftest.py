"""Fixtures of the KUKSA gRPC tests: a served car, a served bare hub, the client flavours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest

from carmind.signals.broker import Broker
from carmind.signals.catalog import default_catalog
from carmind.vehicle.session import CarSession
from tests.signals.kuksa_support import EPOCH, Flavour, Served, serve


@pytest.fixture
async def car() -> AsyncIterator[Served]:
    """A simulated car (fixed epoch) whose hub is served without authorization."""
    session = CarSession.create(epoch=EPOCH)
    async with serve(session.broker, session, insecure=True) as served:
        yield served


@pytest.fixture
async def hub() -> AsyncIterator[Served]:
    """A hub with no car at all (no provider for anything), served without authorization."""
    async with serve(Broker(default_catalog(), clock=lambda: EPOCH), insecure=True) as served:
        yield served


@pytest.fixture(params=["sync", "aio"])
def flavour(request: pytest.FixtureRequest) -> Flavour:
    """Which kuksa-client: the blocking `VSSClient` or `kuksa_client.grpc.aio.VSSClient`."""
    return cast(Flavour, request.param)
