"""Smart suggestions: every rule at its boundaries with its reasons, safety, cooldown, dismissal,
and the engine on a simulated car end to end.

Rules are pure functions of a snapshot, so most tests build one from plain values. The engine
tests run on the real hub: a simulated car where it can produce the situation, and, for hard
braking (beyond what the simulated driver does), a test provider publishing the values a car
would.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from datetime import UTC
from pathlib import Path

import pytest

from carmind.assistant.model import LANGUAGES, Action, Request
from carmind.assistant.suggestions import (
    COOLDOWN_S,
    Kind,
    Position,
    RouteDistance,
    RuleContext,
    Snapshot,
    Suggestion,
    SuggestionEngine,
    SuggestionError,
    SuggestionStore,
    interruption_blockers,
    is_safe_to_interrupt,
    learn_routines,
)
from carmind.assistant.suggestions.geo import EARTH_RADIUS_KM
from carmind.assistant.suggestions.routine_rules import (
    PRECONDITION_BEFORE_S,
    ROUTINE_OFFER_AFTER_S,
    ROUTINE_OFFER_BEFORE_S,
    precondition_cabin,
    routine_destination,
)
from carmind.assistant.suggestions.rules import (
    UNLOCKED_PARKED_S,
    battery_low_for_destination,
    doors_unlocked_parked,
    tyre_pressure_low,
    window_open_when_locking,
)
from carmind.assistant.suggestions.snapshot import (
    ACCEL_LONGITUDINAL,
    CABIN_TEMPERATURE,
    CABLE_CONNECTED,
    CRASH_DETECTED,
    DEST_LATITUDE,
    DEST_LONGITUDE,
    DRIVER_FAN,
    DRIVER_OCCUPIED,
    HAZARD,
    INDICATOR_LEFT,
    IS_CHARGING,
    IS_MOVING,
    LATITUDE,
    LONGITUDE,
    RANGE,
    SOC,
    SPEED,
    door_locked,
    door_open,
    tyre_low,
    tyre_pressure,
    window_position,
)
from carmind.signals.broker import Broker
from carmind.signals.catalog import Value, default_catalog
from carmind.vehicle.session import CarSession
from tests.assistant.test_suggestions_learning import HOME, WORK, at, commute_history

DOORS = ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
DRIVER = "Row1.DriverSide"
T0 = 1_700_000_000.0
CTX = RuleContext(now=T0, tz=UTC)


def north_of(p: Position, km: float) -> Position:
    return Position(p.latitude + km / (EARTH_RADIUS_KM * math.pi / 180.0), p.longitude)


def route(km: float) -> RouteDistance:
    return RouteDistance(km, estimated=False, straight_km=km)


def in_every_language(s: Suggestion, *, text: Mapping[str, str], reason: Mapping[str, str]) -> None:
    """Each expected fragment appears in that language's text and reason; all languages given."""
    assert set(s.text) == set(s.reason) == set(LANGUAGES)
    for lang, fragment in text.items():
        assert fragment in s.text[lang], (lang, s.text[lang])
    for lang, fragment in reason.items():
        assert fragment in s.reason[lang], (lang, s.reason[lang])


# --- battery too low for the destination -------------------------------------------------------


def _trip_snapshot(range_m: int, *, charging: bool = False, km_away: float = 100.0) -> Snapshot:
    dest = north_of(HOME, km_away)
    return Snapshot.of(
        {
            LATITUDE: HOME.latitude,
            LONGITUDE: HOME.longitude,
            DEST_LATITUDE: dest.latitude,
            DEST_LONGITUDE: dest.longitude,
            RANGE: range_m,
            IS_CHARGING: charging,
        }
    )


