"""The sensor rig: which sensors a car carries, read from a TOML file, and their readings.

A rig file describes one car (see the default, `carmind/drive/data/rigs/default.toml`, modelled
on the Xiaomi SU7's suite). `SensorRig.load("default")` loads a rig shipped with carmind by name,
`SensorRig.load(path)` any file. The schema below is checked strictly: an unknown key, a bad
value or a missing file is a `RigError` that names it and says what was expected.

Each step `SensorRig.observe(env)` reads every sensor once and returns a dict of arrays whose
keys and layout are fixed (the networks depend on them):

- "camera": uint8 [n_cameras, H, W], grey top-down wedges, rig order;
- "ultrasonic": float32 [n_ultrasonic], metres, max range when there is no echo;
- "radar": float32 [max_objects, 4], rows (range m, azimuth rad left positive, radial speed m/s
  negative closing, valid 0/1), nearest first, zero padded;
- "lidar": float32 [n_beams], metres, every LiDAR's beams end to end, rightmost beam first;
- "ego": float32 [9], `carmind.drive.sensors.EGO_FIELDS`.

All noise is drawn from the rig's numpy Generator, so one seed gives one observation stream.
"""

from __future__ import annotations

import logging
import math
import re
import time
import tomllib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self, get_args

import numpy as np
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from carmind.drive.sensors import (
    EGO_FIELDS,
    CameraArray,
    CameraRenderSpec,
    CameraSpec,
    EgoNoiseSpec,
    LidarArray,
    LidarSpec,
    Mount,
    RadarArray,
    RadarSpec,
    RigSpec,
    Scene,
    UltrasonicArray,
    UltrasonicSpec,
    observe_ego,
)
from carmind.errors import CarmindError

if TYPE_CHECKING:
    from highway_env.envs.common.abstract import AbstractEnv

log = logging.getLogger(__name__)

DEFAULT_RIG = "default"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
KEYS = ("camera", "ultrasonic", "radar", "lidar", "ego")
"""The observation's keys, in order."""


class RigError(CarmindError):
    """A rig file that cannot be used: missing, not TOML, an unknown key or a bad value."""


# --- the schema of a rig file (pydantic: this is the edge where files come in) ---------------

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=False)


