"""The `carmind` command line, as a user runs it.

Most tests call `carmind.cli.main.main(argv)` in-process (fast, output captured by capsys); two
run the real program in a subprocess to prove the entry point, exit status and streams.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from carmind import __version__
from carmind.cli.main import main

WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
TARGET_SPEED = "Vehicle.Carmind.Simulation.TargetSpeed"

SMALL_VSS: dict[str, Any] = {
    "Vehicle": {
        "type": "branch",
        "description": "High-level vehicle data.",
        "children": {
            "Speed": {
                "type": "sensor",
                "datatype": "float",
                "unit": "km/h",
                "description": "Vehicle speed.",
            },
            "Cabin": {
                "type": "branch",
                "description": "All in-cabin components.",
                "children": {
                    "Lights": {
                        "type": "branch",
                        "description": "Interior lights.",
                        "children": {
                            "IsDomeOn": {
                                "type": "actuator",
                                "datatype": "boolean",
                                "description": "Is central dome light on.",
                            }
                        },
                    }
                },
            },
        },
    }
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No carmind.toml from the working directory and no CARMIND_* variables leak in."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("CARMIND_"):
            monkeypatch.delenv(key)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- basics


def test_help_lists_the_command_groups(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "--help")
    assert status == 0
    assert out.startswith("Usage: carmind")
    for command in ("run", "signals", "sim"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), command
    assert err == ""


@pytest.mark.parametrize("group", ["signals", "sim"])
def test_group_help(capsys: pytest.CaptureFixture[str], group: str) -> None:
    status, out, _ = cli(capsys, group, "--help")
    assert status == 0
    assert f"Usage: carmind {group}" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "--version")
    assert status == 0
    assert out.strip() == f"carmind {__version__}"
    assert err == ""


@pytest.mark.parametrize("argv", [[], ["signals"]], ids=["carmind", "signals"])
def test_no_command_shows_readable_help(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """BUG: with no command, Click's help (a NoArgsIsHelpError) is squashed onto one line.

    `main()` treats it as a usage error and prints `carmind: Usage: carmind [OPTIONS] ...
    Commands: run ... signals ... sim ...` as a single line on stderr; the help should keep
    its lines (on stdout or stderr), as `--help` does.
    """
    status, out, err = cli(capsys, *argv)
    text = out + err
    assert status in (0, 2)
    assert "Traceback" not in text
    lines = [line.strip() for line in text.splitlines()]
    assert any(line.startswith("Usage: carmind") for line in lines), text
    assert "Commands:" in lines, text


# --------------------------------------------------------------------------- signals list


def test_signals_list_table_marks_overlay_signals(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "signals", "list")
    assert status == 0
    summary = re.search(r"(\d+) VSS signals, (\d+) carmind overlay signals", out)
    assert summary is not None, out[-500:]
    vss, overlay = int(summary[1]), int(summary[2])
    assert vss >= 150
    assert overlay >= 10
    table_line = next(line for line in out.splitlines() if TARGET_SPEED in line)
    assert "overlay" in table_line
    speed_line = next(line for line in out.splitlines() if re.search(r"\bVehicle\.Speed\b", line))
    assert "VSS" in speed_line and "overlay" not in speed_line


def test_signals_list_json_marks_overlay_signals(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "signals", "list", "--json")
    assert status == 0
    signals = json.loads(out)
    by_path = {s["path"]: s for s in signals}
    assert len(by_path) == len(signals)
    vss = [s for s in signals if not s["overlay"]]
    assert len(vss) >= 150
    for s in signals:
        assert s["overlay"] is s["path"].startswith("Vehicle.Carmind."), s["path"]
        assert s["type"] in ("sensor", "actuator", "attribute")
    assert by_path[TARGET_SPEED]["type"] == "actuator"
    assert by_path[TARGET_SPEED]["unit"] == "km/h"
    assert by_path["Vehicle.Speed"] | {"overlay": False} == by_path["Vehicle.Speed"]
    assert by_path["Vehicle.Speed"]["datatype"] == "float"


def test_signals_list_a_branch(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "signals", "list", "Vehicle.Cabin.HVAC", "--json")
    assert status == 0
    paths = {s["path"] for s in json.loads(out)}
    assert all(p.startswith("Vehicle.Cabin.HVAC.") for p in paths)
    for station in ("Row1.Driver", "Row1.Passenger", "Row2.Driver", "Row2.Passenger"):
        assert f"Vehicle.Cabin.HVAC.Station.{station}.Temperature" in paths
    assert "Vehicle.Cabin.HVAC.AmbientAirTemperature" in paths


def test_signals_list_with_a_users_vss_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    vss = tmp_path / "my_vss.json"
    vss.write_text(json.dumps(SMALL_VSS), encoding="utf-8")

    status, out, _ = cli(capsys, "signals", "list", "--vss", str(vss), "--json")
    assert status == 0
    signals = json.loads(out)
    assert {s["path"] for s in signals if not s["overlay"]} == {
        "Vehicle.Speed",
        "Vehicle.Cabin.Lights.IsDomeOn",
    }
    assert any(s["path"] == TARGET_SPEED for s in signals)  # the overlay is added

    status, out, _ = cli(capsys, "signals", "list", "--vss", str(vss))
    assert status == 0
    assert "Vehicle.Cabin.Lights.IsDomeOn" in out
    assert re.search(r"\b2 VSS signals, \d+ carmind overlay signals", out)


# --------------------------------------------------------------------------- get, set, watch


def test_signals_get_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "signals", "get", "Vehicle.Speed", "--json")
    assert status == 0
    data = json.loads(out)
    assert list(data) == ["Vehicle.Speed"]
    assert data["Vehicle.Speed"]["value"] == 0.0
    assert isinstance(data["Vehicle.Speed"]["timestamp"], float)


def test_signals_get_after_driving(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(
        capsys, "signals", "get", "Vehicle.Speed", "Vehicle.IsMoving",
        "--set", f"{TARGET_SPEED}=50", "--after", "30", "--json",
    )  # fmt: skip
    assert status == 0
    data = json.loads(out)
    assert data["Vehicle.Speed"]["value"] == pytest.approx(50.0, abs=1.0)
    assert data["Vehicle.IsMoving"]["value"] is True


def test_signals_get_plain_shows_units(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "signals", "get", "Vehicle.Speed", "--set", "Vehicle.Speed=80")
    assert status == 0
    assert out.strip() == "Vehicle.Speed = 80 km/h"


def test_signals_set_window(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "signals", "set", WINDOW, "100", "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["path"] == WINDOW
    assert result["accepted"] is True
    assert result["target"] == 100
    assert result["before"] == 0
    assert result["after"] == 100
    assert result["reached_after_s"] == pytest.approx(3.5, abs=0.15)


def test_signals_set_plain(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "signals", "set", WINDOW, "100")
    assert status == 0
    assert "accepted" in out
    assert "reached after 3.5 s" in out


def test_signals_set_refused_by_the_car(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(
        capsys, "signals", "set", "Vehicle.Body.Trunk.Rear.IsOpen", "true",
        "--set", "Vehicle.Speed=80",
    )  # fmt: skip
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("carmind:")
    assert "refused" in lines[0]
    assert "walking speed" in lines[0]
    assert "Traceback" not in err


def test_signals_set_refused_json_reports_it_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(
        capsys, "signals", "set", "Vehicle.Body.Trunk.Rear.IsOpen", "true",
        "--set", "Vehicle.Speed=80", "--json",
    )  # fmt: skip
    assert status == 2
    result = json.loads(out)
    assert result["accepted"] is False
    assert "refused" in result["error"]
    assert len(err.splitlines()) == 1


def test_signals_watch_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(
        capsys, "signals", "watch", "Vehicle.Speed", "--duration", "0.5", "--json",
        "--set", f"{TARGET_SPEED}=30",
    )  # fmt: skip
    assert status == 0, err
    rows = json_lines(out)
    assert len(rows) >= 2
    for row in rows:
        assert row["path"] == "Vehicle.Speed"
        assert isinstance(row["value"], float)
        assert isinstance(row["timestamp"], float)
    stamps = [row["timestamp"] for row in rows]
    assert stamps == sorted(stamps)
    assert rows[-1]["value"] > 0.0  # the car set off toward 30 km/h


# --------------------------------------------------------------------------- sim


def test_sim_profiles_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "sim", "profiles", "--json")
    assert status == 0
    profiles = json.loads(out)
    ids = [p["id"] for p in profiles]
    assert len(ids) == 9 == len(set(ids))
    assert {"xiaomi-su7", "xiaomi-su7-ultra", "bmw-i4-edrive40", "tesla-model-3-rwd"} <= set(ids)
    for p in profiles:
        assert p["usable_battery_kwh"] > 0
        assert p["published"]["accel_0_100_s"] > 0


def test_sim_profiles_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "sim", "profiles")
    assert status == 0
    assert "xiaomi-su7-ultra" in out and "BMW i4 eDrive40" in out


def test_sim_accel_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "sim", "accel", "--profile", "xiaomi-su7-ultra", "--json")
    assert status == 0
    result = json.loads(out)
    assert result["profile_id"] == "xiaomi-su7-ultra"
    assert 1.5 < result["zero_to_100_s"] < 3.0  # published: 1.98 s
    assert result["top_speed_kmh"] > 300


def test_sim_cycle_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "sim", "cycle", "--profile", "bmw-i4-edrive40", "--json")
    assert status == 0
    result = json.loads(out)
    assert result["profile_id"] == "bmw-i4-edrive40"
    assert 10.0 < result["consumption_kwh_per_100km"] < 20.0
    assert result["distance_km"] == pytest.approx(23.27, abs=0.3)  # WLTC class 3b
    assert result["duration_s"] == pytest.approx(1800.0)
    assert "Traceback" not in err


def test_sim_validate_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "sim", "validate", "--json")
    assert status == 0
    rows = json.loads(out)
    _, profiles_out, _ = cli(capsys, "sim", "profiles", "--json")
    assert sorted(r["profile_id"] for r in rows) == sorted(
        p["id"] for p in json.loads(profiles_out)
    )
    for r in rows:
        assert r["accel_simulated_s"] > 0
        assert r["range_simulated_km"] > 0
        assert r["range_kind"] in ("WLTP", "CLTC", "WLTC")


# --------------------------------------------------------------------------- run


def test_run_plain_for_a_second(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "run", "--duration", "1", "--plain", "--speed-factor", "20")
    assert status == 0, err
    lines = out.splitlines()
    status_lines = [line for line in lines if line.startswith("t=")]
    assert status_lines, out
    assert re.search(r"speed=\s*[\d.]+ km/h", status_lines[0])
    assert "soc=" in status_lines[0]
    stopped = [line for line in lines if "stopped" in line]
    assert len(stopped) == 1
    simulated = re.search(r"after ([\d.]+) simulated seconds", stopped[0])
    assert simulated is not None and float(simulated[1]) >= 5.0
    assert "Traceback" not in out + err


DRIVE_STATUS = re.compile(
    r" drive=(off|ready|engaged|override|takeover|lockout|unavailable) policy=\S+ v=\d+km/h "
    r"gap=\S+ alert=(none|pre|prompt|terminal) interventions=\d+ collisions=\d+"
)
QUIET = ("--no-nav", "--no-connect", "--no-assistant")
"""What the assisted-driving tests leave out, to keep to the point (and quick)."""


def test_run_drives_the_highway_beside_the_car(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "run", "--duration", "3", "--plain", *QUIET)
    assert status == 0, err
    status_lines = [line for line in out.splitlines() if line.startswith("t=")]
    assert status_lines, out
    assert all(DRIVE_STATUS.search(line) for line in status_lines), status_lines
    # the simulated driver engages once READY (the scenario's car starts inside the ODD)
    assert any(" drive=engaged " in line for line in status_lines), status_lines
    assert "Traceback" not in out + err


def test_run_without_assisted_driving_does_not_load_the_simulator() -> None:
    code = (
        "import sys; from carmind.cli.main import main; "
        "status = main(['run', '--duration', '0', '--plain', '--no-adas', "
        + ", ".join(repr(a) for a in QUIET)
        + "]); heavy = sorted(m for m in ('highway_env', 'gymnasium', 'torch', 'carmind.drive') "
        "if m in sys.modules); print(status, heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stdout
    assert " drive=" not in result.stdout


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, str]:
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[vehicle]\nsoc = 120\n", encoding="utf-8")
    not_toml = tmp_path / "broken.toml"
    not_toml.write_text("[vehicle\nsoc = \n", encoding="utf-8")
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"Vehicle": ', encoding="utf-8")
    return {
        "{bad_config}": str(bad_config),
        "{not_toml}": str(not_toml),
        "{bad_json}": str(bad_json),
        "{missing}": str(tmp_path / "missing.json"),
    }


BAD_ARGUMENTS = [
    pytest.param(["frobnicate"], "frobnicate", id="unknown-command"),
    pytest.param(["signals", "frobnicate"], "frobnicate", id="unknown-subcommand"),
    pytest.param(["sim", "accel"], "--profile", id="missing-required-option"),
    pytest.param(["sim", "accel", "--profile"], "--profile", id="option-without-value"),
    pytest.param(["signals", "get"], "patterns", id="missing-argument"),
    pytest.param(["sim", "accel", "--profile", "nope"], "nope", id="unknown-profile"),
    pytest.param(["run", "--profile", "nope", "--duration", "0"], "nope", id="run-unknown-profile"),
    pytest.param(
        ["sim", "cycle", "--profile", "bmw-i4-edrive40", "--cycle", "nope"],
        "nope",
        id="unknown-cycle",
    ),
    pytest.param(["run", "--drive", "nope", "--duration", "0"], "nope", id="run-unknown-cycle"),
    pytest.param(["signals", "get", "Vehicle.Nope"], "Vehicle.Nope", id="unknown-signal"),
    pytest.param(
        ["signals", "set", "Vehicle.Cabin.HVAC", "1"], "Vehicle.Cabin.HVAC", id="branch-not-signal"
    ),
    pytest.param(
        ["signals", "list", "Vehicle.*.Nope"], "Vehicle.*.Nope", id="pattern-matches-none"
    ),
    pytest.param(
        ["signals", "set", "Vehicle.Cabin.Infotainment.Media.Volume", "fast"],
        "fast",
        id="bad-value-uint8",
    ),
    pytest.param(
        ["signals", "set", "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed", "150"],
        "150",
        id="out-of-range",
    ),
    pytest.param(
        ["signals", "set", "Vehicle.Cabin.HVAC.Station.Row1.Driver.AirDistribution", "SIDE"],
        "SIDE",
        id="not-allowed",
    ),
    pytest.param(["signals", "set", "Vehicle.Speed", "10"], "Vehicle.Speed", id="set-a-sensor"),
    pytest.param(
        ["signals", "get", "Vehicle.Speed", "--set", "nonsense"], "nonsense", id="malformed-set"
    ),
    pytest.param(
        ["signals", "get", "Vehicle.Speed", "--set", "Vehicle.Speed=fast"], "fast", id="bad-set"
    ),
    pytest.param(
        ["signals", "get", "Vehicle.Speed", "--set", "Vehicle.Powertrain.ElectricMotor.Power=5"],
        "Vehicle.Powertrain.ElectricMotor.Power",
        id="set-a-derived-sensor",
    ),
    pytest.param(["run", "--set", "nonsense", "--duration", "0"], "nonsense", id="run-bad-set"),
    pytest.param(
        ["run", "--adas-policy", "nonsense", "--duration", "0"], "nonsense", id="run-bad-policy"
    ),
    pytest.param(
        ["run", "--adas-scenario", "moonbase", "--duration", "0"],
        "moonbase",
        id="run-bad-scenario",
    ),
    pytest.param(["signals", "list", "--vss", "{missing}"], "missing.json", id="unknown-vss-file"),
    pytest.param(["signals", "list", "--vss", "{bad_json}"], "broken.json", id="vss-not-json"),
    pytest.param(
        ["signals", "get", "Vehicle.Speed", "--vss", "{missing}"], "missing.json", id="get-no-vss"
    ),
    pytest.param(
        ["signals", "get", "Vehicle.Speed", "--config", "{bad_config}"], "soc", id="bad-config"
    ),
    pytest.param(["run", "--config", "{bad_config}"], "soc", id="run-bad-config"),
    pytest.param(
        ["signals", "get", "Vehicle.Speed", "--config", "{not_toml}"], "TOML", id="config-not-toml"
    ),
    pytest.param(
        ["signals", "get", "Vehicle.Speed", "--config", "{missing}"],
        "missing.json",
        id="config-missing",
    ),
    pytest.param(["signals", "get", "Vehicle.Speed", "--after", "-1"], "--after", id="negative"),
    pytest.param(["run", "--speed-factor", "0"], "--speed-factor", id="speed-factor-zero"),
    pytest.param(
        ["sim", "cycle", "--profile", "xiaomi-su7", "--ambient", "warm"],
        "--ambient",
        id="not-a-number",
    ),
]


@pytest.mark.parametrize(("argv", "names"), BAD_ARGUMENTS)
def test_bad_arguments_print_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], bad_files: dict[str, str], argv: list[str], names: str
) -> None:
    args = [bad_files.get(a, a) for a in argv]
    status, out, err = cli(capsys, *args)
    assert status == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("carmind:")
    assert names in lines[0]
    assert "Traceback" not in out + err


# --------------------------------------------------------------------------- the real program


def _carmind(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARMIND_")}
    return subprocess.run(
        [sys.executable, "-m", "carmind.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_program_help(tmp_path: Path) -> None:
    done = _carmind("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: carmind")
    assert done.stderr == ""


def test_program_refusal_exits_2_with_one_line(tmp_path: Path) -> None:
    done = _carmind(
        "signals", "set", "Vehicle.Body.Trunk.Rear.IsOpen", "true", "--set", "Vehicle.Speed=80",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("carmind:")
    assert "refused" in lines[0]
    assert "\x1b[" not in done.stderr  # no colour codes when not on a terminal
