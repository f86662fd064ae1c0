"""The cameras: wedges cut from one top-down render of the world by highway-env's own renderer.

Each step the road and traffic around the ego are drawn once onto an offscreen pygame surface
(highway-env's `WorldSurface`, `RoadGraphics`), the way its `GrayscaleObservation` does. Each
camera then samples its own wedge out of that surface: a grid laid out in the camera's frame
(image top = far, left column = the camera's left), turned by the car's heading and the camera's
mounting yaw, averaged over a few samples per pixel, converted to grey and masked outside the
field-of-view wedge. No display is needed, and `SDL_VIDEODRIVER` is left alone (highway-env's
`EnvViewer` renders nothing when it is "dummy"; this renderer does not go through it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from carmind.drive.sensors.geometry import FloatArray, Scene
from carmind.drive.sensors.specs import CameraRenderSpec, CameraSpec

if TYPE_CHECKING:
    from highway_env.envs.common.abstract import AbstractEnv

UInt8Array = npt.NDArray[np.uint8]

GREY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)
"""RGB to grey, as highway-env's GrayscaleObservation."""
_MARGIN_PX = 8
_GROW_PX = 64
"""A surface that must grow grows by at least this much, so it is not rebuilt every step."""


def _grid(
    spec: CameraSpec, render: CameraRenderSpec
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """The camera-frame (u forward, v left) sample grid and corners, and the wedge mask (H, W).

    Returns the sample points (P, 2), the four corners of the area they cover (4, 2), and the
    mask; samples run row by row (image top = far), column by column (left first).
    """
    half = spec.fov / 2
    r = spec.range_m
    u_min = r * math.cos(half) if half > math.pi / 2 else 0.0
    v_max = r * math.sin(half) if half < math.pi / 2 else r
    h, w, k = render.height, render.width, render.supersample
    du, dv = (r - u_min) / h, 2.0 * v_max / w
    u = r - (np.arange(h * k) + 0.5) / k * du
    v = v_max - (np.arange(w * k) + 0.5) / k * dv
    uu, vv = np.meshgrid(u, v, indexing="ij")  # (H·k, W·k), rows then columns
    points = np.stack([uu.ravel(), vv.ravel()], axis=1)
    corners = np.array([[r, v_max], [r, -v_max], [u_min, v_max], [u_min, -v_max]])
    cu, cv = np.meshgrid(
        r - (np.arange(h) + 0.5) * du, v_max - (np.arange(w) + 0.5) * dv, indexing="ij"
    )
    mask = (np.hypot(cu, cv) <= r) & (np.abs(np.arctan2(cv, cu)) <= half)
    return points, corners, mask


class CameraArray:
    """All cameras of a rig: one grey image each, [n, H, W] uint8."""

    def __init__(self, specs: tuple[CameraSpec, ...], render: CameraRenderSpec) -> None:
        self.specs = specs
        self.render = render
        grids = [_grid(s, render) for s in specs]
        self._points = np.array([g[0] for g in grids], dtype=np.float32).reshape(len(specs), -1, 2)
        self._corners = np.array([g[1] for g in grids]).reshape(len(specs), 4, 2)
        self._masks = np.array([g[2] for g in grids], dtype=bool).reshape(
            len(specs), render.height, render.width
        )
        self._surface: Any = None

    def __len__(self) -> int:
        return len(self.specs)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.specs), self.render.height, self.render.width)

    def _frames(self, scene: Scene) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Each camera's world origin (n, 2), forward (n, 2) and left (n, 2) unit vectors."""
        poses = [scene.pose(spec.mount) for spec in self.specs]
        origins = np.array([p[0] for p in poses]).reshape(-1, 2)
        headings = np.array([p[1] for p in poses])
        fwd = np.stack([np.cos(headings), np.sin(headings)], axis=1)
        left = np.stack([np.sin(headings), -np.cos(headings)], axis=1)
        return origins, fwd, left

    def _surface_for(self, width: int, height: int) -> Any:
        import pygame  # imported on first render: pygame greets on import, and it is slow
        from highway_env.road.graphics import WorldSurface

        s = self._surface
        if s is None or s.get_width() < width or s.get_height() < height:
            size = (
                max(width + _GROW_PX, s.get_width() if s else 0),
                max(height + _GROW_PX, s.get_height() if s else 0),
            )
            s = WorldSurface(size, 0, pygame.Surface(size))
            s.scaling = self.render.pixels_per_m
            self._surface = s
        return s

    def draw(self, env: AbstractEnv, origin: FloatArray, width: int, height: int) -> Any:
        """Render road and traffic onto the shared surface, its top-left corner at `origin`."""
        from highway_env.road.graphics import RoadGraphics

        surface = self._surface_for(width, height)
        surface.origin = origin
        RoadGraphics.display(env.road, surface)
        RoadGraphics.display_road_objects(env.road, surface, offscreen=True)
        RoadGraphics.display_traffic(
            env.road,
            surface,
            simulation_frequency=env.config["simulation_frequency"],
            offscreen=True,
        )
        return surface

    def observe(self, env: AbstractEnv, scene: Scene, rng: np.random.Generator) -> UInt8Array:
        n, h, w = self.shape
        std = np.array([s.noise_std for s in self.specs])[:, None, None]
        noise = rng.standard_normal((n, h, w)) * std if std.any() else 0.0
        dropped = rng.random(n) < np.array([s.dropout for s in self.specs])
        if n == 0:
            return np.zeros(self.shape, dtype=np.uint8)
        origins, fwd, left = self._frames(scene)
        corners = (
            origins[:, None]
            + self._corners[..., :1] * fwd[:, None]
            + self._corners[..., 1:] * left[:, None]
        ).reshape(-1, 2)
        scale = self.render.pixels_per_m
        lo = corners.min(axis=0) - _MARGIN_PX / scale
        size = np.ceil((corners.max(axis=0) - lo) * scale).astype(int) + _MARGIN_PX
        surface = self.draw(env, lo, int(size[0]), int(size[1]))
        # surface pixel of each sample: (origin - lo)·scale + u·fwd·scale + v·left·scale
        base = ((origins - lo) * scale).astype(np.float32)
        fs, ls = (fwd * scale).astype(np.float32), (left * scale).astype(np.float32)
        u, v = self._points[..., 0], self._points[..., 1]
        ix = (base[:, None, 0] + u * fs[:, None, 0] + v * ls[:, None, 0]).astype(np.intp)
        iy = (base[:, None, 1] + u * fs[:, None, 1] + v * ls[:, None, 1]).astype(np.intp)
        import pygame

        pixels = pygame.surfarray.pixels3d(surface)  # [x, y, rgb], a view that locks it
        try:
            rgb = pixels[ix, iy]
        finally:
            del pixels
        k = self.render.supersample
        grey = (rgb.astype(np.float32) @ GREY_WEIGHTS).reshape(n, h, k, w, k).mean(axis=(2, 4))
        grey = np.clip(grey + noise, 0.0, 255.0)
        grey = np.where(self._masks & ~dropped[:, None, None], grey, 0.0)
        return np.rint(grey).astype(np.uint8)
