"""The VSS <-> CAN mapping file: the shipped one loads; every bad mapping is a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from carmind.signals.adapters.can import CanMappingError, Direction, load_mapping, package_data
from carmind.signals.catalog import Catalog, catalog_from_tree, default_catalog

WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
LOCKED = "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"
AIR = "Vehicle.Cabin.HVAC.Station.Row1.Driver.AirDistribution"


@pytest.fixture(scope="module")
def sim_dbc() -> Iterator[Path]:
    with resources.as_file(package_data("carmind_sim.dbc")) as path:
        yield path


def write_map(folder: Path, dbc: Path, body: str, top: str = "") -> Path:
    path = folder / "map.toml"
    path.write_text(f'dbc = "{dbc}"\n{top}\n{body}', encoding="utf-8")
    return path


def entry(vss: str, message: str, signal: str, direction: str, extra: str = "") -> str:
    return (
        f'[[signal]]\nvss = "{vss}"\nmessage = "{message}"\nsignal = "{signal}"\n'
        f'direction = "{direction}"\n{extra}\n'
    )


GOOD = entry("Vehicle.IsMoving", "VCU_Motion", "IsMoving", "can_to_vss")


# --------------------------------------------------------------------------- the shipped mapping


def test_the_shipped_mapping_loads() -> None:
    mapping = load_mapping()
    assert len(mapping.entries) == 74
    assert len(mapping.inbound) == 9
    assert len(mapping.can_to_vss_paths) == 58
    assert len(mapping.outbound) == 16
    assert mapping.node == "CARMIND"
    assert {m.name for m in mapping.inbound.values()} >= {"VCU_Motion", "BMS_Info", "MCU_Status"}
    assert mapping.outbound[WINDOW].message.name == "CARMIND_BodyCommand"
    assert mapping.outbound[WINDOW].min_interval_s == pytest.approx(0.1)
    # an actuator is read from a status frame and commanded through a request frame
    assert WINDOW in mapping.can_to_vss_paths
    assert mapping.inbound_codec(WINDOW).name == "WindowPosition_FL"


def test_a_mapping_with_its_dbc_given_apart(tmp_path: Path, sim_dbc: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(GOOD, encoding="utf-8")
    mapping = load_mapping(path, [sim_dbc])
    assert mapping.can_to_vss_paths == ("Vehicle.IsMoving",)
    assert mapping.entries[0].direction is Direction.CAN_TO_VSS
    assert mapping.outbound == {}


def test_a_dbc_named_relative_to_the_mapping(tmp_path: Path, sim_dbc: Path) -> None:
    (tmp_path / "car.dbc").write_text(sim_dbc.read_text())
    path = tmp_path / "map.toml"
    path.write_text(f'dbc = ["car.dbc"]\n{GOOD}', encoding="utf-8")
    assert load_mapping(path).dbc_sources == (str(tmp_path / "car.dbc"),)


# --------------------------------------------------------------------------- every bad entry

BAD_ENTRIES: list[tuple[str, str, str, str]] = [
    # (id, [[signal]] table, field, text the message holds)
    (
        "unknown VSS path",
        entry("Vehicle.Sped", "VCU_Motion", "VehicleSpeed", "can_to_vss"),
        "vss",
        "did you mean 'Vehicle.Speed'",
    ),
    (
        "a branch, not a signal",
        entry("Vehicle.Cabin", "VCU_Motion", "VehicleSpeed", "can_to_vss"),
        "vss",
        "is a branch",
    ),
    (
        "unknown message",
        entry("Vehicle.Speed", "VCU_Motoin", "VehicleSpeed", "can_to_vss"),
        "message",
        "did you mean 'VCU_Motion'",
    ),
    (
        "unknown signal",
        entry("Vehicle.Speed", "VCU_Motion", "Speed", "can_to_vss"),
        "signal",
        "no signal 'Speed' in VCU_Motion",
    ),
    (
        "unknown direction",
        entry("Vehicle.Speed", "VCU_Motion", "VehicleSpeed", "both"),
        "direction",
        "expected 'can_to_vss' or 'vss_to_can', got 'both'",
    ),
    (
        "can_to_vss onto a request frame (actuator targets only)",
        entry(WINDOW, "CARMIND_BodyCommand", "WindowRequest_FL", "can_to_vss"),
        "message",
        "request frame",
    ),
    (
        "vss_to_can for a sensor",
        entry("Vehicle.Speed", "CARMIND_BodyCommand", "WindowRequest_FL", "vss_to_can"),
        "direction",
        "only actuators",
    ),
    (
        "vss_to_can onto another node's frame",
        entry(WINDOW, "BCM_DoorStatus", "WindowPosition_FL", "vss_to_can"),
        "message",
        "sent by BCM",
    ),
    (
        "vss_to_can onto a multiplexed frame",
        entry(WINDOW, "BMS_Info", "StateOfHealth", "vss_to_can"),
        "message",
        "multiplexed",
    ),
    (
        "a boolean from a two-bit signal without enum",
        entry(LOCKED, "BCM_DoorStatus", "LockState_FL", "can_to_vss"),
        "signal",
        "2 bits",
    ),
    (
        "a string without enum or usable value names",
        entry(AIR, "HVAC_Status", "DriverFanSpeed", "can_to_vss"),
        "enum",
        "missing",
    ),
    (
        "a string from DBC value names VSS does not allow",
        entry(AIR, "BCM_DoorStatus", "LockState_FL", "can_to_vss"),
        "enum",
        "none of",
    ),
    (
        "an enum for a number",
        entry("Vehicle.Speed", "VCU_Motion", "VehicleSpeed", "can_to_vss", 'enum = { 0 = "A" }'),
        "enum",
        "is a float",
    ),
    (
        "an enum of strings for a boolean",
        entry(LOCKED, "BCM_DoorStatus", "LockState_FL", "can_to_vss", 'enum = { 0 = "OFF" }'),
        "enum",
        "expected true or false",
    ),
    (
        "an enum value VSS does not allow",
        entry(AIR, "HVAC_Status", "DriverAirDistribution", "can_to_vss", 'enum = { 0 = "SIDE" }'),
        "enum",
        "not allowed: choose one of UP, MIDDLE, DOWN",
    ),
    (
        "an enum key that is no integer",
        entry(AIR, "HVAC_Status", "DriverAirDistribution", "can_to_vss", 'enum = { up = "UP" }'),
        "enum",
        "not an integer",
    ),
    (
        "an enum key the signal cannot hold",
        entry(AIR, "HVAC_Status", "DriverAirDistribution", "can_to_vss", 'enum = { 4 = "UP" }'),
        "enum",
        "does not fit DriverAirDistribution (0 to 3)",
    ),
    (
        "an ambiguous request enum",
        entry(
            LOCKED,
            "CARMIND_BodyCommand",
            "LockRequest_FL",
            "vss_to_can",
            "enum = { 1 = false, 2 = true, 3 = true }",
        ),
        "enum",
        "two raw values for one VSS value",
    ),
    (
        "an enum with scale",
        entry(
            LOCKED,
            "BCM_DoorStatus",
            "LockState_FL",
            "can_to_vss",
            "enum = { 0 = false }\nscale = 2.0",
        ),
        "scale",
        "cannot be combined with enum",
    ),
    (
        "an integer signal from a fractional step",
        entry(WINDOW, "VCU_Motion", "VehicleSpeed", "can_to_vss"),
        "scale",
        "whole numbers",
    ),
    (
        "a range entirely outside VSS's",
        entry(
            "Vehicle.Chassis.Accelerator.PedalPosition",
            "VCU_Motion",
            "AccelPedalPosition",
            "can_to_vss",
            "offset = -500.0",
        ),
        "signal",
        "all outside",
    ),
    (
        "scale zero",
        entry("Vehicle.Speed", "VCU_Motion", "VehicleSpeed", "can_to_vss", "scale = 0"),
        "scale",
        "non-zero",
    ),
    (
        "scale not a number",
        entry("Vehicle.Speed", "VCU_Motion", "VehicleSpeed", "can_to_vss", 'scale = "fast"'),
        "scale",
        "expected a number, got 'fast'",
    ),
    (
        "scale on a boolean",
        entry("Vehicle.ADAS.TCS.IsEngaged", "VCU_Motion", "TcsActive", "can_to_vss", "scale = 2"),
        "scale",
        "no scale or offset",
    ),
    (
        "min_interval_ms on can_to_vss",
        entry("Vehicle.Speed", "VCU_Motion", "VehicleSpeed", "can_to_vss", "min_interval_ms = 5"),
        "min_interval_ms",
        "vss_to_can requests only",
    ),
    (
        "a negative min_interval_ms",
        entry(
            WINDOW, "CARMIND_BodyCommand", "WindowRequest_FL", "vss_to_can", "min_interval_ms=-1"
        ),
        "min_interval_ms",
        "expected 0 or more",
    ),
    (
        "a missing key",
        '[[signal]]\nvss = "Vehicle.Speed"\nmessage = "VCU_Motion"\ndirection = "can_to_vss"\n',
        "signal",
        "missing",
    ),
    (
        "an unknown key",
        entry("Vehicle.Speed", "VCU_Motion", "VehicleSpeed", "can_to_vss", "factor = 2"),
        "factor",
        "unknown key",
    ),
    (
        "a VSS path mapped twice the same way",
        entry("Vehicle.IsMoving", "VCU_Motion", "TcsActive", "can_to_vss"),
        "vss",
        "already mapped can_to_vss by [[signal]] #1",
    ),
    (
        "one request signal for two targets",
        entry(WINDOW, "CARMIND_BodyCommand", "WindowRequest_FL", "vss_to_can")
        + entry(
            "Vehicle.Cabin.Door.Row1.PassengerSide.Window.Position",
            "CARMIND_BodyCommand",
            "WindowRequest_FL",
            "vss_to_can",
        ),
        "signal",
        "already carries the target of [[signal]] #2",
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "text"), [b[1:] for b in BAD_ENTRIES], ids=[b[0] for b in BAD_ENTRIES]
)
def test_a_bad_entry_names_file_entry_and_field(
    tmp_path: Path, sim_dbc: Path, body: str, field: str, text: str
) -> None:
    """Entry #1 is good; the bad one after it is named by file, number, path and field."""
    path = write_map(tmp_path, sim_dbc, GOOD + body)
    with pytest.raises(CanMappingError) as caught:
        load_mapping(path)
    error = caught.value
    message = str(error)
    number = 3 if text.endswith("#2") else 2
    assert message.startswith(f"{path}: [[signal]] #{number} (Vehicle."), message
    assert error.entry == number
    assert error.field == field, message
    assert f": {field}: " in message
    assert text in message


