"""The sensor models against a highway-env scene with road users placed at known positions.

highway-env's world frame has y to the right; carmind's readings are left positive. The ego is
put at x = 200 m in lane 1 (world y = 4), heading along the road, at 25 m/s.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import gymnasium
import highway_env  # noqa: F401  (registers highway-v0)
import numpy as np
import pytest

from carmind.drive.rig import SensorRig
from carmind.drive.sensors import (
    CameraArray,
    CameraRenderSpec,
    CameraSpec,
    LidarArray,
    LidarSpec,
    Mount,
    RadarArray,
    RadarSpec,
    Scene,
    UltrasonicArray,
    UltrasonicSpec,
    cast,
)

EGO_X, EGO_Y = 200.0, 4.0


@pytest.fixture(scope="module")
def base_env() -> Iterator[Any]:
    env = gymnasium.make(
        "highway-v0",
        config={
            "action": {"type": "ContinuousAction"},
            "vehicles_count": 20,
            "policy_frequency": 5,
        },
    )
    env.reset(seed=0)
    yield env.unwrapped
    env.close()


@pytest.fixture
def env(base_env: Any) -> Any:
    """The ego alone on the road (others are added by `place`)."""
    road = base_env.road
    ego = base_env.vehicle
    pool = getattr(base_env, "_pool", None)
    if pool is None:
        pool = [v for v in road.vehicles if v is not ego]
        base_env._pool = pool
    ego.position = np.array([EGO_X, EGO_Y])
    ego.heading = 0.0
    ego.speed = 25.0
    road.vehicles = [ego]
    return base_env


def place(env: Any, ahead: float, left: float, heading: float = 0.0, speed: float = 20.0) -> Any:
    """Put another car `ahead` m in front of the ego's centre and `left` m to its left."""
    v = env._pool[len(env.road.vehicles) - 1]
    v.position = np.array([EGO_X + ahead, EGO_Y - left])
    v.heading = heading
    v.speed = speed
    env.road.vehicles.append(v)
    return v


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# --- ray casting ------------------------------------------------------------------------------


def test_cast_against_oriented_rectangles() -> None:
    centres = np.array([[10.0, 0.0], [0.0, 20.0]])
    axes = np.array([[1.0, 0.0], [0.0, 1.0]])  # the second is turned 90°
    halves = np.array([[2.5, 1.0], [2.5, 1.0]])
    origins = np.zeros((4, 2))
    dirs = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 0.0]])
    origins[3] = [10.0, 0.5]  # inside the first
    t = cast(origins, dirs, centres, axes, halves)
    assert t[0, 0] == pytest.approx(7.5)
    assert t[1, 1] == pytest.approx(17.5)  # its long side lies along the ray
    assert np.isinf(t[0, 1]) and np.isinf(t[2]).all()
    assert t[3, 0] == 0.0


# --- ultrasonic -------------------------------------------------------------------------------


def _uss(**kw: Any) -> UltrasonicArray:
    specs = (
        UltrasonicSpec("front", Mount(2.5, 0.0, 0.0), **kw),
        UltrasonicSpec("left", Mount(0.0, 1.0, math.pi / 2), **kw),
        UltrasonicSpec("rear", Mount(-2.5, 0.0, math.pi), **kw),
    )
    return UltrasonicArray(specs)


def test_ultrasonic_distance_to_a_car_ahead_and_to_the_left(env: Any) -> None:
    uss = _uss()
    place(env, ahead=2.5 + 1.2 + 2.5, left=0.0)  # its rear 1.2 m from the front bumper
    place(env, ahead=0.0, left=1.0 + 2.0 + 1.0)  # its right side 2 m from the left sensor
    d = uss.observe(Scene.from_env(env), rng())
    assert d[0] == pytest.approx(1.2, abs=1e-6)
    assert d[1] == pytest.approx(2.0, abs=1e-6)
    assert d[2] == 5.0  # nothing behind: max range


def test_ultrasonic_cone_and_blind_zone(env: Any) -> None:
    uss = _uss()
    # 20° off the front sensor's axis, inside the ±30° cone: seen, nearer than straight ahead
    place(env, ahead=2.5 + 3.0 * math.cos(0.35) + 1.0, left=-3.0 * math.sin(0.35), heading=1.57)
    place(env, ahead=-2.5 - 0.05 - 2.5, left=0.0)  # 5 cm behind the rear bumper
    d = uss.observe(Scene.from_env(env), rng())
    assert 2.0 < d[0] < 3.0
    assert d[2] == pytest.approx(0.15)  # the blind zone reads min range


