"""The rules that use learned routines: the usual destination, and preconditioning before it.

Both look for a routine whose usual departure is near (a window before it), from where the car
is now. Pure functions of a `Snapshot` and a `RuleContext`, like the car rules.
"""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import Final

from carmind.assistant.model import Action
from carmind.assistant.suggestions.geo import great_circle_km
from carmind.assistant.suggestions.model import Kind, Suggestion
from carmind.assistant.suggestions.routines import (
    LOOKBACK_WEEKS,
    PLACE_RADIUS_M,
    Place,
    PlaceLabel,
    Routine,
    local_time,
    minute_of_day,
)
from carmind.assistant.suggestions.rules import Rule, RuleContext
from carmind.assistant.suggestions.snapshot import (
    CABIN_TEMPERATURE,
    CABLE_CONNECTED,
    DEST_LATITUDE,
    DEST_LONGITUDE,
    DRIVER_FAN,
    HVAC,
    HVAC_STATIONS,
    SOC,
    Snapshot,
)
from carmind.assistant.suggestions.words import clock_time, days_phrase, number, per_language

PRIORITY_PRECONDITION: Final = 30
PRIORITY_ROUTINE: Final = 20

ROUTINE_OFFER_BEFORE_S: Final = 20 * 60.0
ROUTINE_OFFER_AFTER_S: Final = 5 * 60.0
"""The usual destination is offered from 20 min before the usual departure until 5 min after:
early enough to be ready when the driver gets in, and still there for a late start."""

NEAR_ORIGIN_M: Final = 500.0
"""A routine applies only where it starts: the car within this distance of the routine's origin
(m; twice a place's radius, for a car parked at the edge of the place). Unknown location: no
check."""


def departure_near(
    routine: Routine, now: float, tz: tzinfo | None, before_s: float, after_s: float
) -> float | None:
    """The routine's departure (Unix s) when `now` lies in [departure - before, + after]."""
    today = local_time(now, tz).date()
    for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
        departure = routine.departure_on(day, tz)
        if departure is not None and departure - before_s <= now <= departure + after_s:
            return departure
    return None


def _starts_here(s: Snapshot, routine: Routine) -> bool:
    here = s.position()
    if here is None:
        return True
    return great_circle_km(here, routine.origin.position) * 1000.0 <= NEAR_ORIGIN_M


def due_routine(
    s: Snapshot, ctx: RuleContext, before_s: float, after_s: float
) -> tuple[Routine, float] | None:
    """The routine due now from here (closest departure, then most support) and its departure."""
    best: tuple[float, int, Routine, float] | None = None
    for routine in ctx.routines:
        departure = departure_near(routine, ctx.now, ctx.tz, before_s, after_s)
        if departure is None or not _starts_here(s, routine):
            continue
        key = (abs(departure - ctx.now), -routine.support)
        if best is None or key < best[:2]:
            best = (*key, routine, departure)
    return None if best is None else (best[2], best[3])


def _place_name(place: Place, lang: str) -> str:
    if place.label is PlaceLabel.HOME:
        return {"en": "home", "zh": "家", "nl": "huis"}[lang]
    if place.label is PlaceLabel.WORK:
        return {"en": "work", "zh": "公司", "nl": "werk"}[lang]
    where = f"{place.position.latitude:.3f}, {place.position.longitude:.3f}"
    return {"en": f"the place at {where}", "zh": f"（{where}）附近", "nl": f"de plek bij {where}"}[
        lang
    ]


# --- The usual destination --------------------------------------------------------------------


def routine_destination(s: Snapshot, ctx: RuleContext) -> Suggestion | None:
    """In the window before a routine's usual departure, from its origin: offer its destination.

    Not when navigation already leads there.
    """
    due = due_routine(s, ctx, ROUTINE_OFFER_BEFORE_S, ROUTINE_OFFER_AFTER_S)
    if due is None:
        return None
    routine, _ = due
    target = routine.destination.position
    set_to = s.destination()
    if set_to is not None and great_circle_km(set_to, target) * 1000.0 <= PLACE_RADIUS_M:
        return None
    at = clock_time(routine.departure_minute)
    now_text = clock_time(minute_of_day(local_time(ctx.now, ctx.tz)))

    def text(lang: str) -> str:
        days = days_phrase(lang, routine.days)
        ask = {
            PlaceLabel.HOME: {
                "en": "Navigate home?",
                "zh": "要导航回家吗？",
                "nl": "Naar huis navigeren?",
            },
            PlaceLabel.WORK: {
                "en": "Navigate to work?",
                "zh": "要导航去公司吗？",
                "nl": "Naar je werk navigeren?",
            },
            PlaceLabel.OTHER: {
                "en": "Navigate to your usual destination?",
                "zh": "要导航去常去的目的地吗？",
                "nl": "Naar je gebruikelijke bestemming navigeren?",
            },
        }[routine.destination.label][lang]
        usual = {
            "en": f" You usually leave at {at} {days}.",
            "zh": f"您{days}通常在 {at} 出发。",
            "nl": f" Je vertrekt {days} meestal om {at}.",
        }[lang]
        return ask + usual

    def reason(lang: str) -> str:
        days = days_phrase(lang, routine.days)
        origin, dest = _place_name(routine.origin, lang), _place_name(routine.destination, lang)
        n, weeks = routine.support, LOOKBACK_WEEKS
        return {
            "en": f"Driven from {origin} to {dest} around {at} {days} on {n} days in the last "
            f"{weeks} weeks; it is {now_text} now.",
            "zh": f"过去 {weeks} 周内有 {n} 天在{days} {at} 左右从{origin}前往{dest}；"
            f"现在是 {now_text}。",
            "nl": f"De afgelopen {weeks} weken op {n} dagen {days} rond {at} van {origin} naar "
            f"{dest} gereden; het is nu {now_text}.",
        }[lang]

    return Suggestion(
        id=f"{Kind.ROUTINE_DESTINATION.value}:{routine.destination.key}:{routine.days_key}",
        kind=Kind.ROUTINE_DESTINATION,
        text=per_language(text),
        reason=per_language(reason),
        priority=PRIORITY_ROUTINE,
        actions=(
            Action(DEST_LATITUDE, target.latitude),
            Action(DEST_LONGITUDE, target.longitude),
        ),
    )


