"""Configuration: one `carmind.toml`, `CARMIND_*` environment overrides, embedded defaults.

`carmind run` needs no configuration at all. A file is read from `--config FILE`, else from
`$CARMIND_CONFIG`, else from `./carmind.toml` when it exists. Any setting can then be overridden
by an environment variable named `CARMIND_<SECTION>_<KEY>` in upper case, for instance
`CARMIND_VEHICLE_PROFILE=tesla-model-3-rwd` or `CARMIND_RUN_TICK_HZ=100`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from carmind.errors import ConfigError

DEFAULT_FILE = "carmind.toml"
ENV_PREFIX = "CARMIND_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VehicleConfig(_Section):
    profile: str = "xiaomi-su7"
    """Vehicle profile id (see `carmind sim profiles`)."""
    soc: float = Field(80.0, ge=0, le=100)
    """State of charge at start, percent."""
    ambient_c: float = Field(20.0, ge=-40, le=55)
    """Outside temperature of the simulated world, °C."""
    latitude: float = Field(60.1699, ge=-90, le=90)
    """Where the simulated car starts (default: central Helsinki)."""
    longitude: float = Field(24.9384, ge=-180, le=180)
    heading: float = Field(0.0, ge=0, lt=360)
    vin: str = ""
    """VIN to publish; empty derives a stable example VIN from the profile."""
    seed: int = 0
    """Seed for everything random in the simulation (sensor noise)."""


class RunConfig(_Section):
    tick_hz: float = Field(20.0, gt=0, le=1000)
    """Physics steps per simulated second."""
    publish_hz: float = Field(10.0, gt=0, le=1000)
    """How often the car publishes its signals, per simulated second."""


class SignalsConfig(_Section):
    vss: str = ""
    """A VSS JSON export to load instead of carmind's curated subset (the overlay is added)."""


class GrpcConfig(_Section):
    enabled: bool = False
    """Serve the KUKSA gRPC API in `carmind run` (also: `carmind run --grpc HOST:PORT`)."""
    address: str = "127.0.0.1:55555"
    insecure: bool = False
    """Serve without token authorization (must be asked for explicitly)."""
    jwt_public_key: str = ""
    """PEM file of the RS256 public key that verifies access tokens."""
    jwt_private_key: str = ""
    """PEM file of the private key `carmind token create` signs development tokens with."""
    tls_cert: str = ""
    tls_key: str = ""


class NavigationConfig(_Section):
    map_dir: str = ""
    """The map to route on (a directory `carmind map build` wrote); empty: the default map,
    central Helsinki, in the data directory (built on first use)."""
    language: str = "en"
    """Language of turn-by-turn instructions: en, zh or nl."""
    reroute_margin_s: float = Field(120.0, ge=0)
    """How much faster an alternative must be before carmind offers it, seconds."""
    reroute_margin_pct: float = Field(10.0, ge=0, le=100)
    """... and by what share of the remaining time, percent (both must hold)."""


class ConnectConfig(_Section):
    enabled: bool = True
    """Connect the car to the cloud in `carmind run` (also: `--no-cloud`)."""
    cloud: str = ""
    """URL of the carmind cloud; empty: an embedded cloud on SQLite (also: `--cloud URL`)."""
    mqtt: str = ""
    """MQTT broker URL (mqtt://, mqtts://; user:password@ for per-vehicle credentials); empty:
    an embedded broker (also: `--mqtt URL`)."""
    embedded_mqtt_port: int = Field(18830, ge=1, le=65535)
    embedded_cloud_port: int = Field(8765, ge=1, le=65535)
    homeassistant: bool = True
    """Publish the car to Home Assistant through MQTT discovery on the same broker."""
    home_latitude: float | None = Field(None, ge=-90, le=90)
    home_longitude: float | None = Field(None, ge=-180, le=180)
    home_radius_m: float = Field(150.0, gt=0, le=10_000)
    """The home zone for arriving/leaving-home events."""
    ha_url: str = ""
    """Home Assistant's base URL for the assistant's smart-home requests (REST API)."""
    ha_token: str = ""
    """A Home Assistant long-lived access token."""


class Config(_Section):
    vehicle: VehicleConfig = VehicleConfig()
    run: RunConfig = RunConfig()
    signals: SignalsConfig = SignalsConfig()
    grpc: GrpcConfig = GrpcConfig()
    navigation: NavigationConfig = NavigationConfig()
    connect: ConnectConfig = ConnectConfig()
    source: str = "embedded defaults"
    """Where the configuration came from (for messages)."""


def _coerce_env(raw: str) -> Any:
    """Environment text as TOML would read it: numbers and booleans typed, the rest a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    used: list[str] = []
    sections = {name: model for name, model in Config.model_fields.items() if name != "source"}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        rest = key[len(ENV_PREFIX) :].lower()
        for section in sections:
            if rest.startswith(section + "_"):
                name = rest[len(section) + 1 :]
                data.setdefault(section, {})[name] = _coerce_env(raw)
                used.append(key)
                break
    return used


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the configuration; a bad file or variable raises `ConfigError` naming it."""
    env = os.environ if environ is None else environ
    file: Path | None = None
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"configuration file not found: {file}")
    elif env.get(ENV_PREFIX + "CONFIG"):
        file = Path(env[ENV_PREFIX + "CONFIG"])
        if not file.is_file():
            raise ConfigError(f"CARMIND_CONFIG names a file that does not exist: {file}")
    elif Path(DEFAULT_FILE).is_file():
        file = Path(DEFAULT_FILE)

    data: dict[str, Any] = {}
    sources: list[str] = []
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {file}: {exc}") from None
        sources.append(str(file))
    used = _apply_env(data, env)
    if used:
        sources.append("environment (" + ", ".join(sorted(used)) + ")")
    data["source"] = " + ".join(sources) or "embedded defaults"
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        value = first.get("input")
        raise ConfigError(
            f"bad configuration value {where} = {value!r} in {data['source']}: {first['msg']}"
        ) from None