def test_battery_rule_boundary_with_a_planned_route() -> None:
    ctx = RuleContext(now=T0, distance=lambda a, b: route(130.0))
    # 130 km by the route + 20 km reserve = 150 km needed
    assert battery_low_for_destination(_trip_snapshot(150_000), ctx) is None
    s = battery_low_for_destination(_trip_snapshot(149_999), ctx)
    assert s is not None and s.kind is Kind.BATTERY_LOW_FOR_DESTINATION
    in_every_language(
        s,
        text={"en": "Add a charging stop?", "zh": "充电站", "nl": "laadstop"},
        reason={"en": "by the planned route", "zh": "按规划路线", "nl": "via de route"},
    )
    (request,) = s.requests
    assert (request.service, request.action) == ("navigation", "add_charging_stop")
    assert request.data["distance_km"] == 130.0 and request.data["range_km"] == 150.0
    assert not request.data["distance_estimated"]


def test_battery_rule_estimates_the_road_from_the_straight_line() -> None:
    # 100 km straight × 1.3 = 130 km; + 20 km reserve = 150 km needed
    assert battery_low_for_destination(_trip_snapshot(150_100), CTX) is None
    s = battery_low_for_destination(_trip_snapshot(149_900), CTX)
    assert s is not None
    in_every_language(
        s,
        text={"en": "Your range of 150 km", "zh": "150 公里", "nl": "130 km"},
        reason={
            "en": "Range 150 km is less than the 130 km to the destination (straight line "
            "100 km × 1.3 for roads) plus a 20 km reserve.",
            "zh": "直线 100 公里 × 道路系数 1.3",
            "nl": "hemelsbreed 100 km × 1,3",
        },
    )


def test_battery_rule_needs_a_destination_and_not_while_charging() -> None:
    assert battery_low_for_destination(_trip_snapshot(10_000, charging=True), CTX) is None
    no_destination = Snapshot.of({LATITUDE: 60.0, LONGITUDE: 25.0, RANGE: 10_000})
    assert battery_low_for_destination(no_destination, CTX) is None


# --- tyres -------------------------------------------------------------------------------------


def test_tyre_rule_threshold_and_names_the_wheel() -> None:
    values: dict[str, Value] = {tyre_pressure(w): 250 for w in ("Row1.Wheel.Right",)}
    values[tyre_pressure("Row1.Wheel.Left")] = 200
    assert tyre_pressure_low(Snapshot.of(values), CTX) is None
    values[tyre_pressure("Row1.Wheel.Left")] = 199
    s = tyre_pressure_low(Snapshot.of(values), CTX)
    assert s is not None
    in_every_language(
        s,
        text={"en": "The front-left tyre pressure is low", "zh": "左前轮胎", "nl": "linksvoor"},
        reason={
            "en": "front-left 199 kPa, below 200 kPa.",
            "zh": "左前 199 kPa，低于 200 kPa",
            "nl": "linksvoor 199 kPa, onder 200 kPa",
        },
    )


def test_tyre_rule_takes_the_cars_own_warning() -> None:
    values: dict[str, Value] = {
        tyre_pressure("Row2.Wheel.Right"): 230,
        tyre_low("Row2.Wheel.Right"): True,
        tyre_pressure("Row1.Wheel.Left"): 150,
    }
    s = tyre_pressure_low(Snapshot.of(values), CTX)
    assert s is not None
    in_every_language(
        s,
        text={
            "en": "front-left and rear-right",
            "zh": "左前、右后",
            "nl": "linksvoor en rechtsachter",
        },
        reason={
            "en": "rear-right 230 kPa, flagged low by the car",
            "zh": "车辆报告气压低",
            "nl": "door de auto als te laag gemeld",
        },
    )


# --- window open when locking ------------------------------------------------------------------


