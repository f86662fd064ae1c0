"""Write carmind's curated VSS subset from a full VSS JSON export.

The subset ships as package data (src/carmind/signals/data/vss_subset.json); this script is how it
was made and how to remake it for a newer VSS release:

    python tools/make_vss_subset.py path/to/vss_release_5.1.json

Every selected node keeps its VSS path, type, datatype, unit, limits, allowed values and
description exactly as the standard defines them. Deprecated nodes are never selected.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

# Patterns over full VSS paths ('*' = one path segment, '**' = any number of segments).
SELECTION = """
Vehicle.Speed
Vehicle.TraveledDistance
Vehicle.TraveledDistanceSinceStart
Vehicle.TripDuration
Vehicle.TripMeterReading
Vehicle.IsMoving
Vehicle.AverageSpeed
Vehicle.StartTime
Vehicle.Acceleration.*
Vehicle.AngularVelocity.Yaw
Vehicle.LowVoltageSystemState
Vehicle.CurbWeight
Vehicle.Length
Vehicle.Height
Vehicle.WidthExcludingMirrors
Vehicle.CurrentLocation.Latitude
Vehicle.CurrentLocation.Longitude
Vehicle.CurrentLocation.Heading
Vehicle.CurrentLocation.Altitude
Vehicle.CurrentLocation.Timestamp
Vehicle.CurrentLocation.HorizontalAccuracy
Vehicle.VehicleIdentification.VIN
Vehicle.VehicleIdentification.Brand
Vehicle.VehicleIdentification.Model
Vehicle.VehicleIdentification.Year
Vehicle.VehicleIdentification.BodyType
Vehicle.VehicleIdentification.VehicleSeatingCapacity
Vehicle.Powertrain.Type
Vehicle.Powertrain.Range
Vehicle.Powertrain.ElectricMotor.Power
Vehicle.Powertrain.ElectricMotor.Torque
Vehicle.Powertrain.ElectricMotor.Speed
Vehicle.Powertrain.ElectricMotor.Temperature
Vehicle.Powertrain.ElectricMotor.MaxPower
Vehicle.Powertrain.ElectricMotor.MaxTorque
Vehicle.Powertrain.ElectricMotor.MaxRegenPower
Vehicle.Powertrain.TractionBattery.StateOfCharge.Current
Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed
Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy
Vehicle.Powertrain.TractionBattery.Range
Vehicle.Powertrain.TractionBattery.Temperature.Average
Vehicle.Powertrain.TractionBattery.CurrentPower
Vehicle.Powertrain.TractionBattery.CurrentVoltage
Vehicle.Powertrain.TractionBattery.CurrentCurrent
Vehicle.Powertrain.TractionBattery.NominalVoltage
Vehicle.Powertrain.TractionBattery.GrossCapacity
Vehicle.Powertrain.TractionBattery.NetCapacity
Vehicle.Powertrain.TractionBattery.StateOfHealth
Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy
Vehicle.Powertrain.TractionBattery.AccumulatedChargedEnergy
Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit
Vehicle.Powertrain.TractionBattery.Charging.IsCharging
Vehicle.Powertrain.TractionBattery.Charging.StartStopCharging
Vehicle.Powertrain.TractionBattery.Charging.ChargeRate
Vehicle.Powertrain.TractionBattery.Charging.MaxPower
Vehicle.Powertrain.TractionBattery.Charging.AveragePower
Vehicle.Powertrain.TractionBattery.Charging.TimeToComplete
Vehicle.Powertrain.TractionBattery.Charging.ChargeVoltage.DC
Vehicle.Powertrain.TractionBattery.Charging.ChargeCurrent.DC
Vehicle.Powertrain.TractionBattery.Charging.ChargingPort.AnyPosition.IsChargingCableConnected
Vehicle.Powertrain.TractionBattery.Charging.ChargingPort.AnyPosition.IsChargingCableLocked
Vehicle.Powertrain.TractionBattery.Charging.ChargingPort.AnyPosition.IsFlapOpen
Vehicle.Cabin.HVAC.Station.Row[12].*.Temperature
Vehicle.Cabin.HVAC.Station.Row[12].*.FanSpeed
Vehicle.Cabin.HVAC.Station.Row[12].*.AirDistribution
Vehicle.Cabin.HVAC.IsAirConditioningActive
Vehicle.Cabin.HVAC.IsRecirculationActive
Vehicle.Cabin.HVAC.IsFrontDefrosterActive
Vehicle.Cabin.HVAC.IsRearDefrosterActive
Vehicle.Cabin.HVAC.AmbientAirTemperature
Vehicle.Exterior.AirTemperature
Vehicle.Exterior.Humidity
Vehicle.Cabin.Door.Row[12].*.IsOpen
Vehicle.Cabin.Door.Row[12].*.IsLocked
Vehicle.Cabin.Door.Row[12].*.IsChildLockActive
Vehicle.Cabin.Door.Row[12].*.Window.Position
Vehicle.Cabin.Door.Row[12].*.Window.IsOpen
Vehicle.Cabin.DoorCount
Vehicle.Cabin.Seat.Row1.*.HeatingCooling
Vehicle.Cabin.Seat.Row1.*.Position
Vehicle.Cabin.Seat.Row1.*.Height
Vehicle.Cabin.Seat.Row1.*.Backrest.Recline
Vehicle.Cabin.Seat.Row1.*.IsOccupied
Vehicle.Cabin.Seat.Row1.*.IsBelted
Vehicle.Cabin.Seat.Row1.*.Airbag.IsDeployed
Vehicle.Body.Trunk.Rear.IsOpen
Vehicle.Body.Trunk.Rear.IsLocked
Vehicle.Body.Trunk.Front.IsOpen
Vehicle.Body.Trunk.Front.IsLocked
Vehicle.Body.Hood.IsOpen
Vehicle.Body.Horn.IsActive
Vehicle.Body.Lights.Beam.Low.IsOn
Vehicle.Body.Lights.Beam.High.IsOn
Vehicle.Body.Lights.Hazard.IsSignaling
Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling
Vehicle.Body.Lights.DirectionIndicator.Right.IsSignaling
Vehicle.Body.Lights.Running.IsOn
Vehicle.Body.Lights.Parking.IsOn
Vehicle.Body.Lights.Fog.Front.IsOn
Vehicle.Body.Lights.Fog.Rear.IsOn
Vehicle.Body.Lights.Brake.IsActive
Vehicle.Body.Lights.LightSwitch
Vehicle.Body.Mirrors.*.IsFolded
Vehicle.Body.Windshield.Front.Wiping.Mode
Vehicle.Cabin.Infotainment.Media.Action
Vehicle.Cabin.Infotainment.Media.Volume
Vehicle.Cabin.Infotainment.Media.Played.Source
Vehicle.Cabin.Infotainment.Media.Played.Track
Vehicle.Cabin.Infotainment.Media.Played.Artist
Vehicle.Cabin.Infotainment.Media.Played.Album
Vehicle.Cabin.Infotainment.Media.Played.URI
Vehicle.Cabin.Infotainment.Media.SelectedURI
Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Latitude
Vehicle.Cabin.Infotainment.Navigation.DestinationSet.Longitude
Vehicle.Cabin.Infotainment.Navigation.Volume
Vehicle.Cabin.Infotainment.Navigation.Mute
Vehicle.Cabin.Infotainment.HMI.CurrentLanguage
Vehicle.Cabin.Infotainment.HMI.DayNightMode
Vehicle.ADAS.CruiseControl.IsEnabled
Vehicle.ADAS.CruiseControl.IsActive
Vehicle.ADAS.CruiseControl.SpeedSet
Vehicle.ADAS.CruiseControl.IsError
Vehicle.ADAS.LaneDepartureDetection.IsEnabled
Vehicle.ADAS.LaneDepartureDetection.IsWarning
Vehicle.ADAS.ObstacleDetection.IsEnabled
Vehicle.ADAS.ObstacleDetection.IsWarning
Vehicle.ADAS.ABS.IsEnabled
Vehicle.ADAS.ABS.IsEngaged
Vehicle.ADAS.ESC.IsEnabled
Vehicle.ADAS.ESC.IsEngaged
Vehicle.ADAS.TCS.IsEnabled
Vehicle.ADAS.TCS.IsEngaged
Vehicle.ADAS.EBA.IsEnabled
Vehicle.ADAS.EBA.IsEngaged
Vehicle.ADAS.DMS.IsEnabled
Vehicle.ADAS.DMS.IsWarning
Vehicle.ADAS.ActiveAutonomyLevel
Vehicle.ADAS.SupportedAutonomyLevel
Vehicle.Chassis.Axle.Row[12].Wheel.*.Tire.Pressure
Vehicle.Chassis.Axle.Row[12].Wheel.*.Tire.IsPressureLow
Vehicle.Chassis.Axle.Row[12].Wheel.*.Tire.Temperature
Vehicle.Chassis.Accelerator.PedalPosition
Vehicle.Chassis.Brake.PedalPosition
Vehicle.Chassis.SteeringWheel.Angle
Vehicle.Chassis.Wheelbase
Vehicle.LowVoltageBattery.CurrentVoltage
Vehicle.LowVoltageBattery.CurrentCurrent
Vehicle.LowVoltageBattery.NominalVoltage
Vehicle.LowVoltageBattery.NominalCapacity
Vehicle.Driver.IsEyesOnRoad
Vehicle.Driver.IsHandsOnWheel
Vehicle.Driver.AttentiveProbability
Vehicle.Driver.FatigueLevel
Vehicle.Service.DistanceToService
Vehicle.Service.IsServiceDue
"""

KEEP_FIELDS = (
    "type",
    "datatype",
    "unit",
    "min",
    "max",
    "allowed",
    "default",
    "description",
    "comment",
)


def _pattern(text: str) -> re.Pattern[str]:
    parts = []
    for seg in text.split("."):
        if seg == "*":
            parts.append(r"[^.]+")
        elif seg == "**":
            parts.append(r".+")
        else:
            parts.append(seg)  # segments may hold a regex class such as Row[12]
    return re.compile(r"\.".join(parts) + "$")


def _leaves(node: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    if node.get("type") == "branch":
        out: list[tuple[str, dict[str, Any]]] = []
        for name, child in node.get("children", {}).items():
            out.extend(_leaves(child, f"{path}.{name}"))
        return out
    return [(path, node)]


def _branch_descriptions(root: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "branch":
            out[path] = node.get("description", "")
            for name, child in node.get("children", {}).items():
                walk(child, f"{path}.{name}")

    walk(root, "Vehicle")
    return out


def main(source: str, target: str) -> int:
    full = json.loads(Path(source).read_text())
    leaves = _leaves(full["Vehicle"], "Vehicle")
    branches = _branch_descriptions(full["Vehicle"])
    patterns = [_pattern(line.strip()) for line in SELECTION.splitlines() if line.strip()]
    chosen: dict[str, dict[str, Any]] = {}
    for pattern in patterns:
        hits = [(p, n) for p, n in leaves if pattern.match(p) and "deprecation" not in n]
        if not hits:
            print(f"no VSS node matches {pattern.pattern}", file=sys.stderr)
            return 1
        for p, n in hits:
            chosen[p] = {k: n[k] for k in KEEP_FIELDS if k in n}
    tree: dict[str, Any] = {
        "Vehicle": {"type": "branch", "description": branches["Vehicle"], "children": {}}
    }
    for path in sorted(chosen):
        segs = path.split(".")
        node = tree["Vehicle"]
        for i, seg in enumerate(segs[1:-1], start=1):
            branch_path = ".".join(segs[: i + 1])
            node = node["children"].setdefault(
                seg, {"type": "branch", "description": branches[branch_path], "children": {}}
            )
        node["children"][segs[-1]] = chosen[path]
    Path(target).write_text(json.dumps(tree, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(chosen)} leaf signals to {target}")
    return 0


if __name__ == "__main__":
    src = sys.argv[1] if len(sys.argv) > 1 else "../shared/vss/vss_release_5.1.json"
    dst = sys.argv[2] if len(sys.argv) > 2 else "src/carmind/signals/data/vss_subset.json"
    sys.exit(main(src, dst))
