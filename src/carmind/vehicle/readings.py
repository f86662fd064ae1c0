"""What the simulated car reports: its sensor readings and attributes, from its models' state.

`motion_readings` are published at every publish tick (motion changes fast); `slow_readings`
(temperatures, tyres, energy, charging details) once a second. Values are rounded to what the
sensor would resolve, so an unchanged reading is not published again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carmind.signals.catalog import Value
from carmind.vehicle import battery
from carmind.vehicle.settings import (
    CHARGE_LIMIT,
    CHARGER_POWER,
    CHARGING,
    CRUISE,
    DC_DC_VOLTAGE_V,
    FAULT,
    SIM,
    STANDSTILL_KMH,
    TYRE_LOW_KPA,
    as_float,
)

FULL_BRAKE = 0.99
"""Brake pedal share at which the car asks for all the grip there is: ABS regulates."""

if TYPE_CHECKING:
    from carmind.vehicle.car import SimulatedCar


def attributes(car: SimulatedCar) -> dict[str, Value]:
    """The VSS attributes of the car, published once when it attaches to the hub."""
    p = car.profile
    return {
        "Vehicle.VehicleIdentification.VIN": car.options.vin or p.vin_example,
        "Vehicle.VehicleIdentification.Brand": p.brand,
        "Vehicle.VehicleIdentification.Model": p.model,
        "Vehicle.VehicleIdentification.Year": p.model_year,
        "Vehicle.VehicleIdentification.BodyType": p.body_type,
        "Vehicle.VehicleIdentification.VehicleSeatingCapacity": p.seats,
        "Vehicle.Powertrain.Type": "ELECTRIC",
        "Vehicle.CurbWeight": round(p.curb_mass_kg),
        "Vehicle.Chassis.Wheelbase": round(p.wheelbase_m * 1000),
        "Vehicle.Powertrain.ElectricMotor.MaxPower": round(p.peak_power_kw),
        "Vehicle.Powertrain.ElectricMotor.MaxTorque": round(p.peak_torque_nm),
        "Vehicle.Powertrain.ElectricMotor.MaxRegenPower": round(p.regen_limit_kw),
        "Vehicle.Powertrain.TractionBattery.GrossCapacity": round(p.gross_battery_kwh),
        "Vehicle.Powertrain.TractionBattery.NominalVoltage": round(p.nominal_voltage_v),
        "Vehicle.LowVoltageBattery.NominalVoltage": 12,
        "Vehicle.LowVoltageBattery.NominalCapacity": 60,
        "Vehicle.ADAS.SupportedAutonomyLevel": "SAE_2",
        "Vehicle.Cabin.DoorCount": 5 if p.body_type in ("SUV", "hatchback") else 4,
        SIM + "Profile": p.id,
    }


def motion_readings(car: SimulatedCar, slow: bool = True) -> dict[str, Value]:
    """The sensors the models drive: motion every publish, the slow rest when `slow`."""
    m = car.motion
    speed_kmh = max(0.0, m.speed_mps * 3.6)
    moving = speed_kmh > STANDSTILL_KMH
    drive = car._last_drive
    values: dict[str, Value] = {
        "Vehicle.Speed": round(speed_kmh, 2),
        "Vehicle.IsMoving": speed_kmh > STANDSTILL_KMH,
        "Vehicle.TraveledDistance": round(car.odometer_km, 3),
        "Vehicle.Acceleration.Longitudinal": round(m.acceleration_mps2, 2),
        "Vehicle.CurrentLocation.Latitude": round(car.latitude, 6),
        "Vehicle.CurrentLocation.Longitude": round(car.longitude, 6),
        "Vehicle.CurrentLocation.Heading": round(car.heading % 360.0, 1),
        "Vehicle.CurrentLocation.Altitude": round(car.altitude, 1),
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current": round(m.soc_pct, 2),
        "Vehicle.Powertrain.TractionBattery.CurrentPower": round(m.battery_power_kw * 1000.0),
        "Vehicle.Powertrain.ElectricMotor.Power": round(m.motor_power_kw),
        "Vehicle.Powertrain.ElectricMotor.Torque": round(m.motor_torque_nm),
        "Vehicle.Powertrain.ElectricMotor.Speed": round(m.motor_speed_rpm),
        "Vehicle.Chassis.Accelerator.PedalPosition": round(drive.accelerator * 100),
        "Vehicle.Chassis.Brake.PedalPosition": round(drive.brake * 100),
        # TCS regulates while the tyres limit drive force; ABS while the brake asks for all the
        # grip there is (the pedal maps onto the grip-limited braking force); both only moving
        "Vehicle.ADAS.TCS.IsEngaged": moving
        and m.traction_limit == "grip"
        and drive.accelerator > 0,
        "Vehicle.ADAS.ABS.IsEngaged": moving and drive.brake >= FULL_BRAKE,
    }
    if slow:
        values.update(slow_readings(car))
    return values


def slow_readings(car: SimulatedCar) -> dict[str, Value]:
    """The slowly changing sensors: range, temperatures, tyres, charging, energy, 12 V."""
    m = car.motion
    p = car.profile
    s = car.settings
    speed_kmh = max(0.0, m.speed_mps * 3.6)
    consumption = car.recent_consumption
    range_m = round(battery.estimate_range_km(p, m.soc_pct, consumption) * 1000.0)
    charger_kw = as_float(s[CHARGER_POWER])
    charge_kw = battery.charge_power_kw(p, m.soc_pct, charger_kw) if car.charging else 0.0
    limit = as_float(s[CHARGE_LIMIT])
    to_full = (
        battery.time_to_charge_s(p, m.soc_pct, limit, charger_kw)
        if car.charging and m.soc_pct < limit
        else 0.0
    )
    fault = s[FAULT]
    aux_w = p.aux_power_w + car.cabin.hvac_power_w + car._seat_w
    since_start = car.odometer_km - car.trip_start_km
    trip_s = car.clock.elapsed
    ambient = as_float(s[SIM + "AmbientTemperature"])
    current_a = m.battery_power_kw * 1000.0 / p.nominal_voltage_v
    values: dict[str, Value] = {
        "Vehicle.TraveledDistanceSinceStart": round(since_start, 2),
        "Vehicle.TripDuration": round(trip_s),
        "Vehicle.AverageSpeed": round(since_start / trip_s * 3600.0, 1) if trip_s > 0 else 0.0,
        "Vehicle.Acceleration.Lateral": 0.0,
        "Vehicle.Acceleration.Vertical": 0.0,
        "Vehicle.AngularVelocity.Yaw": 0.0,
        "Vehicle.Chassis.SteeringWheel.Angle": 0,
        "Vehicle.LowVoltageSystemState": "ON",
        "Vehicle.CurrentLocation.HorizontalAccuracy": 2.5,
        "Vehicle.Powertrain.Range": range_m,
        "Vehicle.Powertrain.TractionBattery.Range": range_m,
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed": float(round(m.soc_pct)),
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy": round(
            p.usable_battery_kwh * m.soc_pct / 100.0, 2
        ),
        "Vehicle.Powertrain.TractionBattery.NetCapacity": round(p.usable_battery_kwh),
        "Vehicle.Powertrain.TractionBattery.StateOfHealth": 100.0,
        "Vehicle.Powertrain.TractionBattery.Temperature.Average": round(m.battery_temp_c, 1),
        "Vehicle.Powertrain.TractionBattery.CurrentVoltage": float(p.nominal_voltage_v),
        "Vehicle.Powertrain.TractionBattery.CurrentCurrent": round(current_a, 1),
        "Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy": round(m.energy_used_kwh, 2),
        "Vehicle.Powertrain.TractionBattery.AccumulatedChargedEnergy": round(
            m.energy_regen_kwh + m.energy_charged_kwh, 2
        ),
        "Vehicle.Powertrain.ElectricMotor.Temperature": round(m.motor_temp_c, 1),
        CHARGING + "IsCharging": car.charging,
        CHARGING + "ChargingPort.AnyPosition.IsChargingCableConnected": charger_kw > 0,
        CHARGING + "ChargeRate": round(charge_kw / _kwh_per_km(car)) if car.charging else 0.0,
        CHARGING + "MaxPower": round(charger_kw, 1),
        CHARGING + "AveragePower": round(charge_kw, 1),
        CHARGING + "TimeToComplete": round(to_full),
        CHARGING + "ChargeVoltage.DC": float(p.nominal_voltage_v) if car.charging else 0.0,
        CHARGING + "ChargeCurrent.DC": (
            round(charge_kw * 1000.0 / p.nominal_voltage_v, 1) if car.charging else 0.0
        ),
        "Vehicle.Exterior.AirTemperature": ambient,
        "Vehicle.Cabin.HVAC.AmbientAirTemperature": round(car.cabin.cabin_temp_c, 1),
        "Vehicle.LowVoltageBattery.CurrentVoltage": (
            0.0 if fault == "LOW_VOLTAGE_LOSS" else DC_DC_VOLTAGE_V
        ),
        "Vehicle.LowVoltageBattery.CurrentCurrent": round(aux_w / DC_DC_VOLTAGE_V, 1),
        "Vehicle.ADAS.ActiveAutonomyLevel": (
            "SAE_1" if s[CRUISE + "IsActive"] is True else "SAE_0"
        ),
        "Vehicle.ADAS.CruiseControl.IsError": False,
        "Vehicle.ADAS.ESC.IsEngaged": False,
        "Vehicle.ADAS.EBA.IsEngaged": False,
        SIM + "RealTimeFactor": round(car._rtf, 1),
        "Vehicle.Carmind.Safety.IsCrashDetected": fault == "CRASH",
        "Vehicle.Carmind.Safety.IsLowVoltageLost": not car.body.is_powered,
        "Vehicle.Carmind.Safety.LastRefusal": car._last_refusal,
        "Vehicle.Carmind.Energy.HVACPower": round(car.cabin.hvac_power_w),
        "Vehicle.Carmind.Energy.AuxiliaryPower": round(aux_w),
        "Vehicle.Carmind.Energy.RecentConsumption": round(
            consumption if consumption is not None else p.rated_consumption_kwh_per_100km, 2
        ),
    }
    tyre_c = round(ambient + min(25.0, speed_kmh / 6.0), 1)
    for wheel, kpa in car.tyre_kpa.items():
        base = f"Vehicle.Chassis.Axle.{wheel}.Tire."
        values[base + "Pressure"] = round(kpa)
        values[base + "IsPressureLow"] = kpa < TYRE_LOW_KPA
        values[base + "Temperature"] = tyre_c
    return values


def _kwh_per_km(car: SimulatedCar) -> float:
    """Consumption for the charge rate (km/h added): recent, else the rated one."""
    consumption = car.recent_consumption or car.profile.rated_consumption_kwh_per_100km
    return consumption / 100.0
