"""Converting between raw CAN signal values and VSS values: pure functions, no bus, no hub.

A `SignalCodec` is one mapping compiled against its DBC signal and its VSS signal:

    VSS value = (raw * dbc_scale + dbc_offset) * scale + offset        (numbers)
    VSS value = enum[raw]                                               (strings, booleans)
    VSS value = raw != 0                                                (a one-bit boolean)

`to_vss` checks the DBC signal's [min|max] and the VSS signal's datatype, range and allowed
values, raising `CanValueError` when the value must not reach the hub; `to_raw` is the inverse,
with the same checks, for request frames (and for tools that write frames).

A `MessageCodec` holds the mapped signals of one DBC message in one direction and encodes whole
frames: every DBC signal not given takes its start value (`GenSigStartValue`, the "no request"
value of a request frame) or 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import cast

from cantools.database.can import Message as DbcMessage
from cantools.database.can import Signal as DbcSignal

from carmind.signals.adapters.can.errors import CanValueError, ValueFault
from carmind.signals.catalog import INTEGER_RANGES, Scalar, Signal, Value
from carmind.signals.errors import NotAllowedError, OutOfRangeError, ValueTypeError

type Raw = int | float
type RawDecoder = Callable[[Raw], Value]

EXTENDED_FLAG = 0x8000_0000
"""Or-ed into a frame id to key 29-bit (extended) identifiers apart from 11-bit ones."""


def frame_key(frame_id: int, is_extended: bool) -> int:
    """The key of an identifier: 0x123 standard and 0x123 extended are different frames."""
    return frame_id | EXTENDED_FLAG if is_extended else frame_id


def decimals(step: float) -> int | None:
    """The decimal places that represent multiples of `step` exactly (0.01 -> 2, 0.5 -> 1)."""
    for places in range(10):
        scaled = step * 10**places
        if abs(scaled - round(scaled)) <= 1e-9 * max(1.0, abs(scaled)):
            return places
    return None


def raw_limits(dbc: DbcSignal) -> tuple[float, float]:
    """The raw values the signal's bits can hold."""
    if dbc.is_float:
        return (-math.inf, math.inf)
    if dbc.is_signed:
        return (-(2 ** (dbc.length - 1)), 2 ** (dbc.length - 1) - 1)
    return (0, 2**dbc.length - 1)


def physical_limits(dbc: DbcSignal) -> tuple[float, float]:
    """The DBC signal's [min|max] (a DBC's [0|0] means none: then what the bits can hold)."""
    low, high = dbc.minimum, dbc.maximum
    if low is None or high is None or (low == 0 and high == 0):
        raw_low, raw_high = raw_limits(dbc)
        ends = (raw_low * dbc.scale + dbc.offset, raw_high * dbc.scale + dbc.offset)
        return (min(ends), max(ends))
    return (float(low), float(high))


