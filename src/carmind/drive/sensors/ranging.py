"""The ranging sensors: the ultrasonic parking sensors and the scanning LiDAR.

Both cast rays from their mounting point against the other road users' rectangles, all rays
against all nearby rectangles at once (`carmind.drive.sensors.geometry.cast`). A ray with no
hit reads the sensor's maximum range, as does a dropped reading; noise is Gaussian on a hit.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from carmind.drive.sensors.geometry import FloatArray, Scene, cast, directions, wrap
from carmind.drive.sensors.specs import LidarSpec, UltrasonicSpec

Float32Array = npt.NDArray[np.float32]


def _noisy(
    ranges: FloatArray,
    rng: np.random.Generator,
    std: FloatArray,
    dropout: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
) -> Float32Array:
    """Noise on echoes, dropouts to max range; draws the same numbers whatever was hit."""
    n = ranges.shape[0]
    noise = rng.standard_normal(n) * std
    dropped = rng.random(n) < dropout
    echo = (ranges < hi) & ~dropped
    out = np.where(echo, np.clip(ranges + noise, lo, hi), hi)
    return out.astype(np.float32)


class UltrasonicArray:
    """The parking sensors around the bumpers; one distance (m) each, in rig order.

    Each sensor's cone is a fan of rays; the reading is the nearest hit within the cone, held to
    [min range, max range] (closer than min range reads min range: the blind zone).
    """

    def __init__(self, specs: tuple[UltrasonicSpec, ...]) -> None:
        self.specs = specs
        self.low = np.array([s.min_range_m for s in specs], dtype=np.float64)
        self.high = np.array([s.max_range_m for s in specs], dtype=np.float64)
        self._std = np.array([s.noise_std_m for s in specs], dtype=np.float64)
        self._dropout = np.array([s.dropout for s in specs], dtype=np.float64)
        offsets = [np.linspace(-s.half_angle, s.half_angle, s.rays) for s in specs]
        self._ray_yaw = np.concatenate(
            [o + s.mount.yaw for o, s in zip(offsets, specs, strict=True)] or [np.zeros(0)]
        )
        self._owner = np.repeat(np.arange(len(specs)), [s.rays for s in specs])
        self._starts = np.concatenate([[0], np.cumsum([s.rays for s in specs])[:-1]]).astype(
            np.intp
        )
        self._mounts = np.array([[s.mount.x, s.mount.y] for s in specs]).reshape(-1, 2)
        self._reach = max(
            (math.hypot(s.mount.x, s.mount.y) + s.max_range_m for s in specs), default=0.0
        )

    def __len__(self) -> int:
        return len(self.specs)

    def observe(self, scene: Scene, rng: np.random.Generator) -> Float32Array:
        ranges = self.high.copy()
        near = scene.near(scene.position, self._reach) if self.specs else np.zeros(0, np.intp)
        if near.size:
            mounts = scene.position + np.outer(self._mounts[:, 0], scene.forward)
            mounts += np.outer(self._mounts[:, 1], scene.left)
            origins = mounts[self._owner]
            rays = directions(scene.heading - self._ray_yaw)
            t = cast(origins, rays, scene.centres[near], scene.axes[near], scene.halves[near])
            nearest = np.minimum.reduceat(t.min(axis=1), self._starts)
            ranges = np.where(nearest < self.high, np.maximum(nearest, self.low), self.high)
        return _noisy(ranges, rng, self._std, self._dropout, self.low, self.high)


class LidarArray:
    """The LiDARs, their beams laid end to end in rig order.

    Beam k of a LiDAR looks at azimuth -fov/2 + k·fov/(beams-1) from its boresight (left
    positive), so the first beam is the rightmost.
    """

    def __init__(self, specs: tuple[LidarSpec, ...]) -> None:
        self.specs = specs
        self._angles = [
            np.linspace(-s.fov / 2, s.fov / 2, s.beams) if s.beams > 1 else np.zeros(1)
            for s in specs
        ]
        self.high = np.concatenate(
            [np.full(s.beams, s.max_range_m) for s in specs] or [np.zeros(0)]
        )
        self._std = np.concatenate(
            [np.full(s.beams, s.noise_std_m) for s in specs] or [np.zeros(0)]
        )
        self._dropout = np.concatenate(
            [np.full(s.beams, s.dropout) for s in specs] or [np.zeros(0)]
        )

    def __len__(self) -> int:
        return int(self.high.shape[0])

    def _scan(self, scene: Scene, spec: LidarSpec, angles: FloatArray) -> FloatArray:
        origin, heading = scene.pose(spec.mount)
        ranges = np.full(angles.shape[0], spec.max_range_m)
        near = scene.near(origin, spec.max_range_m)
        if near.size == 0:
            return ranges
        # cull what lies wholly outside the field of view
        d = scene.centres[near] - origin
        dist = np.hypot(d[:, 0], d[:, 1])
        radius = np.hypot(scene.halves[near, 0], scene.halves[near, 1])
        spread = np.arcsin(np.clip(radius / np.maximum(dist, 1e-9), 0.0, 1.0))
        spread = np.where(dist <= radius, np.pi, spread)
        off = np.abs(wrap(heading - np.arctan2(d[:, 1], d[:, 0])))
        near = near[off <= spec.fov / 2 + spread]
        if near.size == 0:
            return ranges
        rays = directions(heading - angles)
        origins = np.broadcast_to(origin, rays.shape)
        t = cast(origins, rays, scene.centres[near], scene.axes[near], scene.halves[near])
        hits: FloatArray = np.minimum(t.min(axis=1), ranges)
        return hits

    def observe(self, scene: Scene, rng: np.random.Generator) -> Float32Array:
        scans = [self._scan(scene, s, a) for s, a in zip(self.specs, self._angles, strict=True)]
        ranges = np.concatenate(scans or [np.zeros(0)])
        return _noisy(ranges, rng, self._std, self._dropout, np.zeros_like(ranges), self.high)
