"""Reading highway-env's world in carmind's frames: the one place its conventions are converted.

highway-env measures lateral positions to the right (its y axis points down the screen, lane 0
is the leftmost) and headings clockwise; carmind's road frame is x forward, y left (ISO 8855).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from carmind.drive.types import EgoState, TrackedObject

if TYPE_CHECKING:
    from highway_env.envs.common.abstract import AbstractEnv
    from highway_env.vehicle.kinematics import Vehicle

LANE_END_MARGIN_M = 250.0
"""A side lane that ends within this distance (a merge lane, say) is not offered to drive in."""


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _lane_continues(env: AbstractEnv, index: tuple[str, str, int], s: float) -> bool:
    road = env.road
    lane = road.network.get_lane(index)
    if lane.length - s > LANE_END_MARGIN_M:
        return True
    _, end, idx = index
    nexts = road.network.graph.get(end, {})
    return any(len(lanes) > idx for lanes in nexts.values())


def usable_side_lanes(env: AbstractEnv, vehicle: Vehicle) -> tuple[int, int]:
    """How many drivable lanes lie to the vehicle's left and right on its carriageway."""
    start, end, idx = vehicle.lane_index
    lanes = env.road.network.graph[start][end]
    s, _ = vehicle.lane.local_coordinates(vehicle.position)
    left = 0
    for i in range(idx - 1, -1, -1):
        if not _lane_continues(env, (start, end, i), s):
            break
        left += 1
    right = 0
    for i in range(idx + 1, len(lanes)):
        if not _lane_continues(env, (start, end, i), s):
            break
        right += 1
    return left, right


def lane_curvature(lane: Any, s: float, ds: float = 2.0) -> float:
    """1/m at `s` along a highway-env lane, left turns positive (a numerical derivative)."""
    before = float(lane.heading_at(s - ds))
    after = float(lane.heading_at(s + ds))
    return -_wrap(after - before) / (2.0 * ds)


def ego_state(env: AbstractEnv) -> EgoState:
    """The ego as its own sensors would report it (exact: noise is the sensor rig's job)."""
    ego = env.vehicle
    lane = ego.lane
    s, r = lane.local_coordinates(ego.position)
    heading_error = -_wrap(float(ego.heading) - float(lane.heading_at(s)))
    left, right = usable_side_lanes(env, ego)
    action = getattr(ego, "action", None) or {}
    return EgoState(
        speed=float(ego.speed),
        steering=-float(action.get("steering", 0.0)),
        acceleration=float(action.get("acceleration", 0.0)),
        lane_offset=-float(r),
        heading_error=heading_error,
        lane_width=float(lane.width_at(s)),
        lanes_left=left,
        lanes_right=right,
        curvature=lane_curvature(lane, s),
        length=float(ego.LENGTH),
        width=float(ego.WIDTH),
        wheelbase=float(ego.LENGTH),
    )


def others(env: AbstractEnv) -> Iterator[Vehicle]:
    """Every road user but the ego."""
    for v in env.road.vehicles:
        if v is not env.vehicle:
            yield v
    yield from (o for o in env.road.objects if getattr(o, "collidable", False))


def tracked_objects(env: AbstractEnv, max_range: float = 200.0) -> list[TrackedObject]:
    """Every other road user within `max_range` m, exactly, in the ego lane's road frame."""
    ego = env.vehicle
    lane = ego.lane
    s_e, r_e = lane.local_coordinates(ego.position)
    lane_heading = float(lane.heading_at(s_e))
    result = []
    for v in others(env):
        if abs(v.position[0] - ego.position[0]) > max_range + 50.0:
            continue
        s, r = lane.local_coordinates(v.position)
        x, y = float(s - s_e), float(r_e - r)
        if math.hypot(x, y) > max_range:
            continue
        speed = float(getattr(v, "speed", 0.0))
        rel = float(v.heading) - lane_heading
        result.append(
            TrackedObject(
                x=x,
                y=y,
                vx=speed * math.cos(rel),
                vy=-speed * math.sin(rel),
                length=float(v.LENGTH),
                width=float(v.WIDTH),
                ident=id(v),
            )
        )
    return result


def to_env_action(acceleration: float, steering: float, config: dict[str, Any]) -> list[float]:
    """carmind's action in SI units to highway-env's normalised ContinuousAction in [-1, 1]."""
    lo, hi = config["action"].get("acceleration_range", (-5.0, 5.0))
    slo, shi = config["action"].get("steering_range", (-math.pi / 4, math.pi / 4))
    a = 2.0 * (acceleration - lo) / (hi - lo) - 1.0
    d = 2.0 * (-steering - slo) / (shi - slo) - 1.0  # highway-env steers clockwise-positive
    return [max(-1.0, min(1.0, a)), max(-1.0, min(1.0, d))]
