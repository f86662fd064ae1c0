"""The in-process signal broker: get, publish, actuate, subscribe, metadata.

VSS semantics in the manner of Eclipse KUKSA:

- a sensor's or attribute's value is written only by a provider (a client with the `provide`
  scope; once a provider claims a signal, only that provider may write it);
- a consumer sets an actuator's *target*; the actuator's provider makes it real and publishes the
  *current* value as the hardware moves;
- actuating a signal with no provider fails at once and is never queued: a window must not open
  ten minutes later on the motorway;
- a batch (of publishes or actuations) is all-or-nothing: every value is validated, every access
  and every provider checked, and the provider asked, before anything changes.

Every value carries a timestamp. Subscribers receive batches of the latest value per path: each
subscriber has a pending map that holds at most one entry per subscribed path, so a slow consumer
sees fewer, newer values (coalescing) and never slows the publisher or grows memory.

The broker runs on one asyncio event loop and is not thread-safe; everything but waiting on a
subscription is synchronous.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from carmind.signals.access import ALL_SCOPES, Action, Permissions, Scope
from carmind.signals.catalog import Catalog, NodeType, Signal, Value
from carmind.signals.errors import (
    AccessDeniedError,
    ActuationRefusedError,
    InvalidRequestError,
    NotAnActuatorError,
    ProviderConflictError,
    ProviderUnavailableError,
    ReadOnlyError,
    SignalError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Datapoint:
    """A value and when it was true (seconds since the Unix epoch)."""

    value: Value
    timestamp: float


class Field(StrEnum):
    """Which value of a signal: the current value, or an actuator's target value."""

    VALUE = "value"
    TARGET = "target"


class ActuationProvider(Protocol):
    """What makes actuator targets real: the simulated car, a CAN bridge, a remote provider."""

    def check_actuation(self, values: Mapping[str, Value]) -> Mapping[str, str]:
        """Reasons, by path, why the provider would refuse these targets now; empty to accept."""
        ...

    def actuate(self, values: Mapping[str, Value]) -> None:
        """Take these (already checked) targets; called only after `check_actuation` accepted."""
        ...


type BatchCallback = Callable[[dict[str, Datapoint]], Awaitable[None] | None]


class Subscription:
    """A subscriber's view: batches of the latest datapoint per changed path.

    Iterate it (`async for batch in sub`), await `next_batch()`, or give `subscribe` a callback.
    The first batch holds the current values of every matched signal that has one.
    """

    def __init__(self, broker: Broker, paths: frozenset[str], field: Field) -> None:
        self._broker = broker
        self.paths = paths
        self.field = field
        self._pending: dict[str, Datapoint] = {}
        self._wakeup = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        """Datapoints handed to the consumer."""
        self.coalesced = 0
        """Datapoints replaced by a newer one before the consumer took them."""

    @property
    def closed(self) -> bool:
        return self._closed

    def _offer(self, path: str, datapoint: Datapoint) -> None:
        pending = self._pending
        if path in pending:
            self.coalesced += 1
        pending[path] = datapoint
        if not self._wakeup.is_set():
            self._wakeup.set()

    def poll(self) -> dict[str, Datapoint]:
        """Take what is pending now, without waiting (may be empty)."""
        batch, self._pending = self._pending, {}
        self._wakeup.clear()
        self.delivered += len(batch)
        return batch

    async def next_batch(self) -> dict[str, Datapoint]:
        """Wait for at least one new datapoint and take all that are pending."""
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            await self._wakeup.wait()
            if not self._pending:
                self._wakeup.clear()
        return self.poll()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Datapoint]:
        return await self.next_batch()

    def close(self) -> None:
        """Stop the subscription; a waiting consumer ends its iteration."""
        if self._closed:
            return
        self._closed = True
        self._broker._remove_subscription(self)
        self._wakeup.set()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    def _start_callback(self, callback: BatchCallback) -> None:
        async def pump() -> None:
            try:
                while True:
                    batch = await self.next_batch()
                    result = callback(batch)
                    if inspect.isawaitable(result):
                        await result
            except StopAsyncIteration:
                pass
            except Exception:
                log.exception("subscriber callback failed; subscription closed")
                self.close()

        self._task = asyncio.get_running_loop().create_task(pump())


class ProviderHandle:
    """A provider's claim on signals; `close()` gives them up (actuation then fails at once)."""

    def __init__(
        self,
        broker: Broker,
        client: Client,
        paths: frozenset[str],
        actuator: ActuationProvider | None,
    ) -> None:
        self._broker = broker
        self.client = client
        self.paths = paths
        self.actuator = actuator
        self.closed = False

    def publish_many(self, values: Mapping[str, object], timestamp: float | None = None) -> None:
        """Publish current values of claimed signals, all or nothing.

        The claim already proved the `provide` scope and ownership, so only the values are
        checked here: the provider's hot path. A path outside the claim, or a claim given up,
        raises and stores nothing.
        """
        if self.closed:
            raise SignalError(f"provider '{self.client.name}' has given up its signals")
        catalog = self._broker.catalog
        paths = self.paths
        checked: list[tuple[str, Value]] = []
        for path, raw in values.items():
            if path not in paths:
                if path in catalog:
                    raise SignalError(f"'{self.client.name}' has not claimed {path}", path)
                catalog.get(path)  # raises the specific unknown-path error
            checked.append((path, catalog.get(path).check(raw)))
        stamp = self._broker.clock() if timestamp is None else timestamp
        self._broker._store(Field.VALUE, ((p, Datapoint(v, stamp)) for p, v in checked))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._broker._release(self)


