"""One frame of the world as the sensors need it, and vectorised ray casting against it.

Everything here is in highway-env's world frame (x along the road, y to the right, headings
clockwise on screen, i.e. toward +y), so that the simulator's arrays are used as they are;
readings are turned into carmind's left-positive body frame by the sensor models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from carmind.drive.sensors.specs import Mount
from carmind.drive.world import others

if TYPE_CHECKING:
    from highway_env.envs.common.abstract import AbstractEnv

FloatArray = npt.NDArray[np.float64]


def wrap(angle: FloatArray) -> FloatArray:
    """Angles wrapped to [-π, π)."""
    return np.asarray((angle + np.pi) % (2.0 * np.pi) - np.pi, dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class Scene:
    """The ego and the other road users' oriented rectangles, world frame."""

    position: FloatArray
    """(2,) ego centre."""
    heading: float
    """rad, ego heading (clockwise positive)."""
    velocity: FloatArray
    """(2,) ego velocity."""
    centres: FloatArray
    """(V, 2) other road users' centres."""
    axes: FloatArray
    """(V, 2) cos and sin of their headings."""
    halves: FloatArray
    """(V, 2) half length and half width."""
    velocities: FloatArray
    """(V, 2)."""

    @classmethod
    def from_env(cls, env: AbstractEnv) -> Scene:
        """Snapshot the unwrapped env: its ego (`env.vehicle`) and every other road user."""
        ego = env.vehicle
        rows = []
        for v in others(env):
            heading = float(v.heading)
            speed = float(getattr(v, "speed", 0.0))
            rows.append(
                (
                    float(v.position[0]),
                    float(v.position[1]),
                    math.cos(heading),
                    math.sin(heading),
                    0.5 * float(v.LENGTH),
                    0.5 * float(v.WIDTH),
                    speed * math.cos(heading),
                    speed * math.sin(heading),
                )
            )
        table = np.array(rows, dtype=np.float64).reshape(-1, 8)
        heading = float(ego.heading)
        speed = float(ego.speed)
        return cls(
            position=np.array(ego.position, dtype=np.float64)[:2],
            heading=heading,
            velocity=np.array([speed * math.cos(heading), speed * math.sin(heading)]),
            centres=table[:, 0:2],
            axes=table[:, 2:4],
            halves=table[:, 4:6],
            velocities=table[:, 6:8],
        )

    @property
    def forward(self) -> FloatArray:
        """(2,) the ego's unit forward vector."""
        return np.array([math.cos(self.heading), math.sin(self.heading)])

    @property
    def left(self) -> FloatArray:
        """(2,) the ego's unit left vector (world y points right, so left is (sin, -cos))."""
        return np.array([math.sin(self.heading), -math.cos(self.heading)])

    def pose(self, mount: Mount) -> tuple[FloatArray, float]:
        """A mounted sensor's world position and world heading (clockwise positive)."""
        origin = self.position + mount.x * self.forward + mount.y * self.left
        return origin, self.heading - mount.yaw

    def near(self, origin: FloatArray, radius: float) -> npt.NDArray[np.intp]:
        """Indices of the road users any part of which may lie within `radius` of `origin`."""
        reach = radius + np.hypot(self.halves[:, 0], self.halves[:, 1])
        d = self.centres - origin
        return np.flatnonzero(np.einsum("ij,ij->i", d, d) <= reach * reach)


def cast(
    origins: FloatArray,
    directions: FloatArray,
    centres: FloatArray,
    axes: FloatArray,
    halves: FloatArray,
) -> FloatArray:
    """Distance along each ray to each oriented rectangle: (R, V), `inf` where it misses.

    Rays are `origins` (R, 2) plus t·`directions` (R, 2, unit), t ≥ 0; rectangles are centred at
    `centres` (V, 2) with axes (cos, sin) and half sizes (half length, half width). A ray that
    starts inside a rectangle hits it at 0. The slab test, all rays × all rectangles at once.
    """
    c = axes[None, :, 0]
    s = axes[None, :, 1]
    dx0 = origins[:, None, 0] - centres[None, :, 0]
    dy0 = origins[:, None, 1] - centres[None, :, 1]
    ox = dx0 * c + dy0 * s
    oy = dy0 * c - dx0 * s
    ux = directions[:, None, 0] * c + directions[:, None, 1] * s
    uy = directions[:, None, 1] * c - directions[:, None, 0] * s
    ux = np.where(np.abs(ux) < 1e-12, 1e-12, ux)
    uy = np.where(np.abs(uy) < 1e-12, 1e-12, uy)
    hx = halves[None, :, 0]
    hy = halves[None, :, 1]
    ax, bx = (-hx - ox) / ux, (hx - ox) / ux
    ay, by = (-hy - oy) / uy, (hy - oy) / uy
    t_near = np.maximum(np.minimum(ax, bx), np.minimum(ay, by))
    t_far = np.minimum(np.maximum(ax, bx), np.maximum(ay, by))
    t_hit = np.maximum(t_near, 0.0)
    return np.where(t_far >= t_hit, t_hit, np.inf)


def directions(headings: FloatArray) -> FloatArray:
    """(N, 2) unit vectors for world headings (N,)."""
    return np.stack([np.cos(headings), np.sin(headings)], axis=-1)
