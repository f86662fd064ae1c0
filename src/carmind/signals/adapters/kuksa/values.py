"""Conversions between the hub's values and KUKSA's `kuksa.val.v1` and `v2` messages.

The generated message classes come from the `kuksa-client` package. Errors map to gRPC status
codes (v2) and to HTTP-like codes in `Error` messages (v1) the way the KUKSA databroker maps them.
"""

from __future__ import annotations

import math
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from kuksa.val.v1 import types_pb2 as t1
from kuksa.val.v2 import types_pb2 as t2

from carmind.signals.broker import Datapoint
from carmind.signals.catalog import INTEGER_RANGES, NodeType, Signal, Value
from carmind.signals.errors import (
    AccessDeniedError,
    ActuationRefusedError,
    InternalError,
    InvalidRequestError,
    NotAllowedError,
    NotAnActuatorError,
    NotASignalError,
    OutOfRangeError,
    ProviderConflictError,
    ProviderUnavailableError,
    ReadOnlyError,
    SignalError,
    UnknownPathError,
    ValueTypeError,
)

# --- datatypes ---------------------------------------------------------------------------------

_SCALAR_FIELD: dict[str, str] = {
    "string": "string",
    "boolean": "bool",
    "int8": "int32",
    "int16": "int32",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint32",
    "uint16": "uint32",
    "uint32": "uint32",
    "uint64": "uint64",
    "float": "float",
    "double": "double",
}


def value_field(datatype: str) -> str:
    """The `oneof` field of a KUKSA value that carries this VSS datatype (`int32_array`, ...)."""
    if datatype.endswith("[]"):
        return _SCALAR_FIELD[datatype[:-2]] + "_array"
    return _SCALAR_FIELD[datatype]


def _datatype_enum(datatype: str) -> str:
    base = datatype[:-2] if datatype.endswith("[]") else datatype
    name = "DATA_TYPE_" + base.upper()
    return name + "_ARRAY" if datatype.endswith("[]") else name


def datatype_v1(datatype: str) -> int:
    return int(t1.DataType.Value(_datatype_enum(datatype)))


def datatype_v2(datatype: str) -> int:
    return int(t2.DataType.Value(_datatype_enum(datatype)))


_ENTRY_TYPE = {
    NodeType.SENSOR: "ENTRY_TYPE_SENSOR",
    NodeType.ACTUATOR: "ENTRY_TYPE_ACTUATOR",
    NodeType.ATTRIBUTE: "ENTRY_TYPE_ATTRIBUTE",
}


# --- values --------------------------------------------------------------------------------------


def timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    whole = math.floor(seconds)
    stamp.seconds = whole
    stamp.nanos = min(999_999_999, round((seconds - whole) * 1e9))
    return stamp


def seconds(stamp: Timestamp) -> float:
    return float(stamp.seconds) + float(stamp.nanos) / 1e9


def fill_value(message: Any, signal: Signal, value: Value) -> None:
    """Set the value on a v1 `Datapoint` or a v2 `Value` in the field for the signal's type."""
    field = value_field(signal.datatype)
    if signal.is_array:
        getattr(message, field).values.extend(value)
    else:
        setattr(message, field, value)


def read_value(message: Any, signal: Signal) -> object:
    """The Python value a v1 `Datapoint` or v2 `Value` carries, unchecked.

    A value sent in another field than the signal's datatype (an int for a float sensor, say) is
    read as it came; the catalog's checker then accepts or refuses it with a specific error.
    """
    which = message.WhichOneof(message.DESCRIPTOR.oneofs[0].name)  # v1 "value", v2 "typed_value"
    if which is None:
        raise ValueTypeError(signal.path, None, signal.datatype)
    raw = getattr(message, which)
    if which.endswith("_array"):
        return list(raw.values)
    return raw


def datapoint_v1(signal: Signal, datapoint: Datapoint | None) -> t1.Datapoint:
    message = t1.Datapoint()
    if datapoint is not None:
        message.timestamp.CopyFrom(timestamp(datapoint.timestamp))
        fill_value(message, signal, datapoint.value)
    return message


def datapoint_v2(signal: Signal, datapoint: Datapoint | None) -> t2.Datapoint:
    message = t2.Datapoint()
    if datapoint is not None:
        message.timestamp.CopyFrom(timestamp(datapoint.timestamp))
        fill_value(message.value, signal, datapoint.value)
    return message


def value_v2(signal: Signal, value: Value) -> t2.Value:
    message = t2.Value()
    fill_value(message, signal, value)
    return message


# --- metadata ------------------------------------------------------------------------------------


