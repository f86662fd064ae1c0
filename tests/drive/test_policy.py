"""The driving network: shapes, the radar encoder's permutation invariance, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from carmind.drive.policy import (
    KEYS,
    DrivePolicy,
    PolicyError,
    RadarEncoder,
    Shapes,
    parameter_count,
)


def _radar(batch: int, rows: int = 32, valid: int = 5, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    r = np.zeros((batch, rows, 4), dtype=np.float32)
    r[:, :valid, 0] = rng.uniform(3, 150, (batch, valid))
    r[:, :valid, 1] = rng.uniform(-1, 1, (batch, valid))
    r[:, :valid, 2] = rng.normal(0, 5, (batch, valid))
    r[:, :valid, 3] = 1.0
    return torch.from_numpy(r)


def test_outputs_have_the_batch_shape_and_the_model_is_small() -> None:
    model = DrivePolicy()
    accel, logits = model(*model.dummy_inputs(5))
    assert accel.shape == (5,)
    assert logits.shape == (5, 3)
    assert 100_000 <= parameter_count(model) <= 300_000


def test_other_sensor_layouts_build() -> None:
    shapes = Shapes(camera=(2, 32, 48), ultrasonic=8, radar=(16, 4), lidar=100, ego=9)
    model = DrivePolicy(shapes)
    accel, logits = model(*model.dummy_inputs(2))
    assert accel.shape == (2,) and logits.shape == (2, 3)


def test_radar_encoder_ignores_object_order_and_empty_rows() -> None:
    torch.manual_seed(0)
    enc = RadarEncoder(16).eval()
    radar = _radar(3)
    perm = torch.randperm(32)
    with torch.no_grad():
        base = enc(radar)
        assert torch.allclose(base, enc(radar[:, perm]), atol=1e-6)
        junk = radar.clone()
        junk[:, 10:, :3] = 99.0  # rows marked invalid carry no information
        assert torch.allclose(base, enc(junk), atol=1e-6)
        assert not torch.allclose(base, enc(_radar(3, seed=1)))  # but valid ones do


def test_no_valid_radar_objects_gives_finite_features() -> None:
    with torch.no_grad():
        out = RadarEncoder(16)(torch.zeros(2, 32, 4))
    assert torch.isfinite(out).all()


def test_normalisation_is_fitted_from_data_and_kept_in_the_state_dict() -> None:
    rng = np.random.default_rng(0)
    n = 200
    ego = rng.normal(0, 1, (n, 9)).astype(np.float32)
    ego[:, 0] = rng.normal(25, 3, n)
    ego[:, 5] = 4.0  # never varies: its scale must not collapse
    arrays = {
        "ultrasonic": rng.uniform(1, 5, (n, 12)).astype(np.float32),
        "radar": _radar(n).numpy(),
        "lidar": rng.uniform(2, 200, (n, 240)).astype(np.float32),
        "ego": ego,
    }
    accel = rng.normal(-0.5, 1.5, n).astype(np.float32)
    model = DrivePolicy()
    model.fit_normalisation(arrays, accel)
    assert model.ego.mean[0].item() == pytest.approx(25, abs=1)  # type: ignore[index]
    assert model.ego.std[5].item() == pytest.approx(0.5)  # the floor  # type: ignore[index]
    assert model.accel_mean.item() == pytest.approx(float(accel.mean()), abs=1e-4)  # type: ignore[operator]
    assert model.lidar.max_range.item() == pytest.approx(float(arrays["lidar"].max()))  # type: ignore[operator]
    state = model.state_dict()
    for key in ("ego.mean", "ego.std", "ultrasonic.mean", "radar.mean", "accel_std"):
        assert key in state
    clone = DrivePolicy()
    clone.load_state_dict(state)
    inputs = model.dummy_inputs(2)
    with torch.no_grad():
        assert torch.equal(model(*inputs)[0], clone(*inputs)[0])


def test_layouts_the_network_cannot_read_are_refused() -> None:
    good = {k: {"shape": list(Shapes().sample_shape(k))} for k in KEYS}
    assert Shapes.from_observation(good) == Shapes()
    with pytest.raises(PolicyError, match="lidar"):
        Shapes.from_observation({k: v for k, v in good.items() if k != "lidar"})
    with pytest.raises(PolicyError, match="radar rows have 3 columns"):
        Shapes.from_observation({**good, "radar": {"shape": [32, 3]}})