class Broker:
    """The hub. Create clients with `broker.client(name, scopes)`; every call checks scopes."""

    def __init__(self, catalog: Catalog, clock: Callable[[], float] = time.time) -> None:
        self.catalog = catalog
        self.clock = clock
        self._values: dict[str, Datapoint] = {}
        self._targets: dict[str, Datapoint] = {}
        self._claims: dict[str, ProviderHandle] = {}
        self._subscriptions: list[Subscription] = []
        self._routes: dict[tuple[Field, str], tuple[Subscription, ...]] = {}
        self.updates_published = 0

    def client(self, name: str, scopes: str | tuple[Scope, ...] = ALL_SCOPES) -> Client:
        return Client(self, name, Permissions(scopes))

    # ------------------------------------------------------------------ internals

    def _route(self, field: Field, path: str) -> tuple[Subscription, ...]:
        key = (field, path)
        subs = self._routes.get(key)
        if subs is None:
            subs = tuple(s for s in self._subscriptions if s.field is field and path in s.paths)
            self._routes[key] = subs
        return subs

    def _store(self, field: Field, items: Iterable[tuple[str, Datapoint]]) -> None:
        table = self._values if field is Field.VALUE else self._targets
        routes = self._routes
        count = 0
        for path, datapoint in items:
            table[path] = datapoint
            subs = routes.get((field, path))
            if subs is None:
                subs = self._route(field, path)
            for sub in subs:
                sub._offer(path, datapoint)
            count += 1
        self.updates_published += count

    def _add_subscription(self, sub: Subscription) -> None:
        self._subscriptions.append(sub)
        self._routes.clear()

    def _remove_subscription(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
            self._routes.clear()

    def _release(self, handle: ProviderHandle) -> None:
        for path in handle.paths:
            if self._claims.get(path) is handle:
                del self._claims[path]

    def provider_of(self, path: str) -> str | None:
        """Name of the client that provides `path`, if one has claimed it."""
        handle = self._claims.get(path)
        return handle.client.name if handle else None


class Client:
    """A connection to the broker with its own scopes, checked on every call."""

    def __init__(self, broker: Broker, name: str, permissions: Permissions) -> None:
        self.broker = broker
        self.name = name
        self.permissions = permissions

    # ------------------------------------------------------------------ helpers

    def _require(self, action: Action, path: str) -> None:
        if not self.permissions.allows(action, path):
            verb = {"read": "read", "actuate": "actuate", "provide": "provide"}[action.value]
            raise AccessDeniedError(self.name, verb, path, self.permissions.text)

    def _signal(self, path: str, action: Action) -> Signal:
        signal = self.broker.catalog.get(path)
        self._require(action, path)
        return signal

    def _select(self, patterns: str | Iterable[str], action: Action) -> list[Signal]:
        if isinstance(patterns, str):
            patterns = [patterns]
        chosen: dict[str, Signal] = {}
        for pattern in patterns:
            for signal in self.broker.catalog.match(pattern):
                chosen[signal.path] = signal
        for path in chosen:
            self._require(action, path)
        return list(chosen.values())

    # ------------------------------------------------------------------ consumers

    def metadata(self, pattern: str = "") -> list[Signal]:
        """The catalog entries a pattern selects (read scope needed on each)."""
        return self._select(pattern, Action.READ)

    def get(self, path: str) -> Datapoint | None:
        """The current value, or None when no provider has published one yet."""
        self._signal(path, Action.READ)
        return self.broker._values.get(path)

    def get_target(self, path: str) -> Datapoint | None:
        """An actuator's latest accepted target value, or None."""
        self._signal(path, Action.READ)
        return self.broker._targets.get(path)

    def get_many(self, patterns: str | Iterable[str]) -> dict[str, Datapoint | None]:
        """Current values of every signal the patterns select."""
        values = self.broker._values
        return {s.path: values.get(s.path) for s in self._select(patterns, Action.READ)}

    def value(self, path: str, default: Value | None = None) -> Value | None:
        """The current value alone (or `default`)."""
        datapoint = self.get(path)
        return default if datapoint is None else datapoint.value

    def actuate(self, path: str, value: object) -> None:
        """Set an actuator's target; see `actuate_many`."""
        self.actuate_many({path: value})

    def actuate_many(self, values: Mapping[str, object]) -> None:
        """Set actuator targets, all or nothing.

        Raises (and changes nothing) when a path is unknown or not an actuator, a value is
        invalid, the client lacks `actuate` scope, an actuator has no provider, or a provider
        refuses (a safety interlock of the car, say).
        """
        broker = self.broker
        checked: dict[str, Value] = {}
        by_provider: dict[int, tuple[ProviderHandle, dict[str, Value]]] = {}
        for path, raw in values.items():
            signal = broker.catalog.get(path)
            if signal.type is not NodeType.ACTUATOR:
                raise ReadOnlyError(path, signal.type.value)
            self._require(Action.ACTUATE, path)
            value = signal.check(raw)
            handle = broker._claims.get(path)
            if handle is None or handle.actuator is None:
                raise ProviderUnavailableError(path)
            checked[path] = value
            by_provider.setdefault(id(handle), (handle, {}))[1][path] = value
        for handle, group in by_provider.values():
            assert handle.actuator is not None
            refusals = handle.actuator.check_actuation(group)
            if refusals:
                path, reason = next(iter(refusals.items()))
                raise ActuationRefusedError(path, group.get(path), reason)
        now = broker.clock()
        broker._store(Field.TARGET, ((p, Datapoint(v, now)) for p, v in checked.items()))
        for handle, group in by_provider.values():
            assert handle.actuator is not None
            handle.actuator.actuate(group)

    def subscribe(
        self,
        patterns: str | Iterable[str],
        *,
        field: Field = Field.VALUE,
        callback: BatchCallback | None = None,
    ) -> Subscription:
        """Subscribe to signals by path, branch or wildcard pattern.

        Needs a running event loop. With `callback`, a task calls it with each batch; otherwise
        iterate the returned subscription.
        """
        signals = self._select(patterns, Action.READ)
        paths = frozenset(s.path for s in signals)
        sub = Subscription(self.broker, paths, field)
        table = self.broker._values if field is Field.VALUE else self.broker._targets
        for path in paths:
            datapoint = table.get(path)
            if datapoint is not None:
                sub._pending[path] = datapoint
        if sub._pending:
            sub._wakeup.set()
        self.broker._add_subscription(sub)
        if callback is not None:
            sub._start_callback(callback)
        return sub

    # ------------------------------------------------------------------ providers

    def provide(
        self, patterns: str | Iterable[str], actuator: ActuationProvider | None = None
    ) -> ProviderHandle:
        """Claim signals as their provider; with `actuator`, also make their targets real.

        Fails, claiming nothing, if another provider holds one of them or the client lacks the
        `provide` scope on one.
        """
        signals = self._select(patterns, Action.PROVIDE)
        if not signals:
            raise InvalidRequestError("nothing to provide: name at least one signal")
        claims = self.broker._claims
        for signal in signals:
            owner = claims.get(signal.path)
            if owner is not None and owner.client is not self:
                raise ProviderConflictError(signal.path, owner.client.name)
        if actuator is not None and not any(s.type is NodeType.ACTUATOR for s in signals):
            first = signals[0]
            raise NotAnActuatorError(first.path, first.type.value)
        handle = ProviderHandle(self.broker, self, frozenset(s.path for s in signals), actuator)
        for signal in signals:
            claims[signal.path] = handle
        return handle

    def publish(self, path: str, value: object, timestamp: float | None = None) -> None:
        """Publish one current value; see `publish_many`."""
        self.publish_many({path: value}, timestamp)

    def publish_many(self, values: Mapping[str, object], timestamp: float | None = None) -> None:
        """Publish current values as a provider, all or nothing.

        Each path needs the `provide` scope, must not be claimed by another provider, and each
        value must be valid; otherwise a specific error is raised and nothing is stored.
        """
        self.update(values, {}, timestamp)

    def update(
        self,
        values: Mapping[str, object],
        targets: Mapping[str, object],
        timestamp: float | None = None,
    ) -> None:
        """Publish current values and set actuator targets in one all-or-nothing step.

        Everything is checked (values, scopes, claims, providers, the providers' own rules)
        before anything is stored, as `publish_many` and `actuate_many` do on their own.
        """
        broker = self.broker
        catalog = broker.catalog
        claims = broker._claims
        allows = self.permissions.allows
        checked: list[tuple[str, Value]] = []
        for path, raw in values.items():
            signal = catalog.get(path)
            if not allows(Action.PROVIDE, path):
                raise AccessDeniedError(self.name, "provide", path, self.permissions.text)
            owner = claims.get(path)
            if owner is not None and owner.client is not self:
                raise ProviderConflictError(path, owner.client.name)
            checked.append((path, signal.check(raw)))
        if targets:
            self.actuate_many(targets)  # all-or-nothing itself; raises before storing anything
        stamp = broker.clock() if timestamp is None else timestamp
        broker._store(Field.VALUE, ((p, Datapoint(v, stamp)) for p, v in checked))


__all__ = [
    "ActuationProvider",
    "Broker",
    "Client",
    "Datapoint",
    "Field",
    "ProviderHandle",
    "SignalError",
    "Subscription",
]
