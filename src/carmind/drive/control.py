"""The lateral controller that turns a plan into steering, shared by every driver.

A pure-pursuit law on a kinematic bicycle: the front-wheel angle that puts the car on a circle
through the plan's target point. Used by the expert, the learned driver (whose network outputs a
plan) and the safety guard (to abort a lane change).
"""

from __future__ import annotations

import math

from carmind.drive.types import Action, EgoState, Plan

LOOKAHEAD_TIME_S = 1.2
"""The target point sits this far ahead in time: long enough to be smooth at highway speed."""
LOOKAHEAD_MIN_M = 8.0
MAX_STEERING_RAD = math.pi / 4
"""The simulator's front-wheel limit."""


def lookahead_m(speed: float) -> float:
    """How far ahead the plan's lateral target lies at this speed."""
    return max(LOOKAHEAD_MIN_M, LOOKAHEAD_TIME_S * abs(speed))


def steering_for(lateral_offset: float, ego: EgoState) -> float:
    """Pure pursuit to a point `lateral_offset` to the left, one lookahead ahead along the lane.

    The point is given in the lane frame; it is rotated into the car's frame by the heading
    error before the pursuit law (δ = atan(2 L sin α / d)) is applied, and the lane's own
    curvature is added as a feed-forward term so that bends are followed without offset.
    """
    ahead = lookahead_m(ego.speed)
    alpha = math.atan2(lateral_offset, ahead) - ego.heading_error
    distance = math.hypot(ahead, lateral_offset)
    curvature = 2.0 * math.sin(alpha) / distance + ego.curvature  # the lane's bend, fed forward
    steer = math.atan(ego.wheelbase * curvature)
    return max(-MAX_STEERING_RAD, min(MAX_STEERING_RAD, steer))


def lateral_target(lane: int, ego: EgoState, max_lateral_accel: float) -> float:
    """The plan's lateral offset that moves toward the centre of `lane` (+1 left, -1 right, 0
    own), no faster than `max_lateral_accel` allows at the current speed."""
    target = lane * ego.lane_width - ego.lane_offset
    ahead = lookahead_m(ego.speed)
    limit = max_lateral_accel * ahead**2 / (2.0 * max(ego.speed, 1.0) ** 2)
    return max(-limit, min(limit, target))


def follow(plan: Plan, ego: EgoState) -> Action:
    """The action that follows a plan."""
    return Action(plan.acceleration, steering_for(plan.lateral_offset, ego))