def test_ultrasonic_outside_the_cone_is_not_seen(env: Any) -> None:
    place(env, ahead=2.5 + 1.0, left=-3.5)  # 1 m ahead of the bumper but 74° to the right
    assert _uss().observe(Scene.from_env(env), rng())[0] == 5.0


def test_ultrasonic_noise_and_dropout(env: Any) -> None:
    uss = _uss(noise_std_m=0.05, dropout=0.2)
    place(env, ahead=2.5 + 2.0 + 2.5, left=0.0)
    scene, g = Scene.from_env(env), rng()
    d = np.array([uss.observe(scene, g)[0] for _ in range(2000)])
    echoes = d[d < 5.0]
    assert 1.0 - echoes.size / d.size == pytest.approx(0.2, abs=0.03)
    assert echoes.mean() == pytest.approx(2.0, abs=0.01)
    assert echoes.std() == pytest.approx(0.05, rel=0.1)


# --- lidar ------------------------------------------------------------------------------------


def _lidar(**kw: Any) -> LidarArray:
    return LidarArray(
        (LidarSpec("roof", Mount(0.5, 0.0, 0.0), math.radians(120), 121, 200.0, **kw),)
    )


def test_lidar_ranges_to_a_car_ahead(env: Any) -> None:
    lidar = _lidar()
    place(env, ahead=30.0, left=0.0)
    r = lidar.observe(Scene.from_env(env), rng())
    assert r.shape == (121,)
    assert r[60] == pytest.approx(30.0 - 2.5 - 0.5, abs=1e-4)  # the middle beam, straight ahead
    hit = np.flatnonzero(r < 200.0)
    # the car's rear (2 m wide at 27 m) spans about ±2.1°: beams 58..62 at 1° spacing
    assert hit.tolist() == [58, 59, 60, 61, 62]
    assert np.all(r[:50] == 200.0)


def test_lidar_beams_run_right_to_left(env: Any) -> None:
    bearing = math.radians(30.0)
    place(env, ahead=0.5 + 40.0 * math.cos(bearing), left=40.0 * math.sin(bearing))
    r = _lidar().observe(Scene.from_env(env), rng())
    closest = int(np.argmin(r))
    assert closest == pytest.approx(60 + 30, abs=2)  # a car 30° to the left: beam 90 of 0..120
    assert 37.0 < r[closest] < 40.0


def test_lidar_out_of_view_and_occlusion(env: Any) -> None:
    place(env, ahead=-30.0, left=0.0)  # behind
    place(env, ahead=300.0, left=0.0)  # beyond range
    assert np.all(_lidar().observe(Scene.from_env(env), rng()) == 200.0)
    place(env, ahead=20.0, left=0.0)
    place(env, ahead=40.0, left=0.0)  # hidden behind the one at 20 m
    r = _lidar().observe(Scene.from_env(env), rng())
    assert r.min() == pytest.approx(20.0 - 2.5 - 0.5, abs=1e-4)
    assert not np.any((r > 30.0) & (r < 200.0))


def test_lidar_noise_and_dropout(env: Any) -> None:
    lidar = _lidar(noise_std_m=0.1, dropout=0.1)
    place(env, ahead=30.0, left=0.0)
    scene, g = Scene.from_env(env), rng()
    mid = np.array([lidar.observe(scene, g)[60] for _ in range(2000)])
    returns = mid[mid < 200.0]
    assert 1.0 - returns.size / mid.size == pytest.approx(0.1, abs=0.02)
    assert returns.mean() == pytest.approx(27.0, abs=0.01)
    assert returns.std() == pytest.approx(0.1, rel=0.1)


# --- radar ------------------------------------------------------------------------------------


def _radar(max_objects: int = 8, **kw: Any) -> RadarArray:
    spec = RadarSpec("front", Mount(2.5, 0.0, 0.0), math.radians(120), 250.0, **kw)
    return RadarArray((spec,), max_objects)


