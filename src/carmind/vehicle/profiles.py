"""Vehicle profiles: published specifications of real electric cars, as data.

Each car is one TOML file in ``carmind/vehicle/data/profiles/`` named after its id. Every
physical figure carries its source in a ``[sources]`` table, and a figure that is not published
says so there ("estimate: ..."). Loading checks every field, so a malformed file fails loudly with
a `ProfileError` that names the file and the field, never later with a ``KeyError`` mid-drive.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from carmind.errors import CarmindError

__all__ = [
    "DRIVER_MASS_KG",
    "WLTP_EXTRA_MASS_KG",
    "WLTP_PAYLOAD_SHARE",
    "Axle",
    "ProfileError",
    "PublishedFigures",
    "UnknownProfileError",
    "VehicleProfile",
    "get_profile",
    "load_profiles",
]

log = logging.getLogger(__name__)

#: Driver allowance in the EU "mass in running order" (Regulation (EU) No 1230/2012).
DRIVER_MASS_KG: Final = 75.0
#: UN GTR No. 15 test mass = mass in running order + 25 kg + a share of the maximum vehicle load.
WLTP_EXTRA_MASS_KG: Final = 25.0
#: The share of the maximum vehicle load added for class 3 vehicles (UN GTR No. 15).
WLTP_PAYLOAD_SHARE: Final = 0.15

_VIN_RE: Final = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_ID_RE: Final = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_AXLE_NAMES: Final = ("front", "rear")


class ProfileError(CarmindError):
    """A profile file is malformed: the message names the file and the field."""


class UnknownProfileError(CarmindError):
    """No profile has the requested id: the message lists the valid ids."""

    def __init__(self, profile_id: str, valid: list[str]) -> None:
        self.profile_id = profile_id
        self.valid = sorted(valid)
        super().__init__(
            f"unknown vehicle profile {profile_id!r}; expected one of: {', '.join(self.valid)}"
        )


@dataclass(frozen=True, slots=True)
class Axle:
    """One driven axle: its motor and the single-speed reduction to the wheels."""

    name: str
    motor_peak_power_kw: float
    motor_peak_torque_nm: float
    gear_ratio: float
    motor_max_rpm: float
    motor_type: str = "PMSM"


@dataclass(frozen=True, slots=True)
class PublishedFigures:
    """The maker's published performance figures the model is validated against."""

    accel_0_100_s: float
    top_speed_kmh: float
    range_wltp_km: float | None
    range_cltc_km: float | None


@dataclass(frozen=True, slots=True)
class VehicleProfile:
    """One car, as published. Units are in every field name; see docs/vehicle-physics.md."""

    id: str
    name: str
    brand: str
    model: str
    variant: str
    model_year: int
    body_type: str
    seats: int
    powertrain: str
    vin_example: str
    tyre_size: str
    width_m: float
    height_m: float
    curb_mass_kg: float
    max_payload_kg: float
    drag_coefficient: float
    frontal_area_m2: float
    rolling_resistance: float
    wheel_radius_m: float
    wheelbase_m: float
    cog_height_m: float
    front_weight_fraction: float
    tyre_grip: float
    axles: tuple[Axle, ...]
    top_speed_limit_kmh: float
    usable_battery_kwh: float
    gross_battery_kwh: float
    nominal_voltage_v: float
    battery_chemistry: str
    drivetrain_efficiency: float
    regen_limit_kw: float
    charging_curve: tuple[tuple[float, float], ...]
    max_ac_charge_kw: float
    aux_power_w: float
    rated_consumption_kwh_per_100km: float
    published: PublishedFigures
    sources: Mapping[str, str]

    def __hash__(self) -> int:
        # Equal profiles have equal ids; `sources` (a read-only mapping) cannot be hashed.
        return hash((self.id, self.model_year, self.curb_mass_kg))

    @property
    def peak_power_kw(self) -> float:
        """Sum of the motors' peak power."""
        return sum(a.motor_peak_power_kw for a in self.axles)

    @property
    def peak_torque_nm(self) -> float:
        """Sum of the motors' peak torque (at the motor shafts)."""
        return sum(a.motor_peak_torque_nm for a in self.axles)

    @property
    def max_dc_charge_kw(self) -> float:
        """The highest point of the DC charging curve."""
        return max(kw for _, kw in self.charging_curve)

    @property
    def drive(self) -> str:
        """ "RWD", "FWD" or "AWD"."""
        names = {a.name for a in self.axles}
        if names == {"front", "rear"}:
            return "AWD"
        return "RWD" if "rear" in names else "FWD"

    @property
    def mass_with_driver_kg(self) -> float:
        """Curb mass plus a 75 kg driver (EU mass in running order): the acceleration test mass."""
        return self.curb_mass_kg + DRIVER_MASS_KG

    @property
    def wltp_test_mass_kg(self) -> float:
        """UN GTR No. 15 test mass: running order + 25 kg + 15 % of the maximum vehicle load."""
        return (
            self.curb_mass_kg
            + DRIVER_MASS_KG
            + WLTP_EXTRA_MASS_KG
            + WLTP_PAYLOAD_SHARE * self.max_payload_kg
        )


