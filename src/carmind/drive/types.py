"""The values that pass between the parts of the driving stack.

Frames: every position and speed here is in the road frame of the ego's lane, ISO 8855 style:
x along the lane (forward positive), y across it (left positive), in metres and m/s. The
simulator's own frame (y to the right) is converted in one place, `carmind.drive.world`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Action:
    """What reaches the car's actuators: longitudinal acceleration and front-wheel angle."""

    acceleration: float
    """m/s², positive forward."""
    steering: float
    """rad, front-wheel angle, positive to the left."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A short trajectory: the acceleration to hold and where the car should be across the road.

    `lateral_offset` is the target lateral position (m, left positive) relative to the ego, at a
    lookahead distance ahead that depends on speed (`carmind.drive.control.lookahead_m`). A
    lateral controller turns it into steering.
    """

    acceleration: float
    lateral_offset: float
    lane: int = 0
    """The lane the plan drives to: +1 one lane left, -1 one lane right, 0 the current lane."""


@dataclass(frozen=True, slots=True)
class EgoState:
    """The ego as its own sensors see it (wheel speed, steering angle sensor, lane camera)."""

    speed: float
    """m/s along its heading."""
    steering: float
    """rad, the current front-wheel angle."""
    acceleration: float
    """m/s², the last commanded acceleration."""
    lane_offset: float
    """m, ego centre relative to its lane's centre line, left positive."""
    heading_error: float
    """rad, ego heading relative to the lane's direction, left positive."""
    lane_width: float
    lanes_left: int
    """How many lanes of the same carriageway lie to the ego's left."""
    lanes_right: int
    curvature: float = 0.0
    """1/m, the lane's curvature at the ego, left turns positive (the lane camera's estimate)."""
    length: float = 5.0
    width: float = 2.0
    wheelbase: float = 5.0

    @property
    def lateral_speed(self) -> float:
        """m/s across the lane, left positive."""
        import math

        return self.speed * math.sin(self.heading_error)


@dataclass(frozen=True, slots=True)
class TrackedObject:
    """Another road user relative to the ego, in the ego lane's road frame."""

    x: float
    """m, longitudinal distance from ego centre to object centre, ahead positive."""
    y: float
    """m, lateral distance from ego centre to object centre, left positive."""
    vx: float
    """m/s, the object's own speed along the road (not relative)."""
    vy: float
    """m/s, the object's own speed across the road, left positive."""
    length: float = 5.0
    width: float = 2.0
    ident: int = -1