def _parked(
    stopped: float,
    *,
    window: int = 30,
    locked_since: float | None = None,
    lock_requested: float | None = None,
    moving: bool = False,
) -> Snapshot:
    values: dict[str, Value] = {IS_MOVING: moving, window_position(DRIVER): window}
    since = {IS_MOVING: stopped}
    for door in DOORS:
        values[door_locked(door)] = locked_since is not None
        since[door_locked(door)] = locked_since if locked_since is not None else 0.0
    targets: dict[str, Value] = {}
    if lock_requested is not None:
        targets = {door_locked(d): True for d in DOORS}
    return Snapshot.of(values, since=since, targets=targets, targets_since=lock_requested or 0.0)


def test_window_rule_when_locked_after_parking() -> None:
    s = window_open_when_locking(_parked(100.0, locked_since=100.0), CTX)
    assert s is not None
    in_every_language(
        s,
        text={
            "en": "The driver's window is still open. Close it?",
            "zh": "主驾车窗还开着",
            "nl": "Het bestuurdersraam staat nog open",
        },
        reason={
            "en": "Locked after parking; still open: driver's window 30 %.",
            "zh": "停车后已上锁；仍开着：主驾车窗 30 %",
            "nl": "Na het parkeren vergrendeld; nog open: bestuurdersraam 30 %",
        },
    )
    assert s.actions == (Action(window_position(DRIVER), 0),)


def test_window_rule_on_a_lock_request() -> None:
    s = window_open_when_locking(_parked(100.0, lock_requested=100.0), CTX)
    assert s is not None
    in_every_language(
        s,
        text={},
        reason={
            "en": "Lock requested after parking",
            "zh": "停车后请求上锁",
            "nl": "vergrendeling gevraagd",
        },
    )


def test_window_rule_boundaries() -> None:
    # locked while driving (drive-away locking), then stopped: the driver is still inside
    assert window_open_when_locking(_parked(100.0, locked_since=99.9), CTX) is None
    assert window_open_when_locking(_parked(100.0, lock_requested=99.9), CTX) is None
    assert window_open_when_locking(_parked(100.0, locked_since=200.0, window=0), CTX) is None
    assert window_open_when_locking(_parked(100.0, window=30), CTX) is None  # not locked
    moving = _parked(100.0, locked_since=200.0, moving=True)
    assert window_open_when_locking(moving, CTX) is None


# --- doors unlocked when walking away ----------------------------------------------------------


def _unlocked(parked_s: float, **extra: Value) -> tuple[Snapshot, RuleContext]:
    values: dict[str, Value] = {IS_MOVING: False, **{door_locked(d): False for d in DOORS}}
    values[door_locked(DRIVER)] = True
    values.update(extra)
    return Snapshot.of(values, since=T0), RuleContext(now=T0 + parked_s)


def test_unlocked_rule_after_the_parked_time() -> None:
    assert doors_unlocked_parked(*_unlocked(UNLOCKED_PARKED_S - 1)) is None
    s = doors_unlocked_parked(*_unlocked(UNLOCKED_PARKED_S))
    assert s is not None
    in_every_language(
        s,
        text={"en": "parked and unlocked. Lock it?", "zh": "未上锁", "nl": "niet op slot"},
        reason={
            "en": "Parked for 5 min with unlocked: front passenger's door, rear door on the "
            "driver's side and rear door on the passenger's side.",
            "zh": "已停车 5 分钟，未上锁：副驾车门、",
            "nl": "Al 5 min geparkeerd, niet op slot: bijrijdersdeur, ",
        },
    )
    assert s.actions == tuple(Action(door_locked(d), True) for d in DOORS)


def test_unlocked_rule_exceptions() -> None:
    assert doors_unlocked_parked(*_unlocked(3600, **{DRIVER_OCCUPIED: True})) is None
    assert doors_unlocked_parked(*_unlocked(3600, **{CRASH_DETECTED: True})) is None
    assert doors_unlocked_parked(*_unlocked(3600, **{IS_MOVING: True})) is None
    with_open_door = doors_unlocked_parked(*_unlocked(3600, **{door_open("Row2.DriverSide"): True}))
    assert with_open_door is not None and with_open_door.actions == ()
    assert "Still open: rear door on the driver's side." in with_open_door.reason["en"]


