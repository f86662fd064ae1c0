"""Physics sanity of the longitudinal model: each behaviour a driver or engineer would expect."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from carmind.vehicle.controller import SpeedController
from carmind.vehicle.dynamics import (
    GRAVITY,
    HOLD,
    DriveInput,
    MotionState,
    Road,
    SimulationInputError,
    force_limits,
    initial_state,
    rotational_inertia_factor,
    step,
    with_soc,
    with_speed,
)
from carmind.vehicle.profiles import VehicleProfile, get_profile

DT = 0.02
COAST = DriveInput(0.0, 0.0)
FLOOR = DriveInput(1.0, 0.0)


@pytest.fixture(scope="module")
def m3() -> VehicleProfile:
    return get_profile("tesla-model-3-rwd")


def moving(profile: VehicleProfile, kmh: float, soc: float = 80.0) -> MotionState:
    return dataclasses.replace(initial_state(profile, soc), speed_mps=kmh / 3.6)


def run(
    profile: VehicleProfile,
    state: MotionState,
    drive: DriveInput,
    seconds: float,
    road: Road | None = None,
    **kwargs: float,
) -> list[MotionState]:
    road = road or Road()
    states = [state]
    for _ in range(round(seconds / DT)):
        states.append(step(profile, states[-1], drive, road, DT, **kwargs))
    return states


def test_coasting_decelerates_by_road_load(m3: VehicleProfile) -> None:
    start = moving(m3, 100.0)
    after = step(m3, start, COAST, Road(), DT)
    mass = m3.mass_with_driver_kg
    v = start.speed_mps
    load = 0.5 * 1.2 * m3.drag_coefficient * m3.frontal_area_m2 * v * v
    load += m3.rolling_resistance * mass * GRAVITY
    expected = -load / (mass * rotational_inertia_factor(m3))
    assert after.acceleration_mps2 == pytest.approx(expected, rel=1e-9)
    states = run(m3, start, COAST, 60.0)
    speeds = [s.speed_mps for s in states]
    assert all(b < a for a, b in itertools.pairwise(speeds))
    assert states[-1].regen_power_kw == 0.0  # coasting is not braking


def test_aerodynamic_drag_grows_with_the_square_of_speed(m3: VehicleProfile) -> None:
    road = Road()

    def load(kmh: float) -> float:
        return force_limits(m3, moving(m3, kmh), road).road_load_n

    rolling = load(0.0)
    assert (load(100.0) - rolling) / (load(50.0) - rolling) == pytest.approx(4.0)
    headwind = force_limits(m3, moving(m3, 50.0), Road(headwind_mps=50 / 3.6)).road_load_n
    assert headwind == pytest.approx(load(100.0))


def hold_speed_energy(profile: VehicleProfile, road: Road) -> float:
    controller = SpeedController(profile, road=road)
    state = moving(profile, 60.0)
    for _ in range(round(60.0 / DT)):
        drive = controller.update(60.0 / 3.6, state, DT)
        state = step(profile, state, drive, road, DT)
    assert state.speed_kmh == pytest.approx(60.0, abs=0.5)
    return state.energy_used_kwh - state.energy_regen_kwh


def test_grade_changes_consumption(m3: VehicleProfile) -> None:
    flat = hold_speed_energy(m3, Road())
    uphill = hold_speed_energy(m3, Road(grade_pct=5.0))
    downhill = hold_speed_energy(m3, Road(grade_pct=-5.0))
    assert uphill > 2.0 * flat
    assert downhill < 0.0 < flat  # a 5 % descent at 60 km/h recharges the battery
    # Climbing 1 km at 60 km/h and 5 % lifts the car ~50 m: m g h / efficiency more energy.
    mass = m3.mass_with_driver_kg
    lift_kwh = mass * GRAVITY * 1000.0 * 0.05 / math.sqrt(1.0025) / 3.6e6
    assert uphill - flat == pytest.approx(lift_kwh / m3.drivetrain_efficiency, rel=0.03)


def test_regeneration_recovers_energy_up_to_its_limit(m3: VehicleProfile) -> None:
    gentle = run(m3, moving(m3, 100.0), DriveInput(0.0, 0.1), 10.0)
    assert gentle[-1].energy_regen_kwh > 0.0
    assert all(s.friction_brake_power_kw < 1e-9 for s in gentle[1:] if s.speed_mps > 3.0)
    hard = run(m3, moving(m3, 130.0), DriveInput(0.0, 1.0), 10.0)
    regen = max(s.regen_power_kw for s in hard)
    assert 0.99 * m3.regen_limit_kw < regen <= m3.regen_limit_kw
    assert max(s.friction_brake_power_kw for s in hard) > 100.0
    assert hard[-1].speed_mps == 0.0
    # The kinetic energy exceeds what came back: the limit and the losses keep the rest.
    kinetic_kwh = 0.5 * m3.mass_with_driver_kg * (130 / 3.6) ** 2 / 3.6e6
    assert 0.0 < hard[-1].energy_regen_kwh < 0.5 * kinetic_kwh


def test_regeneration_tapers_when_the_battery_is_full(m3: VehicleProfile) -> None:
    full = run(m3, moving(m3, 100.0, soc=100.0), DriveInput(0.0, 0.3), 2.0)
    assert full[1].regen_power_kw == 0.0
    assert full[1].friction_brake_power_kw > 0.0


def test_grip_limits_traction_on_a_low_friction_road(m3: VehicleProfile) -> None:
    snow = Road(grip_factor=0.3)
    states = run(m3, initial_state(m3, 80.0), FLOOR, 3.0, road=snow)
    peak = max(s.acceleration_mps2 for s in states)
    # Rear-driven: at most the rear axle's (transfer-loaded) share of 0.3 g.
    assert peak < 0.3 * GRAVITY * 0.6
    assert states[-1].traction_limit == "grip"
    dry = run(m3, initial_state(m3, 80.0), FLOOR, 3.0)
    assert dry[-1].speed_mps > 2.5 * states[-1].speed_mps


def test_all_wheel_drive_uses_more_grip_than_rear_wheel_drive() -> None:
    snow = Road(grip_factor=0.3)
    rwd = get_profile("tesla-model-3-rwd")
    awd = get_profile("tesla-model-y-long-range")
    v_rwd = run(rwd, initial_state(rwd, 80.0), FLOOR, 3.0, road=snow)[-1].speed_mps
    v_awd = run(awd, initial_state(awd, 80.0), FLOOR, 3.0, road=snow)[-1].speed_mps
    assert v_awd > 1.4 * v_rwd
    assert v_awd / 3.0 < 0.3 * GRAVITY


def test_empty_battery_gives_no_traction(m3: VehicleProfile) -> None:
    standing = run(m3, initial_state(m3, 0.0), FLOOR, 5.0)
    assert standing[-1].speed_mps == 0.0
    assert standing[-1].traction_limit == "battery"
    rolling = run(m3, moving(m3, 50.0, soc=0.0), FLOOR, 5.0)
    assert all(s.acceleration_mps2 < 0.0 for s in rolling[1:])
    assert rolling[-1].soc_pct == 0.0


def test_speed_never_goes_negative_and_a_car_does_not_roll_back(m3: VehicleProfile) -> None:
    stop = run(m3, moving(m3, 20.0), DriveInput(0.0, 1.0), 5.0)
    assert min(s.speed_mps for s in stop) == 0.0
    hill = run(m3, initial_state(m3, 80.0), COAST, 5.0, road=Road(grade_pct=20.0))
    assert all(s.speed_mps == 0.0 and s.distance_m == 0.0 for s in hill)
    down = run(m3, initial_state(m3, 80.0), COAST, 5.0, road=Road(grade_pct=-10.0))
    assert down[-1].speed_mps > 0.0  # released on a steep descent, the car rolls forward


def test_same_inputs_give_identical_states(m3: VehicleProfile) -> None:
    def drive() -> list[MotionState]:
        pedals = [DriveInput(0.7, 0.0), COAST, DriveInput(0.0, 0.4), DriveInput(1.0, 0.0)]
        state = initial_state(m3, 64.0)
        out = []
        for i in range(2000):
            state = step(m3, state, pedals[(i // 250) % 4], Road(grade_pct=2.0), DT, 1500.0)
            out.append(state)
        return out

    assert drive() == drive()


def test_energy_bookkeeping_matches_state_of_charge(m3: VehicleProfile) -> None:
    states = run(m3, initial_state(m3, 80.0), DriveInput(0.6, 0.0), 20.0, aux_power_w=2000.0)
    states += run(m3, states[-1], DriveInput(0.0, 0.3), 20.0, aux_power_w=2000.0)[1:]
    end = states[-1]
    net_kwh = end.energy_used_kwh - end.energy_regen_kwh
    assert (80.0 - end.soc_pct) / 100.0 * m3.usable_battery_kwh == pytest.approx(net_kwh)
    extra = run(m3, initial_state(m3, 80.0), COAST, 3600.0 / 10, aux_power_w=3000.0)[-1]
    assert extra.energy_used_kwh == pytest.approx((3000.0 + m3.aux_power_w) / 10 / 1000.0)


def test_limiter_holds_the_electronic_top_speed(m3: VehicleProfile) -> None:
    states = run(m3, moving(m3, 195.0), FLOOR, 20.0)
    assert max(s.speed_kmh for s in states) == pytest.approx(m3.top_speed_limit_kmh)
    assert states[-1].traction_limit == "limiter"


def test_motor_and_battery_warm_under_load_and_cool_at_rest(m3: VehicleProfile) -> None:
    hot = run(m3, moving(m3, 150.0), DriveInput(0.8, 0.0), 120.0, ambient_c=20.0)[-1]
    assert hot.motor_temp_c > 25.0
    assert hot.battery_temp_c > 20.0
    cooled = run(m3, dataclasses.replace(hot, speed_mps=0.0), COAST, 600.0, ambient_c=20.0)[-1]
    assert 20.0 < cooled.motor_temp_c < hot.motor_temp_c


def test_motor_quantities_are_consistent(m3: VehicleProfile) -> None:
    s = step(m3, moving(m3, 60.0), FLOOR, Road(), DT)
    axle = m3.axles[0]
    wheel_rpm = s.speed_mps / m3.wheel_radius_m * 60.0 / (2.0 * math.pi)
    assert s.motor_speed_rpm == pytest.approx(wheel_rpm * axle.gear_ratio)
    assert 0.0 < s.motor_torque_nm <= axle.motor_peak_torque_nm + 1e-6
    assert 0.0 < s.motor_power_kw <= axle.motor_peak_power_kw + 1e-6
    assert s.battery_power_kw > s.motor_power_kw  # the losses come from the battery


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p, s: step(p, s, FLOOR, Road(), 0.0), "dt must be above 0"),
        (lambda p, s: step(p, s, FLOOR, Road(), DT, -5.0), "aux_power_w must be"),
        (lambda p, s: step(p, s, FLOOR, Road(), DT, mass_kg=-1.0), "mass_kg must be"),
        (lambda p, s: step(p, s, FLOOR, Road(), DT, ambient_c=400.0), "ambient_c must be"),
        (lambda p, s: initial_state(p, 120.0), "soc_pct must be between 0 and 100"),
        (lambda p, s: DriveInput(1.5, 0.0), "accelerator must be between 0 and 1"),
        (lambda p, s: DriveInput(0.0, -0.1), "brake must be between 0 and 1"),
        (lambda p, s: Road(grip_factor=0.0), "grip_factor must be"),
        (lambda p, s: Road(grade_pct=float("nan")), "grade_pct must be"),
        (lambda p, s: Road(air_density=12.0), "air_density must be"),
    ],
)
def test_bad_inputs_are_refused(m3: VehicleProfile, call: object, match: str) -> None:
    state = initial_state(m3, 50.0)
    assert callable(call)
    with pytest.raises(SimulationInputError, match=match):
        call(m3, state)
    assert state == initial_state(m3, 50.0)


def test_rotational_inertia_factor_is_plausible() -> None:
    for profile_id in ("tesla-model-3-rwd", "xiaomi-su7-max", "xiaomi-su7-ultra"):
        assert 1.02 < rotational_inertia_factor(get_profile(profile_id)) < 1.12


def test_priming_helpers(m3: VehicleProfile) -> None:
    state = step(m3, initial_state(m3, 50.0), FLOOR, Road(), DT)
    fast = with_speed(state, 30.0)
    assert fast.speed_mps == 30.0 and fast.acceleration_mps2 == 0.0
    assert fast.distance_m == state.distance_m
    assert with_soc(state, 12.5).soc_pct == 12.5
    with pytest.raises(SimulationInputError, match="speed_mps must be between 0 and 150"):
        with_speed(state, -1.0)
    with pytest.raises(SimulationInputError, match="soc_pct must be between 0 and 100"):
        with_soc(state, 100.5)
    held = run(m3, initial_state(m3, 50.0), HOLD, 2.0, road=Road(grade_pct=-15.0))
    assert held[-1].speed_mps == 0.0  # the hold brake keeps a car on a 15 % descent
