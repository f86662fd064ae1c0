"""What each sensor of a rig is: mounting pose, field of view, range, noise and dropout.

These are plain values, built from a rig file by `carmind.drive.rig`. The body frame is carmind's:
origin at the car's centre, x forward, y left, yaw left positive; lengths in metres, angles in
radians.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mount:
    """Where a sensor sits on the body and where it looks."""

    x: float
    """m, forward of the body centre."""
    y: float
    """m, left of the body centre."""
    yaw: float
    """rad, the sensor's boresight relative to the body's x axis, left positive."""


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """A camera, seen as the wedge of the top-down world render that it covers."""

    name: str
    mount: Mount
    fov: float
    """rad, full horizontal field of view."""
    range_m: float
    """How far the wedge reaches."""
    noise_std: float = 0.0
    """Gaussian noise on each pixel, in grey levels."""
    dropout: float = 0.0
    """Probability that a frame is lost (all black)."""


@dataclass(frozen=True, slots=True)
class CameraRenderSpec:
    """The shared top-down render the cameras are cut from, and their image size."""

    height: int = 64
    width: int = 64
    pixels_per_m: float = 2.0
    """Scale of the world render; each camera image is resampled from it."""
    supersample: int = 2
    """Samples per output pixel along each axis (averaged), so thin lane lines survive."""


@dataclass(frozen=True, slots=True)
class UltrasonicSpec:
    """A parking sensor: the nearest echo within a cone."""

    name: str
    mount: Mount
    half_angle: float = 0.5236
    """rad, half the beam's opening (±30° by default)."""
    min_range_m: float = 0.15
    """Closer echoes read as this (the sensor's blind zone)."""
    max_range_m: float = 5.0
    """Reading when nothing echoes."""
    noise_std_m: float = 0.0
    dropout: float = 0.0
    """Probability per frame that the echo is missed (reads max range)."""
    rays: int = 9
    """Rays spread across the cone to approximate it."""


@dataclass(frozen=True, slots=True)
class RadarSpec:
    """A millimetre-wave radar reporting objects: range, azimuth and radial speed."""

    name: str
    mount: Mount
    fov: float
    """rad, full horizontal field of view."""
    max_range_m: float
    min_range_m: float = 0.5
    range_noise_std_m: float = 0.0
    azimuth_noise_std: float = 0.0
    """rad."""
    speed_noise_std_mps: float = 0.0
    dropout: float = 0.0
    """Probability per object per frame that a visible object is missed."""
    false_positive_rate: float = 0.0
    """Mean number of clutter detections (stationary ghosts) per frame."""


@dataclass(frozen=True, slots=True)
class LidarSpec:
    """A scanning LiDAR: one range per beam, spread evenly over its field of view."""

    name: str
    mount: Mount
    fov: float
    """rad, full horizontal field of view."""
    beams: int
    max_range_m: float
    noise_std_m: float = 0.0
    dropout: float = 0.0
    """Probability per beam per frame of no return (reads max range)."""


@dataclass(frozen=True, slots=True)
class EgoNoiseSpec:
    """Noise of the car's own sensors: wheel speed and the lane camera's estimates."""

    speed_noise_std_mps: float = 0.0
    lane_offset_noise_std_m: float = 0.0
    heading_noise_std: float = 0.0
    """rad."""


@dataclass(frozen=True, slots=True)
class RigSpec:
    """A whole rig: the enabled sensors of one car, in the order their readings are laid out."""

    name: str
    description: str = ""
    camera_render: CameraRenderSpec = CameraRenderSpec()
    cameras: tuple[CameraSpec, ...] = ()
    ultrasonics: tuple[UltrasonicSpec, ...] = ()
    radars: tuple[RadarSpec, ...] = ()
    lidars: tuple[LidarSpec, ...] = ()
    ego: EgoNoiseSpec = EgoNoiseSpec()
    radar_max_objects: int = 32
    """Rows of the radar reading: the nearest detections of all radars, zero padded."""