# --- routines: the usual destination and preconditioning ---------------------------------------

ROUTINES = tuple(learn_routines(commute_history(), now=at(28, 0), tz=UTC))
DEPARTURE = at(28, 8 * 60 + 10)
"""The usual 08:10 departure to work on the Monday after the four weeks of history."""


def _at_home(**extra: Value) -> Snapshot:
    values: dict[str, Value] = {IS_MOVING: False, LATITUDE: HOME.latitude}
    values[LONGITUDE] = HOME.longitude
    values.update(extra)
    return Snapshot.of(values)


def _routine_ctx(now: float) -> RuleContext:
    return RuleContext(now=now, tz=UTC, routines=ROUTINES)


def test_usual_destination_is_offered_in_the_window_before_departure() -> None:
    before, after = ROUTINE_OFFER_BEFORE_S, ROUTINE_OFFER_AFTER_S
    for now in (DEPARTURE - before, DEPARTURE - 60, DEPARTURE + after):
        s = routine_destination(_at_home(), _routine_ctx(now))
        assert s is not None, now
    for now in (DEPARTURE - before - 1, DEPARTURE + after + 1, DEPARTURE - 3 * 3600):
        assert routine_destination(_at_home(), _routine_ctx(now)) is None, now
    saturday = DEPARTURE + 5 * 86400
    assert routine_destination(_at_home(), _routine_ctx(saturday - 600)) is None


def test_usual_destination_text_and_action() -> None:
    s = routine_destination(_at_home(), _routine_ctx(DEPARTURE - 15 * 60))
    assert s is not None
    assert s.id == "routine_destination:work:weekdays"
    assert s.text == {
        "en": "Navigate to work? You usually leave at 08:10 on weekdays.",
        "zh": "要导航去公司吗？您工作日通常在 08:10 出发。",
        "nl": "Naar je werk navigeren? Je vertrekt op werkdagen meestal om 08:10.",
    }
    in_every_language(
        s,
        text={},
        reason={
            "en": "Driven from home to work around 08:10 on weekdays on 20 days in the last 4 "
            "weeks; it is 07:55 now.",
            "zh": "过去 4 周内有 20 天在工作日 08:10 左右从家前往公司；现在是 07:55。",
            "nl": "op 20 dagen op werkdagen rond 08:10 van huis naar werk gereden",
        },
    )
    paths = [a.path for a in s.actions]
    assert paths == [DEST_LATITUDE, DEST_LONGITUDE]
    assert abs(float(s.actions[0].value) - WORK.latitude) < 0.001  # type: ignore[arg-type]


def test_usual_destination_not_away_from_its_origin_or_when_already_set() -> None:
    ctx = _routine_ctx(DEPARTURE - 600)
    at_work = Snapshot.of({LATITUDE: WORK.latitude, LONGITUDE: WORK.longitude})
    assert routine_destination(at_work, ctx) is None
    going = _at_home(**{DEST_LATITUDE: WORK.latitude, DEST_LONGITUDE: WORK.longitude})
    assert routine_destination(going, ctx) is None


def test_precondition_cold_cabin_before_departure_when_plugged_in() -> None:
    cold = _at_home(**{CABIN_TEMPERATURE: 9.9, CABLE_CONNECTED: True, SOC: 20.0})
    assert precondition_cabin(cold, _routine_ctx(DEPARTURE - PRECONDITION_BEFORE_S - 1)) is None
    assert precondition_cabin(cold, _routine_ctx(DEPARTURE + 1)) is None
    s = precondition_cabin(cold, _routine_ctx(DEPARTURE - PRECONDITION_BEFORE_S))
    assert s is not None and precondition_cabin(cold, _routine_ctx(DEPARTURE)) is not None
    in_every_language(
        s,
        text={
            "en": "It is 10 °C in the car and you usually leave at 08:10. Warm up the cabin?",
            "zh": "要预热座舱吗",
            "nl": "voorverwarmen",
        },
        reason={
            "en": "Cabin 10 °C, below 10 °C; usual departure 08:10 on weekdays; plugged in.",
            "zh": "低于 10 °C",
            "nl": "aan de lader",
        },
    )
    assert Action("Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature", 21.0) in s.actions
    assert Action("Vehicle.Cabin.HVAC.IsFrontDefrosterActive", True) in s.actions
    not_cold = _at_home(**{CABIN_TEMPERATURE: 10.0, CABLE_CONNECTED: True})
    assert precondition_cabin(not_cold, _routine_ctx(DEPARTURE - 600)) is None


