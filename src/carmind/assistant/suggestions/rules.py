"""The rules about the car itself: range for the destination, tyres, windows, locks.

A rule is a pure function of a `Snapshot` and a `RuleContext` that returns one `Suggestion` or
None. Its thresholds are named constants beside it, each with its reason; the suggestion's
`reason` shows the driver the facts that triggered it, in every language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Final

from carmind.assistant.model import Action, Request
from carmind.assistant.suggestions.geo import (
    ROAD_DETOUR_FACTOR,
    DistanceSource,
    estimated_road_distance,
)
from carmind.assistant.suggestions.model import Kind, Suggestion
from carmind.assistant.suggestions.routines import Routine
from carmind.assistant.suggestions.snapshot import (
    CRASH_DETECTED,
    DOORS,
    DRIVER_OCCUPIED,
    IS_CHARGING,
    RANGE,
    WHEELS,
    Snapshot,
    door_locked,
    door_open,
    tyre_low,
    tyre_pressure,
    window_position,
)
from carmind.assistant.suggestions.words import (
    DOOR_NAMES,
    WHEEL_NAMES,
    WINDOW_NAMES,
    km,
    names,
    number,
    per_language,
)


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule may know besides the signals: the time, learned routines, distances."""

    now: float
    tz: tzinfo | None = None
    """Time zone for times of day (None: the system's)."""
    routines: tuple[Routine, ...] = ()
    distance: DistanceSource = field(default=estimated_road_distance)


type Rule = Callable[[Snapshot, RuleContext], Suggestion | None]

# --- Priorities: what matters most comes first ------------------------------------------------

PRIORITY_BATTERY: Final = 90
PRIORITY_TYRES: Final = 80
PRIORITY_WINDOW: Final = 60
PRIORITY_UNLOCKED: Final = 50

# --- Battery too low for the destination ------------------------------------------------------

ARRIVAL_RESERVE_KM: Final = 20.0
"""Range to keep on arrival (km). Range estimates drift by 10-20 % with speed, cold and climbs,
and the last kilometres are the ones spent finding a charger; 20 km covers both on most trips."""


def battery_low_for_destination(s: Snapshot, ctx: RuleContext) -> Suggestion | None:
    """The range does not cover the road distance to the destination plus the reserve.

    Not while charging: the range is growing. The distance comes from `ctx.distance`
    (straight line × `ROAD_DETOUR_FACTOR` until navigation provides the route).
    """
    destination, here, range_m = s.destination(), s.position(), s.number(RANGE)
    if destination is None or here is None or range_m is None or s.flag(IS_CHARGING):
        return None
    route = ctx.distance(here, destination)
    range_km = range_m / 1000.0
    needed_km = route.km + ARRIVAL_RESERVE_KM
    if range_km >= needed_km:
        return None

    def text(lang: str) -> str:
        r, d = km(lang, range_km), km(lang, route.km)
        return {
            "en": f"Your range of {r} will not get you to your destination ({d}). "
            "Add a charging stop?",
            "zh": f"剩余续航 {r}，不足以到达目的地（{d}）。要添加一个充电站吗？",
            "nl": f"Met {r} bereik haal je je bestemming ({d}) niet. Een laadstop toevoegen?",
        }[lang]

    def reason(lang: str) -> str:
        r, d, reserve = km(lang, range_km), km(lang, route.km), km(lang, ARRIVAL_RESERVE_KM)
        straight, factor = km(lang, route.straight_km), number(lang, ROAD_DETOUR_FACTOR, 1)
        if route.estimated:
            how = {
                "en": f" (straight line {straight} × {factor} for roads)",
                "zh": f"（直线 {straight} × 道路系数 {factor}）",
                "nl": f" (hemelsbreed {straight} × {factor} voor de wegen)",
            }[lang]
        else:
            how = {"en": " by the planned route", "zh": "（按规划路线）", "nl": " via de route"}[
                lang
            ]
        return {
            "en": f"Range {r} is less than the {d} to the destination{how} "
            f"plus a {reserve} reserve.",
            "zh": f"续航 {r} 少于到目的地的 {d}{how}加上 {reserve} 的余量。",
            "nl": f"Bereik {r} is minder dan de {d} tot de bestemming{how} plus {reserve} reserve.",
        }[lang]

    return Suggestion(
        id=Kind.BATTERY_LOW_FOR_DESTINATION.value,
        kind=Kind.BATTERY_LOW_FOR_DESTINATION,
        text=per_language(text),
        reason=per_language(reason),
        priority=PRIORITY_BATTERY,
        requests=(
            Request(
                "navigation",
                "add_charging_stop",
                {
                    "destination": {
                        "latitude": destination.latitude,
                        "longitude": destination.longitude,
                    },
                    "range_km": round(range_km, 1),
                    "distance_km": round(route.km, 1),
                    "distance_estimated": route.estimated,
                    "reserve_km": ARRIVAL_RESERVE_KM,
                },
            ),
        ),
    )


