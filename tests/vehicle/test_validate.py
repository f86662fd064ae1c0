"""Validation against published figures: the issue's done criteria, as honest model results.

Nothing in the profiles is fitted to these figures. Where the model with the published (and
documented estimated) parameters misses a target, the miss is recorded in `KNOWN_MISSES` with
its reason and the test is a strict xfail: it shows in every run, and it turns red the day the
model or the data change enough to meet the target, so the mark cannot go stale.
"""

from __future__ import annotations

import dataclasses

import pytest

from carmind.vehicle.dynamics import SimulationInputError
from carmind.vehicle.profiles import get_profile, load_profiles
from carmind.vehicle.validate import (
    ACCEL_TARGET_PCT,
    TOP_SPEED_TARGET_PCT,
    WLTP_RANGE_TARGET_PCT,
    ValidationRow,
    accel_test,
    format_table,
    validate_all,
)

WLTP_PROFILES = ("tesla-model-3-rwd", "tesla-model-y-long-range", "bmw-i4-edrive40")
CLTC_PROFILES = (
    "xiaomi-su7",
    "xiaomi-su7-pro",
    "xiaomi-su7-max",
    "xiaomi-su7-ultra",
    "xiaomi-yu7",
    "xiaomi-yu7-max",
)

#: Targets the honest model misses, with the reason (see docs/vehicle-physics.md).
KNOWN_MISSES: dict[tuple[str, str], str] = {
    ("tesla-model-3-rwd", "accel"): (
        "simulated 5.3 s vs 6.1 s: the type-approval motor rating (208 kW, 420 Nm) makes a "
        "quicker car than Tesla quotes; the real car is held back by limits Tesla does not "
        "publish (LFP battery power, launch torque ramp)"
    ),
    ("xiaomi-su7", "accel"): (
        "simulated 5.8 s vs 5.28 s: the reduction ratio is not published; the design-rule "
        "estimate (9.83) gives less wheel torque than the real car must have"
    ),
    ("xiaomi-su7-max", "accel"): (
        "simulated 3.15 s vs 2.78 s: 2.78 s needs ~1.0 g on average; with road tyres "
        "(grip 1.1), the front axle unloading and the estimated ratio the model does ~0.9 g"
    ),
}


def _cases() -> list[object]:
    cases: list[object] = []
    wanted = [(pid, fig) for pid in WLTP_PROFILES for fig in ("accel", "top_speed", "range")]
    wanted += [(pid, fig) for pid in CLTC_PROFILES for fig in ("accel", "top_speed")]
    for pid, fig in wanted:
        reason = KNOWN_MISSES.get((pid, fig))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        cases.append(pytest.param(pid, fig, id=f"{pid}-{fig}", marks=marks))
    return cases


@pytest.fixture(scope="module")
def rows() -> dict[str, ValidationRow]:
    return {row.profile_id: row for row in validate_all()}


@pytest.mark.parametrize(("profile_id", "figure"), _cases())
def test_published_figure_within_target(
    rows: dict[str, ValidationRow], profile_id: str, figure: str
) -> None:
    row = rows[profile_id]
    if figure == "accel":
        assert row.accel_error_pct is not None
        assert abs(row.accel_error_pct) <= ACCEL_TARGET_PCT, row
        assert row.accel_passed
    elif figure == "top_speed":
        assert abs(row.top_speed_error_pct) <= TOP_SPEED_TARGET_PCT, row
        assert row.top_speed_passed
    else:
        assert row.range_kind == "WLTP"
        assert abs(row.range_error_pct) <= WLTP_RANGE_TARGET_PCT, row
        assert row.range_passed is True


def test_every_profile_is_validated(rows: dict[str, ValidationRow]) -> None:
    assert set(rows) == set(load_profiles())
    for row in rows.values():
        assert row.accel_simulated_s is not None
        assert row.accel_error_pct == pytest.approx(
            (row.accel_simulated_s - row.accel_published_s) / row.accel_published_s * 100.0
        )
        expected = not any(pid == row.profile_id for pid, _ in KNOWN_MISSES)
        assert row.passed is expected


def test_china_only_profiles_show_cltc_for_information(rows: dict[str, ValidationRow]) -> None:
    for pid in CLTC_PROFILES:
        row = rows[pid]
        assert row.range_kind == "CLTC"
        assert row.range_target_pct is None and row.range_passed is None
        # The WLTC is the harder cycle: its range sits below the CLTC figure.
        assert row.range_simulated_km < row.range_published_km


def test_the_binding_constraint_at_top_speed_is_reported(rows: dict[str, ValidationRow]) -> None:
    for row in rows.values():
        assert row.top_speed_limited_by == "limiter"  # every car here has an electronic limit
    m3 = get_profile("tesla-model-3-rwd")
    result = accel_test(m3, dt=0.02)
    assert result.top_speed_limited_by == "limiter"
    assert result.unlimited_top_speed_kmh > result.top_speed_kmh
    assert result.unlimited_limited_by == "motor speed"
    # Without a limiter and with a motor that could spin on, drag and power set the top speed.
    free = dataclasses.replace(
        m3,
        top_speed_limit_kmh=500.0,
        axles=tuple(dataclasses.replace(a, motor_max_rpm=40_000.0) for a in m3.axles),
    )
    drag_bound = accel_test(free, dt=0.02)
    assert drag_bound.top_speed_limited_by == "power"
    power_w = m3.axles[0].motor_peak_power_kw * 1000.0 * 0.97
    v = drag_bound.top_speed_kmh / 3.6
    drag_w = 0.5 * 1.2 * m3.drag_coefficient * m3.frontal_area_m2 * v**3
    roll_w = m3.rolling_resistance * m3.mass_with_driver_kg * 9.80665 * v
    assert drag_w + roll_w == pytest.approx(power_w, rel=0.01)


def test_format_table_and_progress() -> None:
    seen: list[float] = []
    rows = validate_all(progress=seen.append, profiles=[get_profile("bmw-i4-edrive40")])
    assert seen == [1.0]
    table = format_table(rows)
    assert "bmw-i4-edrive40" in table and "WLTP" in table and "pass" in table


def test_accel_test_refuses_a_bad_step() -> None:
    with pytest.raises(SimulationInputError, match="dt must be between"):
        accel_test(get_profile("xiaomi-su7"), dt=0.5)