# --------------------------------------------------------------------------------------------
# Field specifications: (lower bound, upper bound) for each number, both inclusive.
# The bounds reject typos and unit slips (kW for W, km/h for m/s), not merely implausible cars.

_NUMBERS: Final[dict[str, tuple[float, float]]] = {
    "width_m": (1.0, 3.0),
    "height_m": (0.8, 3.0),
    "curb_mass_kg": (300.0, 6000.0),
    "max_payload_kg": (0.0, 2000.0),
    "drag_coefficient": (0.1, 1.2),
    "frontal_area_m2": (1.0, 6.0),
    "rolling_resistance": (0.003, 0.03),
    "wheel_radius_m": (0.2, 0.6),
    "wheelbase_m": (1.5, 4.5),
    "cog_height_m": (0.2, 1.5),
    "front_weight_fraction": (0.2, 0.8),
    "tyre_grip": (0.3, 2.0),
    "top_speed_limit_kmh": (20.0, 500.0),
    "usable_battery_kwh": (1.0, 300.0),
    "gross_battery_kwh": (1.0, 300.0),
    "nominal_voltage_v": (48.0, 1200.0),
    "drivetrain_efficiency": (0.5, 1.0),
    "regen_limit_kw": (0.0, 1000.0),
    "max_ac_charge_kw": (0.0, 50.0),
    "aux_power_w": (0.0, 5000.0),
    "rated_consumption_kwh_per_100km": (5.0, 60.0),
}
_STRINGS: Final = (
    "id",
    "name",
    "brand",
    "model",
    "variant",
    "body_type",
    "powertrain",
    "vin_example",
    "tyre_size",
    "battery_chemistry",
)
_AXLE_NUMBERS: Final[dict[str, tuple[float, float]]] = {
    "motor_peak_power_kw": (1.0, 2000.0),
    "motor_peak_torque_nm": (1.0, 5000.0),
    "gear_ratio": (1.0, 30.0),
    "motor_max_rpm": (1000.0, 40000.0),
}
_PUBLISHED_NUMBERS: Final[dict[str, tuple[float, float]]] = {
    "accel_0_100_s": (1.0, 60.0),
    "top_speed_kmh": (20.0, 500.0),
    "range_wltp_km": (10.0, 2000.0),
    "range_cltc_km": (10.0, 2000.0),
}
#: Every figure that must have a source note.
_SOURCED: Final = (
    *_NUMBERS.keys(),
    "axles",
    "gear_ratio",
    "motor_max_rpm",
    "charging_curve",
    "accel_0_100_s",
    "top_speed_kmh",
)


class _Reader:
    """Reads typed, range-checked fields from one parsed TOML table, naming the file on error."""

    def __init__(self, origin: str, table: Mapping[str, Any], prefix: str = "") -> None:
        self.origin = origin
        self.table = table
        self.prefix = prefix

    def fail(self, field: str, expected: str, value: object) -> ProfileError:
        return ProfileError(
            f"{self.origin}: field '{self.prefix}{field}' must be {expected}, got {value!r}"
        )

    def missing(self, field: str) -> ProfileError:
        return ProfileError(f"{self.origin}: missing required field '{self.prefix}{field}'")

    def raw(self, field: str) -> Any:
        if field not in self.table:
            raise self.missing(field)
        return self.table[field]

    def number(self, field: str, bounds: tuple[float, float]) -> float:
        value = self.raw(field)
        lo, hi = bounds
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, f"a number between {lo:g} and {hi:g}", value)
        number = float(value)
        if not math.isfinite(number) or not lo <= number <= hi:
            raise self.fail(field, f"a number between {lo:g} and {hi:g}", value)
        return number

    def optional_number(self, field: str, bounds: tuple[float, float]) -> float | None:
        if field not in self.table:
            return None
        return self.number(field, bounds)

    def integer(self, field: str, lo: int, hi: int) -> int:
        value = self.raw(field)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(field, f"an integer between {lo} and {hi}", value)
        return value

    def string(self, field: str) -> str:
        value = self.raw(field)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, "a non-empty string", value)
        return value

    def sub(self, field: str) -> _Reader:
        value = self.raw(field)
        if not isinstance(value, dict):
            raise self.fail(field, "a table", value)
        return _Reader(self.origin, value, f"{self.prefix}{field}.")


