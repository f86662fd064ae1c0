"""`carmind drive ...` as a user runs it: collect, train, eval, and mistakes in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carmind.cli.main import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_collect_train_and_evaluate_the_result(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data, model = tmp_path / "data", tmp_path / "model"
    status, out, _ = cli(
        capsys, "drive", "collect", "--out", str(data), "--episodes", "2",
        "--scenario", "merge", "--seed", "70", "--json",
    )  # fmt: skip
    assert status == 0, out
    assert json.loads(out)["episodes"] == 2
    status, out, _ = cli(
        capsys, "drive", "train", "--data", str(data), "--out", str(model),
        "--epochs", "1", "--dagger-rounds", "0", "--json",
    )  # fmt: skip
    assert status == 0, out
    summary = json.loads(out)
    assert summary["epochs"] == 1 and Path(summary["onnx"]).is_file()
    assert (model / "curves.png").is_file() and (model / "train.json").is_file()
    status, out, _ = cli(
        capsys, "drive", "eval", "--policy", "learned+guard", "--policy", "idle",
        "--model", str(model), "--scenario", "merge", "--episodes", "1",
        "--out", str(tmp_path / "eval"), "--json",
    )  # fmt: skip
    assert status == 0, out
    report = json.loads(out)
    names = [row["policy"] for row in report["policies"]]
    assert names == ["expert", "learned+guard", "idle"]
    assert report["held_out"] is True
    expert = report["policies"][0]
    assert expert["progress_ratio"] == pytest.approx(1.0)
    assert (tmp_path / "eval" / "eval.png").stat().st_size > 10_000


def test_eval_prints_a_side_by_side_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(
        capsys, "drive", "eval", "--policy", "idm", "--scenario", "merge", "--episodes", "1"
    )
    assert status == 0
    assert "at-fault collisions" in out and "expert" in out and "idm" in out
    assert "held-out seeds" in out and "1000000–1000000" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "--policy", "robot"], "unknown driver 'robot'"),
        (["eval", "--policy", "idle", "--scenario", "moon"], "unknown scenario 'moon'"),
        (["eval", "--policy", "learned", "--model", "/nonexistent.onnx"], "no model at"),
        (["collect", "--out", "{tmp}/d", "--seed", "1000000"], "held out for evaluation"),
        (["train", "--data", "{tmp}/none", "--out", "{tmp}/m"], "{tmp}/none"),
    ],
)
def test_mistakes_get_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    status, _out, err = cli(capsys, "drive", *argv)
    assert status == 2
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists() and not (tmp_path / "m").exists()


def test_scenarios_lists_the_split(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "drive", "scenarios", "--json")
    assert status == 0
    data = json.loads(out)
    assert {"highway", "highway-dense", "merge", "racetrack"} <= set(data["scenarios"])
    assert data["held_out_seeds"][0] == 1_000_000
