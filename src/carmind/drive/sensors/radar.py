"""The millimetre-wave radars: objects with range, azimuth and radial speed.

A radar sees a road user when a ray from the radar to its centre, or to a point near one of its
corners, meets it before any other road user (simple occlusion). Range is measured along the
ray to the centre up to the object's near face; azimuth is the bearing of its centre in the body
frame (left positive); radial speed is the relative velocity along the line of sight, negative
when closing. The detections of every radar are merged, sorted by range and zero padded.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from carmind.drive.sensors.geometry import FloatArray, Scene, cast, wrap
from carmind.drive.sensors.specs import RadarSpec

Float32Array = npt.NDArray[np.float32]

COLUMNS = ("range_m", "azimuth_rad", "radial_speed_mps", "valid")
"""The radar reading's columns, in order."""
_CORNER_SHRINK = 0.8
"""Corner sight lines aim this far from the centre toward each corner, so they surely hit it."""
_CORNERS = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]) * _CORNER_SHRINK


class RadarArray:
    """All radars of a rig, read out as one table of up to `max_objects` detections."""

    def __init__(self, specs: tuple[RadarSpec, ...], max_objects: int) -> None:
        self.specs = specs
        self.max_objects = max_objects

    def _detect(self, scene: Scene, spec: RadarSpec, rng: np.random.Generator) -> FloatArray:
        origin, heading = scene.pose(spec.mount)
        d = scene.centres - origin
        dist = np.hypot(d[:, 0], d[:, 1])
        bearing = np.arctan2(d[:, 1], d[:, 0])
        off = wrap(heading - bearing)  # left positive, from the boresight
        targets = np.flatnonzero(
            (dist <= spec.max_range_m) & (dist >= spec.min_range_m) & (np.abs(off) <= spec.fov / 2)
        )
        rows = np.zeros((0, 3))
        if targets.size:
            occluders = scene.near(origin, spec.max_range_m)
            # sight lines: to each target's centre, then toward its four corners
            local = np.concatenate([np.zeros((1, 2)), _CORNERS])[None] * scene.halves[targets, None]
            c, s = scene.axes[targets, 0, None], scene.axes[targets, 1, None]
            points = scene.centres[targets, None] + np.stack(
                [local[..., 0] * c - local[..., 1] * s, local[..., 0] * s + local[..., 1] * c],
                axis=-1,
            )  # (K, 5, 2)
            sight = (points - origin).reshape(-1, 2)
            sight /= np.maximum(np.hypot(sight[:, 0], sight[:, 1]), 1e-9)[:, None]
            t = cast(
                np.broadcast_to(origin, sight.shape),
                sight,
                scene.centres[occluders],
                scene.axes[occluders],
                scene.halves[occluders],
            ).reshape(targets.size, 5, occluders.size)
            column = np.searchsorted(occluders, targets)  # targets ⊂ occluders, both sorted
            first = t.argmin(axis=2)
            seen = ((first == column[:, None]) & np.isfinite(t.min(axis=2))).any(axis=1)
            ranges = t[np.arange(targets.size), 0, column]
            los = d[targets] / np.maximum(dist[targets], 1e-9)[:, None]
            radial = np.einsum("ij,ij->i", scene.velocities[targets] - scene.velocity, los)
            azimuth = off[targets] + spec.mount.yaw
            rows = np.stack([ranges, azimuth, radial], axis=1)[seen]
        n = rows.shape[0]
        noise = rng.standard_normal((n, 3)) * [
            spec.range_noise_std_m,
            spec.azimuth_noise_std,
            spec.speed_noise_std_mps,
        ]
        kept = rng.random(n) >= spec.dropout
        rows = (rows + noise)[kept]
        rows[:, 0] = np.maximum(rows[:, 0], 0.0)
        if spec.false_positive_rate > 0.0:
            rows = np.concatenate([rows, self._clutter(scene, spec, rng)])
        return rows

    def _clutter(self, scene: Scene, spec: RadarSpec, rng: np.random.Generator) -> FloatArray:
        """Ghosts: stationary reflections spread uniformly over the field of view."""
        n = int(rng.poisson(spec.false_positive_rate))
        ranges = rng.uniform(spec.min_range_m, spec.max_range_m, n)
        off = rng.uniform(-spec.fov / 2, spec.fov / 2, n)
        _, heading = scene.pose(spec.mount)
        world = heading - off
        los = np.stack([np.cos(world), np.sin(world)], axis=1)
        radial = -(los @ scene.velocity)
        return np.stack([ranges, off + spec.mount.yaw, radial], axis=1)

    def observe(self, scene: Scene, rng: np.random.Generator) -> Float32Array:
        out = np.zeros((self.max_objects, 4), dtype=np.float32)
        found = [self._detect(scene, spec, rng) for spec in self.specs]
        rows = np.concatenate(found) if found else np.zeros((0, 3))
        rows = rows[np.argsort(rows[:, 0], kind="stable")][: self.max_objects]
        rows[:, 1] = wrap(rows[:, 1])
        out[: rows.shape[0], :3] = rows
        out[: rows.shape[0], 3] = 1.0
        return out