# --- Low tyre pressure ------------------------------------------------------------------------

TYRE_LOW_KPA: Final = 200.0
"""A tyre below this pressure (kPa) is low even where the car's TPMS does not say so. Placard
pressures of passenger cars are 220-290 kPa and TPMS must warn at a 20 % drop (UN R141): 200 kPa is
at or below that warning point for most cars. The car's own `IsPressureLow` always counts."""


def tyre_pressure_low(s: Snapshot, ctx: RuleContext) -> Suggestion | None:
    """A tyre reports low pressure, or its pressure is below `TYRE_LOW_KPA`; names the wheels."""
    low: list[tuple[str, float | None, bool]] = []
    for wheel in WHEELS:
        kpa = s.number(tyre_pressure(wheel))
        flagged = s.flag(tyre_low(wheel)) is True
        if flagged or (kpa is not None and kpa < TYRE_LOW_KPA):
            low.append((wheel, kpa, flagged))
    if not low:
        return None
    wheels = [w for w, _, _ in low]

    def text(lang: str) -> str:
        which = names(WHEEL_NAMES, wheels, lang)
        return {
            "en": f"The {which} tyre pressure is low. Check it at the next stop?",
            "zh": f"{which}轮胎气压偏低，请在下次停车时检查。",
            "nl": f"De bandenspanning {which} is te laag. Controleren bij de volgende stop?",
        }[lang]

    def reason(lang: str) -> str:
        facts = []
        for wheel, kpa, flagged in low:
            name = WHEEL_NAMES[wheel][lang]
            pressure = "?" if kpa is None else number(lang, kpa)
            limit = number(lang, TYRE_LOW_KPA)
            if flagged:
                facts.append(
                    {
                        "en": f"{name} {pressure} kPa, flagged low by the car",
                        "zh": f"{name} {pressure} kPa，车辆报告气压低",
                        "nl": f"{name} {pressure} kPa, door de auto als te laag gemeld",
                    }[lang]
                )
            else:
                facts.append(
                    {
                        "en": f"{name} {pressure} kPa, below {limit} kPa",
                        "zh": f"{name} {pressure} kPa，低于 {limit} kPa",
                        "nl": f"{name} {pressure} kPa, onder {limit} kPa",
                    }[lang]
                )
        return ("；" if lang == "zh" else "; ").join(facts) + ("。" if lang == "zh" else ".")

    return Suggestion(
        id=Kind.TYRE_PRESSURE_LOW.value,
        kind=Kind.TYRE_PRESSURE_LOW,
        text=per_language(text),
        reason=per_language(reason),
        priority=PRIORITY_TYRES,
    )


# --- A window open when locking ---------------------------------------------------------------