def test_radar_range_azimuth_and_radial_speed(env: Any) -> None:
    place(env, ahead=2.5 + 40.0, left=3.0, speed=20.0)  # 40 m ahead of the radar, 3 m left
    out = _radar().observe(Scene.from_env(env), rng())
    assert out.shape == (8, 4) and out.dtype == np.float32
    rng_m, az, vr, valid = out[0]
    dist = math.hypot(40.0, 3.0)
    assert rng_m == pytest.approx(dist * (40.0 - 2.5) / 40.0, abs=1e-3)  # to its rear face
    assert az == pytest.approx(math.atan2(3.0, 40.0), abs=1e-6)  # left positive
    assert vr == pytest.approx(-5.0 * 40.0 / dist, abs=1e-4)  # 5 m/s slower: closing
    assert valid == 1.0
    assert np.all(out[1:] == 0.0)


def test_radar_sorts_by_range_and_sees_an_opening_target(env: Any) -> None:
    place(env, ahead=80.0, left=-4.0, speed=30.0)
    place(env, ahead=30.0, left=4.0, speed=20.0)
    out = _radar().observe(Scene.from_env(env), rng())
    assert out[:, 3].tolist()[:3] == [1.0, 1.0, 0.0]
    assert out[0, 0] < out[1, 0]
    assert out[0, 1] > 0 > out[1, 1]  # the near one left, the far one right
    assert out[1, 2] > 0  # faster than the ego: opening


def test_radar_field_of_view_and_range(env: Any) -> None:
    place(env, ahead=2.5, left=8.0)  # abeam, 90° left
    place(env, ahead=-30.0, left=0.0)  # behind
    place(env, ahead=2.5 + 5.0, left=-10.0)  # 63° right, outside ±60°
    place(env, ahead=300.0, left=0.0)  # beyond 250 m
    assert _radar().observe(Scene.from_env(env), rng())[:, 3].sum() == 0.0
    place(env, ahead=2.5 + 10.0, left=-15.0)  # 56° right: inside
    assert _radar().observe(Scene.from_env(env), rng())[:, 3].sum() == 1.0


def test_radar_occlusion(env: Any) -> None:
    place(env, ahead=30.0, left=0.0)
    hidden = place(env, ahead=60.0, left=0.0)
    out = _radar().observe(Scene.from_env(env), rng())
    assert out[:, 3].sum() == 1.0 and out[0, 0] == pytest.approx(30.0 - 2.5 - 2.5, abs=1e-3)
    hidden.position = np.array([EGO_X + 60.0, EGO_Y - 4.0])  # one lane to the left: in view
    out = _radar().observe(Scene.from_env(env), rng())
    assert out[:, 3].sum() == 2.0


def test_radar_noise_dropout_and_truncation(env: Any) -> None:
    radar = _radar(range_noise_std_m=0.5, azimuth_noise_std=0.01, dropout=0.25)
    place(env, ahead=52.5, left=0.0)
    scene, g = Scene.from_env(env), rng()
    frames = np.array([radar.observe(scene, g)[0] for _ in range(2000)])
    seen = frames[frames[:, 3] == 1.0]
    assert 1.0 - seen.shape[0] / frames.shape[0] == pytest.approx(0.25, abs=0.03)
    assert seen[:, 0].mean() == pytest.approx(47.5, abs=0.05)
    assert seen[:, 0].std() == pytest.approx(0.5, rel=0.1)
    assert seen[:, 1].std() == pytest.approx(0.01, rel=0.1)
    for k in range(5):
        place(env, ahead=20.0 + 15.0 * k, left=4.0)
    out = _radar(max_objects=3).observe(Scene.from_env(env), rng())
    assert out.shape == (3, 4) and out[:, 3].sum() == 3.0
    near = math.hypot(17.5, 4.0) * 15.0 / 17.5  # 17.5 m ahead of the radar, to its rear face
    assert out[0, 0] == pytest.approx(near, abs=0.2)  # the nearest are kept


def test_radar_false_positives_are_stationary_clutter(env: Any) -> None:
    radar = _radar(max_objects=64, false_positive_rate=5.0)
    scene, g = Scene.from_env(env), rng()
    counts, rows = [], []
    for _ in range(200):
        out = radar.observe(scene, g)
        counts.append(out[:, 3].sum())
        rows.append(out[out[:, 3] == 1.0])
    assert np.mean(counts) == pytest.approx(5.0, rel=0.1)
    ghosts = np.concatenate(rows)
    assert np.allclose(ghosts[:, 2], -25.0 * np.cos(ghosts[:, 1]), atol=1e-4)


