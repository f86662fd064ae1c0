"""Running the cloud: uvicorn in-process next to the MQTT ingest.

`serve(settings)` is what `carmind cloud serve` runs until interrupted. `EmbeddedCloud` is the
same service as an object another program starts and stops (the lead's `carmind run`):

    cloud = EmbeddedCloud(mqtt_url="mqtt://127.0.0.1:18830?protocol=3.1.1", port=0)
    await cloud.start()
    print(cloud.url)             # http://127.0.0.1:PORT (PORT chosen by the system for 0)
    ...
    await cloud.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import uvicorn

from carmind.connect.cloud.service import CloudService
from carmind.connect.cloud.settings import CloudError, CloudSettings
from carmind.paths import default_data_dir

log = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 15.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the host program owns SIGINT and SIGTERM.

    uvicorn replaces them while it serves (`capture_signals`), which inside `carmind run` would
    turn Ctrl-C into "stop the cloud" and leave the rest running."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class CloudServer:
    """A `CloudService` served over HTTP by uvicorn in this event loop."""

    def __init__(self, settings: CloudSettings) -> None:
        self.settings = settings
        self.service = CloudService(settings)
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = settings.port

    @property
    def url(self) -> str:
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Start the service, then the HTTP server; returns once both are up."""
        await self.service.start()
        config = uvicorn.Config(
            self.service.app,
            host=self.settings.host,
            port=self.settings.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(), name="cloud-http")
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        while not self._server.started:
            if self._task.done() or asyncio.get_running_loop().time() > deadline:
                await self.service.stop()
                raise CloudError(
                    f"the cloud's HTTP server did not start on {self.settings.host}:"
                    f"{self.settings.port} (port taken?)"
                )
            await asyncio.sleep(0.02)
        sockets = [s for server in self._server.servers for s in server.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("carmind cloud serving on %s", self.url)

    async def stop(self) -> None:
        """Stop accepting requests, finish the ones in flight, then stop the service."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = None
        self._task = None
        await self.service.stop()


class EmbeddedCloud:
    """The cloud inside another program: SQLite in the data directory unless told otherwise,
    the given broker, HTTP on `host:port` (port 0: any free port; see `.url` after start)."""

    def __init__(
        self,
        mqtt_url: str | None,
        *,
        port: int = 8710,
        host: str = "127.0.0.1",
        data_dir: Path | None = None,
        db_url: str = "",
        **options: object,
    ) -> None:
        settings = CloudSettings(
            data_dir=data_dir or default_data_dir(),
            db_url=db_url,
            mqtt_url=mqtt_url,
            host=host,
            port=port,
            **options,  # type: ignore[arg-type]
        )
        self._server = CloudServer(settings)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def service(self) -> CloudService:
        return self._server.service

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()


async def serve(settings: CloudSettings, ready: asyncio.Event | None = None) -> None:
    """Run the cloud until cancelled (Ctrl-C in the command line)."""
    server = CloudServer(settings)
    await server.start()
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