def test_precondition_hot_cabin_on_battery_needs_a_comfortable_charge() -> None:
    ctx = _routine_ctx(DEPARTURE - 600)
    hot = {CABIN_TEMPERATURE: 30.1, CABLE_CONNECTED: False}
    assert precondition_cabin(_at_home(**{**hot, CABIN_TEMPERATURE: 30.0}), ctx) is None
    assert precondition_cabin(_at_home(**{**hot, SOC: 49.9}), ctx) is None
    s = precondition_cabin(_at_home(**{**hot, SOC: 50.0}), ctx)
    assert s is not None
    assert Action("Vehicle.Cabin.HVAC.IsAirConditioningActive", True) in s.actions
    in_every_language(
        s,
        text={"en": "Cool down the cabin?", "zh": "预冷", "nl": "voorkoelen"},
        reason={"en": "above 30 °C", "zh": "电量 50 %", "nl": "accu 50 % (minstens 50 %)"},
    )
    running = _at_home(**{**hot, SOC: 80.0, DRIVER_FAN: 40})
    assert precondition_cabin(running, ctx) is None


# --- safety ------------------------------------------------------------------------------------


def test_safety_blocks_hard_braking_lane_changes_hazards_and_speech() -> None:
    assert is_safe_to_interrupt(Snapshot.of({ACCEL_LONGITUDINAL: -3.5, SPEED: 80.0}))
    assert interruption_blockers(Snapshot.of({ACCEL_LONGITUDINAL: -3.6})) == (
        "hard braking (-3.6 m/s²)",
    )
    assert not is_safe_to_interrupt(Snapshot.of({SPEED: 60.0, INDICATOR_LEFT: True}))
    assert is_safe_to_interrupt(Snapshot.of({SPEED: 59.0, INDICATOR_LEFT: True}))
    assert not is_safe_to_interrupt(Snapshot.of({HAZARD: True}))
    assert not is_safe_to_interrupt(Snapshot.of({}), speaking=True)
    abs_at_rest = {"Vehicle.ADAS.ABS.IsEngaged": True, SPEED: 0.0}
    assert is_safe_to_interrupt(Snapshot.of(abs_at_rest))
    assert not is_safe_to_interrupt(Snapshot.of({**abs_at_rest, SPEED: 40.0}))


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_engine_holds_suggestions_during_hard_braking(tmp_path: Path) -> None:
    clock = _Clock(T0)
    broker = Broker(default_catalog(), clock=clock)
    car = broker.client("test-car").provide(
        [SPEED, ACCEL_LONGITUDINAL, tyre_low("Row1.Wheel.Left")]
    )
    store = SuggestionStore(tmp_path / "s.sqlite3")
    engine = SuggestionEngine(broker.client("suggestions", "read"), store)
    car.publish_many({SPEED: 70.0, ACCEL_LONGITUDINAL: -6.5, tyre_low("Row1.Wheel.Left"): True})
    assert engine.evaluate() == []
    assert engine.evaluate(speaking=True) == []
    clock.t += 2
    car.publish_many({SPEED: 40.0, ACCEL_LONGITUDINAL: -0.3})
    engine.speaking = True
    assert engine.evaluate() == []
    engine.speaking = False
    assert [s.id for s in engine.evaluate()] == ["tyre_pressure_low"]


