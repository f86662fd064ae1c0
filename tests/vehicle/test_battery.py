"""DC charging along the curve, charge times, and the range estimate."""

from __future__ import annotations

import dataclasses

import pytest

from carmind.vehicle.battery import (
    RecentConsumption,
    charge_power_kw,
    charge_step,
    curve_power_kw,
    estimate_range_km,
    time_to_charge_s,
)
from carmind.vehicle.controller import SpeedController
from carmind.vehicle.cycles import load_cycle
from carmind.vehicle.dynamics import (
    MotionState,
    Road,
    SimulationInputError,
    initial_state,
    step,
)
from carmind.vehicle.profiles import VehicleProfile, get_profile


@pytest.fixture(scope="module")
def i4() -> VehicleProfile:
    return get_profile("bmw-i4-edrive40")


def test_charge_power_is_the_lesser_of_curve_and_charger(i4: VehicleProfile) -> None:
    assert curve_power_kw(i4, 10.0) == 200.0
    assert curve_power_kw(i4, 15.0) == pytest.approx(197.5)  # linear between points
    assert charge_power_kw(i4, 10.0, 50.0) == 50.0
    assert charge_power_kw(i4, 10.0, 350.0) == 200.0
    assert charge_power_kw(i4, 85.0, 350.0) == pytest.approx(47.5)
    assert charge_power_kw(i4, 100.0, 350.0) == 0.0


def test_charge_step_follows_the_curve_and_stops_at_the_limit(i4: VehicleProfile) -> None:
    state = initial_state(i4, 10.0)
    state = charge_step(i4, state, 150.0, 80.0, 1.0)
    expected_kw = 150.0 - i4.aux_power_w / 1000.0
    assert state.battery_power_kw == pytest.approx(-expected_kw)
    assert state.soc_pct == pytest.approx(10.0 + expected_kw / 3600.0 / i4.usable_battery_kwh * 100)
    for _ in range(4000):
        state = charge_step(i4, state, 150.0, 80.0, 1.0)
    assert state.soc_pct == pytest.approx(80.0)
    assert state.energy_charged_kwh == pytest.approx(0.7 * i4.usable_battery_kwh)
    assert state.battery_power_kw == 0.0  # at the limit the charger only feeds the loads
    assert state.battery_temp_c > 20.0


def test_auxiliary_load_slows_charging(i4: VehicleProfile) -> None:
    plain = charge_step(i4, initial_state(i4, 50.0), 11.0, 90.0, 60.0)
    with_hvac = charge_step(i4, initial_state(i4, 50.0), 11.0, 90.0, 60.0, aux_power_w=3000.0)
    assert with_hvac.soc_pct < plain.soc_pct
    assert with_hvac.battery_power_kw == pytest.approx(plain.battery_power_kw + 3.0)


def test_charge_step_refuses_a_moving_car_and_bad_values(i4: VehicleProfile) -> None:
    state = initial_state(i4, 50.0)
    with pytest.raises(SimulationInputError, match="charges standing still"):
        charge_step(i4, dataclasses.replace(state, speed_mps=3.0), 50.0, 80.0, 1.0)
    with pytest.raises(SimulationInputError, match="charger_kw must be between"):
        charge_step(i4, state, -5.0, 80.0, 1.0)
    with pytest.raises(SimulationInputError, match="charge_limit_pct must be between"):
        charge_step(i4, state, 50.0, 120.0, 1.0)
    with pytest.raises(SimulationInputError, match="dt must be above 0"):
        charge_step(i4, state, 50.0, 80.0, 0.0)
    assert state == initial_state(i4, 50.0)


def test_time_to_charge(i4: VehicleProfile) -> None:
    fast = time_to_charge_s(i4, 10.0, 80.0, 350.0)
    # BMW quotes 31 minutes for 10-80 %; the curve's shape was drawn to be consistent with it.
    assert fast / 60.0 == pytest.approx(31.0, rel=0.15)
    assert time_to_charge_s(i4, 10.0, 80.0, 50.0) > fast
    ac = time_to_charge_s(i4, 0.0, 100.0, 11.0)
    assert ac / 3600.0 == pytest.approx(i4.usable_battery_kwh / 11.0, rel=0.02)
    assert time_to_charge_s(i4, 80.0, 10.0, 350.0) == 0.0
    with pytest.raises(SimulationInputError, match="charger_kw must be above 0"):
        time_to_charge_s(i4, 10.0, 80.0, 0.0)
    with pytest.raises(SimulationInputError, match="soc_to must be between"):
        time_to_charge_s(i4, 10.0, 180.0, 50.0)


def test_range_estimate_falls_back_to_the_rated_consumption(i4: VehicleProfile) -> None:
    rated = estimate_range_km(i4, 100.0, None)
    assert rated == pytest.approx(i4.published.range_wltp_km or 0.0, rel=1e-3)
    assert estimate_range_km(i4, 50.0, 20.0) == pytest.approx(i4.usable_battery_kwh / 2 / 0.2)
    assert estimate_range_km(i4, 0.0, 15.0) == 0.0
    with pytest.raises(SimulationInputError, match="recent_kwh_per_100km must be a positive"):
        estimate_range_km(i4, 50.0, 0.0)
    with pytest.raises(SimulationInputError, match="soc_pct must be between"):
        estimate_range_km(i4, -1.0, None)


def _drive_wltc(profile: VehicleProfile, average: RecentConsumption) -> MotionState:
    cycle = load_cycle("wltc")
    ctl = SpeedController(profile, kp=2.0, max_accel_mps2=4.0, max_jerk_mps3=20.0)
    state = initial_state(profile, 80.0)
    dt = 0.2
    for i in range(round(cycle.duration_s / dt)):
        target = cycle.speed_at((i + 1) * dt) / 3.6
        state = step(profile, state, ctl.update(target, state, dt), Road(), dt)
        average.add(state)
    return state


def test_recent_consumption_average(i4: VehicleProfile) -> None:
    average = RecentConsumption(window_km=100.0, min_km=1.0)
    assert average.kwh_per_100km is None
    end = _drive_wltc(i4, average)
    whole_trip = (end.energy_used_kwh - end.energy_regen_kwh) / end.distance_m * 1e5
    assert average.kwh_per_100km == pytest.approx(whole_trip, rel=0.01)
    average.reset()
    assert average.kwh_per_100km is None


def test_recent_consumption_forgets_what_lies_beyond_its_window(i4: VehicleProfile) -> None:
    recent = RecentConsumption(window_km=5.0)
    whole = RecentConsumption(window_km=1000.0)
    ctl = SpeedController(i4)
    state = initial_state(i4, 80.0)
    dt = 0.2
    for target_kmh, km in ((50.0, 8.0), (130.0, 8.0)):
        ctl.reset()
        state = dataclasses.replace(state, speed_mps=target_kmh / 3.6)
        end_m = state.distance_m + km * 1000.0
        while state.distance_m < end_m:
            state = step(i4, state, ctl.update(target_kmh / 3.6, state, dt), Road(), dt)
            recent.add(state)
            whole.add(state)
    assert recent.kwh_per_100km is not None and whole.kwh_per_100km is not None
    assert recent.kwh_per_100km > 1.3 * whole.kwh_per_100km  # only the 130 km/h stretch
    with pytest.raises(SimulationInputError, match="window_km must be above 0"):
        RecentConsumption(window_km=0.0)
