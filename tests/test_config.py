"""Configuration: embedded defaults, carmind.toml, CARMIND_* overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from carmind.config import Config, load_config
from carmind.errors import ConfigError


def test_defaults_need_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config == Config(source="embedded defaults")
    assert config.vehicle.profile == "xiaomi-su7"


def test_file_then_environment(tmp_path: Path) -> None:
    file = tmp_path / "carmind.toml"
    file.write_text('[vehicle]\nprofile = "bmw-i4-edrive40"\nsoc = 55\n[run]\ntick_hz = 100\n')
    config = load_config(
        file, environ={"CARMIND_VEHICLE_SOC": "30", "CARMIND_RUN_PUBLISH_HZ": "20"}
    )
    assert config.vehicle.profile == "bmw-i4-edrive40"
    assert config.vehicle.soc == 30
    assert config.run.tick_hz == 100
    assert config.run.publish_hz == 20
    assert "carmind.toml" in config.source and "CARMIND_VEHICLE_SOC" in config.source


def test_carmind_config_variable_and_cwd_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "carmind.toml").write_text("[vehicle]\nambient_c = -5\n")
    assert load_config(environ={}).vehicle.ambient_c == -5
    other = tmp_path / "other.toml"
    other.write_text("[vehicle]\nambient_c = 30\n")
    assert load_config(environ={"CARMIND_CONFIG": str(other)}).vehicle.ambient_c == 30


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[vehicle\n", {}, "not valid TOML"),
        ("[vehicle]\nsoc = 120\n", {}, "vehicle.soc = 120"),
        ("[vehicle]\ncolour = 'red'\n", {}, "vehicle.colour"),
        ("", {"CARMIND_RUN_TICK_HZ": "fast"}, "run.tick_hz = 'fast'"),
        ("", {"CARMIND_VEHICLE_LATITUDE": "99"}, "vehicle.latitude = 99"),
    ],
)
def test_bad_configuration_is_named(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    file = tmp_path / "carmind.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(file, environ=env)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="CARMIND_CONFIG"):
        load_config(environ={"CARMIND_CONFIG": str(tmp_path / "nope.toml")})
