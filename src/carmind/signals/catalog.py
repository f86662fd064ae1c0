"""The signal catalog: the COVESA VSS model of what a car can say and do.

A catalog is read from any VSS JSON export (the format of `vss-tools`' JSON exporter, as the
Eclipse KUKSA databroker ships it). carmind's default catalog is a curated subset of VSS 5.1 plus
carmind's own overlay branch `Vehicle.Carmind`; a user can load the full standard instead.

Values are validated here, once, by a checker compiled per signal: datatype, min/max, allowed
values. A checker returns the value in its canonical Python type or raises a specific error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

from carmind.signals.errors import (
    CatalogError,
    InvalidPatternError,
    NotAllowedError,
    NotASignalError,
    OutOfRangeError,
    UnknownPathError,
    ValueTypeError,
)

OVERLAY_BRANCH = "Vehicle.Carmind"
"""Every signal carmind adds to VSS lives below this branch."""

type Scalar = bool | int | float | str
type Value = Scalar | tuple[Scalar, ...]
type Checker = Callable[[object], Value]


class NodeType(StrEnum):
    BRANCH = "branch"
    SENSOR = "sensor"
    ACTUATOR = "actuator"
    ATTRIBUTE = "attribute"


INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
FLOAT_TYPES = frozenset({"float", "double"})
SCALAR_TYPES = frozenset({"boolean", "string", *INTEGER_RANGES, *FLOAT_TYPES})
DATATYPES = frozenset(SCALAR_TYPES | {f"{t}[]" for t in SCALAR_TYPES})


@dataclass(frozen=True, slots=True)
class Signal:
    """One leaf of the VSS tree: a sensor, an actuator or an attribute."""

    path: str
    type: NodeType
    datatype: str
    description: str = ""
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    allowed: tuple[Scalar, ...] | None = None
    default: Value | None = None
    comment: str | None = None
    deprecation: str | None = None
    overlay: bool = False
    check: Checker = field(default=lambda v: _unchecked(v), repr=False, compare=False)

    @property
    def is_array(self) -> bool:
        return self.datatype.endswith("[]")

    def to_dict(self) -> dict[str, Any]:
        """The signal as a JSON-ready dict (VSS field names)."""
        out: dict[str, Any] = {
            "path": self.path,
            "type": str(self.type),
            "datatype": self.datatype,
            "description": self.description,
        }
        for key in ("unit", "min", "max", "allowed", "default", "comment", "deprecation"):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if isinstance(value, tuple) else value
        out["overlay"] = self.overlay
        return out


def _unchecked(value: object) -> Value:
    """The checker of a signal built without one (a parsing helper): takes the value as it is."""
    return cast(Value, value)


class Catalog:
    """An immutable set of VSS signals with lookup, pattern matching and value validation."""

    def __init__(self, signals: Iterable[Signal], branches: Mapping[str, str]) -> None:
        self._signals: dict[str, Signal] = {s.path: s for s in signals}
        self._branches: dict[str, str] = dict(branches)
        self._match_cache: dict[str, tuple[Signal, ...]] = {}
        # numeric ids, as KUKSA's v2 API uses them: stable for a catalog (its order), from 1
        self._paths_by_id: dict[int, str] = dict(enumerate(self._signals, start=1))
        self._ids: dict[str, int] = {p: i for i, p in self._paths_by_id.items()}

    def __len__(self) -> int:
        return len(self._signals)

    def __iter__(self) -> Iterator[Signal]:
        return iter(self._signals.values())

    def __contains__(self, path: object) -> bool:
        return path in self._signals

    @property
    def paths(self) -> list[str]:
        return list(self._signals)

    def is_branch(self, path: str) -> bool:
        return path in self._branches

    def branch_description(self, path: str) -> str:
        return self._branches[path]

    def get(self, path: str) -> Signal:
        """The signal at `path`; a branch or an unknown path raises a specific error."""
        signal = self._signals.get(path)
        if signal is not None:
            return signal
        if path in self._branches:
            raise NotASignalError(path)
        raise UnknownPathError(path, self._signals)

    def id_of(self, path: str) -> int:
        """The signal's numeric id (KUKSA v2 `SignalID.id`)."""
        found = self._ids.get(path)
        if found is None:
            self.get(path)  # raises the specific error
            raise UnknownPathError(path, self._signals)
        return found

    def path_of(self, signal_id: int) -> str:
        """The path of the signal with this numeric id."""
        path = self._paths_by_id.get(signal_id)
        if path is None:
            raise UnknownPathError(f"#{signal_id}")
        return path

    def check(self, path: str, value: object) -> Value:
        """`value` validated and converted for the signal at `path`."""
        return self.get(path).check(value)

    def parse(self, path: str, text: str) -> Value:
        """A value typed on a command line, converted and validated for the signal."""
        signal = self.get(path)
        return signal.check(parse_text(signal, text))

    def match(self, pattern: str) -> tuple[Signal, ...]:
        """The signals a KUKSA-style pattern selects, in catalog order.

        A plain path selects that signal or everything below that branch; `*` stands for one path
        segment and `**` for any number; the empty pattern selects everything.
        """
        cached = self._match_cache.get(pattern)
        if cached is not None:
            return cached
        if pattern in self._signals:
            result: tuple[Signal, ...] = (self._signals[pattern],)
        else:
            regex = compile_pattern(pattern)
            result = tuple(s for s in self._signals.values() if regex.fullmatch(s.path))
        if not result:
            if "*" not in pattern:
                raise UnknownPathError(pattern, [*self._signals, *self._branches])
            raise InvalidPatternError(f"pattern '{pattern}' matches no signal", pattern)
        self._match_cache[pattern] = result
        return result

    def merged(self, other: Catalog) -> Catalog:
        """A catalog with `other`'s signals added (and replacing same-path ones)."""
        return Catalog([*self, *other], {**self._branches, **other._branches})


