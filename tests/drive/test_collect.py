"""Collecting expert data: shards, index, workers, Ray, and bad inputs that change nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from carmind.drive.collect import CollectError, collect
from carmind.drive.dataset import DatasetError, load_arrays, read_index
from carmind.drive.scenarios import ScenarioError


def test_collect_writes_shards_with_an_index(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    index = collect(
        tmp_path / "ds",
        episodes=2,
        workers=2,
        scenarios=("merge",),
        seed=40,
        progress=lambda done, total, _: seen.append((done, total)),
    )
    assert seen[-1] == (2, 2)
    assert index["episodes"] == 2 and index["rig"] == "default"
    arrays, [ix] = load_arrays([tmp_path / "ds"])
    assert ix == read_index(tmp_path / "ds")
    n = ix["samples"]
    assert arrays["obs/camera"].shape == (n, 3, 64, 64)
    assert arrays["obs/ego"].shape == (n, 9)
    assert set(np.unique(arrays["label/lane"])) <= {-1, 0, 1}
    assert sorted({e["seed"] for s in ix["shards"] for e in s["episodes"]}) == [40, 41]
    # the expert drove: the applied action is the labelled plan's
    assert np.all(np.isfinite(arrays["label/acceleration"]))
    assert set(np.unique(arrays["episode"])) == {0, 1}


def test_append_adds_and_an_existing_dataset_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    collect(out, episodes=1, scenarios=("merge",), seed=1)
    before = (out / "index.json").read_text()
    with pytest.raises(DatasetError, match="already holds a dataset"):
        collect(out, episodes=1, scenarios=("merge",), seed=2)
    assert (out / "index.json").read_text() == before
    index = collect(out, episodes=1, scenarios=("merge",), seed=2, append=True)
    assert index["episodes"] == 2 and len(index["shards"]) == 2


def test_held_out_seeds_and_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="held out"):
        collect(tmp_path / "a", episodes=2, seed=999_999)
    with pytest.raises(ScenarioError, match="unknown scenario"):
        collect(tmp_path / "b", episodes=1, scenarios=("moon",))
    with pytest.raises(CollectError, match="--workers 0"):
        collect(tmp_path / "c", episodes=1, workers=0, scenarios=("merge",))
    assert not any(tmp_path.iterdir())


def test_a_missing_or_foreign_dataset_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no dataset"):
        load_arrays([tmp_path / "nothing"])
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "index.json").write_text('{"format": "something else"}')
    with pytest.raises(DatasetError, match="not a carmind dataset"):
        load_arrays([tmp_path / "x"])


def test_collect_runs_on_a_ray_cluster(tmp_path: Path) -> None:
    index = collect(
        tmp_path / "ray", episodes=2, scenarios=("merge",), seed=60, ray_address="local"
    )
    assert index["episodes"] == 2
    assert sorted(e["seed"] for s in index["shards"] for e in s["episodes"]) == [60, 61]
