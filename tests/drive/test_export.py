"""ONNX export and the runtime that drives with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from carmind.drive.agents import load_agent
from carmind.drive.export import META_MAX_LATERAL_ACCEL, _sample_inputs, check_parity, export_onnx
from carmind.drive.policy import KEYS, DrivePolicy
from carmind.drive.runtime import ModelError, OnnxPolicy


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[DrivePolicy, Path]:
    torch.manual_seed(0)
    model = DrivePolicy()
    sample = _sample_inputs(model, 64, 1)
    model.fit_normalisation({k: sample[k] for k in KEYS if k != "camera"}, np.linspace(-3, 2, 64))
    path = tmp_path_factory.mktemp("model") / "policy.onnx"
    diff = export_onnx(model, path, max_lateral_accel=1.5, rig="default")
    assert diff < 1e-4
    return model, path


def test_onnx_matches_pytorch(exported: tuple[DrivePolicy, Path]) -> None:
    model, path = exported
    assert check_parity(model, path, _sample_inputs(model, 5, 7)) < 1e-4


def test_runtime_predicts_one_observation_like_pytorch(exported: tuple[DrivePolicy, Path]) -> None:
    model, path = exported
    policy = OnnxPolicy(path)
    assert policy.max_lateral_accel == 1.5
    assert policy.rig == "default"
    batch = _sample_inputs(model, 1, 3)
    observation = {k: v[0] for k, v in batch.items()}
    accel, lane = policy.predict(observation)
    with torch.no_grad():
        want_a, logits = model.eval()(*(torch.from_numpy(batch[k]) for k in KEYS))
    assert accel == pytest.approx(float(want_a[0]), abs=1e-4)
    assert lane == int(logits[0].argmax()) - 1
    assert lane in (-1, 0, 1)


def test_learned_agent_drives_with_the_model(exported: tuple[DrivePolicy, Path]) -> None:
    model, path = exported
    agent = load_agent(path)
    batch = _sample_inputs(model, 1, 4)
    action = agent.act({k: v[0] for k, v in batch.items()})
    assert np.isfinite(action.acceleration) and np.isfinite(action.steering)


def test_metadata_is_written(exported: tuple[DrivePolicy, Path]) -> None:
    _, path = exported
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert float(props[META_MAX_LATERAL_ACCEL]) == 1.5
    assert props["carmind.rig"] == "default"
    assert props["carmind.version"]


def test_bad_model_files_are_errors_naming_the_path(
    tmp_path: Path, exported: tuple[DrivePolicy, Path]
) -> None:
    missing = tmp_path / "none.onnx"
    with pytest.raises(ModelError, match=str(missing)):
        OnnxPolicy(missing)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match=r"corrupt\.onnx"):
        OnnxPolicy(corrupt)
    bare = tmp_path / "bare.onnx"
    proto = onnx.load(str(exported[1]))
    del proto.metadata_props[:]
    onnx.save(proto, str(bare))
    with pytest.raises(ModelError, match="max_lateral_accel"):
        OnnxPolicy(bare)


def test_an_observation_that_does_not_fit_is_refused(exported: tuple[DrivePolicy, Path]) -> None:
    model, path = exported
    policy = OnnxPolicy(path)
    observation = {k: v[0] for k, v in _sample_inputs(model, 1, 5).items()}
    with pytest.raises(ModelError, match="lidar"):
        policy.predict({k: v for k, v in observation.items() if k != "lidar"})
    with pytest.raises(ModelError, match=r"\[100\]"):
        policy.predict({**observation, "lidar": np.zeros(100, dtype=np.float32)})


def test_a_failed_export_leaves_no_file(tmp_path: Path, exported: tuple[DrivePolicy, Path]) -> None:
    from carmind.drive.export import ExportError

    path = tmp_path / "policy.onnx"
    with pytest.raises(ExportError, match="max_lateral_accel"):
        export_onnx(exported[0], path, max_lateral_accel=0.0)
    assert list(tmp_path.iterdir()) == []
