"""Record a drive of the simulated car as CAN frames: the shipped `sim_drive.log`.

The car (`CarSession`, the default profile, a fixed epoch and seed) follows the WLTC trace from a
standstill for SECONDS of simulated time while a few body and climate actions happen (a door
opened and closed, the doors locked, the climate and a window set, the low beam on). After every
publish of the car (10 Hz) the status messages that are due by their DBC cycle time are encoded
from the car's VSS values with `carmind_sim.dbc` and the shipped mapping; every action also
writes the request frame the head unit would have sent. A handful of deliberately bad frames is
mixed in (see BAD_FRAMES). The frames go to a candump `.log` through python-can's writer.

Next to the log, `sim_drive_expected.json` holds what the recorder wrote: for every mapped VSS
signal the value it encoded last, the number of frames, the request frames and the bad frames by
kind. The replay tests check the bridge against it.

    .venv/bin/python tools/record_can_log.py            # rewrites the shipped files
    .venv/bin/python tools/record_can_log.py --out /tmp --seconds 30
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import can

from carmind.signals.adapters.can.codec import MessageCodec, Raw
from carmind.signals.adapters.can.errors import CanValueError
from carmind.signals.adapters.can.mapping import CanMapping, load_mapping
from carmind.signals.catalog import Value
from carmind.vehicle.cycles import load_cycle
from carmind.vehicle.session import CarSession

log = logging.getLogger("record_can_log")

DATA = Path(__file__).resolve().parents[1] / "src/carmind/signals/adapters/can/data"
EPOCH = 1_750_000_000.0
"""2025-06-15T15:06:40Z: simulated time starts here, so that the log is reproducible."""
SECONDS = 150.0
TICK_S = 0.1
CHANNEL = "vcan0"

DOOR = "Vehicle.Cabin.Door.Row1.DriverSide."
DOORS = ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
HVAC = "Vehicle.Cabin.HVAC."
ACTIONS: dict[float, dict[str, Value]] = {
    1.0: {DOOR + "IsOpen": True},
    3.0: {DOOR + "IsOpen": False},
    4.0: {f"Vehicle.Cabin.Door.{d}.IsLocked": True for d in DOORS},
    5.0: {
        HVAC + "Station.Row1.Driver.Temperature": 22.5,
        HVAC + "Station.Row1.Driver.FanSpeed": 60,
        HVAC + "IsAirConditioningActive": True,
    },
    6.0: {DOOR + "Window.Position": 40},
    8.0: {"Vehicle.Body.Lights.Beam.Low.IsOn": True},
    60.0: {HVAC + "Station.Row1.Passenger.Temperature": 21.0},
    90.0: {DOOR + "Window.Position": 0},
}
"""Simulated second -> actuator targets set through the hub (and sent as request frames)."""


@dataclass(frozen=True, slots=True)
class BadFrame:
    at_s: float
    kind: str
    message: str | None
    """The DBC message it corrupts (None: an identifier of its own)."""
    raws: Mapping[str, Raw]
    """Raw values to force into the message's payload."""
    arbitration_id: int = 0
    extended: bool = False
    length: int | None = None
    """Cut the payload to this many bytes."""


BAD_FRAMES = (
    BadFrame(20.05, "unknown_id", None, {}, arbitration_id=0x6FF),
    BadFrame(40.05, "unknown_id", None, {}, arbitration_id=0x18FF50E5, extended=True),
    BadFrame(30.05, "bad_length", "VCU_Motion", {}, length=5),
    BadFrame(50.05, "decode_error", "BMS_Info", {"InfoPage": 7}),
    BadFrame(70.05, "out_of_range", "BMS_PackStatus", {"StateOfCharge": 0x3FFF}),
    BadFrame(80.05, "not_allowed", "BCM_DoorStatus", {"LockState_FL": 3}),
    BadFrame(95.05, "error_frame", None, {}, arbitration_id=0x080),
)


