"""The CAN bridge on python-can's `virtual` bus: status frames in, request frames out, bad frames.

Two bus instances on one virtual channel stand for the car's ECUs and the head unit: what one
sends, the other receives.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import can
import cantools
import pytest

from carmind.cli.main import main
from carmind.signals.adapters.can import (
    CanBridge,
    CanBusError,
    load_mapping,
    open_bus,
    package_data,
)
from carmind.signals.broker import Broker, Client
from carmind.signals.catalog import Value, default_catalog
from carmind.signals.errors import ActuationRefusedError, ProviderUnavailableError

WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
WINDOW_FR = "Vehicle.Cabin.Door.Row1.PassengerSide.Window.Position"
TEMP = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
LOCKED = "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"
DOOR_OPEN = "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"
MAPPING = load_mapping()
BODY_REQUEST = MAPPING.outbound[WINDOW].message
_channels = itertools.count()


@pytest.fixture
def channel() -> str:
    return f"carmind-test-{next(_channels)}"


@pytest.fixture
def ecus(channel: str) -> Iterator[can.BusABC]:
    """The car's side of the bus."""
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


@pytest.fixture
def head_unit(channel: str) -> Iterator[can.BusABC]:
    """The bridge's side of the bus."""
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


@pytest.fixture
def broker() -> Broker:
    return Broker(default_catalog(), clock=lambda: 1_750_000_000.0)


@pytest.fixture
async def bridge(broker: Broker, head_unit: can.BusABC) -> AsyncIterator[CanBridge]:
    async with CanBridge(broker, MAPPING, head_unit) as running:
        yield running


def status(name: str, values: dict[str, Value], **extra: int) -> can.Message:
    codec = MAPPING.inbound_message(name)
    return can.Message(
        arbitration_id=codec.frame_id,
        is_extended_id=False,
        data=codec.encode_values(values, extra),
    )


async def received(bus: can.BusABC, timeout: float = 1.0) -> can.Message | None:
    return await asyncio.to_thread(bus.recv, timeout)


async def until(condition: Any, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


# --------------------------------------------------------------------------- status frames in


async def test_frames_on_the_bus_become_vss_values(
    broker: Broker, bridge: CanBridge, ecus: can.BusABC
) -> None:
    app = broker.client("app", "read")
    sub = app.subscribe(["Vehicle.Speed", SOC, LOCKED])
    ecus.send(status("VCU_Motion", {"Vehicle.Speed": 88.5, "Vehicle.IsMoving": True}))
    ecus.send(status("BMS_PackStatus", {SOC: 64.25}))
    ecus.send(status("BCM_DoorStatus", {LOCKED: True, WINDOW: 15}))
    await until(lambda: app.get(LOCKED) is not None)
    assert app.value("Vehicle.Speed") == 88.5
    assert app.value(SOC) == 64.25
    assert app.value(LOCKED) is True
    assert app.value(WINDOW) == 15
    batch = await asyncio.wait_for(sub.next_batch(), 1.0)
    assert set(batch) <= {"Vehicle.Speed", SOC, LOCKED}
    assert broker.provider_of("Vehicle.Speed") == "can-bridge"
    assert bridge.stats.frames == bridge.stats.decoded == 3
    assert bridge.stats.bad_frames == dict.fromkeys(bridge.stats.bad_frames, 0)


async def test_frame_timestamps_are_the_values_timestamps(broker: Broker) -> None:
    bridge = CanBridge(broker, MAPPING)
    bridge.attach()
    frame = status("VCU_Motion", {"Vehicle.Speed": 10.0})
    frame.timestamp = 1_700_000_123.5
    assert bridge.process([frame]) == 7  # every VCU_Motion mapping, unset ones at 0
    datapoint = broker.client("app", "read").get("Vehicle.Speed")
    assert datapoint is not None and datapoint.timestamp == 1_700_000_123.5


def test_one_batch_keeps_the_latest_value_per_path(broker: Broker) -> None:
    bridge = CanBridge(broker, MAPPING)
    bridge.attach()
    frames = [status("VCU_Motion", {"Vehicle.Speed": float(v)}) for v in (10, 20, 30)]
    bridge.process(frames)
    assert broker.client("app", "read").value("Vehicle.Speed") == 30.0
    assert bridge.stats.batches == 1
    assert bridge.updated["Vehicle.Speed"] == 30.0


# --------------------------------------------------------------------------- request frames out


async def test_actuating_sends_the_request_frame(
    broker: Broker, bridge: CanBridge, ecus: can.BusABC
) -> None:
    app = broker.client("app", "read actuate")
    app.actuate(WINDOW, 40)
    frame = await received(ecus)
    assert frame is not None
    assert (frame.arbitration_id, frame.is_extended_id, frame.dlc) == (0x350, False, 8)
    raw = BODY_REQUEST.decode_raw(frame.data)
    assert raw["WindowRequest_FL"] == 40
    assert raw["WindowRequest_FR"] == 127  # no request
    assert raw["LockRequest_FL"] == 0
    target = app.get_target(WINDOW)
    assert target is not None and target.value == 40
    app.actuate_many({TEMP: 22.5, "Vehicle.Cabin.HVAC.Station.Row1.Driver.AirDistribution": "UP"})
    frame = await received(ecus)
    assert frame is not None and frame.arbitration_id == 0x360
    raw = MAPPING.outbound[TEMP].message.decode_raw(frame.data)
    assert (raw["DriverTempRequest"], raw["DriverAirDistRequest"], raw["DriverFanRequest"]) == (
        45,
        1,
        127,
    )
    assert bridge.stats.requests_sent == 2


async def test_requests_wait_for_their_minimum_interval_and_merge(
    broker: Broker, bridge: CanBridge, ecus: can.BusABC
) -> None:
    app = broker.client("app", "read actuate")
    app.actuate(WINDOW, 40)
    app.actuate(WINDOW, 50)  # within 100 ms: waits
    app.actuate(WINDOW_FR, 30)  # merged into the waiting frame
    first = await received(ecus)
    assert first is not None
    assert await received(ecus, 0.03) is None  # nothing before the interval is over
    second = await received(ecus)
    assert second is not None
    assert second.timestamp - first.timestamp >= 0.09
    raw = BODY_REQUEST.decode_raw(second.data)
    assert (raw["WindowRequest_FL"], raw["WindowRequest_FR"]) == (50, 30)
    assert bridge.stats.requests_sent == 2
    assert bridge.stats.requests_merged == 1


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (TEMP, 31.0, "the frame carries 15 to 30 celsius"),
        (DOOR_OPEN, True, "no vss_to_can mapping sends requests for it"),
    ],
)
async def test_targets_the_bus_cannot_carry_are_refused(
    broker: Broker,
    bridge: CanBridge,
    ecus: can.BusABC,
    path: str,
    value: Value,
    reason: str,
) -> None:
    app = broker.client("app", "read actuate")
    with pytest.raises(ActuationRefusedError, match=reason):
        app.actuate(path, value)
    assert app.get_target(path) is None
    assert await received(ecus, 0.05) is None
    assert bridge.stats.requests_sent == 0


