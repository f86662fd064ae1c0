"""The VSS catalog: the curated subset, the overlay, the loader and value validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carmind.signals.catalog import (
    OVERLAY_BRANCH,
    NodeType,
    catalog_from_tree,
    default_catalog,
    load_catalog,
    load_vss_json,
)
from carmind.signals.errors import (
    CatalogError,
    InvalidPatternError,
    NotAllowedError,
    NotASignalError,
    OutOfRangeError,
    UnknownPathError,
    ValueTypeError,
)

VSS_EXPORT = Path(__file__).resolve().parents[3] / "shared" / "vss" / "vss_release_5.1.json"

REQUIRED = [
    "Vehicle.Speed",
    "Vehicle.TraveledDistance",
    "Vehicle.CurrentLocation.Latitude",
    "Vehicle.CurrentLocation.Longitude",
    "Vehicle.CurrentLocation.Heading",
    "Vehicle.CurrentLocation.Altitude",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed",
    "Vehicle.Powertrain.TractionBattery.Range",
    "Vehicle.Powertrain.TractionBattery.Temperature.Average",
    "Vehicle.Powertrain.TractionBattery.Charging.ChargingPort.AnyPosition.IsChargingCableConnected",
    "Vehicle.Powertrain.TractionBattery.Charging.IsCharging",
    "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit",
    "Vehicle.Powertrain.TractionBattery.Charging.TimeToComplete",
    "Vehicle.Powertrain.ElectricMotor.Power",
    "Vehicle.Powertrain.ElectricMotor.Torque",
    "Vehicle.Powertrain.ElectricMotor.Speed",
    "Vehicle.Powertrain.ElectricMotor.Temperature",
    "Vehicle.Cabin.HVAC.IsAirConditioningActive",
    "Vehicle.Cabin.HVAC.IsRecirculationActive",
    "Vehicle.Cabin.HVAC.IsFrontDefrosterActive",
    "Vehicle.Cabin.HVAC.AmbientAirTemperature",
    "Vehicle.Exterior.AirTemperature",
    "Vehicle.Body.Trunk.Rear.IsOpen",
    "Vehicle.Body.Hood.IsOpen",
    "Vehicle.Body.Lights.Hazard.IsSignaling",
    "Vehicle.Body.Horn.IsActive",
    "Vehicle.Cabin.Infotainment.Media.Played.Source",
    "Vehicle.Cabin.Infotainment.Media.Played.Track",
    "Vehicle.Cabin.Infotainment.Media.Volume",
    "Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Latitude",
    "Vehicle.ADAS.CruiseControl.IsActive",
    "Vehicle.ADAS.CruiseControl.SpeedSet",
    "Vehicle.ADAS.LaneDepartureDetection.IsWarning",
    "Vehicle.ADAS.ABS.IsEngaged",
    "Vehicle.ADAS.ESC.IsEngaged",
    "Vehicle.ADAS.TCS.IsEngaged",
    "Vehicle.ADAS.ObstacleDetection.IsWarning",
    "Vehicle.LowVoltageBattery.CurrentVoltage",
    "Vehicle.VehicleIdentification.VIN",
    "Vehicle.VehicleIdentification.Brand",
    "Vehicle.VehicleIdentification.Model",
    "Vehicle.VehicleIdentification.Year",
    "Vehicle.Powertrain.Type",
    "Vehicle.CurbWeight",
]


def test_subset_covers_the_required_domains() -> None:
    catalog = default_catalog()
    vss = [s for s in catalog if not s.overlay]
    assert len(vss) >= 150
    for path in REQUIRED:
        assert path in catalog, path
    for row in ("Row1", "Row2"):
        for side in ("DriverSide", "PassengerSide"):
            door = f"Vehicle.Cabin.Door.{row}.{side}"
            for leaf in ("IsOpen", "IsLocked", "IsChildLockActive", "Window.Position"):
                assert f"{door}.{leaf}" in catalog
            for leaf in ("Temperature", "FanSpeed", "AirDistribution"):
                station = "Driver" if side == "DriverSide" else "Passenger"
                assert f"Vehicle.Cabin.HVAC.Station.{row}.{station}.{leaf}" in catalog
            wheel = "Left" if side == "DriverSide" else "Right"
            axle = row
            assert f"Vehicle.Chassis.Axle.{axle}.Wheel.{wheel}.Tire.Pressure" in catalog
    for side in ("DriverSide", "PassengerSide"):
        for leaf in ("HeatingCooling", "Position"):
            assert f"Vehicle.Cabin.Seat.Row1.{side}.{leaf}" in catalog


@pytest.mark.skipif(
    not VSS_EXPORT.exists(), reason="the VSS 5.1 reference export is not beside the checkout"
)
def test_subset_is_exactly_vss_5_1() -> None:
    full = load_vss_json(VSS_EXPORT)
    for signal in default_catalog():
        if signal.overlay:
            continue
        reference = full.get(signal.path)
        assert signal.type == reference.type, signal.path
        assert signal.datatype == reference.datatype, signal.path
        assert signal.unit == reference.unit, signal.path
        assert (signal.min, signal.max) == (reference.min, reference.max), signal.path
        assert signal.allowed == reference.allowed, signal.path
        assert reference.deprecation is None, signal.path


def test_overlay_lives_under_one_branch() -> None:
    overlay = [s for s in default_catalog() if s.overlay]
    assert overlay
    assert all(s.path.startswith(OVERLAY_BRANCH + ".") for s in overlay)
    assert not any(s.path.startswith(OVERLAY_BRANCH) for s in default_catalog() if not s.overlay)


def test_load_any_export_adds_the_overlay(tmp_path: Path) -> None:
    tree = {
        "Vehicle": {
            "type": "branch",
            "description": "root",
            "children": {
                "Speed": {
                    "type": "sensor",
                    "datatype": "float",
                    "unit": "km/h",
                    "description": "v",
                },
                "Old": {"type": "sensor", "datatype": "float", "deprecation": "gone in 6.0"},
            },
        }
    }
    file = tmp_path / "vss.json"
    file.write_text(json.dumps(tree))
    catalog = load_catalog(file)
    assert catalog.get("Vehicle.Speed").unit == "km/h"
    assert catalog.get("Vehicle.Old").deprecation == "gone in 6.0"
    assert any(s.overlay for s in catalog)


def _tree(leaf: str) -> str:
    return '{"Vehicle": {"type": "branch", "children": {"X": ' + leaf + "}}}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "root branch"),
        (
            _tree('{"type": "sensor", "datatype": "quux"}'),
            "unknown datatype",
        ),
        (
            _tree('{"type": "gizmo", "datatype": "int8"}'),
            "'type' must be one of",
        ),
        (
            _tree('{"type": "sensor", "datatype": "int8", "min": "low"}'),
            "'min' must be a number",
        ),
    ],
)
def test_bad_vss_files_are_rejected_by_name(tmp_path: Path, content: str, message: str) -> None:
    file = tmp_path / "bad.json"
    file.write_text(content)
    with pytest.raises(CatalogError, match=message):
        load_vss_json(file)


def test_missing_vss_file() -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_vss_json("/nonexistent/vss.json")


def test_value_checks_name_path_value_and_what_is_allowed() -> None:
    catalog = default_catalog()
    fan = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed"
    assert catalog.check(fan, 40) == 40
    assert catalog.check(fan, 40.0) == 40
    with pytest.raises(OutOfRangeError, match=r"FanSpeed = 101 .* 0 to 100 percent"):
        catalog.check(fan, 101)
    with pytest.raises(ValueTypeError, match="uint8"):
        catalog.check(fan, 40.5)
    with pytest.raises(ValueTypeError, match="uint8"):
        catalog.check(fan, True)
    with pytest.raises(NotAllowedError, match="UP, MIDDLE, DOWN"):
        catalog.check("Vehicle.Cabin.HVAC.Station.Row1.Driver.AirDistribution", "SIDE")
    with pytest.raises(ValueTypeError, match="boolean"):
        catalog.check("Vehicle.Body.Horn.IsActive", 1)
    with pytest.raises(ValueTypeError, match="finite"):
        catalog.check("Vehicle.Speed", float("nan"))
    with pytest.raises(OutOfRangeError):
        catalog.check("Vehicle.CurrentLocation.Latitude", 91.0)
    # an int8 range from the datatype itself when VSS gives no min/max
    with pytest.raises(OutOfRangeError):
        catalog.check("Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling", -101)


def test_unknown_paths_and_branches() -> None:
    catalog = default_catalog()
    with pytest.raises(UnknownPathError, match=r"did you mean 'Vehicle\.Speed'"):
        catalog.get("Vehicle.Sped")
    with pytest.raises(NotASignalError, match="is a branch"):
        catalog.get("Vehicle.Cabin.HVAC")


def test_parse_text_from_the_command_line() -> None:
    catalog = default_catalog()
    assert catalog.parse("Vehicle.Body.Horn.IsActive", "on") is True
    assert catalog.parse("Vehicle.Cabin.Infotainment.Media.Volume", "30") == 30
    assert catalog.parse("Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature", "21.5") == 21.5
    with pytest.raises(ValueTypeError, match="boolean"):
        catalog.parse("Vehicle.Body.Horn.IsActive", "maybe")
    with pytest.raises(ValueTypeError, match="uint8"):
        catalog.parse("Vehicle.Cabin.Infotainment.Media.Volume", "loud")


def test_kuksa_wildcards() -> None:
    catalog = default_catalog()
    paths = {s.path for s in catalog.match("Vehicle.Cabin.Door.*.*.IsOpen")}
    assert len(paths) == 4
    below = {s.path for s in catalog.match("Vehicle.Cabin.HVAC")}
    assert "Vehicle.Cabin.HVAC.Station.Row2.Passenger.FanSpeed" in below
    direct = {s.path for s in catalog.match("Vehicle.Cabin.HVAC.*")}
    assert "Vehicle.Cabin.HVAC.IsAirConditioningActive" in direct
    assert "Vehicle.Cabin.HVAC.Station.Row2.Passenger.FanSpeed" not in direct
    deep = {s.path for s in catalog.match("**.Window.Position")}
    assert len(deep) == 4
    assert len(catalog.match("")) == len(catalog)
    with pytest.raises(InvalidPatternError, match="matches no signal"):
        catalog.match("Vehicle.*.Nothing")
    with pytest.raises(InvalidPatternError, match="invalid segment"):
        catalog.match("Vehicle.Cab?n")
    with pytest.raises(UnknownPathError):
        catalog.match("Vehicle.Nothing")


def test_node_types_follow_vss() -> None:
    catalog = default_catalog()
    assert catalog.get("Vehicle.Speed").type is NodeType.SENSOR
    assert catalog.get("Vehicle.Cabin.Door.Row1.DriverSide.IsLocked").type is NodeType.ACTUATOR
    assert catalog.get("Vehicle.VehicleIdentification.VIN").type is NodeType.ATTRIBUTE


def test_catalog_from_tree_reads_arrays() -> None:
    tree = {
        "A": {
            "type": "branch",
            "children": {"B": {"type": "sensor", "datatype": "uint8[]", "max": 9}},
        }
    }
    catalog = catalog_from_tree(tree)
    assert catalog.check("A.B", [1, 2]) == (1, 2)
    with pytest.raises(OutOfRangeError):
        catalog.check("A.B", [1, 10])
    with pytest.raises(ValueTypeError):
        catalog.check("A.B", "12")
    assert catalog.parse("A.B", "1, 2, 3") == (1, 2, 3)
