"""The rig file: the default loads with the SU7-like suite; bad files give a RigError naming it."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import highway_env  # noqa: F401  (registers highway-v0)
import numpy as np
import pytest

from carmind.drive.rig import RigError, SensorRig, load_rig_spec, parse_rig, rig_names
from carmind.errors import CarmindError

MINIMAL = """
name = "tiny"

[[camera]]
name = "front"
x = 1.0
y = 0.0
fov_deg = 60.0
range_m = 40.0

[[lidar]]
name = "roof"
x = 0.5
y = 0.0
fov_deg = 90.0
beams = 31
max_range_m = 100.0
"""


def test_default_rig_is_the_su7_like_suite() -> None:
    spec = load_rig_spec()
    assert spec.name == "default"
    assert "default" in rig_names()
    assert [c.name for c in spec.cameras] == ["front_narrow", "front_wide", "rear"]
    assert len(spec.ultrasonics) == 12
    assert [u.mount.x > 0 for u in spec.ultrasonics].count(True) == 6
    assert [r.name for r in spec.radars] == ["front_4d"]
    assert spec.radars[0].max_range_m >= 200.0
    assert spec.radars[0].fov == pytest.approx(np.radians(120.0))
    assert spec.lidars[0].max_range_m == 200.0
    assert spec.lidars[0].fov == pytest.approx(np.radians(120.0))


def test_default_file_lists_all_25_su7_sensors() -> None:
    import tomllib
    from importlib import resources

    text = resources.files("carmind.drive").joinpath("data/rigs/default.toml").read_text()
    data = tomllib.loads(text)
    assert len(data["camera"]) == 11
    assert len(data["ultrasonic"]) == 12
    assert len(data["lidar"]) == 1
    assert sum(r.get("enabled", True) for r in data["radar"]) == 1


def test_observation_matches_its_space() -> None:
    rig = SensorRig.load("default")
    space = rig.observation_space
    assert list(space.spaces) == ["camera", "ultrasonic", "radar", "lidar", "ego"]
    assert space["camera"].shape == (3, 64, 64)
    assert space["ultrasonic"].shape == (12,)
    assert space["radar"].shape == (32, 4)
    assert space["lidar"].shape == (240,)
    assert space["ego"].shape == (9,)
    env = gymnasium.make(
        "highway-v0",
        config={
            "action": {"type": "ContinuousAction"},
            "vehicles_count": 20,
            "policy_frequency": 5,
        },
    )
    env.reset(seed=0)
    obs = rig.observe(env.unwrapped)
    for key, box in space.spaces.items():
        assert obs[key].dtype == box.dtype, key
        assert box.contains(obs[key]), key
    env.close()


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(MINIMAL)
    for arg in (path, str(path)):
        rig = SensorRig.load(arg)
        assert rig.name == "tiny"
        assert rig.observation_space["lidar"].shape == (31,)
        assert rig.observation_space["ultrasonic"].shape == (0,)


def test_disabled_sensors_are_not_read() -> None:
    spec = parse_rig(MINIMAL.replace('name = "roof"', 'name = "roof"\nenabled = false'))
    assert spec.lidars == ()
    assert len(spec.cameras) == 1


def _error(text: str) -> str:
    with pytest.raises(RigError) as caught:
        parse_rig(text, "test")
    assert isinstance(caught.value, CarmindError)
    return str(caught.value)


def test_unknown_key_is_named_with_the_keys_expected() -> None:
    message = _error(MINIMAL.replace("fov_deg = 60.0", "fov_deg = 60.0\nfovv = 3"))
    assert "unknown key 'camera[0].fovv'" in message
    assert "fov_deg" in message and "range_m" in message
    message = _error("wheels = 4\n" + MINIMAL)
    assert "'wheels'" in message and "radar_max_objects" in message


def test_bad_values_are_named() -> None:
    message = _error(MINIMAL.replace("fov_deg = 60.0", "fov_deg = -5.0"))
    assert "camera[0].fov_deg = -5.0" in message and "greater than 0" in message
    message = _error(MINIMAL.replace("beams = 31", 'beams = "many"'))
    assert "lidar[0].beams = 'many'" in message and "integer" in message
    message = _error(MINIMAL.replace("max_range_m = 100.0", "max_range_m = 100.0\ndropout = 1.5"))
    assert "lidar[0].dropout = 1.5" in message and "less than or equal to 1" in message
    message = _error(MINIMAL.replace("range_m = 40.0", "range_m = nan"))
    assert "camera[0].range_m" in message


def test_missing_key_and_inconsistent_values() -> None:
    assert "missing key 'lidar[0].beams'" in _error(MINIMAL.replace("beams = 31", ""))
    bad = MINIMAL + '\n[[ultrasonic]]\nname = "u"\nx = 2.5\ny = 0.0\nmin_range_m = 6.0\n'
    message = _error(bad)
    assert "ultrasonic[0]" in message and "min_range_m (6.0)" in message
    twice = MINIMAL + MINIMAL[MINIMAL.index("[[lidar]]") :]
    assert "lidar[1].name = 'roof' is used twice" in _error(twice)


def test_not_toml() -> None:
    assert "not valid TOML" in _error("name = ")


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(RigError, match=r"nope\.toml' not found"):
        SensorRig.load(missing)
    with pytest.raises(RigError, match=r"unknown rig 'su9'; expected one of: .*default"):
        SensorRig.load("su9")
    with pytest.raises(RigError, match="cannot be read"):
        SensorRig.load(tmp_path)
