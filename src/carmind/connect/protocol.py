"""The vehicle link's wire contract: MQTT topics and JSON payloads, version 1.

Topics (QoS 1 everywhere, `{vin}` the car's VIN):

    carmind/v1/{vin}/telemetry   car -> cloud   TelemetryBatch
    carmind/v1/{vin}/events      car -> cloud   Event
    carmind/v1/{vin}/commands    cloud -> car   Command
    carmind/v1/{vin}/results     car -> cloud   CommandResult
    carmind/v1/{vin}/acks        cloud -> car   Ack
    carmind/v1/{vin}/pairing     cloud -> car   PairingRequest (answered on results)
    carmind/v1/{vin}/status      car -> cloud   "online" / "offline" (retained; offline is the
                                                car's MQTT will)

Every car-to-cloud message carries `seq`, a per-car sequence number that only grows (it survives
car restarts: the link keeps it on disk). The cloud stores a message once per (vin, stream, seq)
and drops repeats, so store-and-forward can resend freely.

Acknowledgement is end to end. The broker's PUBACK only says the broker has a message, and a
broker that crashes loses what it held (and the cloud's subscription with it), so the car keeps a
telemetry batch, event or command result in its outbox until the cloud's `Ack` for it arrives.
The cloud acknowledges what it has committed to its database, repeats it dropped included
(stored before), never a message it refused as malformed. An `Ack` names one stream of one car
and the acknowledged sequence numbers as inclusive ranges, `[[first, last], ...]`, so a batch of
2,000 consecutive messages costs one small payload:

    {"v": 1, "vin": "WCARM1ND000000007", "stream": "telemetry", "ranges": [[183, 237]]}

An ack that is lost (the broker went down) costs a resend: the car sends again what stays
unacknowledged, the cloud drops the repeat and acknowledges it again.

Commands are signed end to end by the owner's phone (ECDSA P-256, SHA-256) over the canonical JSON
of `SignedPart`; the cloud relays them and cannot forge one (`carmind.connect.keychain`).

A phone's key is enrolled with the 6-digit code shown in the car. The code itself never travels:
the phone sends a `PairingRequest` whose `proof` is base64 HMAC-SHA256 keyed with the code over
`pairing_message(...)` (public key, name and request id); the car recomputes it for the code it
shows, enrols the key or refuses (a mismatch counts as a wrong code), answers with a
`CommandResult` whose id is the request's, and reports a `key_enrolled` event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

PROTOCOL_VERSION: Final = 1
TOPIC_ROOT: Final = "carmind/v1"
MAX_PAYLOAD_BYTES: Final = 256 * 1024
"""Larger MQTT payloads are refused unread (counted and logged) on both sides."""
CLOCK_SKEW_S: Final = 30.0
"""Clock difference allowed between phone, cloud and car: the car refuses a command this long
after its expiry, and the cloud marks an unanswered command expired only then, so the two never
disagree about a command the car could still run (NTP keeps clocks well within a second; 30 s
covers a car whose clock has not synchronised since it woke)."""
MAX_ACK_RANGES: Final = 10_000
"""Ranges in one `Ack`: more than a cloud write batch can leave gaps between."""

Vin = Annotated[str, StringConstraints(pattern=r"^[A-HJ-NPR-Z0-9]{17}$")]
"""A VIN: 17 characters, digits and capitals without I, O and Q (ISO 3779)."""


class Stream(StrEnum):
    TELEMETRY = "telemetry"
    EVENTS = "events"
    COMMANDS = "commands"
    RESULTS = "results"
    ACKS = "acks"
    STATUS = "status"
    PAIRING = "pairing"


ACKED_STREAMS: Final = (Stream.TELEMETRY, Stream.EVENTS, Stream.RESULTS)
"""The car's streams that the cloud acknowledges (the car keeps each message until then)."""


def topic(vin: str, stream: Stream) -> str:
    return f"{TOPIC_ROOT}/{vin}/{stream.value}"


def parse_topic(name: str) -> tuple[str, Stream] | None:
    """(vin, stream) of a carmind topic; None for anything else."""
    parts = name.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT:
        return None
    try:
        return parts[2], Stream(parts[3])
    except ValueError:
        return None


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = 1


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str = Field(min_length=1, max_length=200)
    value: bool | int | float | str | None
    ts: float
    """When the car measured it, Unix seconds."""


