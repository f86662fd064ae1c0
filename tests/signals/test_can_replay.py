"""Replaying recorded CAN logs: the shipped drive, .asc and .blf, pacing, the CLI, the recorder."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import time
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import can
import pytest

from carmind.cli.main import main
from carmind.signals.adapters.can import (
    CanBridge,
    CanMapping,
    CanReplayError,
    ReplayResult,
    load_mapping,
    package_data,
    read_frames,
    replay_file,
)
from carmind.signals.adapters.can.stats import BAD_KINDS
from carmind.signals.broker import Broker
from carmind.signals.catalog import Value, default_catalog

ROOT = Path(__file__).resolve().parents[2]
SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
LOCKED = "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"
MAPPING = load_mapping()
EXPECTED: dict[str, Any] = json.loads(package_data("sim_drive_expected.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def sim_log() -> Iterator[Path]:
    with resources.as_file(package_data("sim_drive.log")) as path:
        yield path


@pytest.fixture(scope="module")
def replayed(sim_log: Path) -> ReplayResult:
    return replay_file(sim_log, MAPPING)


def assert_values_match(values: Mapping[str, Value], expected: Mapping[str, Value]) -> None:
    """Decoded values equal what the recorder encoded, to the signal's resolution."""
    assert set(values) == set(expected)
    for path, want in expected.items():
        got = values[path]
        resolution = MAPPING.inbound_codec(path).resolution
        if resolution is None:
            assert got == want, path
        else:
            assert isinstance(got, int | float) and isinstance(want, int | float)
            assert math.isclose(got, want, abs_tol=resolution / 2 + 1e-9), (path, got, want)


# --------------------------------------------------------------------------- the shipped drive


def test_the_shipped_log_is_small_and_readable(sim_log: Path) -> None:
    assert sim_log.stat().st_size < 500_000
    assert sum(1 for _ in read_frames(sim_log)) == EXPECTED["frames"]


def test_the_recorded_drive_replays_into_the_recorded_values(replayed: ReplayResult) -> None:
    assert replayed.frames == EXPECTED["frames"]
    assert_values_match(replayed.values, EXPECTED["values"])
    # the end of the drive, as the recorder wrote it: WLTC second 150, accelerating again
    assert replayed.values["Vehicle.Speed"] == pytest.approx(EXPECTED["values"]["Vehicle.Speed"])
    assert replayed.values["Vehicle.Speed"] == pytest.approx(29.78, abs=0.5)
    assert replayed.values["Vehicle.TraveledDistance"] == pytest.approx(
        EXPECTED["values"]["Vehicle.TraveledDistance"], abs=0.0005
    )
    odometer = replayed.values["Vehicle.TraveledDistance"]
    assert isinstance(odometer, float) and odometer > 0.5
    # the body actions of the drive
    assert replayed.values[LOCKED] is True
    assert replayed.values["Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"] == 22.5
    assert replayed.values["Vehicle.Body.Lights.Beam.Low.IsOn"] is True
    assert replayed.log_duration_s == pytest.approx(EXPECTED["seconds"], abs=0.2)


def test_the_bad_frames_of_the_drive_are_counted(replayed: ReplayResult) -> None:
    stats = replayed.stats
    assert {kind: stats[kind] for kind in BAD_KINDS} == EXPECTED["bad"]
    assert stats["ignored"] == EXPECTED["requests"]  # the head unit's own request frames
    frame_faults = ("unknown_id", "bad_length", "decode_error", "error_frame")
    rejected = sum(EXPECTED["bad"][kind] for kind in frame_faults)
    assert stats["decoded"] == stats["frames"] - stats["ignored"] - rejected


def test_no_bad_value_reaches_the_hub(sim_log: Path) -> None:
    broker = Broker(default_catalog())
    bridge = CanBridge(broker, MAPPING)
    bridge.attach()
    assert bridge._handle is not None
    seen: list[dict[str, object]] = []
    publish = bridge._handle.publish_many

    def spy(values: Mapping[str, object], timestamp: float | None = None) -> None:
        seen.append(dict(values))
        publish(values, timestamp)

    bridge._handle.publish_many = spy  # type: ignore[method-assign]
    bridge.process(read_frames(sim_log))
    socs = [batch[SOC] for batch in seen if SOC in batch]
    assert socs and all(isinstance(v, float) and 0 <= v <= 100 for v in socs)
    assert bridge.stats.out_of_range == 1
    assert all(isinstance(batch.get(LOCKED, False), bool) for batch in seen)


@pytest.mark.parametrize("suffix", [".asc", ".blf"])
def test_vector_logs_replay_alike(sim_log: Path, tmp_path: Path, suffix: str) -> None:
    converted = tmp_path / f"drive{suffix}"
    with can.Logger(converted) as writer:
        for frame in read_frames(sim_log):
            writer.on_message_received(frame)
    result = replay_file(converted, MAPPING)
    assert result.frames == EXPECTED["frames"]
    assert_values_match(result.values, EXPECTED["values"])
    assert {kind: result.stats[kind] for kind in BAD_KINDS} == EXPECTED["bad"]