def _read_axles(reader: _Reader) -> tuple[Axle, ...]:
    raw = reader.raw("axles")
    if not isinstance(raw, list) or not 1 <= len(raw) <= 2:
        raise reader.fail("axles", "an array of one or two [[axles]] tables", raw)
    axles: list[Axle] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise reader.fail(f"axles[{index}]", "a table", item)
        sub = _Reader(reader.origin, item, f"axles[{index}].")
        name = sub.string("name")
        if name not in _AXLE_NAMES:
            raise sub.fail("name", "'front' or 'rear'", name)
        if any(a.name == name for a in axles):
            raise sub.fail("name", "a different axle from the ones before", name)
        numbers = {k: sub.number(k, b) for k, b in _AXLE_NUMBERS.items()}
        motor_type = sub.string("motor_type") if "motor_type" in item else "PMSM"
        axles.append(Axle(name=name, motor_type=motor_type, **numbers))
    return tuple(axles)


def _read_curve(reader: _Reader) -> tuple[tuple[float, float], ...]:
    raw = reader.raw("charging_curve")
    expected = "an array of at least two [soc %, kW] pairs with rising soc from 0 to 100"
    if not isinstance(raw, list) or len(raw) < 2:
        raise reader.fail("charging_curve", expected, raw)
    points: list[tuple[float, float]] = []
    for pair in raw:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or any(isinstance(x, bool) or not isinstance(x, int | float) for x in pair)
        ):
            raise reader.fail("charging_curve", expected, pair)
        soc, kw = float(pair[0]), float(pair[1])
        if not 0.0 <= soc <= 100.0 or not 0.0 <= kw <= 2000.0:
            raise reader.fail("charging_curve", expected, pair)
        if points and soc <= points[-1][0]:
            raise reader.fail("charging_curve", expected, pair)
        points.append((soc, kw))
    if points[0][0] != 0.0 or points[-1][0] != 100.0:
        raise reader.fail("charging_curve", expected, raw)
    return tuple(points)


