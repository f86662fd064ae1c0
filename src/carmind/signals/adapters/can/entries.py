"""One `[[signal]]` table of a mapping file: parsed and checked against the DBC and the catalog.

Each check raises `CanMappingError` naming the file, the entry number and the field; see
`carmind.signals.adapters.can.mapping` for the file format.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cantools.database.can import Message as DbcMessage
from cantools.database.can import Signal as DbcSignal

from carmind.signals.adapters.can.codec import physical_limits, raw_limits
from carmind.signals.adapters.can.errors import CanMappingError
from carmind.signals.catalog import (
    FLOAT_TYPES,
    INTEGER_RANGES,
    Catalog,
    NodeType,
    Scalar,
    Signal,
)
from carmind.signals.errors import SignalError

REQUIRED = ("vss", "message", "signal", "direction")
OPTIONAL = frozenset({"scale", "offset", "enum", "min_interval_ms"})


class Direction(StrEnum):
    CAN_TO_VSS = "can_to_vss"
    """A frame's value becomes the VSS current value (sensors, actuators' current state)."""
    VSS_TO_CAN = "vss_to_can"
    """An actuator's target becomes a request frame."""


@dataclass(frozen=True, slots=True)
class SignalMapping:
    """One `[[signal]]` entry as written (validated)."""

    entry: int
    vss: str
    message: str
    signal: str
    direction: Direction
    scale: float = 1.0
    offset: float = 0.0
    enum: tuple[tuple[int, Scalar], ...] | None = None
    min_interval_ms: float | None = None


class Entry:
    """Raise errors that name the file, the entry and the field."""

    def __init__(self, source: str, number: int, table: Mapping[str, Any]) -> None:
        self.source = source
        self.number = number
        self.table = table
        vss = table.get("vss")
        self.vss = vss if isinstance(vss, str) else None

    def fail(self, field: str | None, problem: str) -> CanMappingError:
        return CanMappingError(self.source, problem, entry=self.number, vss=self.vss, field=field)

    def text(self, key: str) -> str:
        value = self.table.get(key)
        if value is None:
            raise self.fail(key, "missing: every [[signal]] needs vss, message, signal, direction")
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def number_of(self, key: str, default: float | None) -> float | None:
        value = self.table.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise self.fail(key, f"expected a finite number, got {value!r}")
        return float(value)