# --- engine: priority, cooldown, dismissal -----------------------------------------------------


def _low_tyre_car(epoch: float = T0) -> CarSession:
    session = CarSession.create(epoch=epoch)
    session.prime({tyre_pressure("Row2.Wheel.Left"): 170})
    session.advance(1)
    return session


def test_engine_orders_by_priority_and_respects_the_cooldown(tmp_path: Path) -> None:
    session = _low_tyre_car()
    session.prime({window_position(DRIVER): 50, **{door_locked(d): True for d in DOORS}})
    engine = SuggestionEngine(session.client, SuggestionStore(tmp_path / "s.sqlite3"))
    now = session.broker.clock()
    assert [s.id for s in engine.evaluate()] == ["tyre_pressure_low", "window_open_when_locking"]
    assert engine.evaluate(now + COOLDOWN_S - 1) == []
    assert len(engine.evaluate(now + COOLDOWN_S)) == 2
    engine.dismiss("tyre_pressure_low", forever=False, now=now + COOLDOWN_S + 10)
    later = engine.evaluate(now + 2 * COOLDOWN_S + 5)
    assert [s.id for s in later] == ["window_open_when_locking"]


def test_dismissal_persists_across_engines_on_the_same_store(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    session = _low_tyre_car()
    with SuggestionStore(path) as store:
        engine = SuggestionEngine(session.client, store)
        assert [s.kind for s in engine.evaluate()] == [Kind.TYRE_PRESSURE_LOW]
        engine.dismiss(Kind.TYRE_PRESSURE_LOW.value)
    later = _low_tyre_car(epoch=T0 + 86400)
    with SuggestionStore(path) as store:
        engine = SuggestionEngine(later.client, store)
        assert engine.candidates() != []
        assert engine.evaluate() == []
        assert set(store.dismissed()) == {"tyre_pressure_low"}
        assert store.restore("tyre_pressure_low")
        assert [s.kind for s in engine.evaluate()] == [Kind.TYRE_PRESSURE_LOW]


def test_dismissing_an_unknown_suggestion_is_an_error_and_changes_nothing(tmp_path: Path) -> None:
    session = _low_tyre_car()
    store = SuggestionStore(tmp_path / "s.sqlite3")
    engine = SuggestionEngine(session.client, store)
    with pytest.raises(SuggestionError, match=r"unknown suggestion 'tyres'.*tyre_pressure_low"):
        engine.dismiss("tyres")
    assert store.dismissed() == {}
    assert len(engine.evaluate()) == 1


def test_a_failing_rule_is_skipped_and_bad_settings_are_refused(tmp_path: Path) -> None:
    session = _low_tyre_car()
    store = SuggestionStore(tmp_path / "s.sqlite3")

    def broken(s: Snapshot, ctx: RuleContext) -> Suggestion | None:
        raise RuntimeError("bug in a rule")

    engine = SuggestionEngine(session.client, store, rules=(broken, tyre_pressure_low))
    assert [s.id for s in engine.evaluate()] == ["tyre_pressure_low"]
    with pytest.raises(SuggestionError, match="interval_s must be > 0"):
        SuggestionEngine(session.client, store, interval_s=0)


def test_engine_offers_routine_and_preconditioning_on_a_simulated_car(tmp_path: Path) -> None:
    store = SuggestionStore(tmp_path / "s.sqlite3")
    for trip in commute_history():
        store.add_trip(trip)
    early = CarSession.create(epoch=DEPARTURE - 45 * 60)  # parked at home, 07:25
    assert SuggestionEngine(early.client, store, tz=UTC).evaluate() == []
    session = CarSession.create(epoch=DEPARTURE - 15 * 60)  # 07:55
    session.prime({CABIN_TEMPERATURE: 4.0})
    session.advance(1)
    offers = SuggestionEngine(session.client, store, tz=UTC).evaluate()
    assert [s.kind for s in offers] == [Kind.PRECONDITION_CABIN, Kind.ROUTINE_DESTINATION]
    assert offers[1].text["en"] == "Navigate to work? You usually leave at 08:10 on weekdays."


async def test_run_calls_back_with_new_suggestions_in_simulated_time(tmp_path: Path) -> None:
    session = CarSession.create(epoch=T0)
    calls: list[list[Suggestion]] = []

    async def sim_sleep(seconds: float) -> None:
        session.advance(seconds)
        await asyncio.sleep(0)

    engine = SuggestionEngine(session.client, SuggestionStore(":memory:"), sleep=sim_sleep)

    def callback(offers: list[Suggestion]) -> None:
        calls.append(offers)
        engine.stop()

    # parked with the doors unlocked: the reminder comes once the car has stood for 5 min
    await asyncio.wait_for(engine.run(callback), timeout=5)
    assert [[s.kind for s in c] for c in calls] == [[Kind.DOORS_UNLOCKED_PARKED]]
    waited = session.broker.clock() - T0
    assert UNLOCKED_PARKED_S <= waited <= UNLOCKED_PARKED_S + 5


# --- end to end --------------------------------------------------------------------------------


async def _drive(session: CarSession, seconds: int) -> None:
    for _ in range(seconds):
        session.advance(1)
        await asyncio.sleep(0)


async def test_end_to_end_drive_park_and_lock_with_a_window_open(tmp_path: Path) -> None:
    session = CarSession.create(epoch=T0)
    car = session.client
    store = SuggestionStore(tmp_path / "s.sqlite3")
    engine = SuggestionEngine(car, store)
    engine.trip_log.start()

    car.actuate("Vehicle.Carmind.Simulation.TargetSpeed", 50.0)
    await _drive(session, 120)
    car.actuate("Vehicle.Carmind.Simulation.TargetSpeed", 0.0)
    await _drive(session, 30)
    assert car.value(IS_MOVING) is False and car.value(door_locked(DRIVER)) is True
    car.actuate(window_position(DRIVER), 40)
    await _drive(session, 5)
    # locked since driving off (drive-away locking): the driver is still inside
    assert engine.candidates() == []
    assert engine.evaluate() == []

    car.actuate_many({door_locked(d): True for d in DOORS})
    await _drive(session, 2)
    (offer,) = engine.evaluate()
    assert offer.kind is Kind.WINDOW_OPEN_WHEN_LOCKING
    in_every_language(
        offer,
        text={
            "en": "driver's window is still open",
            "zh": "主驾车窗还开着",
            "nl": "bestuurdersraam",
        },
        reason={
            "en": "Lock requested after parking; still open: driver's window 40 %.",
            "zh": "仍开着：主驾车窗 40 %",
            "nl": "nog open: bestuurdersraam 40 %",
        },
    )
    assert offer.actions == (Action(window_position(DRIVER), 0),)
    assert offer.requests == ()

    await _drive(session, 200)
    engine.evaluate()
    (trip,) = store.trips()
    assert trip.start == Position(60.1699, 24.9384)
    assert 1.5 < trip.distance_km < 1.8
    assert trip.end.latitude > trip.start.latitude  # the car heads north
    engine.trip_log.stop(session.broker.clock())


def test_suggestions_serialise_for_the_cockpit() -> None:
    s = tyre_pressure_low(Snapshot.of({tyre_pressure("Row1.Wheel.Left"): 150}), CTX)
    assert s is not None
    data = s.as_dict()
    assert data["kind"] == "tyre_pressure_low" and set(data["reason"]) == set(LANGUAGES)
    request = Request("navigation", "add_charging_stop", {"range_km": 10.0})
    assert request.as_dict()["action"] == "add_charging_stop"
