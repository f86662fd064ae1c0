"""Behaviour cloning, a DAgger round, the outputs, and bad inputs that leave nothing behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from carmind.drive.collect import collect
from carmind.drive.dataset import load_arrays
from carmind.drive.policy import Shapes
from carmind.drive.runtime import OnnxPolicy
from carmind.drive.train import TrainConfig, TrainError, load_checkpoint, train

FAST = {"batch_size": 32, "workers": 1, "threads": 2, "dagger_scenarios": ["merge"]}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "merge"
    collect(out, episodes=2, workers=1, scenarios=("merge",), seed=10)
    return out


def test_bc_then_a_dagger_round_writes_the_model_and_its_report(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    config = TrainConfig.from_dict(
        {**FAST, "epochs": 4, "dagger_rounds": 1, "dagger_episodes": 2, "dagger_epochs": 1}
    )
    seen: list[dict[str, object]] = []
    report = train([dataset], out, config, progress=lambda d, t, info: seen.append(info))
    bc = [h for h in report.history if h.phase == "bc"]
    assert len(bc) == 4
    assert bc[-1].train_loss < bc[0].train_loss
    assert len(seen) == 4 + 2 + 1
    for name in ("policy.pt", "policy.onnx", "train.json", "curves.png"):
        assert (out / name).is_file(), name

    # the round: the learner drove fresh seeds and the expert labelled every state
    (round_,) = report.rounds
    assert round_.samples_added > 0 and round_.episodes == 2
    arrays, (index,) = load_arrays([out / "dagger-0"])
    episodes = [e for s in index["shards"] for e in s["episodes"]]
    assert all(e["source"].startswith("dagger:") for e in episodes)
    assert min(e["seed"] for e in episodes) > 11  # after the BC data's seeds 10 and 11
    assert set(np.unique(arrays["label/lane"])) <= {-1, 0, 1}
    assert np.isfinite(arrays["label/acceleration"]).all()
    assert (
        report.samples
        == index["samples"] + json.loads((dataset / "index.json").read_text())["samples"]
    )

    saved = json.loads((out / "train.json").read_text())
    assert saved["config"]["dagger_rounds"] == 1
    assert saved["data"][0]["dir"] == str(dataset)
    assert [e["phase"] for e in saved["epochs"]] == ["bc"] * 4 + ["dagger-0"]
    assert saved["dagger"][0]["samples_added"] == round_.samples_added
    assert saved["world_size"] == 1 and saved["wall_s"] > 0

    policy = OnnxPolicy(out / "policy.onnx")
    assert policy.max_lateral_accel == 1.5
    observation = {k.removeprefix("obs/"): v[0] for k, v in arrays.items() if k.startswith("obs/")}
    accel, lane = policy.predict(observation)
    assert np.isfinite(accel) and lane in (-1, 0, 1)
    assert load_checkpoint(out / "policy.pt").shapes == Shapes()


def _nothing_written(out: Path, before: set[str] | None = None) -> bool:
    if before is None:
        return not out.exists()
    return {p.name for p in out.iterdir()} == before


def test_bad_inputs_raise_and_write_nothing(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = TrainConfig.from_dict({**FAST, "epochs": 1, "dagger_rounds": 0})
    with pytest.raises(TrainError, match=r"no dataset at .*missing"):
        train([tmp_path / "missing"], out, config)
    assert _nothing_written(out)

    empty = tmp_path / "empty"
    empty.mkdir()
    index = json.loads((dataset / "index.json").read_text())
    (empty / "index.json").write_text(json.dumps({**index, "shards": [], "samples": 0}))
    with pytest.raises(TrainError, match="holds no samples"):
        train([empty], out, config)
    assert _nothing_written(out)

    other = tmp_path / "other-rig"
    shutil.copytree(dataset, other)
    (other / "index.json").write_text(json.dumps({**index, "rig": "compact"}))
    with pytest.raises(TrainError, match="rig 'compact'"):
        train([dataset, other], out, config)
    assert _nothing_written(out)

    out.mkdir()
    (out / "policy.onnx").write_bytes(b"an earlier model")
    with pytest.raises(TrainError, match=r"already holds a trained model.*--force"):
        train([dataset], out, config)
    assert _nothing_written(out, {"policy.onnx"})
    assert (out / "policy.onnx").read_bytes() == b"an earlier model"


def test_config_errors_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match=r"unknown training setting.*'epoch'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(TrainError, match="batch_size = 0: expected at least 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(TrainError, match="lr = 'fast': expected a number"):
        TrainConfig.from_dict({"lr": "fast"})
    with pytest.raises(TrainError, match="dagger_scenarios: unknown scenario 'moon'"):
        TrainConfig.from_dict({"dagger_scenarios": ["moon"]})
    path = tmp_path / "train.toml"
    path.write_text("[train]\nepochs = 3\nbeta = 1\n")
    assert TrainConfig.from_toml(path) == TrainConfig(epochs=3, beta=1.0)
