"""The CAN bridge: status frames in as VSS current values, actuator targets out as request frames.

`CanBridge` is a provider on the hub. It claims the mapping's `can_to_vss` signals and publishes
what it decodes from the bus, in batches; with a bus to send on it is also the actuation provider
of the `vss_to_can` actuators: `check_actuation` refuses what a request frame cannot carry and
`actuate` encodes and sends the frame (see `requests`).

A frame that cannot be used never reaches the hub and never stops the bridge: it is counted by
kind in `BridgeStats` and logged (at most once per `LOG_EVERY_S` per kind):

- `unknown_id`: an identifier the DBC files do not know;
- `bad_length`: a payload whose length differs from the DBC message's;
- `decode_error`: a payload cantools cannot decode (an unknown multiplexer page, say);
- `out_of_range`: a decoded value outside the DBC signal's [min|max] or the VSS signal's range
  (counted per value; the frame's other values are still published);
- `not_allowed`: a raw value the enum does not map, or a value VSS does not allow (per value);
- `error_frame`: a CAN error frame.

Frames the DBC knows but the mapping does not read (other ECUs' frames, carmind's own requests)
are counted as `ignored`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import can

from carmind.signals.adapters.can.codec import EXTENDED_FLAG
from carmind.signals.adapters.can.errors import CanBusError, CanValueError
from carmind.signals.adapters.can.mapping import CanMapping
from carmind.signals.adapters.can.requests import RequestSender
from carmind.signals.adapters.can.stats import VALUE_KINDS, BridgeStats
from carmind.signals.broker import Broker, ProviderHandle
from carmind.signals.catalog import Value
from carmind.signals.errors import SignalError

log = logging.getLogger(__name__)

LOG_EVERY_S = 10.0
"""A kind of bad frame is logged at most once in this many seconds (with a count)."""
MAX_PENDING = 50_000
"""Frames received but not yet processed, at most; beyond it the oldest are dropped (counted)."""


@dataclass(slots=True)
class _Throttle:
    """Rate-limited logging of one kind of bad frame."""

    last: float = -1e18
    suppressed: int = 0


def open_bus(interface: str, channel: str, **kwargs: Any) -> can.BusABC:
    """Open a python-can bus (`socketcan` on `vcan0`/`can0`, `virtual` for tests, ...)."""
    try:
        return can.Bus(interface=interface, channel=channel, **kwargs)
    except (can.CanError, OSError, ValueError, ImportError) as exc:
        hint = ""
        if interface == "socketcan":
            hint = (
                f"; is {channel} up? (for a virtual one: ip link add dev {channel} type vcan "
                f"&& ip link set up {channel})"
            )
        raise CanBusError(f"cannot open CAN bus {interface}:{channel}: {exc}{hint}") from None


class CanBridge:
    """Bridge one CAN bus (or a recorded log) and the hub through a mapping.

    Without a bus (replaying a log, benchmarks) the bridge only publishes; it then leaves the
    `vss_to_can` actuators unclaimed, so that actuating them fails at once, as with no provider.
    """

    def __init__(
        self,
        broker: Broker,
        mapping: CanMapping,
        bus: can.BusABC | None = None,
        *,
        name: str = "can-bridge",
        use_frame_time: bool = True,
    ) -> None:
        self.broker = broker
        self.mapping = mapping
        self.bus = bus
        self.name = name
        self.use_frame_time = use_frame_time
        """Publish with the frames' timestamps (else the broker's clock)."""
        self.stats = BridgeStats()
        self.updated: dict[str, Value] = {}
        """The last value published for every VSS path the bridge has updated."""
        self._client = broker.client(name, "read provide")
        self._handle: ProviderHandle | None = None
        self._inbound = dict(mapping.inbound)
        self._known = mapping.known_keys
        self._throttles: dict[str, _Throttle] = {}
        self._received: list[can.Message] = []
        self._wakeup: asyncio.Event | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._sender = RequestSender(bus, mapping, self.stats, name) if bus is not None else None
        for path in mapping.can_to_vss_paths:
            broker.catalog.get(path)  # a mapping compiled for another catalog fails here

    # ------------------------------------------------------------------ hub wiring

    def attach(self) -> None:
        """Claim the mapped signals on the hub (the actuators too when there is a bus)."""
        if self._handle is not None:
            return
        paths = list(self.mapping.can_to_vss_paths)
        actuator: CanBridge | None = None
        if self.bus is not None and self.mapping.outbound:
            paths.extend(p for p in self.mapping.outbound if p not in paths)
            actuator = self
        self._handle = self._client.provide(paths, actuator=actuator)

    def detach(self) -> None:
        """Give the signals up; cancel requests still waiting for their interval."""
        dropped = self._sender.cancel() if self._sender is not None else 0
        if dropped:
            log.info("%s: %d waiting request frames not sent: detached", self.name, dropped)
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    # ------------------------------------------------------------------ receiving

    def process(self, frames: Iterable[can.Message]) -> int:
        """Decode frames, keep what is valid, publish it as one batch; the values published.

        The batch carries the latest value per path and the last frame's timestamp.
        """
        values: dict[str, Value] = {}
        stamp = 0.0
        decode = self._decode_into
        for frame in frames:
            decode(frame, values)
            stamp = frame.timestamp
        if not values:
            return 0
        return self._publish(values, stamp)

    def _decode_into(self, frame: can.Message, values: dict[str, Value]) -> None:
        stats = self.stats
        stats.frames += 1
        key = frame.arbitration_id | EXTENDED_FLAG if frame.is_extended_id else frame.arbitration_id
        codec = self._inbound.get(key)
        if codec is None or frame.is_error_frame or frame.is_remote_frame:
            if frame.is_error_frame:
                self._bad("error_frame", frame, "CAN error frame")
            elif key in self._known or frame.is_remote_frame:
                stats.ignored += 1
            else:
                self._bad("unknown_id", frame, "identifier not in the DBC")
            return
        data = frame.data
        if len(data) != codec.length:
            self._bad(
                "bad_length",
                frame,
                f"{codec.name} has {len(data)} bytes, expected {codec.length}",
            )
            return
        try:
            raw = codec.decode_raw(data)
        except Exception as exc:  # cantools raises DecodeError and others for bad payloads
            self._bad("decode_error", frame, f"{codec.name}: {exc}")
            return
        stats.decoded += 1
        multiplexed = codec.multiplexed
        for signal in codec.signals:
            if multiplexed:
                value = raw.get(signal.name)
                if value is None:
                    continue
            else:
                value = raw[signal.name]
            try:
                values[signal.path] = signal.to_vss(value)
            except CanValueError as exc:
                self._bad(exc.fault.value, frame, str(exc))

    def _publish(self, values: dict[str, Value], stamp: float) -> int:
        handle = self._handle
        if handle is None:
            raise SignalError(f"'{self.name}' is not attached to the hub: call attach() first")
        timestamp = stamp if self.use_frame_time and stamp > 0 else None
        try:
            handle.publish_many(values, timestamp)
        except SignalError:
            # values were checked one by one already; publish the rest if the hub disagrees
            log.exception("the hub refused a batch from %s; publishing value by value", self.name)
            good: dict[str, Value] = {}
            for path, value in values.items():
                try:
                    handle.publish_many({path: value}, timestamp)
                    good[path] = value
                except SignalError:
                    pass
            values = good
        self.stats.published += len(values)
        self.stats.batches += 1
        self.updated.update(values)
        return len(values)

    def _bad(self, kind: str, frame: can.Message, detail: str) -> None:
        setattr(self.stats, kind, getattr(self.stats, kind) + 1)
        throttle = self._throttles.get(kind)
        if throttle is None:
            throttle = self._throttles[kind] = _Throttle()
        now = time.monotonic()
        if now - throttle.last < LOG_EVERY_S:
            throttle.suppressed += 1
            return
        more = f" ({throttle.suppressed} more since the last report)" if throttle.suppressed else ""
        width = 8 if frame.is_extended_id else 3
        log.warning(
            "%s: dropped %s %0*X (%s): %s%s",
            self.name,
            "a value of frame" if kind in VALUE_KINDS else "frame",
            width,
            frame.arbitration_id,
            kind.replace("_", " "),
            detail,
            more,
        )
        throttle.last = now
        throttle.suppressed = 0

    # ------------------------------------------------------------------ the receive loop

    def _on_frame(self, frame: can.Message) -> None:
        """Called by python-can's Notifier on the event loop for every frame."""
        received = self._received
        if len(received) >= MAX_PENDING:
            del received[0]
            self.stats.overflow += 1
        received.append(frame)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.is_set():
            wakeup.set()

    async def run(self) -> None:
        """Receive from the bus and publish until `stop()`: one batch per wake-up."""
        if self.bus is None:
            raise CanBusError(f"'{self.name}' has no bus to receive from")
        self.attach()
        loop = asyncio.get_running_loop()
        self._wakeup = wakeup = asyncio.Event()
        self._stopping = False
        notifier = can.Notifier(self.bus, [self._on_frame], timeout=0.05, loop=loop)
        try:
            while not self._stopping:
                await wakeup.wait()
                wakeup.clear()
                batch, self._received = self._received, []
                if batch:
                    self.process(batch)
        finally:
            notifier.stop(timeout=1.0)
            self._wakeup = None

    def stop(self) -> None:
        """End `run()` (after the batch in hand)."""
        self._stopping = True
        if self._wakeup is not None:
            self._wakeup.set()

    async def __aenter__(self) -> Self:
        if self.bus is None:
            raise CanBusError(f"'{self.name}' has no bus to receive from")
        self.attach()
        self._task = asyncio.get_running_loop().create_task(self.run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._task is not None:
            await self._task
            self._task = None
        self.detach()

    # ------------------------------------------------------------------ actuation provider

    def check_actuation(self, values: Mapping[str, Value]) -> Mapping[str, str]:
        """Refuse targets no request frame can carry (outside its range, an unmapped value)."""
        reasons: dict[str, str] = {}
        for path, value in values.items():
            if path not in self.mapping.outbound:
                reasons[path] = (
                    f"the CAN bridge reads {path} but no vss_to_can mapping sends requests for it"
                )
            elif self._sender is None:
                reasons[path] = "the CAN bridge has no bus to send requests on"
            else:
                reason = self._sender.refusal(path, value)
                if reason is not None:
                    reasons[path] = reason
        return reasons

    def actuate(self, values: Mapping[str, Value]) -> None:
        """Encode the (checked) targets into their request frames and send them."""
        assert self._sender is not None, "actuate() after check_actuation() accepted"
        self._sender.send(values)