def test_an_array_signal_cannot_map(tmp_path: Path, sim_dbc: Path) -> None:
    tree = {
        "Vehicle": {
            "type": "branch",
            "children": {"Codes": {"type": "sensor", "datatype": "uint8[]"}},
        }
    }
    catalog: Catalog = default_catalog().merged(catalog_from_tree(tree, overlay=True))
    path = write_map(
        tmp_path, sim_dbc, entry("Vehicle.Codes", "VCU_Motion", "IsMoving", "can_to_vss")
    )
    with pytest.raises(CanMappingError, match=r"#1 \(Vehicle.Codes\): vss: .*uint8\[\] array"):
        load_mapping(path, catalog=catalog)


FLOAT_DBC = """VERSION ""
NS_ :
BS_:
BU_: ECU CARMIND
BO_ 1536 Ecu_Float: 8 ECU
 SG_ Ratio : 0|32@1- (1,0) [0|0] "" CARMIND
SIG_VALTYPE_ 1536 Ratio : 1;
"""


def test_an_integer_signal_from_a_floating_point_one(tmp_path: Path) -> None:
    dbc = tmp_path / "float.dbc"
    dbc.write_text(FLOAT_DBC)
    body = entry("Vehicle.Chassis.SteeringWheel.Angle", "Ecu_Float", "Ratio", "can_to_vss")
    with pytest.raises(CanMappingError, match="Ratio is a floating-point signal"):
        load_mapping(write_map(tmp_path, dbc, body))
    # a float VSS signal takes it
    ok = entry("Vehicle.Exterior.AirTemperature", "Ecu_Float", "Ratio", "can_to_vss")
    assert load_mapping(write_map(tmp_path, dbc, ok)).can_to_vss_paths


