"""Raw CAN values to VSS values and back: scale, offset, signs, byte orders, enums, pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carmind.signals.adapters.can import CanMapping, CanValueError, ValueFault, load_mapping
from carmind.signals.adapters.can.codec import MessageCodec
from carmind.signals.catalog import Value

WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
TEMP = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
AIR = "Vehicle.Cabin.HVAC.Station.Row1.Driver.AirDistribution"
SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"


SIM = load_mapping()


@pytest.fixture
def mapping() -> CanMapping:
    return SIM


def roundtrip(
    codec: MessageCodec, values: dict[str, Value], extra: dict[str, int] | None = None
) -> dict[str, Value]:
    data = codec.encode_values(values, extra)
    assert len(data) == codec.length
    raw = codec.decode_raw(data)
    return {s.path: s.to_vss(raw[s.name]) for s in codec.signals if s.name in raw}


def test_motion_with_scale_signs_and_bits(mapping: CanMapping) -> None:
    values: dict[str, Value] = {
        "Vehicle.Speed": 123.45,
        "Vehicle.Acceleration.Longitudinal": -2.57,
        "Vehicle.Chassis.Accelerator.PedalPosition": 37,
        "Vehicle.Chassis.Brake.PedalPosition": 0,
        "Vehicle.IsMoving": True,
        "Vehicle.ADAS.TCS.IsEngaged": False,
        "Vehicle.ADAS.ABS.IsEngaged": True,
    }
    assert roundtrip(mapping.inbound_message("VCU_Motion"), values) == values


def test_motorola_signed_and_offset(mapping: CanMapping) -> None:
    codec = mapping.inbound_message("MCU_Status")
    values: dict[str, Value] = {
        "Vehicle.Powertrain.ElectricMotor.Speed": -12345,
        "Vehicle.Powertrain.ElectricMotor.Torque": -250,
        "Vehicle.Powertrain.ElectricMotor.Power": 310,
        "Vehicle.Powertrain.ElectricMotor.Temperature": -12.0,  # raw 28 with offset -40
    }
    data = codec.encode_values(values)
    assert data[:2] == (-12345).to_bytes(2, "big", signed=True)  # big-endian on the wire
    assert data[6] == 28
    assert roundtrip(codec, values) == values


def test_mapping_scale_turns_kilowatts_into_watts(mapping: CanMapping) -> None:
    codec = mapping.inbound_message("BMS_PackStatus")
    values: dict[str, Value] = {
        SOC: 80.53,
        "Vehicle.Powertrain.TractionBattery.CurrentCurrent": -123.4,
        "Vehicle.Powertrain.TractionBattery.CurrentPower": -45670.0,  # -45.67 kW on the bus
        "Vehicle.Powertrain.TractionBattery.CurrentVoltage": 401.7,
    }
    raw = codec.decode_raw(codec.encode_values(values))
    assert raw["PackPower"] == -4567
    assert roundtrip(codec, values) == values
    power = mapping.inbound_codec("Vehicle.Powertrain.TractionBattery.CurrentPower")
    assert power.resolution == pytest.approx(10.0)
    assert power.to_vss(-4567) == -45670.0


def test_quantisation_rounds_to_the_nearest_step(mapping: CanMapping) -> None:
    speed = mapping.inbound_codec("Vehicle.Speed")
    assert speed.to_raw(29.784) == 2978
    assert speed.to_vss(2978) == 29.78
    trip = mapping.inbound_codec("Vehicle.Powertrain.TractionBattery.Charging.TimeToComplete")
    assert trip.to_raw(3601) == 60  # minutes on the bus
    assert trip.to_vss(60) == 3600 and isinstance(trip.to_vss(60), int)


def test_enums_to_booleans_and_strings(mapping: CanMapping) -> None:
    doors = mapping.inbound_message("BCM_DoorStatus")
    locked = mapping.inbound_codec("Vehicle.Cabin.Door.Row1.DriverSide.IsLocked")
    assert [locked.to_vss(raw) for raw in (0, 1, 2)] == [False, True, True]
    values: dict[str, Value] = {
        "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen": True,
        "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked": False,
        "Vehicle.Cabin.Door.Row2.PassengerSide.IsLocked": True,
        WINDOW: 40,
    }
    decoded = roundtrip(doors, values)
    assert {p: decoded[p] for p in values} == values
    air = mapping.inbound_codec(AIR)
    assert [air.to_vss(raw) for raw in (0, 1, 2)] == ["UP", "MIDDLE", "DOWN"]
    assert air.to_raw("DOWN") == 2


def test_dbc_value_names_serve_as_the_enum(mapping: CanMapping) -> None:
    state = mapping.inbound_codec("Vehicle.Powertrain.TractionBattery.Charging.StartStopCharging")
    assert state.to_vss(0) == "STOP"
    assert state.to_vss(1) == "START"
    with pytest.raises(CanValueError) as caught:
        state.to_vss(3)  # "SNA" in the DBC, not a VSS value
    assert caught.value.fault is ValueFault.NOT_ALLOWED


def test_a_multiplexed_message_page_by_page(mapping: CanMapping) -> None:
    codec = mapping.inbound_message("BMS_Info")
    page0: dict[str, Value] = {
        "Vehicle.Powertrain.TractionBattery.Temperature.Average": -7.5,
        "Vehicle.Powertrain.TractionBattery.StateOfHealth": 97.5,
    }
    page1: dict[str, Value] = {
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy": 61.27,
        "Vehicle.Powertrain.Range": 512300,  # 512.3 km on the bus
    }
    assert roundtrip(codec, page0 | page1, {"InfoPage": 0}) == page0
    assert roundtrip(codec, page0 | page1, {"InfoPage": 1}) == page1


def test_values_outside_the_dbc_or_vss_range(mapping: CanMapping) -> None:
    soc = mapping.inbound_codec(SOC)
    with pytest.raises(CanValueError, match=r"outside the DBC range 0 to 100 %") as caught:
        soc.to_vss(0x3FFF)
    assert caught.value.fault is ValueFault.OUT_OF_RANGE
    assert caught.value.path == SOC
    locked = mapping.inbound_codec("Vehicle.Cabin.Door.Row1.DriverSide.IsLocked")
    with pytest.raises(CanValueError, match="raw value not mapped") as caught:
        locked.to_vss(3)
    assert caught.value.fault is ValueFault.NOT_ALLOWED


def test_the_vss_range_applies_after_the_transform(tmp_path: Path, mapping: CanMapping) -> None:
    dbc = tmp_path / "k.dbc"
    dbc.write_text(
        'VERSION ""\nNS_ :\nBS_:\nBU_: ECU CARMIND\n'
        "BO_ 1536 Ecu_Battery: 2 ECU\n"
        ' SG_ Kelvin : 0|16@1+ (0.1,0) [0|0] "K" CARMIND\n'
    )
    path = tmp_path / "k.toml"
    path.write_text(
        f'dbc = "{dbc}"\n[[signal]]\nvss = "{SOC}"\nmessage = "Ecu_Battery"\n'
        'signal = "Kelvin"\ndirection = "can_to_vss"\noffset = -273.15\n'
    )
    codec = load_mapping(path).inbound_codec(SOC)
    assert codec.to_vss(2982) == pytest.approx(25.05)  # 298.2 K, rounded to the 0.01 step
    with pytest.raises(CanValueError, match="out of range") as caught:
        codec.to_vss(4000)  # 126.85: inside the bits, outside VSS's 0 to 100 %
    assert caught.value.fault is ValueFault.OUT_OF_RANGE


def test_request_frames_leave_other_fields_at_no_request(mapping: CanMapping) -> None:
    target = mapping.outbound[WINDOW]
    data = target.message.encode_values({WINDOW: 40})
    raw = target.message.decode_raw(data)
    assert raw["WindowRequest_FL"] == 40
    assert raw["WindowRequest_FR"] == raw["WindowRequest_RL"] == raw["WindowRequest_RR"] == 127
    assert raw["LockRequest_FL"] == 0 and raw["TrunkRequest"] == 0


@pytest.mark.parametrize(
    ("path", "value", "fault", "text"),
    [
        (WINDOW, 101, ValueFault.OUT_OF_RANGE, "the frame carries 0 to 100 percent"),
        (TEMP, 14.5, ValueFault.OUT_OF_RANGE, "the frame carries 15 to 30 celsius"),
        (TEMP, 30.5, ValueFault.OUT_OF_RANGE, "15 to 30"),
        (AIR, "SIDEWAYS", ValueFault.NOT_ALLOWED, "choose UP, MIDDLE, DOWN"),
    ],
)
def test_targets_a_request_cannot_carry(
    mapping: CanMapping, path: str, value: Value, fault: ValueFault, text: str
) -> None:
    with pytest.raises(CanValueError) as caught:
        mapping.outbound[path].signal.to_raw(value)
    assert caught.value.fault is fault
    assert text in caught.value.reason


def test_request_values_encode_exactly(mapping: CanMapping) -> None:
    assert mapping.outbound[TEMP].signal.to_raw(22.5) == 45
    assert mapping.outbound[AIR].signal.to_raw("UP") == 1
    locked = mapping.outbound["Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"].signal
    assert (locked.to_raw(True), locked.to_raw(False)) == (2, 1)


@settings(max_examples=200, deadline=None)
@given(raw=st.integers(min_value=0, max_value=10000), current=st.integers(-30000, 30000))
def test_raw_values_survive_a_round_trip(raw: int, current: int) -> None:
    soc = SIM.inbound_codec(SOC)
    assert soc.to_raw(soc.to_vss(raw)) == raw
    pack = SIM.inbound_codec("Vehicle.Powertrain.TractionBattery.CurrentCurrent")
    assert pack.to_raw(pack.to_vss(current)) == current