def window_open_when_locking(s: Snapshot, ctx: RuleContext) -> Suggestion | None:
    """The car is locked (or asked to lock) after it parked while a window is open.

    "After it parked": a lock or lock request newer than the moment the car stopped. Drive-away
    locking happens while moving, with the driver still inside: it does not count.
    """
    stopped = s.stationary_since()
    if stopped is None:
        return None
    open_windows = [d for d in DOORS if (s.number(window_position(d)) or 0.0) > 0.0]
    if not open_windows:
        return None
    locked_now, requested = [], []
    for door in DOORS:
        since = s.since(door_locked(door))
        if s.flag(door_locked(door)) is True and since is not None and since >= stopped:
            locked_now.append(door)
        target = s.target(door_locked(door))
        if target is not None and target.value is True and target.since >= stopped:
            requested.append(door)
    if not locked_now and not requested:
        return None
    positions = {d: s.number(window_position(d)) or 0.0 for d in open_windows}

    def text(lang: str) -> str:
        which = names(WINDOW_NAMES, open_windows, lang)
        return {
            "en": f"The {which} is still open. Close it?"
            if len(open_windows) == 1
            else f"The {which} are still open. Close them?",
            "zh": f"{which}还开着，要关上吗？",
            "nl": f"Het {which} staat nog open. Sluiten?"
            if len(open_windows) == 1
            else f"Het {which} staan nog open. Sluiten?",
        }[lang]

    def reason(lang: str) -> str:
        opened = ", ".join(
            f"{WINDOW_NAMES[d][lang]} {number(lang, positions[d])} %" for d in open_windows
        )
        if locked_now:
            what = {
                "en": "Locked after parking",
                "zh": "停车后已上锁",
                "nl": "Na het parkeren vergrendeld",
            }[lang]
        else:
            what = {
                "en": "Lock requested after parking",
                "zh": "停车后请求上锁",
                "nl": "Na het parkeren vergrendeling gevraagd",
            }[lang]
        still = {"en": "; still open: ", "zh": "；仍开着：", "nl": "; nog open: "}[lang]
        return what + still + opened + ("。" if lang == "zh" else ".")

    return Suggestion(
        id=Kind.WINDOW_OPEN_WHEN_LOCKING.value,
        kind=Kind.WINDOW_OPEN_WHEN_LOCKING,
        text=per_language(text),
        reason=per_language(reason),
        priority=PRIORITY_WINDOW,
        actions=tuple(Action(window_position(d), 0) for d in open_windows),
    )


# --- Doors unlocked when walking away ---------------------------------------------------------

UNLOCKED_PARKED_S: Final = 5 * 60.0
"""Parked this long (s) with a door unlocked counts as walking away from an unlocked car. Long
enough for loading, unloading and a passenger getting out; short enough to call the driver back
from the car park. The catalog's occupancy sensor (`Seat...IsOccupied`) is used where a car
publishes it; the ignition state (`LowVoltageSystemState`) is not, as many cars (and the
simulator) report it ON while parked with the 12 V system awake."""


def doors_unlocked_parked(s: Snapshot, ctx: RuleContext) -> Suggestion | None:
    """Parked for `UNLOCKED_PARKED_S` with a door unlocked, nobody in the driver's seat.

    Not after a crash: the car unlocks its doors on purpose then.
    """
    stopped = s.stationary_since()
    if stopped is None or s.flag(CRASH_DETECTED) or s.flag(DRIVER_OCCUPIED):
        return None
    unlocked = [d for d in DOORS if s.flag(door_locked(d)) is False]
    if not unlocked:
        return None
    unlocked_since = min(s.since(door_locked(d)) or ctx.now for d in unlocked)
    onset = max(stopped, unlocked_since)
    parked_s = ctx.now - onset
    if parked_s < UNLOCKED_PARKED_S:
        return None
    open_doors = [d for d in DOORS if s.flag(door_open(d))]
    minutes = int(parked_s // 60)

    def text(lang: str) -> str:
        return {
            "en": "The car is parked and unlocked. Lock it?",
            "zh": "车辆已停好但未上锁，要锁车吗？",
            "nl": "De auto staat geparkeerd en is niet op slot. Vergrendelen?",
        }[lang]

    def reason(lang: str) -> str:
        which = names(DOOR_NAMES, unlocked, lang)
        base = {
            "en": f"Parked for {minutes} min with unlocked: {which}.",
            "zh": f"已停车 {minutes} 分钟，未上锁：{which}。",
            "nl": f"Al {minutes} min geparkeerd, niet op slot: {which}.",
        }[lang]
        if not open_doors:
            return base
        still_open = names(DOOR_NAMES, open_doors, lang)
        return (
            base
            + {
                "en": f" Still open: {still_open}.",
                "zh": f"仍开着：{still_open}。",
                "nl": f" Nog open: {still_open}.",
            }[lang]
        )

    return Suggestion(
        id=Kind.DOORS_UNLOCKED_PARKED.value,
        kind=Kind.DOORS_UNLOCKED_PARKED,
        text=per_language(text),
        reason=per_language(reason),
        priority=PRIORITY_UNLOCKED,
        # the car refuses to lock an open door: with one open, the driver must close it first
        actions=() if open_doors else tuple(Action(door_locked(d), True) for d in DOORS),
    )


VEHICLE_RULES: Final[tuple[Rule, ...]] = (
    battery_low_for_destination,
    tyre_pressure_low,
    window_open_when_locking,
    doors_unlocked_parked,
)
