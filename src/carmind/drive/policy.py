"""The end-to-end driving network: raw sensor readings in, a plan (acceleration, lane) out.

One encoder per sensor kind, fused by concatenation:

- camera: a small strided CNN over the rig's stacked grey views, scaled to [0, 1];
- ultrasonic: an MLP over the standardised distances;
- radar: PointNet style, a shared MLP on every object's (range, sin az, cos az, radial speed,
  valid), masked by `valid`, then max- and mean-pooled, so the order of objects does not matter;
- lidar: a 1-D CNN over the beams, each beam as (range / max range, near / range);
- ego: an MLP over the standardised ego vector.

The fused features pass an MLP to two heads: the acceleration (m/s², regression) and the logits
of the lane to drive to (index 0 right, 1 keep, 2 left: `lane = argmax - 1`).

Input normalisation statistics are buffers computed from the training data
(`DrivePolicy.fit_normalisation`), so the exported ONNX graph takes the raw readings.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from carmind.errors import CarmindError

KEYS = ("camera", "ultrasonic", "radar", "lidar", "ego")
"""The observation keys the network reads, in the order of its inputs."""
OUTPUTS = ("acceleration", "lane_logits")
LANE_CLASSES = 3
"""Right, keep, left: class index = lane + 1."""

EGO_SCALE_FLOOR = (1.0, 0.05, 0.5, 0.5, 0.02, 0.5, 1.0, 1.0, 0.005)
"""The smallest standard deviation used per ego field (speed m/s, steering rad, acceleration
m/s², lane offset m, heading rad, lane width m, lanes left, lanes right, curvature 1/m): a field
that never varies in the training data (the lane width, say) must not blow up when it does."""
ULTRASONIC_SCALE_FLOOR = 0.1
"""m: the smallest standard deviation used for an ultrasonic distance."""
RADAR_SCALE_FLOOR = (1.0, 0.5)
"""The smallest standard deviation of a radar object's range (m) and radial speed (m/s)."""
LIDAR_NEAR_M = 5.0
"""m: the lidar's second channel is near / range, clipped at 1 (large for close obstacles)."""
CLIP = 10.0
"""Standardised inputs are clipped to ±CLIP so an out-of-distribution reading stays bounded."""


class PolicyError(CarmindError):
    """An observation layout the network cannot read."""


@dataclass(frozen=True)
class PolicyConfig:
    """Widths of the network's layers."""

    camera_channels: tuple[int, ...] = (16, 32, 32, 32)
    camera_features: int = 64
    ultrasonic_features: int = 32
    radar_features: int = 64
    lidar_channels: tuple[int, ...] = (16, 32, 32)
    lidar_features: int = 64
    ego_features: int = 32
    hidden: int = 128


@dataclass(frozen=True)
class Shapes:
    """The per-sample shape of every input (from a dataset index's `observation`)."""

    camera: tuple[int, int, int] = (3, 64, 64)
    ultrasonic: int = 12
    radar: tuple[int, int] = (32, 4)
    lidar: int = 240
    ego: int = 9

    @classmethod
    def from_observation(cls, observation: Mapping[str, object]) -> Shapes:
        """Shapes from an index's `observation` entry ({key: {"shape": [...], ...}})."""
        try:
            shape = {k: tuple(int(v) for v in observation[k]["shape"]) for k in KEYS}  # type: ignore[index]
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(
                f"observation layout {sorted(observation)} lacks {exc}: expected keys {KEYS}"
            ) from None
        expected = {"camera": 3, "ultrasonic": 1, "radar": 2, "lidar": 1, "ego": 1}
        for key, rank in expected.items():
            if len(shape[key]) != rank:
                raise PolicyError(
                    f"observation {key!r} has shape {list(shape[key])}: expected {rank} dimensions"
                )
        if shape["radar"][1] != 4:
            raise PolicyError(
                f"radar rows have {shape['radar'][1]} columns: expected 4 "
                "(range, azimuth, radial speed, valid)"
            )
        if shape["ego"][0] != len(EGO_SCALE_FLOOR):
            raise PolicyError(
                f"ego reading has {shape['ego'][0]} fields: expected {len(EGO_SCALE_FLOOR)}"
            )
        cam = shape["camera"]
        if cam[1] < 16 or cam[2] < 16:
            raise PolicyError(f"camera views of {cam[1]}x{cam[2]} pixels: expected at least 16x16")
        if shape["lidar"][0] < 8:
            raise PolicyError(f"lidar with {shape['lidar'][0]} beams: expected at least 8")
        return cls(
            camera=(cam[0], cam[1], cam[2]),
            ultrasonic=shape["ultrasonic"][0],
            radar=(shape["radar"][0], shape["radar"][1]),
            lidar=shape["lidar"][0],
            ego=shape["ego"][0],
        )

    def sample_shape(self, key: str) -> tuple[int, ...]:
        value = getattr(self, key)
        return tuple(value) if isinstance(value, tuple) else (int(value),)