class TelemetryBatch(_Message):
    vin: Vin
    seq: int = Field(ge=0)
    sent_at: float
    points: tuple[Point, ...] = Field(min_length=1, max_length=10_000)
    summarized: int = Field(0, ge=0)
    """How many older batches this one stands for (the offline queue was full and was
    summarised: the latest value of each signal kept)."""


class EventKind(StrEnum):
    GEOFENCE_ENTER = "geofence_enter"
    GEOFENCE_LEAVE = "geofence_leave"
    COMMAND_REFUSED = "command_refused"
    KEY_ENROLLED = "key_enrolled"
    KEY_REVOKED = "key_revoked"


class Event(_Message):
    vin: Vin
    seq: int = Field(ge=0)
    ts: float
    kind: EventKind
    data: dict[str, Any] = Field(default_factory=dict)


class CommandName(StrEnum):
    LOCK = "lock"
    UNLOCK = "unlock"
    CLIMATE_ON = "climate_on"
    CLIMATE_OFF = "climate_off"
    SET_TEMPERATURE = "set_temperature"
    CHARGE_START = "charge_start"
    CHARGE_STOP = "charge_stop"
    SET_CHARGE_LIMIT = "set_charge_limit"
    HONK = "honk"
    FLASH = "flash"
    CLOSE_WINDOWS = "close_windows"
    SEND_DESTINATION = "send_destination"


class SignedPart(BaseModel):
    """What the phone signs: the command itself, its expiry and the key's counter."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=8, max_length=64)
    vin: Vin
    name: CommandName
    params: dict[str, Any] = Field(default_factory=dict)
    counter: int = Field(ge=1)
    """Strictly greater than the last counter the car accepted from this key."""
    expires_at: float
    """Unix seconds; the car refuses the command after it (allowing `CLOCK_SKEW_S`)."""

    def canonical(self) -> bytes:
        """The bytes that are signed: sorted keys, no spaces, UTF-8."""
        return json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")


class Command(_Message):
    """A command as the car receives it."""

    signed: SignedPart
    key_id: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=1, max_length=400)
    """Base64 of the DER-encoded ECDSA signature over `signed.canonical()`."""
    source: Literal["cloud", "homeassistant", "local"] = "cloud"


def pairing_message(public_pem: str, name: str, request_id: str) -> bytes:
    """The bytes a pairing proof authenticates: public key PEM, name and request id, UTF-8."""
    return (public_pem + name + request_id).encode("utf-8")


class PairingRequest(_Message):
    """A phone asks the car to enrol its public key (cloud -> car, `Stream.PAIRING`)."""

    id: str = Field(min_length=8, max_length=64)
    """The request's id: the car's `CommandResult` for it carries the same id."""
    vin: Vin
    name: str = Field(min_length=1, max_length=64)
    """What the car calls the key ("Anna's phone")."""
    public_pem: str = Field(min_length=1, max_length=1000)
    """The phone's ECDSA P-256 public key, SubjectPublicKeyInfo PEM."""
    proof: str = Field(min_length=1, max_length=100)
    """Base64 HMAC-SHA256 with the pairing code (ASCII digits) as key over `pairing_message`."""
    expires_at: float = Field(allow_inf_nan=False)
    """Unix seconds; the car refuses the request after it (allowing `CLOCK_SKEW_S`) without
    counting a wrong code, so a request that waited at the broker cannot spend an attempt of a
    later pairing window. Not covered by the proof: the cloud can only delay a request anyway."""

    def message(self) -> bytes:
        return pairing_message(self.public_pem, self.name, self.id)


class ResultStatus(StrEnum):
    EXECUTED = "executed"
    REFUSED = "refused"
    EXPIRED = "expired"
    FAILED = "failed"


class CommandResult(_Message):
    id: str
    vin: Vin
    seq: int = Field(ge=0)
    status: ResultStatus
    reason: str = ""
    at: float


SeqRange = tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]
"""Inclusive range of sequence numbers, [first, last]."""


class Ack(_Message):
    """The cloud has committed these messages of one stream of one car (or had them already)."""

    vin: Vin
    stream: Literal["telemetry", "events", "results"]
    ranges: tuple[SeqRange, ...] = Field(min_length=1, max_length=MAX_ACK_RANGES)

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, ranges: tuple[SeqRange, ...]) -> tuple[SeqRange, ...]:
        for first, last in ranges:
            if first > last:
                raise ValueError(f"range [{first}, {last}]: first is after last")
        return ranges


def seq_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sequence numbers as sorted inclusive ranges: 1, 2, 3, 7, 2 -> [(1, 3), (7, 7)]."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and ranges[-1][1] == seq - 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges
