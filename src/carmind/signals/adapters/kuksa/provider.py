"""A provider in its own process: a local hub's signals provided to a remote KUKSA server.

`RemoteProvider` opens `kuksa.val.v2.VAL/OpenProviderStream` to a carmind (or KUKSA databroker)
server, claims actuators and sensors there, publishes the local values as they change, and carries
out the actuations the server forwards through the local hub, answering with the outcome. This is
how the simulated car runs as a separate process (`carmind sim provide`), and how a hardware
provider takes its place.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import grpc
from kuksa.val.v2 import types_pb2 as t2
from kuksa.val.v2 import val_pb2 as v2
from kuksa.val.v2 import val_pb2_grpc

from carmind.errors import CarmindError
from carmind.signals.adapters.kuksa.values import datapoint_v2, read_value
from carmind.signals.broker import Client, Datapoint
from carmind.signals.catalog import NodeType
from carmind.signals.errors import SignalError

log = logging.getLogger(__name__)


class RemoteProviderError(CarmindError):
    """The remote server refused the provider or could not be reached."""


@dataclass(slots=True)
class ProviderStats:
    published: int = 0
    actuations: int = 0
    refused: int = 0
    rejected_values: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RemoteTarget:
    address: str
    token: str | None = None
    root_certificates: bytes | None = None
    tls_server_name: str | None = None

    def channel(self) -> grpc.aio.Channel:
        if self.root_certificates is None:
            return grpc.aio.insecure_channel(self.address)
        credentials = grpc.ssl_channel_credentials(self.root_certificates)
        options = (
            [("grpc.ssl_target_name_override", self.tls_server_name)]
            if self.tls_server_name
            else []
        )
        return grpc.aio.secure_channel(self.address, credentials, options)

    def metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")] if self.token else []


class RemoteProvider:
    """Provide `paths` of the local hub (through `local`) to the server at `target`."""

    def __init__(self, local: Client, target: RemoteTarget, paths: Iterable[str]) -> None:
        self.local = local
        self.target = target
        catalog = local.broker.catalog
        self.paths = sorted(set(paths))
        self.actuators = [p for p in self.paths if catalog.get(p).type is NodeType.ACTUATOR]
        self.stats = ProviderStats()
        self._requests = itertools.count(1)
        self._outbox: asyncio.Queue[v2.OpenProviderStreamRequest | None] = asyncio.Queue()
        self.ready = asyncio.Event()

    async def _remote_ids(self, stub: val_pb2_grpc.VALStub) -> dict[str, int]:
        try:
            response = await stub.ListMetadata(
                v2.ListMetadataRequest(root=""), metadata=self.target.metadata(), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            raise RemoteProviderError(
                f"cannot list the signals of {self.target.address}: "
                f"{exc.code().name}: {exc.details()}"
            ) from None
        ids = {m.path: m.id for m in response.metadata}
        missing = [p for p in self.paths if p not in ids]
        if missing:
            raise RemoteProviderError(
                f"{self.target.address} does not know {len(missing)} signals, e.g. {missing[0]}"
            )
        return ids

    async def _requests_stream(self) -> AsyncIterator[v2.OpenProviderStreamRequest]:
        while (request := await self._outbox.get()) is not None:
            yield request

    async def run(self) -> None:
        """Provide until cancelled; raises `RemoteProviderError` if the server refuses."""
        async with self.target.channel() as channel:
            stub = val_pb2_grpc.VALStub(channel)
            ids = await self._remote_ids(stub)
            paths_by_id = {ids[p]: p for p in self.paths}
            if self.actuators:
                self._outbox.put_nowait(
                    v2.OpenProviderStreamRequest(
                        provide_actuation_request=v2.ProvideActuationRequest(
                            actuator_identifiers=[t2.SignalID(id=ids[p]) for p in self.actuators]
                        )
                    )
                )
            sensors = [p for p in self.paths if p not in self.actuators]
            if sensors:
                request = v2.ProvideSignalRequest()
                for path in sensors:
                    request.signals_sample_intervals[ids[path]].interval_ms = 0
                self._outbox.put_nowait(
                    v2.OpenProviderStreamRequest(provide_signal_request=request)
                )
            call = stub.OpenProviderStream(self._requests_stream(), metadata=self.target.metadata())
            forward = asyncio.create_task(self._forward_values(ids))
            try:
                async for response in call:
                    self._handle(response, paths_by_id)
            except grpc.aio.AioRpcError as exc:
                raise RemoteProviderError(
                    f"{self.target.address} closed the provider stream: "
                    f"{exc.code().name}: {exc.details()}"
                ) from None
            finally:
                forward.cancel()
                self._outbox.put_nowait(None)

    def _handle(self, response: v2.OpenProviderStreamResponse, paths_by_id: dict[int, str]) -> None:
        which = response.WhichOneof("action")
        if which in ("provide_actuation_response", "provide_signal_response"):
            self.ready.set()
        elif which == "publish_values_response":
            for signal_id, error in response.publish_values_response.status.items():
                self.stats.rejected_values += 1
                log.warning("server rejected %s: %s", paths_by_id.get(signal_id), error.message)
        elif which == "batch_actuate_stream_request":
            self._actuate(response.batch_actuate_stream_request, paths_by_id)

    def _actuate(self, batch: v2.BatchActuateStreamRequest, paths_by_id: dict[int, str]) -> None:
        catalog = self.local.broker.catalog
        values: dict[str, object] = {}
        for request in batch.actuate_requests:
            which = request.signal_id.WhichOneof("signal")
            path = (
                request.signal_id.path
                if which == "path"
                else paths_by_id.get(request.signal_id.id, "")
            )
            values[path] = read_value(request.value, catalog.get(path)) if path in catalog else None
        self.stats.actuations += 1
        answer = v2.BatchActuateStreamResponse()
        try:
            self.local.actuate_many(values)
        except SignalError as exc:
            self.stats.refused += 1
            answer.error.code = t2.ERROR_CODE_INVALID_ARGUMENT
            answer.error.message = str(exc)
            if exc.path:
                answer.signal_id.path = exc.path
            log.info("refused a forwarded actuation: %s", exc)
        else:
            answer.error.code = t2.ERROR_CODE_OK
        self._outbox.put_nowait(v2.OpenProviderStreamRequest(batch_actuate_stream_response=answer))

    async def _forward_values(self, ids: dict[str, int]) -> None:
        async for batch in self.local.subscribe(self.paths):
            self._outbox.put_nowait(self._publish_request(batch, ids))

    def _publish_request(
        self, batch: dict[str, Datapoint], ids: dict[str, int]
    ) -> v2.OpenProviderStreamRequest:
        request = v2.PublishValuesRequest(request_id=next(self._requests))
        catalog = self.local.broker.catalog
        for path, datapoint in batch.items():
            signal = catalog.get(path)
            request.data_points[ids[path]].CopyFrom(datapoint_v2(signal, datapoint))
        self.stats.published += len(batch)
        return v2.OpenProviderStreamRequest(publish_values_request=request)
