"""`kuksa.val.v1.VAL` over the hub: Get, Set, Subscribe, GetServerInfo.

v1 answers per-entry errors inside the response (`errors` with HTTP-like codes) rather than as
a failed call, as the KUKSA databroker does; authentication failures fail the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import grpc
from kuksa.val.v1 import types_pb2 as t1
from kuksa.val.v1 import val_pb2 as v1
from kuksa.val.v1 import val_pb2_grpc

from carmind import __version__
from carmind.signals.adapters.kuksa.auth import AuthFailure, Authorizer
from carmind.signals.adapters.kuksa.values import (
    datapoint_v1,
    error_v1,
    metadata_v1,
    read_value,
)
from carmind.signals.broker import Client, Datapoint, Field, Subscription
from carmind.signals.catalog import NodeType, Signal
from carmind.signals.errors import AccessDeniedError, ReadOnlyError, SignalError

SERVER_NAME = "carmind"

_VALUE_FIELDS = {t1.FIELD_VALUE, t1.FIELD_ACTUATOR_TARGET}


def _wants(fields: Iterable[int], view: int) -> tuple[bool, bool, bool]:
    """(value, target, metadata) an entry request asks for."""
    chosen = set(fields)
    if not chosen or t1.FIELD_UNSPECIFIED in chosen:
        value = view in (t1.VIEW_CURRENT_VALUE, t1.VIEW_ALL, t1.VIEW_UNSPECIFIED, t1.VIEW_FIELDS)
        target = view in (t1.VIEW_TARGET_VALUE, t1.VIEW_ALL)
        metadata = view in (t1.VIEW_METADATA, t1.VIEW_ALL)
        return value, target, metadata
    metadata = any(f >= t1.FIELD_METADATA for f in chosen)
    return t1.FIELD_VALUE in chosen, t1.FIELD_ACTUATOR_TARGET in chosen, metadata


class ValV1(val_pb2_grpc.VALServicer):
    def __init__(self, authorizer: Authorizer) -> None:
        self.auth = authorizer
        self.broker = authorizer.broker

    async def _client(self, context: grpc.aio.ServicerContext) -> Client:
        try:
            return self.auth.client_for(context.invocation_metadata())
        except AuthFailure as failure:
            await context.abort(failure.status, failure.message)
            raise  # unreachable: abort raises

    def _entry(
        self, client: Client, signal: Signal, value: bool, target: bool, metadata: bool
    ) -> t1.DataEntry:
        entry = t1.DataEntry(path=signal.path)
        if value:
            entry.value.CopyFrom(datapoint_v1(signal, client.get(signal.path)))
        if target and signal.type is NodeType.ACTUATOR:
            entry.actuator_target.CopyFrom(datapoint_v1(signal, client.get_target(signal.path)))
        if metadata:
            entry.metadata.CopyFrom(metadata_v1(signal))
        return entry

    async def Get(
        self,
        request: v1.GetRequest,
        context: grpc.aio.ServicerContext,
    ) -> v1.GetResponse:
        client = await self._client(context)
        response = v1.GetResponse()
        for item in request.entries:
            value, target, metadata = _wants(item.fields, item.view)
            try:
                signals = client.metadata(item.path)
            except SignalError as exc:
                response.errors.append(t1.DataEntryError(path=item.path, error=error_v1(exc)))
                continue
            for signal in signals:
                response.entries.append(self._entry(client, signal, value, target, metadata))
        if response.errors:
            response.error.CopyFrom(response.errors[0].error)
        return response

    async def Set(
        self,
        request: v1.SetRequest,
        context: grpc.aio.ServicerContext,
    ) -> v1.SetResponse:
        client = await self._client(context)
        response = v1.SetResponse()
        values: dict[str, object] = {}
        targets: dict[str, object] = {}
        for update in request.updates:
            path = update.entry.path
            fields = set(update.fields)
            try:
                signal = self.broker.catalog.get(path)
                if fields - _VALUE_FIELDS:
                    raise ReadOnlyError(path, "metadata")  # metadata is the catalog's, not writable
                if t1.FIELD_ACTUATOR_TARGET in fields:
                    if signal.type is not NodeType.ACTUATOR:
                        raise ReadOnlyError(path, signal.type.value)
                    targets[path] = read_value(update.entry.actuator_target, signal)
                if t1.FIELD_VALUE in fields:
                    values[path] = read_value(update.entry.value, signal)
            except SignalError as exc:
                response.errors.append(t1.DataEntryError(path=path, error=error_v1(exc)))
        if not response.errors:
            try:
                client.update(values, targets)  # all or nothing, as the databroker's Set
            except SignalError as exc:
                response.errors.append(t1.DataEntryError(path=exc.path or "", error=error_v1(exc)))
        if response.errors:
            response.error.CopyFrom(response.errors[0].error)
        return response

    async def Subscribe(
        self,
        request: v1.SubscribeRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[v1.SubscribeResponse]:
        client = await self._client(context)
        value_paths: list[str] = []
        target_paths: list[str] = []
        metadata_paths: list[str] = []
        try:
            for item in request.entries:
                value, target, metadata = _wants(item.fields, item.view)
                paths = [s.path for s in client.metadata(item.path)]
                if value:
                    value_paths += paths
                if target:
                    target_paths += paths
                if metadata:
                    metadata_paths += paths
        except AccessDeniedError as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except SignalError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        if not (value_paths or target_paths or metadata_paths):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "nothing to subscribe to")
        if metadata_paths:  # metadata never changes at run time: one answer
            first = v1.SubscribeResponse()
            for path in metadata_paths:
                signal = self.broker.catalog.get(path)
                first.updates.append(
                    v1.EntryUpdate(
                        entry=t1.DataEntry(path=path, metadata=metadata_v1(signal)),
                        fields=[t1.FIELD_METADATA],
                    )
                )
            yield first
        subs = []
        if value_paths:
            subs.append((client.subscribe(value_paths, field=Field.VALUE), t1.FIELD_VALUE))
        if target_paths:
            subs.append(
                (client.subscribe(target_paths, field=Field.TARGET), t1.FIELD_ACTUATOR_TARGET)
            )
        if not subs:
            return
        queue: asyncio.Queue[tuple[int, dict[str, Datapoint]]] = asyncio.Queue(maxsize=1)

        async def pump(sub: Subscription, field: int) -> None:
            async for batch in sub:
                await queue.put((field, batch))

        tasks = [asyncio.create_task(pump(sub, field)) for sub, field in subs]
        try:
            while True:
                field, batch = await queue.get()
                response = v1.SubscribeResponse()
                for path, datapoint in batch.items():
                    signal = self.broker.catalog.get(path)
                    entry = t1.DataEntry(path=path)
                    if field == t1.FIELD_VALUE:
                        entry.value.CopyFrom(datapoint_v1(signal, datapoint))
                    else:
                        entry.actuator_target.CopyFrom(datapoint_v1(signal, datapoint))
                    response.updates.append(v1.EntryUpdate(entry=entry, fields=[field]))
                yield response
        finally:
            for sub, _ in subs:
                sub.close()
            for task in tasks:
                task.cancel()

    async def GetServerInfo(
        self,
        request: v1.GetServerInfoRequest,
        context: grpc.aio.ServicerContext,
    ) -> v1.GetServerInfoResponse:
        await self._client(context)
        return v1.GetServerInfoResponse(name=SERVER_NAME, version=__version__)
