"""The VSS <-> CAN mapping: a TOML file of `[[signal]]` tables over one or more DBC files.

```toml
dbc = "carmind_sim.dbc"        # optional: DBC files, relative to this file (or give --dbc)
node = "CARMIND"               # optional: the DBC node carmind transmits as

[[signal]]
vss = "Vehicle.Speed"
message = "VCU_Motion"
signal = "VehicleSpeed"
direction = "can_to_vss"       # or "vss_to_can" for an actuator's target, sent as a request
scale = 1.0                    # optional: VSS = DBC physical value * scale + offset
offset = 0.0
enum = { 0 = "UP", 1 = "MIDDLE" }   # optional: raw value -> VSS string or boolean
min_interval_ms = 100          # optional, vss_to_can: at most one request frame per interval
```

Everything is checked when the file is loaded, against the DBC and the VSS catalog; the first
problem raises `CanMappingError` naming the file, the entry and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import cantools
from cantools.database.can import Database
from cantools.database.can import Message as DbcMessage
from cantools.database.can import Signal as DbcSignal

from carmind.signals.adapters.can.codec import MessageCodec, SignalCodec, frame_key
from carmind.signals.adapters.can.entries import (
    Direction,
    Entry,
    SignalMapping,
    check_datatype,
    check_direction,
    enum_table,
    parse_entry,
)
from carmind.signals.adapters.can.errors import CanMappingError
from carmind.signals.catalog import Catalog, Signal, default_catalog

DATA = "carmind.signals.adapters.can"
SIM_DBC = "carmind_sim.dbc"
SIM_MAP = "carmind_sim_map.toml"
SIM_LOG = "sim_drive.log"
DEFAULT_NODE = "CARMIND"

_TOP_KEYS = frozenset({"dbc", "node", "signal"})


@dataclass(frozen=True, slots=True)
class Outbound:
    """Where an actuator's target goes: the request message and the signal in it."""

    message: MessageCodec
    signal: SignalCodec
    min_interval_s: float


@dataclass(frozen=True, slots=True)
class CanMapping:
    """A validated mapping, compiled for decoding and encoding."""

    source: str
    dbc_sources: tuple[str, ...]
    node: str
    database: Database
    catalog: Catalog
    entries: tuple[SignalMapping, ...]
    inbound: Mapping[int, MessageCodec]
    """Status messages by frame key (`codec.frame_key`): what the bridge decodes."""
    outbound: Mapping[str, Outbound]
    """Request signals by VSS actuator path: what the bridge sends."""
    known_keys: frozenset[int]
    """Every frame key of the DBC files, mapped or not."""

    @property
    def can_to_vss_paths(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(e.vss for e in self.entries if e.direction is Direction.CAN_TO_VSS)
        )

    @property
    def vss_to_can_paths(self) -> tuple[str, ...]:
        return tuple(self.outbound)

    def inbound_message(self, name: str) -> MessageCodec:
        for codec in self.inbound.values():
            if codec.name == name:
                return codec
        raise KeyError(name)

    def inbound_codec(self, path: str) -> SignalCodec:
        """The (first) codec that publishes `path`."""
        for codec in self.inbound.values():
            for signal in codec.signals:
                if signal.path == path:
                    return signal
        raise KeyError(path)


# --------------------------------------------------------------------------- loading


def package_data(name: str) -> Traversable:
    """A file shipped with the CAN adapter (`carmind_sim.dbc`, `sim_drive.log`, ...)."""
    return resources.files(DATA).joinpath("data", name)


def load_mapping(
    map_file: str | Path | None = None,
    dbc_files: Sequence[str | Path] = (),
    catalog: Catalog | None = None,
) -> CanMapping:
    """Load and validate a mapping (default: the shipped one for the simulated car).

    DBC files come from `dbc_files`, else from the mapping's own `dbc` key (relative to it).
    """
    catalog = default_catalog() if catalog is None else catalog
    if map_file is None:
        source: str = SIM_MAP
        text = package_data(SIM_MAP).read_text("utf-8")
        base: Traversable | Path = _data_dir()
    else:
        path = Path(map_file)
        source = str(path)
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            raise CanMappingError(source, "file not found: expected a TOML mapping") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CanMappingError(source, f"cannot read it: {exc}") from None
        base = path.parent
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CanMappingError(source, f"not valid TOML: {exc}") from None
    for key in doc:
        if key not in _TOP_KEYS:
            raise CanMappingError(
                source, f"unknown key {key!r}: expected dbc, node or [[signal]] tables", field=key
            )
    if dbc_files:
        dbcs: list[tuple[str, str]] = [_read_dbc(Path(f)) for f in dbc_files]
    else:
        named = doc.get("dbc")
        if named is None:
            raise CanMappingError(
                source, "no DBC file: give one with --dbc or name it in the mapping (dbc = ...)"
            )
        names = [named] if isinstance(named, str) else named
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise CanMappingError(
                source, f"expected a file name or a list of them, got {named!r}", field="dbc"
            )
        dbcs = [_read_relative_dbc(base, n, source) for n in names]
    node = doc.get("node", DEFAULT_NODE)
    if not isinstance(node, str):
        raise CanMappingError(source, f"expected a DBC node name, got {node!r}", field="node")
    database = _database(dbcs)
    raw_entries = doc.get("signal", [])
    if not isinstance(raw_entries, list) or not raw_entries:
        raise CanMappingError(source, "expected at least one [[signal]] table", field="signal")
    return compile_mapping(source, tuple(n for n, _ in dbcs), node, database, catalog, raw_entries)