def _parse(origin: str, data: Mapping[str, Any], expected_id: str | None) -> VehicleProfile:
    r = _Reader(origin, data)
    strings = {k: r.string(k) for k in _STRINGS}
    numbers = {k: r.number(k, b) for k, b in _NUMBERS.items()}
    profile_id = strings["id"]
    if not _ID_RE.match(profile_id):
        raise r.fail("id", "lower-case words joined by '-'", profile_id)
    if expected_id is not None and profile_id != expected_id:
        raise r.fail("id", f"the file's name {expected_id!r}", profile_id)
    if strings["powertrain"] != "ELECTRIC":
        raise r.fail("powertrain", "'ELECTRIC'", strings["powertrain"])
    if not _VIN_RE.match(strings["vin_example"]):
        raise r.fail("vin_example", "17 characters from A-Z (no I, O, Q) and 0-9", None)
    if numbers["usable_battery_kwh"] > numbers["gross_battery_kwh"]:
        raise r.fail(
            "usable_battery_kwh",
            f"at most gross_battery_kwh ({numbers['gross_battery_kwh']:g})",
            numbers["usable_battery_kwh"],
        )
    model_year = r.integer("model_year", 1990, 2100)
    seats = r.integer("seats", 1, 9)
    axles = _read_axles(r)
    curve = _read_curve(r)

    pub = r.sub("published")
    published = PublishedFigures(
        accel_0_100_s=pub.number("accel_0_100_s", _PUBLISHED_NUMBERS["accel_0_100_s"]),
        top_speed_kmh=pub.number("top_speed_kmh", _PUBLISHED_NUMBERS["top_speed_kmh"]),
        range_wltp_km=pub.optional_number("range_wltp_km", _PUBLISHED_NUMBERS["range_wltp_km"]),
        range_cltc_km=pub.optional_number("range_cltc_km", _PUBLISHED_NUMBERS["range_cltc_km"]),
    )
    if published.range_wltp_km is None and published.range_cltc_km is None:
        raise pub.missing("range_wltp_km")

    src = r.sub("sources")
    sources: dict[str, str] = {}
    for key, note in src.table.items():
        if not isinstance(note, str) or not note.strip():
            raise src.fail(key, "a non-empty source note", note)
        sources[key] = note
    needed = list(_SOURCED)
    needed += [k for k in ("range_wltp_km", "range_cltc_km") if getattr(published, k) is not None]
    for key in needed:
        if key not in sources:
            raise src.missing(key)

    n = numbers
    return VehicleProfile(
        id=profile_id,
        name=strings["name"],
        brand=strings["brand"],
        model=strings["model"],
        variant=strings["variant"],
        model_year=model_year,
        body_type=strings["body_type"],
        seats=seats,
        powertrain=strings["powertrain"],
        vin_example=strings["vin_example"],
        tyre_size=strings["tyre_size"],
        width_m=n["width_m"],
        height_m=n["height_m"],
        curb_mass_kg=n["curb_mass_kg"],
        max_payload_kg=n["max_payload_kg"],
        drag_coefficient=n["drag_coefficient"],
        frontal_area_m2=n["frontal_area_m2"],
        rolling_resistance=n["rolling_resistance"],
        wheel_radius_m=n["wheel_radius_m"],
        wheelbase_m=n["wheelbase_m"],
        cog_height_m=n["cog_height_m"],
        front_weight_fraction=n["front_weight_fraction"],
        tyre_grip=n["tyre_grip"],
        axles=axles,
        top_speed_limit_kmh=n["top_speed_limit_kmh"],
        usable_battery_kwh=n["usable_battery_kwh"],
        gross_battery_kwh=n["gross_battery_kwh"],
        nominal_voltage_v=n["nominal_voltage_v"],
        battery_chemistry=strings["battery_chemistry"],
        drivetrain_efficiency=n["drivetrain_efficiency"],
        regen_limit_kw=n["regen_limit_kw"],
        charging_curve=curve,
        max_ac_charge_kw=n["max_ac_charge_kw"],
        aux_power_w=n["aux_power_w"],
        rated_consumption_kwh_per_100km=n["rated_consumption_kwh_per_100km"],
        published=published,
        sources=MappingProxyType(sources),
    )


def _load_file(entry: Traversable) -> VehicleProfile:
    origin = entry.name
    try:
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{origin}: cannot be read: {exc}") from exc
    return _parse(origin, data, expected_id=origin.removesuffix(".toml"))


def _load_dir(directory: Traversable) -> dict[str, VehicleProfile]:
    if not directory.is_dir():
        raise ProfileError(f"{directory}: not a directory of profile files")
    entries = sorted(
        (e for e in directory.iterdir() if e.name.endswith(".toml")), key=lambda e: e.name
    )
    profiles: dict[str, VehicleProfile] = {}
    for entry in entries:
        profile = _load_file(entry)
        profiles[profile.id] = profile
    if not profiles:
        raise ProfileError(f"{directory}: holds no *.toml profile files")
    log.debug("loaded %d vehicle profiles from %s", len(profiles), directory)
    return profiles


@functools.cache
def _packaged() -> dict[str, VehicleProfile]:
    return _load_dir(resources.files("carmind.vehicle") / "data" / "profiles")


def load_profiles(directory: Path | Traversable | None = None) -> dict[str, VehicleProfile]:
    """All profiles by id: the packaged ones (cached), or those in ``directory`` (read afresh).

    Raises `ProfileError` naming the file and the field when a file is malformed.
    """
    if directory is None:
        return dict(_packaged())
    return _load_dir(directory)


def get_profile(profile_id: str, directory: Path | Traversable | None = None) -> VehicleProfile:
    """The profile with this id; `UnknownProfileError` (listing the valid ids) when none has."""
    profiles = load_profiles(directory)
    try:
        return profiles[profile_id]
    except KeyError:
        raise UnknownProfileError(profile_id, list(profiles)) from None
