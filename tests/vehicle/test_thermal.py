"""The cabin thermal model: heat-up and cool-down times, power, zones, drift, validation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from carmind.errors import CarmindError
from carmind.vehicle.thermal import (
    STATIONS,
    CabinParameters,
    CabinState,
    HvacSettings,
    ThermalError,
    cabin_step,
    fan_power_w,
    initial_cabin,
)

PARAMS = CabinParameters()
SUMMER_SUN_W = 800.0  # clear-sky noon through the glass of a mid-size car


def simulate(
    settings: HvacSettings,
    ambient_c: float,
    seconds: float,
    *,
    state: CabinState | None = None,
    dt: float = 1.0,
    solar_w: float = 0.0,
    params: CabinParameters = PARAMS,
    until: Callable[[CabinState], bool] | None = None,
) -> tuple[CabinState, float, list[CabinState]]:
    """Run the model; return the last state, the time `until` first held and every state."""
    state = initial_cabin(ambient_c) if state is None else state
    history = []
    reached = float("inf")
    for i in range(round(seconds / dt)):
        state = cabin_step(params, state, settings, ambient_c, dt, solar_w)
        history.append(state)
        if until is not None and reached == float("inf") and until(state):
            reached = (i + 1) * dt
    return state, reached, history


@pytest.mark.parametrize("recirculation", [False, True])
def test_winter_heat_up_from_minus_10_takes_10_to_15_minutes(recirculation: bool) -> None:
    settings = HvacSettings.uniform(22.0, 100.0, recirculation=recirculation)
    state, reached, history = simulate(
        settings, -10.0, 30 * 60, until=lambda s: s.cabin_temp_c >= 20.0
    )
    assert 10 * 60 <= reached <= 15 * 60
    assert state.cabin_temp_c == pytest.approx(22.0, abs=0.1)  # no steady-state error
    assert max(s.cabin_temp_c for s in history) < 22.2  # and no real overshoot


def test_summer_cool_down_from_35_in_sun_takes_5_to_10_minutes() -> None:
    settings = HvacSettings.uniform(22.0, 100.0)
    state, reached, _ = simulate(
        settings, 35.0, 20 * 60, solar_w=SUMMER_SUN_W, until=lambda s: s.cabin_temp_c <= 22.5
    )
    assert 5 * 60 <= reached <= 10 * 60
    assert state.cabin_temp_c == pytest.approx(22.0, abs=0.1)
    assert state.heat_flow_w < 0.0


@pytest.mark.parametrize(("ambient_c", "solar_w"), [(-10.0, 0.0), (35.0, SUMMER_SUN_W)])
def test_power_is_positive_and_bounded_by_capacity_over_cop(
    ambient_c: float, solar_w: float
) -> None:
    settings = HvacSettings.uniform(22.0, 100.0)
    _, _, history = simulate(settings, ambient_c, 20 * 60, solar_w=solar_w)
    ceiling = (
        max(PARAMS.max_heating_w / PARAMS.cop_heating, PARAMS.max_cooling_w / PARAMS.cop_cooling)
        + PARAMS.fan_max_w
    )
    for s in history:
        assert 0.0 < s.hvac_power_w <= ceiling + 1e-6
        assert -PARAMS.max_cooling_w - 1e-6 <= s.heat_flow_w <= PARAMS.max_heating_w + 1e-6
    # Saturated at the start: full capacity, electric = thermal / COP + blower.
    first = history[0]
    cop = PARAMS.cop_heating if ambient_c < 22.0 else PARAMS.cop_cooling
    expected = abs(first.heat_flow_w) / cop + fan_power_w(PARAMS, 1.0)
    assert first.hvac_power_w == pytest.approx(expected)


def test_fan_speed_scales_capacity() -> None:
    half = cabin_step(PARAMS, initial_cabin(-10.0), HvacSettings.uniform(22.0, 50.0), -10.0, 1.0)
    full = cabin_step(PARAMS, initial_cabin(-10.0), HvacSettings.uniform(22.0, 100.0), -10.0, 1.0)
    assert half.heat_flow_w == pytest.approx(PARAMS.max_heating_w / 2)
    assert full.heat_flow_w == pytest.approx(PARAMS.max_heating_w)
    assert 50.0 <= fan_power_w(PARAMS, 0.5) < fan_power_w(PARAMS, 1.0) == PARAMS.fan_max_w


def test_one_global_fan_speed_equals_the_same_speed_per_zone() -> None:
    assert HvacSettings(fan_speed_pct=60) == HvacSettings.uniform(22.0, 60.0)
    two_zone = HvacSettings(
        zone_targets_c={"Row1.Driver": 21.0, "Row1.Passenger": 23.0}, fan_speed_pct=80
    )
    assert dict(two_zone.zone_fans_pct) == {"Row1.Driver": 80, "Row1.Passenger": 80}
    assert two_zone.blower_fraction == pytest.approx(0.8)
    with pytest.raises(ThermalError, match=r"0\.\.100"):
        HvacSettings(fan_speed_pct=101)


def test_zones_lean_toward_their_own_targets() -> None:
    settings = HvacSettings(
        zone_targets_c={
            "Row1.Driver": 24.0,
            "Row1.Passenger": 20.0,
            "Row2.Driver": 22.0,
            "Row2.Passenger": 22.0,
        },
        fan_speed_pct=dict.fromkeys(STATIONS, 100.0),
    )
    state, _, _ = simulate(settings, 10.0, 30 * 60)
    zones = state.zone_temps_c
    assert state.cabin_temp_c == pytest.approx(22.0, abs=0.1)
    assert zones["Row1.Passenger"] < zones["Row2.Driver"] < zones["Row1.Driver"]
    assert 0.5 < zones["Row1.Driver"] - state.cabin_temp_c <= PARAMS.zone_offset_max_k
    assert zones["Row2.Driver"] == pytest.approx(state.cabin_temp_c)


def test_hvac_off_drifts_to_ambient_and_draws_nothing() -> None:
    warm = CabinState(22.0, dict.fromkeys(STATIONS, 22.0))
    for off in (HvacSettings(), replace(HvacSettings.uniform(22.0, 100.0), hvac_on=False)):
        assert not off.is_active
        state, _, history = simulate(off, 0.0, 3 * 3600, state=warm, dt=10.0)
        assert state.cabin_temp_c == pytest.approx(0.0, abs=0.1)
        assert all(s.hvac_power_w == 0.0 and s.heat_flow_w == 0.0 for s in history)
        temps = [s.cabin_temp_c for s in history]
        assert temps == sorted(temps, reverse=True)  # monotone, no oscillation


def test_recirculation_lowers_power_in_cold_weather() -> None:
    fresh, _, _ = simulate(HvacSettings.uniform(22.0, 100.0), -10.0, 40 * 60)
    recirc, _, _ = simulate(HvacSettings.uniform(22.0, 100.0, recirculation=True), -10.0, 40 * 60)
    assert recirc.cabin_temp_c == pytest.approx(fresh.cabin_temp_c, abs=0.1)
    assert recirc.hvac_power_w < fresh.hvac_power_w - 300.0


def test_defrost_adds_its_power_and_front_defrost_forces_fresh_air() -> None:
    base = HvacSettings.uniform(22.0, 100.0, recirculation=True)
    both = HvacSettings.uniform(
        22.0, 100.0, recirculation=True, front_defrost=True, rear_defrost=True
    )
    rear = HvacSettings.uniform(22.0, 100.0, recirculation=True, rear_defrost=True)
    start = initial_cabin(-10.0)  # saturated heating: the thermal part is the same for all
    p_base = cabin_step(PARAMS, start, base, -10.0, 1.0).hvac_power_w
    p_rear = cabin_step(PARAMS, start, rear, -10.0, 1.0).hvac_power_w
    p_both = cabin_step(PARAMS, start, both, -10.0, 1.0).hvac_power_w
    assert p_rear == pytest.approx(p_base + PARAMS.rear_defrost_w)
    assert p_both == pytest.approx(p_base + PARAMS.rear_defrost_w + PARAMS.front_defrost_w)
    held_recirc, _, _ = simulate(base, -10.0, 40 * 60)
    held_defrost, _, _ = simulate(both, -10.0, 40 * 60)
    extra = held_defrost.hvac_power_w - held_recirc.hvac_power_w
    assert extra > PARAMS.rear_defrost_w + PARAMS.front_defrost_w + 100.0  # fresh air costs


def test_cooling_needs_the_ac() -> None:
    no_ac = HvacSettings.uniform(22.0, 100.0, ac_on=False)
    state, _, history = simulate(no_ac, 35.0, 20 * 60, solar_w=SUMMER_SUN_W)
    assert all(s.heat_flow_w == 0.0 for s in history)
    assert state.cabin_temp_c > 35.0  # only outside air and the sun: warmer than outside
    assert history[-1].hvac_power_w == pytest.approx(PARAMS.fan_max_w)


def test_ptc_heater_costs_more_than_the_heat_pump() -> None:
    ptc = CabinParameters(cop_heating=1.0)
    settings = HvacSettings.uniform(22.0, 100.0)
    hp = cabin_step(PARAMS, initial_cabin(-10.0), settings, -10.0, 1.0)
    pt = cabin_step(ptc, initial_cabin(-10.0), settings, -10.0, 1.0)
    assert pt.heat_flow_w == pytest.approx(hp.heat_flow_w)
    assert pt.hvac_power_w - hp.hvac_power_w == pytest.approx(PARAMS.max_heating_w / 2)


def test_step_length_does_not_change_the_result() -> None:
    settings = HvacSettings.uniform(22.0, 100.0)
    fine, _, _ = simulate(settings, -10.0, 600, dt=0.5)
    coarse, _, _ = simulate(settings, -10.0, 600, dt=60.0)
    assert coarse.cabin_temp_c == pytest.approx(fine.cabin_temp_c, abs=0.2)


def test_pure_and_zero_step() -> None:
    settings = HvacSettings.uniform(21.0, 60.0)
    start = initial_cabin(5.0)
    a = cabin_step(PARAMS, start, settings, 5.0, 2.0, 100.0)
    b = cabin_step(PARAMS, start, settings, 5.0, 2.0, 100.0)
    assert a == b
    assert start == initial_cabin(5.0)
    assert cabin_step(PARAMS, a, settings, 5.0, 0.0) is a
    with pytest.raises(TypeError):
        a.zone_temps_c["Row1.Driver"] = 0.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: HvacSettings(zone_targets_c={"Row3.Middle": 22.0}), "unknown station"),
        (lambda: HvacSettings(zone_targets_c={"Row1.Driver": 45.0}), r"15\.0\.\.30\.0"),
        (lambda: HvacSettings.uniform(22.0, 120.0), r"0\.\.100"),
        (lambda: HvacSettings(air_distribution={"Row1.Driver": "FEET"}), "UP, MIDDLE, DOWN"),
        (
            lambda: HvacSettings(zone_targets_c={}, fan_speed_pct={"Row1.Driver": 50.0}),
            "no target",
        ),
        (lambda: CabinParameters(heat_capacity_j_per_k=0.0), "heat_capacity_j_per_k"),
        (lambda: CabinParameters(cop_heating=-1.0), "cop_heating"),
        (lambda: CabinParameters(recirculation_fresh_fraction=1.5), "0..1"),
        (lambda: CabinState(20.0, {"Row1.Driver": 20.0}), "zone_temps_c"),
        (lambda: cabin_step(PARAMS, initial_cabin(0.0), HvacSettings(), 0.0, -1.0), "dt"),
        (lambda: cabin_step(PARAMS, initial_cabin(0.0), HvacSettings(), 0.0, 1.0, -5.0), "solar"),
        (lambda: initial_cabin(float("nan")), "ambient"),
    ],
)
def test_bad_inputs_raise_thermal_errors(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ThermalError, match=match) as info:
        make()
    assert isinstance(info.value, CarmindError)