def _restriction_v1(signal: Signal) -> t1.ValueRestriction | None:
    base = signal.datatype.removesuffix("[]")
    if signal.allowed is None and signal.min is None and signal.max is None:
        return None
    restriction = t1.ValueRestriction()
    if base == "string":
        restriction.string.allowed_values.extend(str(a) for a in signal.allowed or ())
    elif base in INTEGER_RANGES:
        part = restriction.unsigned if base.startswith("u") else restriction.signed
        if signal.min is not None:
            part.min = int(signal.min)
        if signal.max is not None:
            part.max = int(signal.max)
        part.allowed_values.extend(int(a) for a in signal.allowed or ())
    elif base in ("float", "double"):
        fp = restriction.floating_point
        if signal.min is not None:
            fp.min = float(signal.min)
        if signal.max is not None:
            fp.max = float(signal.max)
        fp.allowed_values.extend(float(a) for a in signal.allowed or ())
    else:
        return None
    return restriction


def metadata_v1(signal: Signal) -> t1.Metadata:
    optional = {
        "description": signal.description,
        "comment": signal.comment,
        "deprecation": signal.deprecation,
        "unit": signal.unit,
    }
    message = t1.Metadata(
        data_type=datatype_v1(signal.datatype),
        entry_type=t1.EntryType.Value(_ENTRY_TYPE[signal.type]),
        **{key: text for key, text in optional.items() if text},  # unset, not "", when absent
    )
    restriction = _restriction_v1(signal)
    if restriction is not None:
        message.value_restriction.CopyFrom(restriction)
    if signal.type is NodeType.ACTUATOR:
        message.actuator.SetInParent()
    elif signal.type is NodeType.SENSOR:
        message.sensor.SetInParent()
    else:
        message.attribute.SetInParent()
    return message


def _bound_v2(signal: Signal, bound: float) -> t2.Value:
    message = t2.Value()
    base = signal.datatype.removesuffix("[]")
    field = _SCALAR_FIELD[base]
    setattr(message, field, int(bound) if base in INTEGER_RANGES else float(bound))
    return message


def metadata_v2(signal: Signal, signal_id: int) -> t2.Metadata:
    message = t2.Metadata(
        path=signal.path,
        id=signal_id,
        data_type=datatype_v2(signal.datatype),
        entry_type=t2.EntryType.Value(_ENTRY_TYPE[signal.type]),
        description=signal.description,
        comment=signal.comment or "",
        deprecation=signal.deprecation or "",
        unit=signal.unit or "",
    )
    base = signal.datatype.removesuffix("[]")
    if signal.min is not None and base in _SCALAR_FIELD and base not in ("string", "boolean"):
        message.min.CopyFrom(_bound_v2(signal, signal.min))
    if signal.max is not None and base in _SCALAR_FIELD and base not in ("string", "boolean"):
        message.max.CopyFrom(_bound_v2(signal, signal.max))
    if signal.allowed is not None:
        array = value_field(base + "[]")
        getattr(message.allowed_values, array).values.extend(signal.allowed)
    return message


# --- errors --------------------------------------------------------------------------------------

_STATUS: list[tuple[type[SignalError], grpc.StatusCode]] = [
    (UnknownPathError, grpc.StatusCode.NOT_FOUND),
    (NotASignalError, grpc.StatusCode.NOT_FOUND),
    (AccessDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (ProviderUnavailableError, grpc.StatusCode.UNAVAILABLE),
    (ProviderConflictError, grpc.StatusCode.ALREADY_EXISTS),
    (ActuationRefusedError, grpc.StatusCode.FAILED_PRECONDITION),
    (ValueTypeError, grpc.StatusCode.INVALID_ARGUMENT),
    (OutOfRangeError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotAllowedError, grpc.StatusCode.INVALID_ARGUMENT),
    (ReadOnlyError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotAnActuatorError, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (InternalError, grpc.StatusCode.INTERNAL),
]

_V1_CODE = {
    grpc.StatusCode.NOT_FOUND: (404, "not_found"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "forbidden"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthorized"),
    grpc.StatusCode.UNAVAILABLE: (503, "unavailable"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict"),
    grpc.StatusCode.FAILED_PRECONDITION: (412, "precondition_failed"),
    grpc.StatusCode.INVALID_ARGUMENT: (400, "bad_request"),
    grpc.StatusCode.INTERNAL: (500, "internal_error"),
}


def status_of(error: SignalError) -> grpc.StatusCode:
    """The gRPC status code for a hub error (as the KUKSA databroker answers)."""
    for kind, code in _STATUS:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INVALID_ARGUMENT


def error_v1(error: SignalError) -> t1.Error:
    code, reason = _V1_CODE[status_of(error)]
    return t1.Error(code=code, reason=reason, message=str(error))


def error_v1_for(status: grpc.StatusCode, message: str) -> t1.Error:
    code, reason = _V1_CODE[status]
    return t1.Error(code=code, reason=reason, message=message)


def error_v2(error: SignalError) -> t2.Error:
    code = status_of(error)
    name = {
        grpc.StatusCode.NOT_FOUND: "ERROR_CODE_NOT_FOUND",
        grpc.StatusCode.PERMISSION_DENIED: "ERROR_CODE_PERMISSION_DENIED",
    }.get(code, "ERROR_CODE_INVALID_ARGUMENT")
    return t2.Error(code=t2.ErrorCode.Value(name), message=str(error))
