"""`kuksa.val.v2.VAL` over the hub: values, subscriptions, actuation, metadata, providers.

Errors fail the call with the gRPC status KUKSA uses: NOT_FOUND, INVALID_ARGUMENT,
PERMISSION_DENIED, UNAUTHENTICATED, and UNAVAILABLE when an actuator has no provider.
`OpenProviderStream` lets another process provide actuators and sensors, taking the place of the
simulated car for them: the hub forwards accepted actuations to it and takes its published values.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterable, Mapping

import grpc
from kuksa.val.v2 import types_pb2 as t2
from kuksa.val.v2 import val_pb2 as v2
from kuksa.val.v2 import val_pb2_grpc

from carmind import __version__
from carmind.signals.adapters.kuksa.auth import AuthFailure, Authorizer
from carmind.signals.adapters.kuksa.values import (
    datapoint_v2,
    error_v2,
    metadata_v2,
    read_value,
    seconds,
    status_of,
    value_v2,
)
from carmind.signals.broker import Client, Datapoint, ProviderHandle, Subscription
from carmind.signals.catalog import Catalog, Signal, Value
from carmind.signals.errors import (
    InternalError,
    InvalidPatternError,
    InvalidRequestError,
    SignalError,
)

log = logging.getLogger(__name__)

SERVER_NAME = "carmind"
_stream_ids = itertools.count(1)


class ValV2(val_pb2_grpc.VALServicer):
    def __init__(self, authorizer: Authorizer) -> None:
        self.auth = authorizer
        self.broker = authorizer.broker
        self.catalog: Catalog = authorizer.broker.catalog

    # ------------------------------------------------------------------ helpers

    async def _client(self, context: grpc.aio.ServicerContext) -> Client:
        try:
            return self.auth.client_for(context.invocation_metadata())
        except AuthFailure as failure:
            await context.abort(failure.status, failure.message)
            raise

    @staticmethod
    async def _fail(context: grpc.aio.ServicerContext, error: SignalError) -> None:
        await context.abort(status_of(error), str(error))

    def _signal(self, signal_id: t2.SignalID) -> Signal:
        which = signal_id.WhichOneof("signal")
        if which == "path":
            return self.catalog.get(signal_id.path)
        if which == "id":
            return self.catalog.get(self.catalog.path_of(signal_id.id))
        raise InvalidRequestError("no signal id was given: set its path or its id")

    # ------------------------------------------------------------------ consumers

    async def GetValue(
        self,
        request: v2.GetValueRequest,
        context: grpc.aio.ServicerContext,
    ) -> v2.GetValueResponse:
        client = await self._client(context)
        try:
            signal = self._signal(request.signal_id)
            datapoint = client.get(signal.path)
        except SignalError as exc:
            await self._fail(context, exc)
            raise
        return v2.GetValueResponse(data_point=datapoint_v2(signal, datapoint))

    async def GetValues(
        self,
        request: v2.GetValuesRequest,
        context: grpc.aio.ServicerContext,
    ) -> v2.GetValuesResponse:
        client = await self._client(context)
        response = v2.GetValuesResponse()
        try:
            for signal_id in request.signal_ids:
                signal = self._signal(signal_id)
                response.data_points.append(datapoint_v2(signal, client.get(signal.path)))
        except SignalError as exc:
            await self._fail(context, exc)
        return response

    def _leaf_paths(self, client: Client, paths: Iterable[str]) -> list[str]:
        """Subscribe takes signal paths: a branch or pattern is NOT_FOUND, as in KUKSA v2."""
        out = []
        for path in paths:
            signal = self.catalog.get(path)
            client.metadata(signal.path)  # read scope
            out.append(signal.path)
        if not out:
            raise InvalidRequestError("nothing to subscribe to: name at least one signal")
        return out

    def _first(self, sub: Subscription) -> dict[str, Datapoint | None]:
        """The first answer covers every subscribed signal, empty where it has no value yet."""
        pending = sub.poll()
        return {path: pending.get(path) for path in sorted(sub.paths)}

    async def Subscribe(
        self,
        request: v2.SubscribeRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[v2.SubscribeResponse]:
        client = await self._client(context)
        try:
            paths = self._leaf_paths(client, request.signal_paths)
            sub = client.subscribe(paths)
        except SignalError as exc:
            await self._fail(context, exc)
            raise
        try:
            first: Mapping[str, Datapoint | None] = self._first(sub)
            async for batch in _after(first, sub):
                response = v2.SubscribeResponse()
                for path, datapoint in batch.items():
                    response.entries[path].CopyFrom(datapoint_v2(self.catalog.get(path), datapoint))
                yield response
        finally:
            sub.close()

    async def SubscribeById(
        self,
        request: v2.SubscribeByIdRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[v2.SubscribeByIdResponse]:
        client = await self._client(context)
        try:
            paths = self._leaf_paths(client, (self.catalog.path_of(i) for i in request.signal_ids))
            sub = client.subscribe(paths)
        except SignalError as exc:
            await self._fail(context, exc)
            raise
        try:
            async for batch in _after(self._first(sub), sub):
                response = v2.SubscribeByIdResponse()
                for path, datapoint in batch.items():
                    response.entries[self.catalog.id_of(path)].CopyFrom(
                        datapoint_v2(self.catalog.get(path), datapoint)
                    )
                yield response
        finally:
            sub.close()

    def _actuations(self, requests: Iterable[v2.ActuateRequest]) -> dict[str, object]:
        values: dict[str, object] = {}
        for item in requests:
            signal = self._signal(item.signal_id)
            values[signal.path] = read_value(item.value, signal)
        return values

    async def Actuate(
        self,
        request: v2.ActuateRequest,
        context: grpc.aio.ServicerContext,
    ) -> v2.ActuateResponse:
        client = await self._client(context)
        try:
            client.actuate_many(self._actuations([request]))
        except SignalError as exc:
            await self._fail(context, exc)
        return v2.ActuateResponse()

    async def BatchActuate(
        self,
        request: v2.BatchActuateRequest,
        context: grpc.aio.ServicerContext,
    ) -> v2.BatchActuateResponse:
        client = await self._client(context)
        try:
            client.actuate_many(self._actuations(request.actuate_requests))
        except SignalError as exc:
            await self._fail(context, exc)
        return v2.BatchActuateResponse()

    async def ListMetadata(
        self,
        request: v2.ListMetadataRequest,
        context: grpc.aio.ServicerContext,
    ) -> v2.ListMetadataResponse:
        client = await self._client(context)
        response = v2.ListMetadataResponse()
        try:
            for signal in client.metadata(request.root):
                response.metadata.append(metadata_v2(signal, self.catalog.id_of(signal.path)))
        except (InvalidPatternError, SignalError) as exc:
            await self._fail(context, exc)
        return response

    async def PublishValue(
        self,
        request: v2.PublishValueRequest,
        context: grpc.aio.ServicerContext,
    ) -> v2.PublishValueResponse:
        client = await self._client(context)
        try:
            signal = self._signal(request.signal_id)
            value = read_value(request.data_point.value, signal)
            stamp = (
                seconds(request.data_point.timestamp)
                if request.data_point.HasField("timestamp")
                else None
            )
            client.publish(signal.path, value, stamp)
        except SignalError as exc:
            await self._fail(context, exc)
        return v2.PublishValueResponse()

    async def GetServerInfo(
        self,
        request: v2.GetServerInfoRequest,
        context: grpc.aio.ServicerContext,
    ) -> v2.GetServerInfoResponse:
        await self._client(context)
        return v2.GetServerInfoResponse(name=SERVER_NAME, version=__version__, commit_hash="")

    # ------------------------------------------------------------------ providers

    async def OpenProviderStream(
        self,
        request_iterator: AsyncIterator[v2.OpenProviderStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[v2.OpenProviderStreamResponse]:
        caller = await self._client(context)
        stream = _ProviderStream(self, caller)
        reader = asyncio.create_task(stream.read(request_iterator))
        try:
            while True:
                item = await stream.outbox.get()
                if isinstance(item, SignalError):
                    await self._fail(context, item)
                    return
                yield item
        finally:
            reader.cancel()
            stream.close()


class _ProviderStream:
    """One provider connection: its claims, and the actuations waiting to be sent to it."""

    def __init__(self, service: ValV2, caller: Client) -> None:
        self.service = service
        # a client of its own, so that the claims belong to this stream and end with it
        self.client = service.broker.client(
            f"{caller.name}/provider-{next(_stream_ids)}", caller.permissions.scopes
        )
        self.outbox: asyncio.Queue[v2.OpenProviderStreamResponse | SignalError] = asyncio.Queue()
        self.handles: list[ProviderHandle] = []

    # the hub calls these for actuators this stream provides (ActuationProvider protocol)
    def check_actuation(self, values: Mapping[str, Value]) -> Mapping[str, str]:
        return {}  # a remote provider answers after the fact, as in KUKSA

    def actuate(self, values: Mapping[str, Value]) -> None:
        catalog = self.service.catalog
        batch = v2.BatchActuateStreamRequest()
        for path, value in values.items():
            signal = catalog.get(path)
            batch.actuate_requests.append(
                v2.ActuateRequest(
                    signal_id=t2.SignalID(id=catalog.id_of(path)), value=value_v2(signal, value)
                )
            )
        self.outbox.put_nowait(v2.OpenProviderStreamResponse(batch_actuate_stream_request=batch))

    async def read(self, requests: AsyncIterator[v2.OpenProviderStreamRequest]) -> None:
        try:
            async for request in requests:
                self.handle(request)
        except SignalError as exc:
            self.outbox.put_nowait(exc)
        except Exception as exc:  # a bug must end the stream with an error, not silence it
            log.exception("provider stream of %s failed", self.client.name)
            self.outbox.put_nowait(InternalError(f"the provider stream failed: {exc}"))
        # the request stream may end while the provider keeps listening (kuksa-client does so):
        # the claims stay until the call itself ends

    def handle(self, request: v2.OpenProviderStreamRequest) -> None:
        which = request.WhichOneof("action")
        service = self.service
        if which == "provide_actuation_request":
            paths = [
                service._signal(s).path
                for s in request.provide_actuation_request.actuator_identifiers
            ]
            self.handles.append(self.client.provide(paths, actuator=self))
            self.outbox.put_nowait(
                v2.OpenProviderStreamResponse(
                    provide_actuation_response=v2.ProvideActuationResponse()
                )
            )
        elif which == "provide_signal_request":
            ids = request.provide_signal_request.signals_sample_intervals.keys()
            paths = [service.catalog.path_of(i) for i in ids]
            self.handles.append(self.client.provide(paths))
            self.outbox.put_nowait(
                v2.OpenProviderStreamResponse(provide_signal_response=v2.ProvideSignalResponse())
            )
        elif which == "publish_values_request":
            self.outbox.put_nowait(self._publish(request.publish_values_request))
        elif which == "batch_actuate_stream_response":
            answer = request.batch_actuate_stream_response
            if answer.HasField("error") and answer.error.code not in (
                t2.ERROR_CODE_OK,
                t2.ERROR_CODE_UNSPECIFIED,
            ):
                log.warning(
                    "provider %s could not actuate %s: %s",
                    self.client.name,
                    answer.signal_id.path or answer.signal_id.id or "a forwarded signal",
                    answer.error.message,
                )
        else:
            log.info("provider %s sent %s, which carmind ignores", self.client.name, which)

    def _publish(self, request: v2.PublishValuesRequest) -> v2.OpenProviderStreamResponse:
        catalog = self.service.catalog
        response = v2.PublishValuesResponse(request_id=request.request_id)
        for signal_id, datapoint in request.data_points.items():
            try:
                path = catalog.path_of(signal_id)
                value = read_value(datapoint.value, catalog.get(path))
                self.client.publish(path, value, _stamp(datapoint))
            except SignalError as exc:
                response.status[signal_id].CopyFrom(error_v2(exc))
        return v2.OpenProviderStreamResponse(publish_values_response=response)

    def close(self) -> None:
        for handle in self.handles:
            handle.close()
        self.handles.clear()


async def _after(
    first: Mapping[str, Datapoint | None], sub: Subscription
) -> AsyncIterator[Mapping[str, Datapoint | None]]:
    """The first answer, then the subscription's batches."""
    yield first
    async for batch in sub:
        yield batch


def _stamp(datapoint: t2.Datapoint) -> float | None:
    return seconds(datapoint.timestamp) if datapoint.HasField("timestamp") else None
