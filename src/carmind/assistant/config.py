"""The assistant's settings: home location, fallbacks, limits.

carmind's `Config` has no `[assistant]` section yet, so the assistant reads its own
`CARMIND_ASSISTANT_*` environment variables (`AssistantConfig.from_env`) on top of these defaults.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from carmind.config import VehicleConfig
from carmind.errors import ConfigError

_VEHICLE = VehicleConfig()

DEFAULT_HOME_LATITUDE = _VEHICLE.latitude
DEFAULT_HOME_LONGITUDE = _VEHICLE.longitude
"""Home defaults to where the simulated car starts (central Helsinki): a car that has not been
driven is at home, so unlocking it needs no confirmation until it has been taken elsewhere."""

ENV_PREFIX = "CARMIND_ASSISTANT_"


@dataclass(frozen=True, slots=True)
class AssistantConfig:
    """How the assistant behaves. Every field has a sensible default."""

    home_latitude: float = DEFAULT_HOME_LATITUDE
    home_longitude: float = DEFAULT_HOME_LONGITUDE
    home_radius_m: float = 250.0
    """Within this distance of home, unlocking a parked car needs no confirmation."""
    fast_window_kmh: float = 100.0
    """Above this speed, opening windows more than a crack asks for confirmation."""
    semantic_enabled: bool = True
    """Match paraphrases no template covers by sentence embeddings (MiniLM)."""
    semantic_threshold: float = 0.70
    """Cosine similarity below which the semantic fallback gives up."""
    semantic_languages: tuple[str, ...] = ("en",)
    """Languages the semantic fallback serves (MiniLM is English-centric)."""
    semantic_threads: int = 1
    """CPU threads for the embedding model (0: PyTorch's default, one per core). One thread
    embeds a short sentence in about 10 ms and does not fight the rest of the car's software
    for cores; with all cores busy elsewhere, PyTorch's default is many times slower."""
    cache_dir: str | None = None
    """Where example embeddings are cached on disk; None keeps them in memory only."""
    llm_enabled: bool = False
    """Ask an OpenAI-compatible chat endpoint (llama.cpp, Ollama) when nothing else matched."""
    llm_endpoint: str = "http://127.0.0.1:8080/v1"
    llm_model: str = "local"
    llm_api_key: str = ""
    llm_timeout_s: float = 10.0
    max_text_chars: int = 400
    """Longer utterances are declined (one command or a few, not a letter)."""

    def __post_init__(self) -> None:
        checks = (
            ("home_latitude", -90 <= self.home_latitude <= 90, "-90 to 90"),
            ("home_longitude", -180 <= self.home_longitude <= 180, "-180 to 180"),
            ("home_radius_m", self.home_radius_m >= 0, "at least 0"),
            ("fast_window_kmh", self.fast_window_kmh >= 0, "at least 0"),
            ("semantic_threshold", 0 < self.semantic_threshold <= 1, "above 0, at most 1"),
            ("semantic_threads", self.semantic_threads >= 0, "at least 0"),
            ("llm_timeout_s", self.llm_timeout_s > 0, "above 0"),
            ("max_text_chars", self.max_text_chars > 0, "above 0"),
        )
        for name, ok, expected in checks:
            value = getattr(self, name)
            if not ok or (isinstance(value, float) and not math.isfinite(value)):
                raise ConfigError(f"assistant setting {name} = {value!r}: expected {expected}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> AssistantConfig:
        """Settings from a mapping (an `[assistant]` TOML table, say); unknown keys are errors."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, object] = {}
        for key, raw in data.items():
            if key not in fields:
                raise ConfigError(
                    f"unknown assistant setting {key!r}: expected one of {', '.join(fields)}"
                )
            default = getattr(cls(), key)
            values[key] = _coerce(key, raw, default)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AssistantConfig:
        """Defaults overridden by `CARMIND_ASSISTANT_<FIELD>` variables."""
        env = os.environ if environ is None else environ
        data: dict[str, object] = {}
        for key, raw in env.items():
            if key.startswith(ENV_PREFIX):
                name = key[len(ENV_PREFIX) :].lower()
                try:
                    data[name] = tomllib.loads(f"v = {raw}")["v"]
                except tomllib.TOMLDecodeError:
                    data[name] = raw
        return cls.from_mapping(data)


def _coerce(key: str, raw: object, default: object) -> object:
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
    elif isinstance(default, int):
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif isinstance(default, float):
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
    elif isinstance(default, tuple):
        if isinstance(raw, list | tuple) and all(isinstance(v, str) for v in raw):
            return tuple(raw)
        if isinstance(raw, str):
            return tuple(v.strip() for v in raw.split(",") if v.strip())
    elif isinstance(raw, str):
        return raw
    if default is None and isinstance(raw, str):
        return raw
    raise ConfigError(
        f"assistant setting {key} = {raw!r}: expected a {type(default).__name__} value"
    )


def default_cache_dir() -> Path:
    """The user's cache folder for the assistant (`$XDG_CACHE_HOME/carmind/assistant`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carmind" / "assistant"
