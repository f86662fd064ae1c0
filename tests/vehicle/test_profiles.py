"""Vehicle profiles: the packaged data loads, and every malformed file is refused by name."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from carmind.errors import CarmindError
from carmind.vehicle.profiles import (
    DRIVER_MASS_KG,
    ProfileError,
    UnknownProfileError,
    VehicleProfile,
    get_profile,
    load_profiles,
)

EXPECTED_IDS = {
    "xiaomi-su7",
    "xiaomi-su7-pro",
    "xiaomi-su7-max",
    "xiaomi-su7-ultra",
    "xiaomi-yu7",
    "xiaomi-yu7-max",
    "tesla-model-3-rwd",
    "tesla-model-y-long-range",
    "bmw-i4-edrive40",
}
SOURCED_FIELDS = (
    "curb_mass_kg",
    "drag_coefficient",
    "frontal_area_m2",
    "rolling_resistance",
    "wheel_radius_m",
    "wheelbase_m",
    "cog_height_m",
    "tyre_grip",
    "top_speed_limit_kmh",
    "usable_battery_kwh",
    "drivetrain_efficiency",
    "regen_limit_kw",
    "charging_curve",
    "aux_power_w",
    "axles",
    "gear_ratio",
    "motor_max_rpm",
    "accel_0_100_s",
    "top_speed_kmh",
)


def _packaged_text(profile_id: str) -> str:
    path = resources.files("carmind.vehicle") / "data" / "profiles" / f"{profile_id}.toml"
    return path.read_text(encoding="utf-8")


def _write(tmp_path: Path, profile_id: str, text: str) -> Path:
    (tmp_path / f"{profile_id}.toml").write_text(text, encoding="utf-8")
    return tmp_path


def _edit(text: str, field: str, new_line: str | None) -> str:
    """Replace (or drop, with None) the first top-level line that sets ``field``."""
    pattern = re.compile(rf"^{re.escape(field)} = .*$", re.MULTILINE)
    assert pattern.search(text), field
    return pattern.sub("" if new_line is None else new_line, text, count=1)


def test_every_required_profile_is_packaged() -> None:
    profiles = load_profiles()
    assert set(profiles) == EXPECTED_IDS
    for profile_id, profile in profiles.items():
        assert profile.id == profile_id
        assert profile.powertrain == "ELECTRIC"


@pytest.mark.parametrize("profile_id", sorted(EXPECTED_IDS))
def test_profile_figures_are_sourced_and_plausible(profile_id: str) -> None:
    p = get_profile(profile_id)
    for field in SOURCED_FIELDS:
        assert p.sources[field].strip(), field
    assert 0.18 <= p.drag_coefficient <= 0.35
    # Frontal area is estimated from width x height x 0.85 for every car: nothing fitted.
    assert p.frontal_area_m2 == pytest.approx(p.width_m * p.height_m * 0.85, abs=0.001)
    assert 0.85 <= p.drivetrain_efficiency <= 0.95
    assert 0.9 <= p.tyre_grip <= 1.1 or "semi-slick" in p.sources["tyre_grip"]
    assert p.usable_battery_kwh <= p.gross_battery_kwh
    assert len(p.vin_example) == 17
    assert p.published.range_wltp_km is not None or p.published.range_cltc_km is not None
    assert p.peak_power_kw == sum(a.motor_peak_power_kw for a in p.axles)
    assert p.mass_with_driver_kg == p.curb_mass_kg + DRIVER_MASS_KG
    assert p.wltp_test_mass_kg > p.mass_with_driver_kg


def test_drive_layout_and_published_range_kind() -> None:
    profiles = load_profiles()
    assert profiles["xiaomi-su7"].drive == "RWD"
    assert profiles["xiaomi-su7-max"].drive == "AWD"
    for pid in ("tesla-model-3-rwd", "tesla-model-y-long-range", "bmw-i4-edrive40"):
        assert profiles[pid].published.range_wltp_km is not None
    for pid in EXPECTED_IDS:
        if pid.startswith("xiaomi"):
            assert profiles[pid].published.range_cltc_km is not None
            assert profiles[pid].published.range_wltp_km is None


def test_load_profiles_is_cached_but_returns_a_copy() -> None:
    first = load_profiles()
    first.pop("xiaomi-su7")
    second = load_profiles()
    assert "xiaomi-su7" in second
    assert second["bmw-i4-edrive40"] is load_profiles()["bmw-i4-edrive40"]


def test_unknown_profile_lists_the_valid_ids() -> None:
    with pytest.raises(UnknownProfileError) as info:
        get_profile("tesla-model-s")
    message = str(info.value)
    assert "'tesla-model-s'" in message
    for profile_id in EXPECTED_IDS:
        assert profile_id in message
    assert isinstance(info.value, CarmindError)


def test_loading_a_copy_from_a_directory(tmp_path: Path) -> None:
    _write(tmp_path, "bmw-i4-edrive40", _packaged_text("bmw-i4-edrive40"))
    profiles = load_profiles(tmp_path)
    assert list(profiles) == ["bmw-i4-edrive40"]
    assert profiles["bmw-i4-edrive40"] == load_profiles()["bmw-i4-edrive40"]
    assert get_profile("bmw-i4-edrive40", tmp_path).curb_mass_kg == 2050.0


@pytest.mark.parametrize(
    ("field", "line", "expected"),
    [
        ("curb_mass_kg", None, "missing required field 'curb_mass_kg'"),
        ("drag_coefficient", "drag_coefficient = -0.24", "'drag_coefficient' must be a number"),
        ("frontal_area_m2", 'frontal_area_m2 = "big"', "'frontal_area_m2' must be a number"),
        ("tyre_grip", "tyre_grip = 0", "'tyre_grip' must be a number"),
        ("rolling_resistance", "rolling_resistance = true", "'rolling_resistance' must be"),
        ("seats", "seats = -5", "'seats' must be an integer"),
        ("model_year", "model_year = 2022.5", "'model_year' must be an integer"),
        ("powertrain", 'powertrain = "COMBUSTION"', "'powertrain' must be 'ELECTRIC'"),
        ("vin_example", 'vin_example = "WBY-TOO-SHORT"', "'vin_example' must be 17"),
        ("id", 'id = "bmw-i5"', "'id' must be the file's name 'bmw-i4-edrive40'"),
        ("usable_battery_kwh", "usable_battery_kwh = 90.0", "at most gross_battery_kwh"),
        ("charging_curve", "charging_curve = [[0, 100], [50, 80], [40, 50], [100, 5]]", "soc"),
        ("charging_curve", "charging_curve = [[10, 100], [100, 5]]", "charging_curve"),
        ("aux_power_w", "aux_power_w = -300", "'aux_power_w' must be a number"),
    ],
)
def test_malformed_profile_names_the_field(
    tmp_path: Path, field: str, line: str | None, expected: str
) -> None:
    text = _edit(_packaged_text("bmw-i4-edrive40"), field, line)
    _write(tmp_path, "bmw-i4-edrive40", text)
    with pytest.raises(ProfileError) as info:
        load_profiles(tmp_path)
    assert "bmw-i4-edrive40.toml" in str(info.value)
    assert expected in str(info.value)
    # The packaged profiles are untouched by a failed load elsewhere.
    assert load_profiles()["bmw-i4-edrive40"].curb_mass_kg == 2050.0


def test_negative_axle_figure_names_the_axle(tmp_path: Path) -> None:
    text = _packaged_text("xiaomi-su7-max").replace(
        "motor_peak_torque_nm = 500.0", "motor_peak_torque_nm = -500.0"
    )
    _write(tmp_path, "xiaomi-su7-max", text)
    with pytest.raises(ProfileError, match=r"'axles\[1\]\.motor_peak_torque_nm' must be a number"):
        load_profiles(tmp_path)


def test_bad_axle_name_and_duplicate_axle(tmp_path: Path) -> None:
    text = _packaged_text("xiaomi-su7-max")
    _write(tmp_path, "xiaomi-su7-max", text.replace('name = "front"', 'name = "middle"'))
    with pytest.raises(ProfileError, match=r"'axles\[0\]\.name' must be 'front' or 'rear'"):
        load_profiles(tmp_path)
    _write(tmp_path, "xiaomi-su7-max", text.replace('name = "front"', 'name = "rear"'))
    with pytest.raises(ProfileError, match=r"'axles\[1\]\.name'"):
        load_profiles(tmp_path)


def test_missing_source_is_refused(tmp_path: Path) -> None:
    text = _packaged_text("tesla-model-3-rwd")
    lines = [
        ln for ln in text.splitlines() if not (ln.startswith("curb_mass_kg = ") and "Tesla" in ln)
    ]
    _write(tmp_path, "tesla-model-3-rwd", "\n".join(lines) + "\n")
    with pytest.raises(ProfileError, match=r"missing required field 'sources\.curb_mass_kg'"):
        load_profiles(tmp_path)


def test_missing_published_table_and_ranges(tmp_path: Path) -> None:
    text = _packaged_text("tesla-model-3-rwd")
    _write(tmp_path, "tesla-model-3-rwd", text.replace("range_wltp_km = 513.0\n", ""))
    with pytest.raises(ProfileError, match=r"'published\.range_wltp_km'"):
        load_profiles(tmp_path)
    _write(tmp_path, "tesla-model-3-rwd", text.replace("[published]", "[published_figures]"))
    with pytest.raises(ProfileError, match=r"missing required field 'published'"):
        load_profiles(tmp_path)


def test_invalid_toml_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="holds no"):
        load_profiles(tmp_path)
    with pytest.raises(ProfileError, match="not a directory"):
        load_profiles(tmp_path / "nowhere")
    _write(tmp_path, "broken", "id = \n")
    with pytest.raises(ProfileError, match=r"broken\.toml: not valid TOML"):
        load_profiles(tmp_path)


def test_profiles_are_immutable_values() -> None:
    profile = get_profile("xiaomi-su7")
    with pytest.raises(AttributeError):
        profile.curb_mass_kg = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        profile.sources["curb_mass_kg"] = "changed"  # type: ignore[index]
    assert isinstance(profile, VehicleProfile)
    # Usable as a key (caches, dicts) although it holds a mapping.
    assert {profile: 1}[get_profile("xiaomi-su7")] == 1