# --------------------------------------------------------------------------- bad files


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text("[[signal]\nvss = 1\n")
    with pytest.raises(CanMappingError, match=rf"^{path}: not valid TOML: .*line 1"):
        load_mapping(path)


def test_unknown_top_level_key(tmp_path: Path, sim_dbc: Path) -> None:
    path = write_map(tmp_path, sim_dbc, GOOD, top='nodes = "X"')
    with pytest.raises(CanMappingError, match="nodes: unknown key 'nodes'") as caught:
        load_mapping(path)
    assert caught.value.field == "nodes"


def test_no_dbc_named(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(GOOD)
    with pytest.raises(CanMappingError, match="no DBC file: give one with --dbc"):
        load_mapping(path)


def test_missing_files(tmp_path: Path, sim_dbc: Path) -> None:
    with pytest.raises(CanMappingError, match=r"nowhere\.toml: file not found"):
        load_mapping(tmp_path / "nowhere.toml")
    path = write_map(tmp_path, tmp_path / "nowhere.dbc", GOOD)
    with pytest.raises(CanMappingError, match=r"nowhere\.dbc: DBC file not found"):
        load_mapping(path)


def test_an_invalid_dbc(tmp_path: Path) -> None:
    dbc = tmp_path / "broken.dbc"
    dbc.write_text("BO_ twelve Broken: 8 X\n")
    with pytest.raises(CanMappingError, match=r"broken\.dbc: not a valid DBC file: .*line 1"):
        load_mapping(write_map(tmp_path, dbc, GOOD))


def test_no_signal_tables(tmp_path: Path, sim_dbc: Path) -> None:
    with pytest.raises(CanMappingError, match="expected at least one"):
        load_mapping(write_map(tmp_path, sim_dbc, ""))
