"""The car's own state as its sensors report it: wheel speed, steering, lane camera."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from carmind.drive.sensors.specs import EgoNoiseSpec
from carmind.drive.types import EgoState
from carmind.drive.world import ego_state

if TYPE_CHECKING:
    from highway_env.envs.common.abstract import AbstractEnv

FIELDS = (
    "speed",
    "steering",
    "acceleration",
    "lane_offset",
    "heading_error",
    "lane_width",
    "lanes_left",
    "lanes_right",
    "curvature",
)
"""The ego reading's entries, in order (units as `carmind.drive.types.EgoState`)."""


def observe_ego(
    env: AbstractEnv, noise: EgoNoiseSpec, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """The ego vector, with the configured noise on speed, lane offset and heading error."""
    e = ego_state(env)
    n = rng.standard_normal(3)
    return np.array(
        [
            e.speed + n[0] * noise.speed_noise_std_mps,
            e.steering,
            e.acceleration,
            e.lane_offset + n[1] * noise.lane_offset_noise_std_m,
            e.heading_error + n[2] * noise.heading_noise_std,
            e.lane_width,
            e.lanes_left,
            e.lanes_right,
            e.curvature,
        ],
        dtype=np.float32,
    )


def ego_from_reading(reading: npt.NDArray[np.float32]) -> EgoState:
    """The ego state back from its sensor reading (what a driver without privileges knows)."""
    r = [float(v) for v in reading]
    return EgoState(
        speed=r[0],
        steering=r[1],
        acceleration=r[2],
        lane_offset=r[3],
        heading_error=r[4],
        lane_width=r[5],
        lanes_left=round(r[6]),
        lanes_right=round(r[7]),
        curvature=r[8],
    )