# --- Preconditioning before the usual departure -----------------------------------------------

PRECONDITION_BEFORE_S: Final = 30 * 60.0
"""Preconditioning is offered in the 30 min before a usual departure: a heat pump needs 10-20 min
to bring a cold cabin (and battery) to temperature, and sooner wastes energy keeping it there."""

COLD_CABIN_C: Final = 10.0
HOT_CABIN_C: Final = 30.0
"""A cabin below 10 °C or above 30 °C is worth preconditioning: outside the 18-26 °C comfort band
by enough that driving off takes several minutes of discomfort (and, cold, misted windows)."""

COMFORTABLE_SOC_PCT: Final = 50.0
"""Unplugged, preconditioning is offered only from this state of charge (%): it spends 1-3 kWh,
a few percent of a pack, which at half a pack or more leaves the day's driving untouched."""

COMFORT_TARGET_C: Final = 21.0
"""The temperature preconditioning sets (°C): the usual default of automatic climate control."""

PRECONDITION_FAN_PCT: Final = 60
"""Fan speed while preconditioning (%): quick without being loud."""


def precondition_cabin(s: Snapshot, ctx: RuleContext) -> Suggestion | None:
    """A cold or hot cabin in the 30 min before a usual departure, parked at its origin.

    Only when plugged in, or with at least `COMFORTABLE_SOC_PCT`; not when the climate already
    runs (the driver's fan is on).
    """
    cabin = s.number(CABIN_TEMPERATURE)
    if s.stationary_since() is None or cabin is None:
        return None
    cold, hot = cabin < COLD_CABIN_C, cabin > HOT_CABIN_C
    if not (cold or hot) or (s.number(DRIVER_FAN) or 0.0) > 0.0:
        return None
    plugged = s.flag(CABLE_CONNECTED) is True
    soc = s.number(SOC)
    if not plugged and (soc is None or soc < COMFORTABLE_SOC_PCT):
        return None
    due = due_routine(s, ctx, PRECONDITION_BEFORE_S, 0.0)
    if due is None:
        return None
    routine, _ = due
    at = clock_time(routine.departure_minute)

    def text(lang: str) -> str:
        t = number(lang, cabin)
        verb = {
            "en": "Warm up the cabin?" if cold else "Cool down the cabin?",
            "zh": "要预热座舱吗？" if cold else "要预冷座舱吗？",
            "nl": "Het interieur voorverwarmen?" if cold else "Het interieur voorkoelen?",
        }[lang]
        return {
            "en": f"It is {t} °C in the car and you usually leave at {at}. {verb}",
            "zh": f"车内 {t} °C，您通常在 {at} 出发。{verb}",
            "nl": f"Het is {t} °C in de auto en je vertrekt meestal om {at}. {verb}",
        }[lang]

    def reason(lang: str) -> str:
        t = number(lang, cabin)
        days = days_phrase(lang, routine.days)
        limit = number(lang, COLD_CABIN_C if cold else HOT_CABIN_C)
        power = (
            {"en": "plugged in", "zh": "已接通充电枪", "nl": "aan de lader"}[lang]
            if plugged
            else {
                "en": f"battery {number(lang, soc or 0.0)} % (at least "
                f"{number(lang, COMFORTABLE_SOC_PCT)} %)",
                "zh": f"电量 {number(lang, soc or 0.0)} %（不低于 "
                f"{number(lang, COMFORTABLE_SOC_PCT)} %）",
                "nl": f"accu {number(lang, soc or 0.0)} % (minstens "
                f"{number(lang, COMFORTABLE_SOC_PCT)} %)",
            }[lang]
        )
        compare = {
            "en": "below" if cold else "above",
            "zh": "低于" if cold else "高于",
            "nl": "onder" if cold else "boven",
        }[lang]
        return {
            "en": f"Cabin {t} °C, {compare} {limit} °C; usual departure {at} {days}; {power}.",
            "zh": f"车内 {t} °C，{compare} {limit} °C；{days}通常 {at} 出发；{power}。",
            "nl": f"Interieur {t} °C, {compare} {limit} °C; vertrek {days} meestal om {at}; "
            f"{power}.",
        }[lang]

    actions = [Action(f"{HVAC}Station.{st}.Temperature", COMFORT_TARGET_C) for st in HVAC_STATIONS]
    actions += [
        Action(f"{HVAC}Station.{st}.FanSpeed", PRECONDITION_FAN_PCT) for st in HVAC_STATIONS
    ]
    if hot:
        actions.append(Action(HVAC + "IsAirConditioningActive", True))
    else:
        actions.append(Action(HVAC + "IsFrontDefrosterActive", True))
    return Suggestion(
        id=Kind.PRECONDITION_CABIN.value,
        kind=Kind.PRECONDITION_CABIN,
        text=per_language(text),
        reason=per_language(reason),
        priority=PRIORITY_PRECONDITION,
        actions=tuple(actions),
    )


ROUTINE_RULES: Final[tuple[Rule, ...]] = (precondition_cabin, routine_destination)