_SEGMENT = re.compile(r"[A-Za-z0-9_\-]+")


@cache
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex for a KUKSA wildcard pattern (see `Catalog.match`)."""
    if pattern == "":
        return re.compile(r".+")
    segments = pattern.split(".")
    parts: list[str] = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**":
            parts.append(r"(?:[^.]+\.)*" if not last else r"(?:[^.]+\.)*[^.]+")
        elif seg == "*":
            parts.append(r"[^.]+\." if not last else r"[^.]+")
        elif _SEGMENT.fullmatch(seg):
            parts.append(re.escape(seg) + (r"\." if not last else ""))
        else:
            raise InvalidPatternError(
                f"pattern '{pattern}' has an invalid segment '{seg}': use names, '*' or '**'",
                pattern,
            )
    body = "".join(parts)
    if segments[-1] not in ("*", "**"):
        body += r"(?:\.[^.]+)*"  # a plain path also selects everything below a branch
    return re.compile(body)


# --------------------------------------------------------------------------- value checkers


def _make_checker(
    path: str,
    datatype: str,
    low: float | None,
    high: float | None,
    allowed: tuple[Scalar, ...] | None,
    unit: str | None,
) -> Checker:
    if datatype.endswith("[]"):
        element = _make_checker(path, datatype[:-2], low, high, allowed, unit)

        def check_array(value: object) -> Value:
            if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
                raise ValueTypeError(path, value, datatype)
            return tuple(element(v) for v in value)  # type: ignore[misc]

        return check_array

    allowed_set = frozenset(allowed) if allowed is not None else None

    def check_allowed(value: Scalar) -> Scalar:
        if allowed_set is not None and value not in allowed_set:
            raise NotAllowedError(path, value, allowed or ())
        return value

    if datatype == "boolean":

        def check_bool(value: object) -> Value:
            if not isinstance(value, bool):
                raise ValueTypeError(path, value, datatype)
            return value

        return check_bool

    if datatype == "string":

        def check_str(value: object) -> Value:
            if not isinstance(value, str):
                raise ValueTypeError(path, value, datatype)
            return check_allowed(value)

        return check_str

    if datatype in INTEGER_RANGES:
        type_low, type_high = INTEGER_RANGES[datatype]
        lo = type_low if low is None else max(type_low, math.ceil(low))
        hi = type_high if high is None else min(type_high, math.floor(high))

        def check_int(value: object) -> Value:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise ValueTypeError(path, value, datatype)
            if value < lo or value > hi:
                raise OutOfRangeError(path, value, lo, hi, unit)
            return check_allowed(value)

        return check_int

    if datatype in FLOAT_TYPES:

        def check_float(value: object) -> Value:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueTypeError(path, value, datatype)
            number = float(value)
            if not math.isfinite(number):
                raise ValueTypeError(path, value, f"finite {datatype}")
            if (low is not None and number < low) or (high is not None and number > high):
                raise OutOfRangeError(path, value, low, high, unit)
            return check_allowed(number)

        return check_float

    raise CatalogError(f"{path}: unknown datatype '{datatype}'", path)


def parse_text(signal: Signal, text: str) -> object:
    """Convert command-line text to the Python type of the signal (validation comes after)."""
    if signal.is_array:
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                items = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise ValueTypeError(signal.path, text, signal.datatype) from exc
            return items
        element = Signal(signal.path, signal.type, signal.datatype[:-2])
        return [parse_text(element, part.strip()) for part in stripped.split(",") if part.strip()]
    datatype = signal.datatype
    if datatype == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "on", "yes"):
            return True
        if lowered in ("false", "0", "off", "no"):
            return False
        raise ValueTypeError(signal.path, text, "boolean (true or false)")
    if datatype in INTEGER_RANGES:
        try:
            return int(text.strip())
        except ValueError:
            raise ValueTypeError(signal.path, text, datatype) from None
    if datatype in FLOAT_TYPES:
        try:
            return float(text.strip())
        except ValueError:
            raise ValueTypeError(signal.path, text, datatype) from None
    return text


# --------------------------------------------------------------------------- loading


def _number(path: str, key: str, raw: object) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise CatalogError(f"{path}: '{key}' must be a number, got {raw!r}", path)
    return raw


def _signal_from_node(path: str, node: Mapping[str, Any], overlay: bool) -> Signal:
    try:
        node_type = NodeType(node["type"])
    except (KeyError, ValueError):
        raise CatalogError(
            f"{path}: 'type' must be one of branch, sensor, actuator, attribute; "
            f"got {node.get('type')!r}",
            path,
        ) from None
    datatype = node.get("datatype")
    if datatype not in DATATYPES:
        raise CatalogError(f"{path}: unknown datatype {datatype!r}", path)
    low = _number(path, "min", node.get("min"))
    high = _number(path, "max", node.get("max"))
    raw_allowed = node.get("allowed")
    allowed = tuple(raw_allowed) if raw_allowed is not None else None
    unit = node.get("unit")
    checker = _make_checker(path, datatype, low, high, allowed, unit)
    default = node.get("default")
    return Signal(
        path=path,
        type=node_type,
        datatype=datatype,
        description=node.get("description", ""),
        unit=unit,
        min=low,
        max=high,
        allowed=allowed,
        default=tuple(default) if isinstance(default, list) else default,
        comment=node.get("comment"),
        deprecation=node.get("deprecation"),
        overlay=overlay or path.startswith(OVERLAY_BRANCH + "."),
        check=checker,
    )


def catalog_from_tree(tree: Mapping[str, Any], *, overlay: bool = False) -> Catalog:
    """Build a catalog from a parsed VSS JSON export (a dict of root branches)."""
    signals: list[Signal] = []
    branches: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, Mapping):
            raise CatalogError(f"{path}: a node must be a JSON object", path)
        if node.get("type") == "branch":
            branches[path] = node.get("description", "")
            children = node.get("children", {})
            if not isinstance(children, Mapping):
                raise CatalogError(f"{path}: 'children' must be a JSON object", path)
            for name, child in children.items():
                walk(child, f"{path}.{name}")
        else:
            signals.append(_signal_from_node(path, node, overlay))

    if not isinstance(tree, Mapping) or not tree:
        raise CatalogError(
            "a VSS JSON export must be an object with a root branch such as 'Vehicle'"
        )
    for root, node in tree.items():
        walk(node, root)
    return Catalog(signals, branches)


def load_vss_json(file: str | Path, *, overlay: bool = False) -> Catalog:
    """Read a VSS JSON export from a file (deprecated nodes included, marked as such)."""
    path = Path(file)
    try:
        tree = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"VSS file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read VSS file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path} is not valid JSON: {exc}") from None
    return catalog_from_tree(tree, overlay=overlay)


def _package_tree(name: str) -> Any:
    return json.loads(resources.files("carmind.signals").joinpath("data", name).read_text("utf-8"))


@cache
def default_catalog() -> Catalog:
    """carmind's curated VSS 5.1 subset plus the `Vehicle.Carmind` overlay."""
    base = catalog_from_tree(_package_tree("vss_subset.json"))
    return base.merged(catalog_from_tree(_package_tree("carmind_overlay.json"), overlay=True))


def load_catalog(vss_file: str | Path | None = None) -> Catalog:
    """The default catalog, or a user's VSS export with carmind's overlay added."""
    if vss_file is None:
        return default_catalog()
    overlay = catalog_from_tree(_package_tree("carmind_overlay.json"), overlay=True)
    return load_vss_json(vss_file).merged(overlay)
