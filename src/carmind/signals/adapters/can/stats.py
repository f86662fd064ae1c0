"""What a CAN bridge counts: frames, values, every kind of bad frame, requests sent."""

from __future__ import annotations

from dataclasses import asdict, dataclass

BAD_KINDS = (
    "unknown_id",
    "bad_length",
    "decode_error",
    "out_of_range",
    "not_allowed",
    "error_frame",
)
VALUE_KINDS = frozenset({"out_of_range", "not_allowed"})
"""Kinds counted per value: the frame's other values are still published."""


@dataclass(slots=True)
class BridgeStats:
    """Counters of a bridge since it started (mutable: the bridge counts into it)."""

    frames: int = 0
    """Frames received."""
    decoded: int = 0
    """Frames decoded with a mapped message."""
    published: int = 0
    """VSS values published to the hub."""
    batches: int = 0
    """Batches published (`publish_many` calls)."""
    ignored: int = 0
    """Frames of DBC messages the mapping does not read (including carmind's own requests)."""
    unknown_id: int = 0
    bad_length: int = 0
    decode_error: int = 0
    out_of_range: int = 0
    not_allowed: int = 0
    error_frame: int = 0
    overflow: int = 0
    """Frames dropped because processing fell too far behind (see `bridge.MAX_PENDING`)."""
    requests_sent: int = 0
    """Request frames sent for actuator targets."""
    requests_merged: int = 0
    """Targets merged into a request frame that was waiting for its `min_interval_ms`."""
    send_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def bad_frames(self) -> dict[str, int]:
        """The counts of every kind of bad frame or value."""
        return {kind: getattr(self, kind) for kind in BAD_KINDS}
