"""The sensor models of an assisted-driving rig, on highway-env.

Cameras (`camera`), ultrasonic parking sensors and LiDAR (`ranging`), radar (`radar`) and the
car's own state (`ego`), each configured by a value from `specs` and each drawing its noise from
a numpy Generator it is handed. `carmind.drive.rig.SensorRig` puts them together.
"""

from __future__ import annotations

from carmind.drive.sensors.camera import CameraArray
from carmind.drive.sensors.ego import FIELDS as EGO_FIELDS
from carmind.drive.sensors.ego import observe_ego
from carmind.drive.sensors.geometry import Scene, cast
from carmind.drive.sensors.radar import COLUMNS as RADAR_COLUMNS
from carmind.drive.sensors.radar import RadarArray
from carmind.drive.sensors.ranging import LidarArray, UltrasonicArray
from carmind.drive.sensors.specs import (
    CameraRenderSpec,
    CameraSpec,
    EgoNoiseSpec,
    LidarSpec,
    Mount,
    RadarSpec,
    RigSpec,
    UltrasonicSpec,
)

__all__ = [
    "EGO_FIELDS",
    "RADAR_COLUMNS",
    "CameraArray",
    "CameraRenderSpec",
    "CameraSpec",
    "EgoNoiseSpec",
    "LidarArray",
    "LidarSpec",
    "Mount",
    "RadarArray",
    "RadarSpec",
    "RigSpec",
    "Scene",
    "UltrasonicArray",
    "UltrasonicSpec",
    "cast",
    "observe_ego",
]