class Recorder:
    def __init__(self, session: CarSession, mapping: CanMapping) -> None:
        self.session = session
        self.mapping = mapping
        self.frames: list[can.Message] = []
        self.expected: dict[str, Value] = {}
        self.requests = 0
        self.bad: dict[str, int] = {}
        self.counter = 0
        self.page = 0

    def frame(self, codec: MessageCodec, data: bytes, stamp: float) -> can.Message:
        return can.Message(
            timestamp=stamp,
            arbitration_id=codec.frame_id,
            is_extended_id=codec.is_extended,
            data=data,
            channel=CHANNEL,
        )

    def status_payload(
        self, codec: MessageCodec, forced: Mapping[str, Raw]
    ) -> tuple[bytes, dict[str, Value]]:
        """The payload of a status message from the car's current values, and what it carries."""
        extra: dict[str, Raw] = {}
        names = {s.name for s in codec.dbc.signals}
        if "AliveCounter" in names:
            self.counter = (self.counter + 1) % 16
            extra["AliveCounter"] = self.counter
        if codec.multiplexed:
            self.page = 1 - self.page
            extra["InfoPage"] = self.page
        values: dict[str, Value] = {}
        for signal in codec.signals:
            mux_ids = signal.dbc.multiplexer_ids
            if mux_ids is not None and extra.get("InfoPage") not in mux_ids:
                continue
            datapoint = self.session.client.get(signal.path)
            if datapoint is not None:
                values[signal.path] = datapoint.value
        extra.update(forced)
        try:
            return codec.encode_values(values, extra), values
        except CanValueError as exc:
            raise SystemExit(f"the DBC cannot carry the simulated car's value: {exc}") from None

    def status_frames(self, tick: int, stamp: float) -> None:
        elapsed_ms = round(tick * TICK_S * 1000)
        for index, codec in enumerate(self.mapping.inbound.values()):
            cycle = codec.cycle_time_ms or 1000
            if elapsed_ms % cycle:
                continue
            data, carried = self.status_payload(codec, {})
            self.frames.append(self.frame(codec, data, stamp + 0.0004 * index))
            self.expected.update(carried)

    def request_frames(self, values: Mapping[str, Value], stamp: float) -> None:
        by_message: dict[str, tuple[MessageCodec, dict[str, Value]]] = {}
        for path, value in values.items():
            target = self.mapping.outbound.get(path)
            if target is not None:
                by_message.setdefault(target.message.name, (target.message, {}))[1][path] = value
        for codec, group in by_message.values():
            self.frames.append(self.frame(codec, codec.encode_values(group), stamp + 0.0001))
            self.requests += 1

    def bad_frame(self, bad: BadFrame, stamp: float) -> None:
        self.bad[bad.kind] = self.bad.get(bad.kind, 0) + 1
        if bad.kind == "error_frame":
            self.frames.append(
                can.Message(
                    timestamp=stamp,
                    arbitration_id=bad.arbitration_id,
                    is_error_frame=True,
                    data=bytes(8),
                    channel=CHANNEL,
                )
            )
            return
        if bad.message is None:
            data = bytes(range(8))
            self.frames.append(
                can.Message(
                    timestamp=stamp,
                    arbitration_id=bad.arbitration_id,
                    is_extended_id=bad.extended,
                    data=data,
                    channel=CHANNEL,
                )
            )
            return
        codec = self.mapping.inbound_message(bad.message)
        if bad.kind == "decode_error":
            data = codec.encode_raw({"InfoPage": 0})
            data = bytes([int(bad.raws["InfoPage"])]) + data[1:]
        else:
            data, _ = self.status_payload(codec, bad.raws)
        if bad.length is not None:
            data = data[: bad.length]
        self.frames.append(self.frame(codec, data, stamp))


def record(out: Path, seconds: float) -> dict[str, object]:
    session = CarSession.create(epoch=EPOCH)
    mapping = load_mapping(catalog=session.catalog)
    recorder = Recorder(session, mapping)
    session.car.drive_cycle(load_cycle("wltc"))
    ticks = round(seconds / TICK_S)
    pending_bad = sorted(BAD_FRAMES, key=lambda b: b.at_s)
    for tick in range(ticks):
        now_s = tick * TICK_S
        action = ACTIONS.get(round(now_s, 1))
        if action is not None:
            session.client.actuate_many(action)
            recorder.request_frames(action, session.car.clock())
        session.advance(TICK_S)
        recorder.status_frames(tick + 1, session.car.clock())
        while pending_bad and pending_bad[0].at_s <= (tick + 1) * TICK_S:
            bad = pending_bad.pop(0)
            recorder.bad_frame(bad, EPOCH + bad.at_s)
    frames = sorted(recorder.frames, key=lambda f: f.timestamp)
    out.mkdir(parents=True, exist_ok=True)
    log_file = out / "sim_drive.log"
    writer = can.CanutilsLogWriter(log_file, channel=CHANNEL)
    for frame in frames:
        writer.on_message_received(frame)
    writer.stop()
    expected: dict[str, object] = {
        "description": "What tools/record_can_log.py wrote into sim_drive.log",
        "profile": session.car.profile.id,
        "epoch": EPOCH,
        "seconds": seconds,
        "frames": len(frames),
        "requests": recorder.requests,
        "bad": recorder.bad,
        "values": dict(sorted(recorder.expected.items())),
    }
    (out / "sim_drive_expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    log.info("%d frames (%d kB) in %s", len(frames), log_file.stat().st_size // 1024, log_file)
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DATA, help="folder for the log and JSON")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="simulated seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    record(args.out, args.seconds)


if __name__ == "__main__":
    main()