class SignalCodec:
    """One mapped signal: raw DBC value to VSS value and back (see the module docstring)."""

    __slots__ = (
        "_phys_high",
        "_phys_low",
        "_reverse",
        "dbc",
        "enum",
        "name",
        "offset",
        "path",
        "raw_high",
        "raw_low",
        "resolution",
        "scale",
        "to_vss",
        "vss",
    )

    def __init__(
        self,
        vss: Signal,
        dbc: DbcSignal,
        *,
        scale: float = 1.0,
        offset: float = 0.0,
        enum: Mapping[int, Scalar] | None = None,
    ) -> None:
        self.vss = vss
        self.dbc = dbc
        self.path = vss.path
        self.name = dbc.name
        self.scale = scale
        self.offset = offset
        self.enum: dict[int, Scalar] | None = dict(enum) if enum is not None else None
        self.raw_low, self.raw_high = raw_limits(dbc)
        self._phys_low, self._phys_high = physical_limits(dbc)
        self._reverse: dict[Scalar, int] = {}
        if self.enum is not None:
            for raw, value in self.enum.items():
                self._reverse.setdefault(value, raw)
        step = abs(dbc.scale * scale)
        self.resolution: float | None = None if self.enum is not None else step
        """The smallest step of the VSS value (None for enums and booleans)."""
        if self.enum is not None:
            self.to_vss: RawDecoder = self._enum_decoder()
        elif vss.datatype == "boolean":
            self.resolution = None
            self.to_vss = self._bool_decoder()
        else:
            self.to_vss = self._number_decoder()

    # ------------------------------------------------------------------ decoding

    def _fault(self, fault: ValueFault, value: object, reason: str) -> CanValueError:
        return CanValueError(fault, self.path, value, f"{self.dbc.name}: {reason}")

    def _enum_decoder(self) -> RawDecoder:
        table = cast(dict[Raw, Scalar], self.enum)
        check = self.vss.check
        known = ", ".join(f"{raw}={value}" for raw, value in table.items())

        def decode(raw: Raw) -> Value:
            value = table.get(raw)
            if value is None:
                raise self._fault(ValueFault.NOT_ALLOWED, raw, f"raw value not mapped ({known})")
            try:
                return check(value)
            except NotAllowedError as exc:
                raise self._fault(ValueFault.NOT_ALLOWED, value, str(exc)) from None

        return decode

    def _bool_decoder(self) -> RawDecoder:
        def decode(raw: Raw) -> Value:
            return raw != 0

        return decode

    def _number_decoder(self) -> RawDecoder:
        dbc_scale, dbc_offset = self.dbc.scale, self.dbc.offset
        scale, offset = self.scale, self.offset
        low, high = self._phys_low, self._phys_high
        integer = self.vss.datatype in INTEGER_RANGES
        places = decimals(abs(dbc_scale * scale))
        offset_places = decimals(abs(dbc_offset * scale + offset))
        if places is not None and offset_places is not None:
            places = max(places, offset_places)
        check = self.vss.check
        unit = self.dbc.unit or ""

        def decode(raw: Raw) -> Value:
            physical = raw * dbc_scale + dbc_offset
            if physical < low or physical > high:
                raise self._fault(
                    ValueFault.OUT_OF_RANGE,
                    physical,
                    f"outside the DBC range {low:g} to {high:g} {unit}".rstrip(),
                )
            value: float = physical * scale + offset
            try:
                if integer:
                    return check(round(value))
                return check(value if places is None else round(value, places))
            except (OutOfRangeError, ValueTypeError) as exc:
                raise self._fault(ValueFault.OUT_OF_RANGE, value, str(exc)) from None
            except NotAllowedError as exc:
                raise self._fault(ValueFault.NOT_ALLOWED, value, str(exc)) from None

        return decode

    # ------------------------------------------------------------------ encoding

    def to_raw(self, value: Value) -> Raw:
        """The raw DBC value that carries `value`; `CanValueError` if the signal cannot."""
        if self.enum is not None:
            raw = self._reverse.get(cast(Scalar, value))
            if raw is None:
                choices = ", ".join(str(v) for v in self._reverse)
                raise self._fault(
                    ValueFault.NOT_ALLOWED, value, f"no raw value carries it (choose {choices})"
                )
            return raw
        if self.vss.datatype == "boolean":
            return 1 if value is True else 0
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fault(ValueFault.NOT_ALLOWED, value, "expected a number")
        physical = (value - self.offset) / self.scale
        dbc_scale = self.dbc.scale
        slack = abs(dbc_scale) / 2
        if physical < self._phys_low - slack or physical > self._phys_high + slack:
            low = self._phys_low * self.scale + self.offset
            high = self._phys_high * self.scale + self.offset
            low, high = min(low, high), max(low, high)
            unit = f" {self.vss.unit}" if self.vss.unit else ""
            raise self._fault(
                ValueFault.OUT_OF_RANGE, value, f"the frame carries {low:g} to {high:g}{unit}"
            )
        if self.dbc.is_float:
            return (physical - self.dbc.offset) / dbc_scale
        raw = round((physical - self.dbc.offset) / dbc_scale)
        return min(max(raw, int(self.raw_low)), int(self.raw_high))

    def encodable(self) -> str:
        """What the signal can carry, for messages and docs."""
        if self.enum is not None:
            return ", ".join(str(v) for v in self._reverse)
        if self.vss.datatype == "boolean":
            return "true, false"
        low = self._phys_low * self.scale + self.offset
        high = self._phys_high * self.scale + self.offset
        return f"{min(low, high):g} to {max(low, high):g}"


class MessageCodec:
    """A DBC message and its mapped signals in one direction; decodes and encodes frames."""

    __slots__ = (
        "_defaults",
        "cycle_time_ms",
        "dbc",
        "frame_id",
        "is_extended",
        "is_fd",
        "key",
        "length",
        "multiplexed",
        "name",
        "signals",
    )

    def __init__(self, dbc: DbcMessage, signals: tuple[SignalCodec, ...]) -> None:
        self.dbc = dbc
        self.name: str = dbc.name
        self.frame_id: int = dbc.frame_id
        self.is_extended: bool = dbc.is_extended_frame
        self.is_fd: bool = dbc.is_fd
        self.key = frame_key(self.frame_id, self.is_extended)
        self.length: int = dbc.length
        self.multiplexed: bool = dbc.is_multiplexed()
        self.cycle_time_ms: int | None = dbc.cycle_time
        self.signals = signals
        self._defaults: dict[str, Raw] = {
            s.name: s.raw_initial if isinstance(s.raw_initial, int | float) else 0
            for s in dbc.signals
        }

    def decode_raw(self, data: bytes | bytearray) -> dict[str, Raw]:
        """Raw values of every signal in the frame (cantools; raises on a malformed frame)."""
        return cast(
            dict[str, Raw], self.dbc.decode(bytes(data), decode_choices=False, scaling=False)
        )

    def encode_raw(self, raws: Mapping[str, Raw]) -> bytes:
        """A frame's payload: `raws` by DBC signal name; the others at their start values.

        In a multiplexed message, `raws` must name the multiplexer; only the signals of that
        page are encoded.
        """
        names: list[str] = []
        for signal in self.dbc.signals:
            ids = signal.multiplexer_ids
            if (
                ids is None
                or signal.multiplexer_signal is None
                or raws.get(signal.multiplexer_signal) in ids
            ):
                names.append(signal.name)
        values = {name: raws.get(name, self._defaults[name]) for name in names}
        return self.dbc.encode(values, scaling=False, padding=False, strict=False)

    def encode_values(
        self, values: Mapping[str, Value], extra: Mapping[str, Raw] | None = None
    ) -> bytes:
        """A frame carrying the VSS `values` of this message's mapped signals (by VSS path).

        `extra` gives raw values by DBC signal name and wins over `values`: counters, the page of
        a multiplexed message, a value forced for a test. Raises `CanValueError` when a value does
        not fit its signal.
        """
        raws: dict[str, Raw] = {}
        for codec in self.signals:
            if codec.path in values:
                raws[codec.name] = codec.to_raw(values[codec.path])
        raws.update(extra or {})
        return self.encode_raw(raws)