class _Sensor(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")]
    enabled: bool = True
    x: Annotated[float, Field(ge=-10.0, le=10.0)]
    y: Annotated[float, Field(ge=-5.0, le=5.0)]
    yaw_deg: Annotated[float, Field(ge=-180.0, le=180.0)] = 0.0

    def mount(self) -> Mount:
        return Mount(self.x, self.y, math.radians(self.yaw_deg))


class _Camera(_Sensor):
    fov_deg: Annotated[float, Field(gt=0.0, le=360.0)]
    range_m: Annotated[float, Field(gt=0.0, le=300.0)]
    noise_std: Annotated[float, Field(ge=0.0, le=255.0)] = 0.0
    dropout: Fraction = 0.0


class _CameraRender(_Strict):
    height: Annotated[int, Field(ge=8, le=512)] = 64
    width: Annotated[int, Field(ge=8, le=512)] = 64
    pixels_per_m: Annotated[float, Field(ge=0.5, le=20.0)] = 2.0
    supersample: Annotated[int, Field(ge=1, le=8)] = 2


class _Ultrasonic(_Sensor):
    beam_half_angle_deg: Annotated[float, Field(gt=0.0, le=90.0)] = 30.0
    min_range_m: Annotated[float, Field(ge=0.0)] = 0.15
    max_range_m: Annotated[float, Field(gt=0.0, le=20.0)] = 5.0
    noise_std_m: NonNegative = 0.0
    dropout: Fraction = 0.0
    rays: Annotated[int, Field(ge=1, le=64)] = 9

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if self.min_range_m >= self.max_range_m:
            raise ValueError(
                f"min_range_m ({self.min_range_m}) must be below max_range_m ({self.max_range_m})"
            )
        return self


class _Radar(_Sensor):
    fov_deg: Annotated[float, Field(gt=0.0, le=360.0)]
    min_range_m: NonNegative = 0.5
    max_range_m: Annotated[float, Field(gt=0.0, le=500.0)]
    range_noise_std_m: NonNegative = 0.0
    azimuth_noise_std_deg: NonNegative = 0.0
    speed_noise_std_mps: NonNegative = 0.0
    dropout: Fraction = 0.0
    false_positive_rate: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if self.min_range_m >= self.max_range_m:
            raise ValueError(
                f"min_range_m ({self.min_range_m}) must be below max_range_m ({self.max_range_m})"
            )
        return self


class _Lidar(_Sensor):
    fov_deg: Annotated[float, Field(gt=0.0, le=360.0)]
    beams: Annotated[int, Field(ge=1, le=4096)]
    max_range_m: Annotated[float, Field(gt=0.0, le=500.0)]
    noise_std_m: NonNegative = 0.0
    dropout: Fraction = 0.0


class _Ego(_Strict):
    speed_noise_std_mps: NonNegative = 0.0
    lane_offset_noise_std_m: NonNegative = 0.0
    heading_noise_std_deg: NonNegative = 0.0


class _Rig(_Strict):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    radar_max_objects: Annotated[int, Field(ge=1, le=256)] = 32
    camera_render: _CameraRender = _CameraRender()
    ego: _Ego = _Ego()
    camera: list[_Camera] = []
    ultrasonic: list[_Ultrasonic] = []
    radar: list[_Radar] = []
    lidar: list[_Lidar] = []

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        kinds: dict[str, list[_Sensor]] = {
            "camera": list(self.camera),
            "ultrasonic": list(self.ultrasonic),
            "radar": list(self.radar),
            "lidar": list(self.lidar),
        }
        for kind, sensors in kinds.items():
            seen: set[str] = set()
            for i, sensor in enumerate(sensors):
                if sensor.name in seen:
                    raise ValueError(
                        f"{kind}[{i}].name = {sensor.name!r} is used twice; "
                        f"expected a name unique among the {kind} sensors"
                    )
                seen.add(sensor.name)
        return self

    def spec(self) -> RigSpec:
        r = self.camera_render
        return RigSpec(
            name=self.name,
            description=self.description,
            camera_render=CameraRenderSpec(r.height, r.width, r.pixels_per_m, r.supersample),
            cameras=tuple(
                CameraSpec(
                    c.name,
                    c.mount(),
                    math.radians(c.fov_deg),
                    c.range_m,
                    c.noise_std,
                    c.dropout,
                )
                for c in self.camera
                if c.enabled
            ),
            ultrasonics=tuple(
                UltrasonicSpec(
                    u.name,
                    u.mount(),
                    math.radians(u.beam_half_angle_deg),
                    u.min_range_m,
                    u.max_range_m,
                    u.noise_std_m,
                    u.dropout,
                    u.rays,
                )
                for u in self.ultrasonic
                if u.enabled
            ),
            radars=tuple(
                RadarSpec(
                    r.name,
                    r.mount(),
                    math.radians(r.fov_deg),
                    r.max_range_m,
                    r.min_range_m,
                    r.range_noise_std_m,
                    math.radians(r.azimuth_noise_std_deg),
                    r.speed_noise_std_mps,
                    r.dropout,
                    r.false_positive_rate,
                )
                for r in self.radar
                if r.enabled
            ),
            lidars=tuple(
                LidarSpec(
                    li.name,
                    li.mount(),
                    math.radians(li.fov_deg),
                    li.beams,
                    li.max_range_m,
                    li.noise_std_m,
                    li.dropout,
                )
                for li in self.lidar
                if li.enabled
            ),
            ego=EgoNoiseSpec(
                self.ego.speed_noise_std_mps,
                self.ego.lane_offset_noise_std_m,
                math.radians(self.ego.heading_noise_std_deg),
            ),
            radar_max_objects=self.radar_max_objects,
        )


# --- loading ---------------------------------------------------------------------------------


def _rigs_dir() -> Any:
    return resources.files("carmind.drive").joinpath("data", "rigs")


def rig_names() -> list[str]:
    """The rigs shipped with carmind, by name."""
    return sorted(
        p.name.removesuffix(".toml") for p in _rigs_dir().iterdir() if p.name.endswith(".toml")
    )


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a TOML reader would write it: `camera[2].fov_deg`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The schema model that holds the key at `loc` (for listing the keys it accepts)."""
    model: type[BaseModel] = _Rig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        args = get_args(field.annotation)
        inner = args[0] if args else field.annotation
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return None
        model = inner
    return model


def _explain(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    loc = tuple(first["loc"])
    where = _where(loc) or "the file"
    kind = first["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc)
        keys = ", ".join(model.model_fields) if model else "the documented keys"
        return f"rig {source}: unknown key {where!r}; expected one of: {keys}"
    if kind == "missing":
        return f"rig {source}: missing key {where!r}; it is required"
    value = first.get("input")
    message = first["msg"].removeprefix("Value error, ")
    if kind == "value_error":
        return f"rig {source}: {where}: {message}"
    expected = message[0].lower() + message[1:]
    return f"rig {source}: {where} = {value!r} is not valid; expected {expected}"


def parse_rig(text: str, source: str = "<text>") -> RigSpec:
    """A rig from the text of a rig file; `source` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RigError(f"rig {source}: not valid TOML ({e}); expected a TOML rig file") from None
    try:
        return _Rig.model_validate(data).spec()
    except ValidationError as e:
        raise RigError(_explain(e, source)) from None


def load_rig_spec(name_or_path: str | Path = DEFAULT_RIG) -> RigSpec:
    """A rig shipped with carmind (by name) or any rig file (by path)."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or not _NAME.match(text):
        path = Path(name_or_path)
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RigError(
                f"rig file {text!r} not found; expected an existing .toml file"
            ) from None
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
            raise RigError(
                f"rig file {text!r} cannot be read ({e.__class__.__name__}); "
                "expected a readable UTF-8 .toml file"
            ) from None
        return parse_rig(content, repr(text))
    resource = _rigs_dir().joinpath(f"{text}.toml")
    if not resource.is_file():
        names = ", ".join(rig_names())
        raise RigError(
            f"unknown rig {text!r}; expected one of: {names}, or a path to a .toml rig file"
        )
    return parse_rig(resource.read_text(encoding="utf-8"), repr(text))


# --- the rig ---------------------------------------------------------------------------------


class SensorRig:
    """Every sensor of one car, read together once per step."""

    def __init__(self, spec: RigSpec, seed: int = 0) -> None:
        self.spec = spec
        self.cameras = CameraArray(spec.cameras, spec.camera_render)
        self.ultrasonics = UltrasonicArray(spec.ultrasonics)
        self.radars = RadarArray(spec.radars, spec.radar_max_objects)
        self.lidars = LidarArray(spec.lidars)
        self.last_timings_ms: dict[str, float] = {}
        """How long each part of the last `observe` took: "scene" and one per key."""
        self.reset(seed)

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_RIG) -> SensorRig:
        """The rig shipped under this name, or the rig file at this path."""
        spec = load_rig_spec(name_or_path)
        log.debug(
            "rig %s: %d cameras, %d ultrasonic, %d radars, %d lidar beams",
            spec.name,
            len(spec.cameras),
            len(spec.ultrasonics),
            len(spec.radars),
            sum(li.beams for li in spec.lidars),
        )
        return cls(spec)

    @property
    def name(self) -> str:
        return self.spec.name

    def reset(self, seed: int) -> None:
        """Restart the noise: the same seed gives the same observation stream."""
        self.rng = np.random.default_rng(seed)
        children = self.rng.spawn(len(KEYS))
        self._rngs = dict(zip(KEYS, children, strict=True))

    @property
    def observation_space(self) -> spaces.Dict:
        n_radar = self.spec.radar_max_objects
        radar_low = np.zeros((n_radar, 4), dtype=np.float32)
        radar_high = np.zeros((n_radar, 4), dtype=np.float32)
        radar_low[:, 1:3] = [-math.pi, -np.inf]
        radar_high[:] = [np.inf, math.pi, np.inf, 1.0]
        boxes: list[tuple[str, spaces.Space[Any]]] = [
            ("camera", spaces.Box(0, 255, self.cameras.shape, dtype=np.uint8)),
            (
                "ultrasonic",
                spaces.Box(
                    np.zeros(len(self.ultrasonics), dtype=np.float32),
                    self.ultrasonics.high.astype(np.float32),
                    dtype=np.float32,
                ),
            ),
            ("radar", spaces.Box(radar_low, radar_high, dtype=np.float32)),
            (
                "lidar",
                spaces.Box(
                    np.zeros(len(self.lidars), dtype=np.float32),
                    self.lidars.high.astype(np.float32),
                    dtype=np.float32,
                ),
            ),
            ("ego", spaces.Box(-np.inf, np.inf, (len(EGO_FIELDS),), dtype=np.float32)),
        ]
        return spaces.Dict(boxes)  # a list keeps this order; a dict would be sorted

    def observe(self, env: AbstractEnv) -> dict[str, np.ndarray]:
        """Read every sensor once. `env` is the unwrapped highway-env environment."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        scene = Scene.from_env(env)
        t1 = time.perf_counter()
        timings["scene"] = (t1 - t0) * 1e3
        out: dict[str, np.ndarray] = {}
        for key in KEYS:
            rng = self._rngs[key]
            t0 = time.perf_counter()
            if key == "camera":
                out[key] = self.cameras.observe(env, scene, rng)
            elif key == "ultrasonic":
                out[key] = self.ultrasonics.observe(scene, rng)
            elif key == "radar":
                out[key] = self.radars.observe(scene, rng)
            elif key == "lidar":
                out[key] = self.lidars.observe(scene, rng)
            else:
                out[key] = observe_ego(env, self.spec.ego, rng)
            timings[key] = (time.perf_counter() - t0) * 1e3
        self.last_timings_ms = timings
        return out