def _mlp(sizes: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


def _standardise(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    return torch.clamp((x - mean) / std, -CLIP, CLIP)


class CameraEncoder(nn.Module):
    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], out: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, h, w = shape
        for i, c in enumerate(channels):
            k = 5 if i == 0 else 3
            layers += [nn.Conv2d(c_in, c, k, stride=2, padding=k // 2), nn.ReLU()]
            c_in, h, w = c, (h + 1) // 2, (w + 1) // 2
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c_in * h * w, out), nn.ReLU())

    def forward(self, camera: Tensor) -> Tensor:
        return self.fc(self.conv(camera.float() / 255.0))  # type: ignore[no-any-return]


class RadarEncoder(nn.Module):
    """PointNet: a shared per-object MLP, masked by `valid`, max- and mean-pooled."""

    def __init__(self, out: int) -> None:
        super().__init__()
        self.point = _mlp((5, out, out))
        self.register_buffer("mean", torch.zeros(2))
        self.register_buffer("std", torch.ones(2))

    def forward(self, radar: Tensor) -> Tensor:
        rng, az, rs, valid = radar.unbind(-1)
        valid = (valid > 0.5).float()
        mean: Tensor = self.mean  # type: ignore[assignment]
        std: Tensor = self.std  # type: ignore[assignment]
        feats = torch.stack(
            (
                _standardise(rng, mean[0], std[0]) * valid,
                torch.sin(az) * valid,
                torch.cos(az) * valid,
                _standardise(rs, mean[1], std[1]) * valid,
                valid,
            ),
            dim=-1,
        )
        h = self.point(feats) * valid.unsqueeze(-1)  # ReLU outputs are >= 0: masked rows are 0
        count = valid.sum(dim=1, keepdim=True).clamp(min=1.0)
        return torch.cat((h.amax(dim=1), h.sum(dim=1) / count), dim=-1)


class LidarEncoder(nn.Module):
    def __init__(self, beams: int, channels: tuple[int, ...], out: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, n = 2, beams
        for c in channels:
            layers += [nn.Conv1d(c_in, c, 5, stride=2, padding=2), nn.ReLU()]
            c_in, n = c, (n + 1) // 2
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c_in * n, out), nn.ReLU())
        self.register_buffer("max_range", torch.tensor(200.0))

    def forward(self, lidar: Tensor) -> Tensor:
        r = lidar.clamp(min=0.0)
        far = r / self.max_range  # type: ignore[operator]
        near = torch.clamp(LIDAR_NEAR_M / r.clamp(min=1e-3), max=1.0)
        return self.fc(self.conv(torch.stack((far, near), dim=1)))  # type: ignore[no-any-return]


class StandardisedMlp(nn.Module):
    def __init__(self, size: int, out: int) -> None:
        super().__init__()
        self.mlp = _mlp((size, out, out))
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(_standardise(x, self.mean, self.std))  # type: ignore[arg-type, no-any-return]


