"""Request frames: actuator targets encoded into their DBC messages and sent on the bus.

Each target is encoded into its request message; the message's other signals stay at their start
values ("no request"). A message with `min_interval_ms` sent less than that long ago waits for the
rest of the interval, and targets arriving meanwhile are merged into it (the latest value per
signal): at most one frame per interval, none delayed longer than the interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import can

from carmind.signals.adapters.can.codec import Raw
from carmind.signals.adapters.can.errors import CanValueError
from carmind.signals.adapters.can.mapping import CanMapping
from carmind.signals.adapters.can.stats import BridgeStats
from carmind.signals.catalog import Value

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    """A request frame waiting for its message's minimum interval."""

    raws: dict[str, Raw] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


class RequestSender:
    """Sends the request frames of a mapping's `vss_to_can` signals on one bus."""

    def __init__(self, bus: can.BusABC, mapping: CanMapping, stats: BridgeStats, name: str) -> None:
        self.bus = bus
        self.outbound = mapping.outbound
        self.stats = stats
        self.name = name
        self._messages = {o.message.name: o.message for o in mapping.outbound.values()}
        self._intervals = {o.message.name: o.min_interval_s for o in mapping.outbound.values()}
        self._last_sent: dict[str, float] = {}
        self._pending: dict[str, _Pending] = {}

    def refusal(self, path: str, value: Value) -> str | None:
        """Why the request frame of `path` cannot carry `value`, or None."""
        try:
            self.outbound[path].signal.to_raw(value)
        except CanValueError as exc:
            return f"the CAN request cannot carry it: {exc.reason}"
        return None

    def send(self, values: Mapping[str, Value]) -> None:
        """Encode targets (already checked) into their messages; send now or after the interval."""
        by_message: dict[str, dict[str, Raw]] = {}
        for path, value in values.items():
            target = self.outbound[path]
            raws = by_message.setdefault(target.message.name, {})
            raws[target.signal.name] = target.signal.to_raw(value)
        now = time.monotonic()
        for name, raws in by_message.items():
            pending = self._pending.get(name)
            if pending is not None:
                pending.raws.update(raws)
                self.stats.requests_merged += 1
                continue
            wait = self._last_sent.get(name, -1e18) + self._intervals[name] - now
            if wait > 0:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    self._send(name, raws)  # no loop to wait on: send at once
                    continue
                pending = self._pending[name] = _Pending(dict(raws))
                pending.timer = loop.call_later(wait, self._flush, name)
            else:
                self._send(name, raws)

    def cancel(self) -> int:
        """Drop the frames waiting for their interval; how many there were."""
        count = len(self._pending)
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
        self._pending.clear()
        return count

    def _flush(self, name: str) -> None:
        pending = self._pending.pop(name, None)
        if pending is not None:
            self._send(name, pending.raws)

    def _send(self, name: str, raws: Mapping[str, Raw]) -> None:
        codec = self._messages[name]
        frame = can.Message(
            arbitration_id=codec.frame_id,
            is_extended_id=codec.is_extended,
            is_fd=codec.is_fd,
            data=codec.encode_raw(raws),
        )
        self._last_sent[name] = time.monotonic()
        try:
            self.bus.send(frame, timeout=0.1)
        except can.CanError as exc:
            self.stats.send_errors += 1
            log.error("%s: could not send %s (%03X): %s", self.name, name, codec.frame_id, exc)
            return
        self.stats.requests_sent += 1