def test_a_relative_log_is_moved_to_now(sim_log: Path, tmp_path: Path) -> None:
    converted = tmp_path / "drive.asc"
    with can.Logger(converted) as writer:
        for frame in read_frames(sim_log):
            writer.on_message_received(frame)
    assert next(read_frames(converted)).timestamp < 1.0  # ASC holds time since the start
    broker = Broker(default_catalog())
    before = time.time()
    replay_file(converted, MAPPING, broker=broker)
    datapoint = broker.client("app", "read").get("Vehicle.Speed")
    assert datapoint is not None and datapoint.timestamp >= before


def short_log(sim_log: Path, folder: Path, seconds: float) -> Path:
    frames = list(read_frames(sim_log))
    start = frames[0].timestamp
    path = folder / "short.log"
    writer = can.CanutilsLogWriter(path)
    for frame in frames:
        if frame.timestamp - start <= seconds:
            writer.on_message_received(frame)
    writer.stop()
    return path


def test_replay_at_a_speed_keeps_the_pace(sim_log: Path, tmp_path: Path) -> None:
    path = short_log(sim_log, tmp_path, 1.0)
    result = replay_file(path, MAPPING, speed=5.0)
    assert result.log_duration_s == pytest.approx(1.0, abs=0.11)
    assert 0.15 <= result.wall_s < 1.0  # 1 s of log at 5x
    with pytest.raises(CanReplayError, match="greater than 0"):
        replay_file(path, MAPPING, speed=0)


@pytest.mark.parametrize(
    ("name", "content", "text"),
    [
        ("drive.txt", "x", "unknown log format '.txt': expected .log (candump -l), .asc or .blf"),
        ("drive.log", "(1.0) vcan0 101#00\nnot candump\n", "is not a valid candump log"),
        ("drive.blf", "garbage" * 20, "is not a valid Vector BLF log"),
    ],
)
def test_unreadable_logs(tmp_path: Path, name: str, content: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CanReplayError, match=text.replace("(", r"\(").replace(")", r"\)")):
        replay_file(path, MAPPING)
    with pytest.raises(CanReplayError, match="CAN log not found"):
        replay_file(tmp_path / "missing.log", MAPPING)


# --------------------------------------------------------------------------- the CLI


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_replays_the_shipped_drive_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "can", "replay", "--as-fast-as-possible", "--json")
    assert status == 0
    summary = json.loads(out)
    assert summary["frames"] == EXPECTED["frames"]
    assert summary["bad"] == EXPECTED["bad"]
    assert summary["published"] > summary["decoded"]
    assert_values_match(summary["signals"], EXPECTED["values"])


def test_cli_prints_a_summary(
    capsys: pytest.CaptureFixture[str], sim_log: Path, tmp_path: Path
) -> None:
    path = short_log(sim_log, tmp_path, 2.0)
    dbc = str(package_data("carmind_sim.dbc"))
    status, out, _ = cli(capsys, "can", "replay", str(path), "--dbc", dbc, "--speed", "100")
    assert status == 0
    assert "Replayed" in out and "frames" in out
    assert "VSS signals updated" in out
    assert "Vehicle.Speed" in out


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--speed", "2", "--as-fast-as-possible"], "choose either --speed N or"),
        (["--speed", "-1"], "--speed must be greater than 0, got -1"),
        (["nowhere.log"], "CAN log not found: nowhere.log"),
        (["--map", "nowhere.toml"], "nowhere.toml: file not found"),
    ],
)
def test_cli_mistakes_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], text: str
) -> None:
    status, out, err = cli(capsys, "can", "replay", *args)
    assert status == 2
    assert out == ""
    assert err.strip().startswith("carmind: ") and text in err
    assert len(err.strip().splitlines()) == 1


def test_cli_checks_a_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "can", "check", "--json")
    assert status == 0
    listing = json.loads(out)
    assert len(listing["signals"]) == len(MAPPING.entries)
    speed = next(s for s in listing["signals"] if s["vss"] == "Vehicle.Speed")
    assert (speed["message"], speed["frame_id"], speed["signal"]) == (
        "VCU_Motion",
        0x101,
        "VehicleSpeed",
    )


# --------------------------------------------------------------------------- the recorder


def load_recorder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "record_can_log", ROOT / "tools/record_can_log.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["record_can_log"] = module
    spec.loader.exec_module(module)
    return module


def test_the_recorder_writes_what_the_bridge_reads_back(tmp_path: Path) -> None:
    recorder = load_recorder()
    expected = recorder.record(tmp_path, 25.0)
    result = replay_file(tmp_path / "sim_drive.log", MAPPING)
    assert result.frames == expected["frames"]
    assert_values_match(result.values, expected["values"])
    assert {k: v for k, v in result.stats.items() if k in BAD_KINDS and v} == expected["bad"]
    assert expected["bad"] == {"unknown_id": 1}  # the one before 25 s


def test_the_mapping_fixture_is_the_shipped_one(replayed: ReplayResult) -> None:
    mapping: CanMapping = MAPPING
    assert set(replayed.values) == set(mapping.can_to_vss_paths)