def _data_dir() -> Traversable:
    return resources.files(DATA).joinpath("data")


def _read_dbc(path: Path) -> tuple[str, str]:
    try:
        return (str(path), path.read_text("utf-8", errors="replace"))
    except FileNotFoundError:
        raise CanMappingError(str(path), "DBC file not found") from None
    except OSError as exc:
        raise CanMappingError(str(path), f"cannot read the DBC file: {exc}") from None


def _read_relative_dbc(base: Traversable | Path, name: str, source: str) -> tuple[str, str]:
    if Path(name).is_absolute():
        return _read_dbc(Path(name))
    if isinstance(base, Path):
        return _read_dbc(base / name)
    item = base.joinpath(name)
    if not item.is_file():
        raise CanMappingError(source, f"DBC file {name!r} not found next to it", field="dbc")
    return (name, item.read_text("utf-8"))


def _database(dbcs: Iterable[tuple[str, str]]) -> Database:
    database = cantools.database.can.Database()
    for name, text in dbcs:
        try:
            database.add_dbc_string(text)
        except Exception as exc:  # cantools raises several parser error types
            raise CanMappingError(name, f"not a valid DBC file: {exc}") from None
    return database


# --------------------------------------------------------------------------- compiling


def compile_mapping(
    source: str,
    dbc_sources: tuple[str, ...],
    node: str,
    database: Database,
    catalog: Catalog,
    tables: Sequence[object],
) -> CanMapping:
    """Validate parsed `[[signal]]` tables and compile them (see `load_mapping`)."""
    messages = {m.name: m for m in database.messages}
    entries: list[SignalMapping] = []
    codecs: list[tuple[SignalMapping, SignalCodec, DbcMessage]] = []
    parsed: list[tuple[Entry, SignalMapping, Signal, DbcMessage, DbcSignal]] = []
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, Mapping):
            raise CanMappingError(source, "expected a table", entry=number)
        entry = Entry(source, number, table)
        mapping, vss, message, dbc = parse_entry(entry, catalog, messages)
        parsed.append((entry, mapping, vss, message, dbc))
    requested = {m.message for _, m, *_ in parsed if m.direction is Direction.VSS_TO_CAN}
    seen: dict[tuple[str, Direction], int] = {}
    commanded: dict[tuple[str, str], int] = {}
    for entry, mapping, vss, message, dbc in parsed:
        check_direction(entry, mapping, vss, message, node, requested)
        first = seen.setdefault((mapping.vss, mapping.direction), entry.number)
        if first != entry.number:
            raise entry.fail("vss", f"already mapped {mapping.direction} by [[signal]] #{first}")
        if mapping.direction is Direction.VSS_TO_CAN:
            first = commanded.setdefault((mapping.message, mapping.signal), entry.number)
            if first != entry.number:
                raise entry.fail("signal", f"already carries the target of [[signal]] #{first}")
        enum = enum_table(entry, mapping, vss, dbc)
        check_datatype(entry, mapping, vss, dbc, enum)
        codec = SignalCodec(vss, dbc, scale=mapping.scale, offset=mapping.offset, enum=enum)
        entries.append(mapping)
        codecs.append((mapping, codec, message))
    return _assemble(source, dbc_sources, node, database, catalog, entries, codecs)


def _assemble(
    source: str,
    dbc_sources: tuple[str, ...],
    node: str,
    database: Database,
    catalog: Catalog,
    entries: list[SignalMapping],
    codecs: list[tuple[SignalMapping, SignalCodec, DbcMessage]],
) -> CanMapping:
    inbound_signals: dict[str, list[SignalCodec]] = {}
    outbound_signals: dict[str, list[tuple[SignalMapping, SignalCodec]]] = {}
    dbc_messages: dict[str, DbcMessage] = {}
    for mapping, codec, message in codecs:
        dbc_messages[message.name] = message
        if mapping.direction is Direction.CAN_TO_VSS:
            inbound_signals.setdefault(message.name, []).append(codec)
        else:
            outbound_signals.setdefault(message.name, []).append((mapping, codec))
    inbound: dict[int, MessageCodec] = {}
    for name, signal_codecs in inbound_signals.items():
        message_codec = MessageCodec(dbc_messages[name], tuple(signal_codecs))
        inbound[message_codec.key] = message_codec
    outbound: dict[str, Outbound] = {}
    for name, pairs in outbound_signals.items():
        message_codec = MessageCodec(dbc_messages[name], tuple(c for _, c in pairs))
        interval = max((m.min_interval_ms or 0.0) for m, _ in pairs) / 1000.0
        for _, codec in pairs:
            outbound[codec.path] = Outbound(message_codec, codec, interval)
    known = frozenset(frame_key(m.frame_id, m.is_extended_frame) for m in database.messages)
    return CanMapping(
        source=source,
        dbc_sources=dbc_sources,
        node=node,
        database=database,
        catalog=catalog,
        entries=tuple(entries),
        inbound=inbound,
        outbound=outbound,
        known_keys=known,
    )
