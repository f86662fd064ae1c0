"""Drive-cycle data (WLTC class 3b per UN GTR No. 15) and cycle runs."""

from __future__ import annotations

import pytest

from carmind.errors import CarmindError
from carmind.vehicle.cycles import (
    CycleError,
    CycleResult,
    UnknownCycleError,
    _parse_cycle,
    cycle_names,
    load_cycle,
    run_cycle,
)
from carmind.vehicle.dynamics import SimulationInputError
from carmind.vehicle.profiles import get_profile


def test_wltc_class3b_matches_the_regulation() -> None:
    wltc = load_cycle("wltc")
    assert wltc.name == "WLTC class 3b"
    assert wltc.duration_s == 1800.0
    assert len(wltc.time_s) == 1801
    assert wltc.time_s[1] - wltc.time_s[0] == 1.0  # 1 Hz
    assert wltc.distance_km == pytest.approx(23.27, abs=0.01)
    assert wltc.distance_km == pytest.approx(23.266, abs=0.001)
    assert wltc.max_speed_kmh == 131.3
    assert sum(wltc.speed_kmh) == pytest.approx(83758.6)  # the table's checksum
    assert [p.name for p in wltc.phases] == ["low", "medium", "high", "extra-high"]
    assert [p.start_s for p in wltc.phases] == [0.0, 590.0, 1023.0, 1478.0]
    assert wltc.phases[-1].end_s == 1800.0


def test_phase_distances_match_the_regulation() -> None:
    wltc = load_cycle("wltc")
    # UN GTR No. 15, class 3b: 3,095 / 4,756 / 7,162 / 8,254 m.
    expected = {"low": 3.095, "medium": 4.756, "high": 7.162, "extra-high": 8.254}
    for phase in wltc.phases:
        first = wltc.time_s.index(phase.start_s)
        last = wltc.time_s.index(phase.end_s) if phase.end_s < 1800.0 else 1800
        km = sum(wltc.speed_kmh[first : last + (phase.end_s == 1800.0)]) / 3600.0
        assert km == pytest.approx(expected[phase.name], abs=0.002), phase.name


def test_aliases_and_interpolation() -> None:
    wltc = load_cycle("wltc")
    assert load_cycle("wltc3b") is wltc
    assert load_cycle(" WLTC ") is wltc
    assert wltc.speed_at(-5.0) == 0.0
    assert wltc.speed_at(13.5) == pytest.approx((1.7 + 5.4) / 2.0)
    assert wltc.speed_at(5000.0) == 0.0
    assert "wltc" in cycle_names()


def test_unknown_cycle_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCycleError) as info:
        load_cycle("nedc")
    assert "'nedc'" in str(info.value)
    assert "wltc" in str(info.value)
    assert isinstance(info.value, CarmindError)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("t,v,phase\n0,0,low\n1,1,low\n", "expected the columns"),
        ("time_s,speed_kmh,phase\n0,0,low\n", "at least two samples"),
        ("time_s,speed_kmh,phase\n0,0,low\n1,-3,low\n", "speed of 0 or more"),
        ("time_s,speed_kmh,phase\n0,0,low\n0,3,low\n", "times must rise"),
        ("time_s,speed_kmh,phase\n0,0,low\n1,fast,low\n", "expected numbers"),
    ],
)
def test_malformed_cycle_data_is_refused(text: str, match: str) -> None:
    with pytest.raises(CycleError, match=match):
        _parse_cycle("bad.csv", "bad", text)


@pytest.fixture(scope="module")
def m3_wltc() -> CycleResult:
    return run_cycle(get_profile("tesla-model-3-rwd"), load_cycle("wltc"))


def test_cycle_run_follows_the_trace_and_reports_consumption(m3_wltc: CycleResult) -> None:
    r = m3_wltc
    profile = get_profile("tesla-model-3-rwd")
    assert r.cycle == "WLTC class 3b"
    assert r.distance_km == pytest.approx(23.266, rel=0.005)
    assert r.max_speed_error_kmh < 2.0  # the WLTP speed tolerance
    assert r.test_mass_kg == profile.wltp_test_mass_kg
    assert 9.0 < r.consumption_kwh_per_100km < 16.0
    assert r.consumption_kwh_per_100km == pytest.approx(r.energy_kwh / r.distance_km * 100.0)
    assert r.implied_range_km == pytest.approx(
        profile.usable_battery_kwh / r.consumption_kwh_per_100km * 100.0
    )
    assert r.energy_kwh == pytest.approx(
        r.traction_energy_kwh + r.aux_energy_kwh - r.regen_energy_kwh
    )
    assert 0.15 < r.regen_energy_kwh / r.traction_energy_kwh < 0.45


def test_hvac_load_raises_consumption(m3_wltc: CycleResult) -> None:
    profile = get_profile("tesla-model-3-rwd")
    with_hvac = run_cycle(profile, load_cycle("wltc"), dt=0.2, aux_power_w=2000.0)
    extra = with_hvac.energy_kwh - m3_wltc.energy_kwh
    assert extra == pytest.approx(2000.0 * 1800.0 / 3.6e6, rel=0.05)


def test_cycle_runs_are_deterministic_and_report_progress() -> None:
    profile = get_profile("xiaomi-su7")
    cycle = load_cycle("wltc")
    seen: list[float] = []
    first = run_cycle(profile, cycle, dt=0.5, progress=seen.append)
    assert first == run_cycle(profile, cycle, dt=0.5)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)
    assert 50 <= len(seen) <= 110


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dt": 0.0}, "dt must be between"),
        ({"dt": 5.0}, "dt must be between"),
        ({"aux_power_w": -100.0}, "aux_power_w must be between"),
        ({"ambient_c": 200.0}, "ambient_c must be between"),
        ({"initial_soc_pct": 101.0}, "soc_pct must be between"),
    ],
)
def test_bad_cycle_run_inputs_are_refused(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(SimulationInputError, match=match):
        run_cycle(get_profile("xiaomi-su7"), load_cycle("wltc"), **kwargs)  # type: ignore[arg-type]