def test_without_a_bus_the_actuators_have_no_provider(broker: Broker) -> None:
    bridge = CanBridge(broker, MAPPING)
    bridge.attach()
    app = broker.client("app", "read actuate")
    with pytest.raises(ProviderUnavailableError):
        app.actuate(WINDOW, 40)
    assert broker.provider_of(WINDOW) == "can-bridge"  # its current value still comes from CAN


async def test_a_failing_send_is_counted_not_raised(
    broker: Broker, bridge: CanBridge, head_unit: can.BusABC, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(msg: can.Message, timeout: float | None = None) -> None:
        raise can.CanOperationError("transmit buffer full")

    monkeypatch.setattr(head_unit, "send", fail)
    broker.client("app", "read actuate").actuate(LOCKED, True)
    assert bridge.stats.send_errors == 1
    assert bridge.stats.requests_sent == 0


# --------------------------------------------------------------------------- bad frames


def _frame(arbitration_id: int, data: bytes, **kwargs: Any) -> can.Message:
    return can.Message(
        arbitration_id=arbitration_id, data=data, **{"is_extended_id": False} | kwargs
    )


def _motion() -> bytes:
    return MAPPING.inbound_message("VCU_Motion").encode_values({"Vehicle.Speed": 50.0})


HVAC_OK: dict[str, Value] = {
    TEMP: 21.0,
    "Vehicle.Cabin.HVAC.Station.Row1.Passenger.Temperature": 21.0,
}
BAD_FRAMES: list[tuple[str, str, Any]] = [
    ("unknown id", "unknown_id", lambda: _frame(0x6FF, bytes(8))),
    ("unknown extended id", "unknown_id", lambda: _frame(0x101, _motion(), is_extended_id=True)),
    ("too short", "bad_length", lambda: _frame(0x101, _motion()[:5])),
    ("too long", "bad_length", lambda: _frame(0x310, bytes(8))),
    ("empty", "bad_length", lambda: _frame(0x3F0, b"")),
    ("unknown page", "decode_error", lambda: _frame(0x3C0, bytes([7, 0, 0, 0, 0, 0, 0, 0]))),
    (
        "SoC not available",
        "out_of_range",
        lambda: status("BMS_PackStatus", {}, StateOfCharge=0x3FFF),
    ),
    (
        "window not available",
        "out_of_range",
        lambda: status("BCM_DoorStatus", {}, WindowPosition_FL=0xFF),
    ),
    (
        "lock state not available",
        "not_allowed",
        lambda: status("BCM_DoorStatus", {}, LockState_FL=3),
    ),
    (
        "air distribution n/a",
        "not_allowed",
        lambda: status("HVAC_Status", HVAC_OK, DriverAirDistribution=3),
    ),
    ("error frame", "error_frame", lambda: _frame(0x0, bytes(8), is_error_frame=True)),
]
"""(case, kind counted, the frame)"""
DROPPED = {
    "SoC not available": SOC,
    "window not available": WINDOW,
    "lock state not available": LOCKED,
    "air distribution n/a": "Vehicle.Cabin.HVAC.Station.Row1.Driver.AirDistribution",
}
"""For value faults: the one path kept off the hub (the frame's other values go through)."""


@pytest.mark.parametrize(
    ("kind", "make"), [c[1:] for c in BAD_FRAMES], ids=[c[0] for c in BAD_FRAMES]
)
def test_every_bad_frame_is_counted_and_publishes_nothing_bad(
    broker: Broker, kind: str, make: Any, request: pytest.FixtureRequest
) -> None:
    case = request.node.callspec.id
    bridge = CanBridge(broker, MAPPING)
    bridge.attach()
    app = broker.client("app", "read")
    bridge.process([make()])
    stats = bridge.stats
    assert stats.frames == 1
    assert getattr(stats, kind) == 1
    assert sum(stats.bad_frames.values()) == 1
    if case in DROPPED:
        assert stats.decoded == 1
        assert app.get(DROPPED[case]) is None
        assert DROPPED[case] not in bridge.updated
        assert stats.published > 0  # the frame's good values
    else:
        assert stats.decoded == 0
        assert broker.updates_published == 0
        assert bridge.updated == {}


def test_known_frames_that_are_not_read_are_ignored(broker: Broker) -> None:
    bridge = CanBridge(broker, MAPPING)
    bridge.attach()
    request = MAPPING.outbound[WINDOW].message
    bridge.process(
        [
            _frame(request.frame_id, request.encode_values({WINDOW: 40})),  # our own request
            _frame(0x101, b"", is_remote_frame=True, dlc=8),
        ]
    )
    assert bridge.stats.ignored == 2
    assert sum(bridge.stats.bad_frames.values()) == 0
    assert broker.updates_published == 0


async def test_bad_frames_on_the_bus_do_not_stop_the_bridge(
    broker: Broker, bridge: CanBridge, ecus: can.BusABC, caplog: pytest.LogCaptureFixture
) -> None:
    for _case, _kind, make in BAD_FRAMES:
        ecus.send(make())
    ecus.send(status("VCU_Motion", {"Vehicle.Speed": 42.0}))
    app: Client = broker.client("app", "read")
    await until(lambda: app.value("Vehicle.Speed") == 42.0)
    assert bridge.stats.unknown_id == 2
    assert bridge.stats.bad_length == 3
    assert bridge.stats.decode_error == 1
    assert bridge.stats.out_of_range == 2
    assert bridge.stats.not_allowed == 2
    assert app.get(SOC) is None
    # logged, once per kind within the rate limit
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 6
    assert bridge.stats.error_frame == 1


# --------------------------------------------------------------------------- opening buses


def test_a_bus_that_cannot_open_is_a_clear_error() -> None:
    with pytest.raises(CanBusError, match=r"cannot open CAN bus socketcan:carmind-none: .*ip link"):
        open_bus("socketcan", "carmind-none")
    with pytest.raises(CanBusError, match="Unknown interface type"):
        open_bus("no-such-interface", "x")


async def test_a_bridge_without_a_bus_cannot_run(broker: Broker) -> None:
    with pytest.raises(CanBusError, match="no bus to receive from"):
        async with CanBridge(broker, MAPPING):
            pass
    assert broker.provider_of("Vehicle.Speed") is None


@pytest.mark.skipif(
    not Path("/sys/class/net/vcan0").exists(),
    reason="no vcan0 here (ip link add dev vcan0 type vcan && ip link set up vcan0)",
)
async def test_socketcan_on_vcan0(broker: Broker) -> None:
    ecus, head = open_bus("socketcan", "vcan0"), open_bus("socketcan", "vcan0")
    try:
        async with CanBridge(broker, MAPPING, head):
            ecus.send(status("VCU_Motion", {"Vehicle.Speed": 12.5}))
            app = broker.client("app", "read actuate")
            await until(lambda: app.value("Vehicle.Speed") == 12.5)
            app.actuate(WINDOW, 10)
            frame = await received(ecus)
            assert frame is not None and frame.arbitration_id == 0x350
    finally:
        ecus.shutdown()
        head.shutdown()


def test_carmind_run_takes_the_cars_signals_from_a_can_bus(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`carmind run --can`: the bus provides what its mapping names, the simulated car the rest."""
    channel = "carmind-run-test"
    database = cantools.database.load_file(str(package_data("carmind_sim.dbc")))
    motion = database.get_message_by_name("VCU_Motion")
    fields = {s.name: 0 for s in motion.signals}
    fields["VehicleSpeed"] = 42.5
    frame = can.Message(
        arbitration_id=motion.frame_id, data=motion.encode(fields), is_extended_id=False
    )
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(
            main(["run", "--can", f"virtual:{channel}", "--drive", "park", "--plain",
                  "--duration", "2", "--speed-factor", "5"])
        )
    )  # fmt: skip
    with can.Bus(interface="virtual", channel=channel) as sender:
        runner.start()
        deadline = time.monotonic() + 10
        while runner.is_alive() and time.monotonic() < deadline:
            sender.send(frame)
            time.sleep(0.05)
        runner.join(15)
    assert result == [0]
    out = capsys.readouterr().out
    assert "speed=  42.5 km/h" in out  # from the bus, while the simulated car stands parked