# --- cameras ----------------------------------------------------------------------------------


def _camera() -> CameraArray:
    front = CameraSpec("front", Mount(0.0, 0.0, 0.0), math.radians(60), 40.0)
    rear = CameraSpec("rear", Mount(0.0, 0.0, math.pi), math.radians(60), 40.0)
    return CameraArray((front, rear), CameraRenderSpec(64, 64, 2.0, 2))


def test_camera_is_not_blank_and_shows_the_lane_lines(base_env: Any) -> None:
    base_env.reset(seed=0)
    obs = SensorRig.load().observe(base_env)["camera"]
    assert obs.shape == (3, 64, 64)
    for image in obs:
        inside = image[image > 0]
        assert inside.size > 1000
        assert 80 < np.median(inside) < 120  # the grey road
        assert (inside > 170).sum() > 30  # white lane lines (and cars)


def test_front_camera_shows_a_car_ahead(env: Any) -> None:
    cams = _camera()
    empty = cams.observe(env, Scene.from_env(env), rng())
    place(env, ahead=20.0, left=0.0)
    seen = cams.observe(env, Scene.from_env(env), rng())
    diff = np.abs(seen.astype(int) - empty.astype(int))
    assert np.all(diff[1] == 0)  # not in the rear camera
    rows, cols = np.nonzero(diff[0] > 20)
    # 20 m ahead of 40 m: around row 32 of 64; straight ahead: the middle columns
    assert rows.size > 10
    assert rows.min() >= 26 and rows.max() <= 38
    assert cols.min() >= 28 and cols.max() <= 36
    # a car to the left appears on the image's left
    place(env, ahead=20.0, left=8.0)
    left = cams.observe(env, Scene.from_env(env), rng())
    cols = np.nonzero(np.abs(left[0].astype(int) - seen[0].astype(int)) > 20)[1]
    assert cols.size > 0 and cols.max() < 28


def test_camera_mask_and_dropout(env: Any) -> None:
    spec = CameraSpec("front", Mount(0.0, 0.0, 0.0), math.radians(60), 40.0, 0.0, 0.3)
    cams = CameraArray((spec,), CameraRenderSpec(32, 32, 2.0, 1))
    g = rng()
    images = np.array([cams.observe(env, Scene.from_env(env), g)[0] for _ in range(200)])
    lost = (images.reshape(200, -1).max(axis=1) == 0).mean()
    assert lost == pytest.approx(0.3, abs=0.08)
    kept = images[images.reshape(200, -1).max(axis=1) > 0][0]
    assert kept[-1, 0] == 0 and kept[-1, -1] == 0  # outside the wedge: black
    assert kept[-4, 16] > 0  # inside: the road


# --- the whole rig ----------------------------------------------------------------------------


def test_one_seed_one_stream(base_env: Any) -> None:
    def stream(seed: int) -> list[dict[str, np.ndarray]]:
        base_env.reset(seed=0)
        rig.reset(seed)
        out = []
        for _ in range(3):
            out.append(rig.observe(base_env))
            base_env.step(np.array([0.0, 0.0]))
        return out

    rig = SensorRig.load()
    a, b, c = stream(7), stream(7), stream(8)
    for x, y in zip(a, b, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    assert any(not np.array_equal(x["camera"], z["camera"]) for x, z in zip(a, c, strict=True))
    assert any(not np.array_equal(x["ego"], z["ego"]) for x, z in zip(a, c, strict=True))


def test_ego_reading_is_the_world_ego_state_with_lane_camera_noise(base_env: Any) -> None:
    from carmind.drive.world import ego_state

    base_env.reset(seed=0)
    rig = SensorRig.load()
    truth = ego_state(base_env)
    samples = np.array([rig.observe(base_env)["ego"] for _ in range(120)])
    assert samples[:, 5] == pytest.approx(truth.lane_width)
    assert samples[:, 6] == pytest.approx(truth.lanes_left)
    assert samples[:, 3].mean() == pytest.approx(truth.lane_offset, abs=0.02)
    assert samples[:, 3].std() == pytest.approx(0.05, rel=0.25)
    assert samples[:, 0].mean() == pytest.approx(truth.speed, abs=0.02)