class DrivePolicy(nn.Module):
    """The network. `forward(camera, ultrasonic, radar, lidar, ego)` takes raw batched readings
    and returns (acceleration [N] in m/s², lane logits [N, 3])."""

    def __init__(self, shapes: Shapes | None = None, config: PolicyConfig | None = None) -> None:
        super().__init__()
        self.shapes = shapes or Shapes()
        self.config = config or PolicyConfig()
        s, c = self.shapes, self.config
        self.camera = CameraEncoder(s.camera, c.camera_channels, c.camera_features)
        self.ultrasonic = StandardisedMlp(s.ultrasonic, c.ultrasonic_features)
        self.radar = RadarEncoder(c.radar_features)
        self.lidar = LidarEncoder(s.lidar, c.lidar_channels, c.lidar_features)
        self.ego = StandardisedMlp(s.ego, c.ego_features)
        fused = (
            c.camera_features
            + c.ultrasonic_features
            + 2 * c.radar_features
            + c.lidar_features
            + c.ego_features
        )
        self.trunk = _mlp((fused, c.hidden, c.hidden))
        self.accel_head = nn.Linear(c.hidden, 1)
        self.lane_head = nn.Linear(c.hidden, LANE_CLASSES)
        self.register_buffer("accel_mean", torch.tensor(0.0))
        self.register_buffer("accel_std", torch.tensor(1.0))

    def forward(
        self, camera: Tensor, ultrasonic: Tensor, radar: Tensor, lidar: Tensor, ego: Tensor
    ) -> tuple[Tensor, Tensor]:
        fused = torch.cat(
            (
                self.camera(camera),
                self.ultrasonic(ultrasonic),
                self.radar(radar),
                self.lidar(lidar),
                self.ego(ego),
            ),
            dim=-1,
        )
        h = self.trunk(fused)
        accel = self.accel_head(h).squeeze(-1) * self.accel_std + self.accel_mean
        return accel, self.lane_head(h)

    def fit_normalisation(
        self, arrays: Mapping[str, np.ndarray], acceleration: np.ndarray | None = None
    ) -> None:
        """Set the input statistics from training readings (keys as `KEYS`, batched)."""
        with torch.no_grad():
            us = np.asarray(arrays["ultrasonic"], dtype=np.float64)
            self._set(self.ultrasonic, us.mean(0), np.maximum(us.std(0), ULTRASONIC_SCALE_FLOOR))
            ego = np.asarray(arrays["ego"], dtype=np.float64)
            self._set(self.ego, ego.mean(0), np.maximum(ego.std(0), EGO_SCALE_FLOOR))
            radar = np.asarray(arrays["radar"], dtype=np.float64).reshape(-1, 4)
            rows = radar[radar[:, 3] > 0.5]
            if len(rows) == 0:
                rows = np.array([[50.0, 0.0, 0.0, 1.0]])
            stats = rows[:, [0, 2]]
            self._set(self.radar, stats.mean(0), np.maximum(stats.std(0), RADAR_SCALE_FLOOR))
            lidar = np.asarray(arrays["lidar"])
            self.lidar.max_range.fill_(float(max(lidar.max(initial=0.0), 1.0)))  # type: ignore[operator]
            if acceleration is not None and len(acceleration):
                a = np.asarray(acceleration, dtype=np.float64)
                self.accel_mean.fill_(float(a.mean()))  # type: ignore[operator]
                self.accel_std.fill_(float(max(a.std(), 0.1)))  # type: ignore[operator]

    @staticmethod
    def _set(module: nn.Module, mean: np.ndarray, std: np.ndarray) -> None:
        module.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))  # type: ignore[operator]
        module.std.copy_(torch.as_tensor(std, dtype=torch.float32))  # type: ignore[operator]

    def dummy_inputs(self, batch: int = 1) -> tuple[Tensor, ...]:
        """Zero inputs of the right shapes (for tracing and tests)."""
        out: list[Tensor] = []
        for key in KEYS:
            dtype = torch.uint8 if key == "camera" else torch.float32
            out.append(torch.zeros((batch, *self.shapes.sample_shape(key)), dtype=dtype))
        return tuple(out)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
