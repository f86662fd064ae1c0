"""The cloud service as one object: database, tokens, MQTT ingest and relay, background sweeps.

`CloudService` is what the HTTP app, the command line and the embedded cloud share:

    service = CloudService(settings)
    await service.start()        # migrate, expire stale commands, connect to the broker
    app = service.app            # the FastAPI application (ASGI)
    ...
    await service.stop()         # write what was received, disconnect, close the database
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from fastapi import FastAPI
from sqlalchemy import text

from carmind.connect.cloud import commands, db, derive
from carmind.connect.cloud.auth import Tokens, load_or_create_key
from carmind.connect.cloud.ingest import Ingest, IngestCounters, Writer
from carmind.connect.cloud.settings import CloudSettings

log = logging.getLogger(__name__)

DERIVE_INTERVAL_S: Final = 2.0
"""How often drives and charges are brought up to date for vehicles that sent telemetry."""


class CloudService:
    """Everything the cloud runs, minus the HTTP server (see `server.py`)."""

    def __init__(self, settings: CloudSettings) -> None:
        self.settings = settings
        self.engine = db.make_engine(settings.database_url)
        self.sessions = db.sessions(self.engine)
        self.tokens = Tokens(
            load_or_create_key(settings.key_file), settings.issuer, settings.token_ttl_s
        )
        self.counters = IngestCounters()
        self._dirty: set[str] = set()
        self._vin_locks: dict[str, asyncio.Lock] = {}
        self.writer = Writer(self.sessions, self.counters, on_telemetry=self._dirty.update)
        self.ingest: Ingest | None = Ingest(settings, self.writer) if settings.mqtt_url else None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._app: FastAPI | None = None

    @property
    def app(self) -> FastAPI:
        """The FastAPI application (built once)."""
        if self._app is None:
            from carmind.connect.cloud.api import create_app

            self._app = create_app(self)
        return self._app

    @property
    def publisher(self) -> commands.Publisher | None:
        return self.ingest

    async def start(self) -> None:
        """Migrate the schema, expire commands that ran out while the cloud was down, start the
        ingest (when a broker is configured) and the background sweeps."""
        await db.migrate(self.engine)
        await commands.expire_pending(self.sessions, self.settings.expiry_grace_s)
        if self.ingest is not None:
            await self.ingest.start()
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._sweep(), name="cloud-expiry-sweep"),
            asyncio.create_task(self._derive_loop(), name="cloud-derive"),
        ]

    async def stop(self) -> None:
        """Stop the sweeps and the ingest (writing what it holds), then close the database.

        The sweeps are asked to stop, not cancelled: one in the middle of a transaction finishes
        it (a cancelled one would leave a connection for the garbage collector, which closes it
        after the event loop is gone)."""
        self._stopping.set()
        for task in self._tasks:
            await task
        self._tasks = []
        if self.ingest is not None:
            await self.ingest.stop()
        with contextlib.suppress(Exception):
            await self.derive_dirty()
        await self.engine.dispose()

    async def database_ok(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any failure means "not ok"; health reports it, never raises
            return False
        return True

    async def refresh_vehicle(self, vin: str) -> None:
        """Bring one vehicle's drives and charges up to date (one refresher per vehicle)."""
        lock = self._vin_locks.setdefault(vin, asyncio.Lock())
        async with lock, self.sessions() as session, session.begin():
            await derive.refresh(
                session,
                vin,
                stop_s=self.settings.drive_stop_s,
                price_per_kwh=self.settings.price_per_kwh,
            )

    async def derive_dirty(self) -> None:
        """Refresh every vehicle that sent telemetry since the last call."""
        dirty = set(self._dirty)
        self._dirty.difference_update(dirty)
        for vin in sorted(dirty):
            await self.refresh_vehicle(vin)

    async def _pause(self, seconds: float) -> bool:
        """Wait `seconds`; False when the service is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return not self._stopping.is_set()

    async def _sweep(self) -> None:
        while await self._pause(self.settings.sweep_interval_s):
            try:
                await commands.expire_pending(self.sessions, self.settings.expiry_grace_s)
            except Exception as exc:  # a database hiccup must not end the sweep
                log.warning("expiry sweep failed: %s", exc)

    async def _derive_loop(self) -> None:
        while await self._pause(DERIVE_INTERVAL_S):
            try:
                await self.derive_dirty()
            except Exception as exc:  # a database hiccup must not end the loop
                log.warning("deriving drives and charges failed: %s", exc)