def parse_entry(
    entry: Entry, catalog: Catalog, messages: Mapping[str, DbcMessage]
) -> tuple[SignalMapping, Signal, DbcMessage, DbcSignal]:
    for key in entry.table:
        if key not in REQUIRED and key not in OPTIONAL:
            known = ", ".join([*REQUIRED, *sorted(OPTIONAL)])
            raise entry.fail(key, f"unknown key: expected one of {known}")
    path = entry.text("vss")
    try:
        vss = catalog.get(path)
    except SignalError as exc:
        raise entry.fail("vss", str(exc)) from None
    if vss.is_array:
        raise entry.fail("vss", f"{path} is a {vss.datatype} array: map scalar signals only")
    name = entry.text("message")
    message = messages.get(name)
    if message is None:
        close = difflib.get_close_matches(name, list(messages), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise entry.fail("message", f"no message {name!r} in the DBC{hint}")
    signal_name = entry.text("signal")
    dbc = next((s for s in message.signals if s.name == signal_name), None)
    if dbc is None:
        names = ", ".join(s.name for s in message.signals)
        raise entry.fail("signal", f"no signal {signal_name!r} in {name}: it has {names}")
    direction_text = entry.text("direction")
    try:
        direction = Direction(direction_text)
    except ValueError:
        raise entry.fail(
            "direction", f"expected 'can_to_vss' or 'vss_to_can', got {direction_text!r}"
        ) from None
    scale = entry.number_of("scale", 1.0)
    offset = entry.number_of("offset", 0.0)
    assert scale is not None and offset is not None
    if scale == 0:
        raise entry.fail("scale", "expected a non-zero number, got 0")
    interval = entry.number_of("min_interval_ms", None)
    if interval is not None:
        if direction is Direction.CAN_TO_VSS:
            raise entry.fail("min_interval_ms", "applies to vss_to_can requests only")
        if interval < 0:
            raise entry.fail("min_interval_ms", f"expected 0 or more, got {interval:g}")
    mapping = SignalMapping(
        entry=entry.number,
        vss=path,
        message=name,
        signal=signal_name,
        direction=direction,
        scale=scale,
        offset=offset,
        min_interval_ms=interval,
    )
    return mapping, vss, message, dbc


def check_direction(
    entry: Entry,
    mapping: SignalMapping,
    vss: Signal,
    message: DbcMessage,
    node: str,
    requested: set[str],
) -> None:
    senders = list(message.senders or [])
    if mapping.direction is Direction.VSS_TO_CAN:
        if vss.type is not NodeType.ACTUATOR:
            raise entry.fail(
                "direction",
                f"{vss.path} is a {vss.type.value}: only actuators have targets to send; "
                "use can_to_vss",
            )
        if message.is_multiplexed():
            raise entry.fail("message", f"{message.name} is multiplexed: requests cannot be")
        if node and senders and node not in senders:
            raise entry.fail(
                "message",
                f"{message.name} is sent by {', '.join(senders)}, not by {node} (the mapping's "
                "node): carmind must not transmit another node's frames",
            )
    elif message.name in requested or (node and node in senders):
        raise entry.fail(
            "message",
            f"{message.name} is a request frame {node or 'carmind'} sends (actuator targets "
            "only): it never carries a current value; map the actuator's current value from "
            "a status message",
        )


def enum_table(
    entry: Entry, mapping: SignalMapping, vss: Signal, dbc: DbcSignal
) -> dict[int, Scalar] | None:
    raw_enum = entry.table.get("enum")
    if raw_enum is None:
        if vss.datatype == "string" and dbc.choices:
            names = {raw: str(name) for raw, name in dbc.choices.items()}
            usable: dict[int, Scalar] = {
                raw: name
                for raw, name in names.items()
                if vss.allowed is None or name in vss.allowed
            }
            if not usable:
                raise entry.fail(
                    "enum",
                    f"missing: the DBC's value names of {dbc.name} ({', '.join(names.values())}) "
                    f'are none of {vss.path}\'s allowed values; add enum = {{ raw = "VALUE" }}',
                )
            return usable
        return None
    if vss.datatype not in ("string", "boolean"):
        raise entry.fail(
            "enum", f"maps raw values to strings or booleans, but {vss.path} is a {vss.datatype}"
        )
    if not isinstance(raw_enum, Mapping) or not raw_enum:
        raise entry.fail("enum", f'expected a table such as {{ 0 = "OFF" }}, got {raw_enum!r}')
    for key in ("scale", "offset"):
        if key in entry.table:
            raise entry.fail(key, "cannot be combined with enum")
    low, high = raw_limits(dbc)
    table: dict[int, Scalar] = {}
    for key, value in raw_enum.items():
        try:
            raw = int(key, 0)
        except ValueError:
            raise entry.fail("enum", f"key {key!r} is not an integer raw value") from None
        if not low <= raw <= high:
            raise entry.fail(
                "enum", f"raw value {raw} does not fit {dbc.name} ({low:g} to {high:g})"
            )
        expected = str if vss.datatype == "string" else bool
        if not isinstance(value, expected):
            raise entry.fail(
                "enum",
                f"{raw} = {value!r}: {vss.path} is a {vss.datatype}, expected "
                f"{'strings' if expected is str else 'true or false'}",
            )
        if vss.allowed is not None and value not in vss.allowed:
            allowed = ", ".join(str(a) for a in vss.allowed)
            raise entry.fail("enum", f"{raw} = {value!r} is not allowed: choose one of {allowed}")
        table[raw] = value
    if mapping.direction is Direction.VSS_TO_CAN and len(set(table.values())) != len(table):
        raise entry.fail("enum", "two raw values for one VSS value: a request must be unambiguous")
    return table


def check_datatype(
    entry: Entry,
    mapping: SignalMapping,
    vss: Signal,
    dbc: DbcSignal,
    enum: Mapping[int, Scalar] | None,
) -> None:
    datatype = vss.datatype
    if enum is not None:
        return
    if datatype == "string":
        raise entry.fail(
            "enum", f'missing: {vss.path} is a string; map raw values with enum = {{ 0 = "..." }}'
        )
    if datatype == "boolean":
        for key in ("scale", "offset"):
            if key in entry.table:
                raise entry.fail(key, f"{vss.path} is a boolean: no scale or offset applies")
        if dbc.length != 1:
            raise entry.fail(
                "signal",
                f"{dbc.name} is {dbc.length} bits but {vss.path} is a boolean: map it with "
                "enum = { 0 = false, 1 = true }",
            )
        return
    step = dbc.scale * mapping.scale
    base = dbc.offset * mapping.scale + mapping.offset
    if datatype in INTEGER_RANGES:
        if dbc.is_float:
            raise entry.fail(
                "signal", f"{dbc.name} is a floating-point signal; {vss.path} is a {datatype}"
            )
        if not (_integral(step) and _integral(base)):
            raise entry.fail(
                "scale",
                f"{dbc.name} decodes in steps of {step:g} from {base:g}, but {vss.path} is a "
                f"{datatype}: scale and offset must give whole numbers",
            )
        type_low: float = INTEGER_RANGES[datatype][0]
        type_high: float = INTEGER_RANGES[datatype][1]
    elif datatype in FLOAT_TYPES:
        type_low, type_high = -math.inf, math.inf
    else:  # pragma: no cover - the catalog knows no other scalar types
        raise entry.fail("vss", f"unsupported datatype {datatype}")
    low = type_low if vss.min is None else max(type_low, vss.min)
    high = type_high if vss.max is None else min(type_high, vss.max)
    codec_low, codec_high = _decoded_range(dbc, mapping)
    if codec_high < low or codec_low > high:
        raise entry.fail(
            "signal",
            f"{dbc.name} decodes to {codec_low:g} to {codec_high:g}, all outside {vss.path}'s "
            f"range {low:g} to {high:g} ({datatype})",
        )


def _integral(value: float) -> bool:
    return abs(value - round(value)) <= 1e-9 * max(1.0, abs(value))


def _decoded_range(dbc: DbcSignal, mapping: SignalMapping) -> tuple[float, float]:
    low, high = physical_limits(dbc)
    ends = (low * mapping.scale + mapping.offset, high * mapping.scale + mapping.offset)
    return (min(ends), max(ends))
