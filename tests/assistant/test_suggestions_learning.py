"""Learned routines, the trip log and the suggestions store.

Routines are learned from synthetic trip histories (a weekday commute, a weekly habit, irregular
driving), all in UTC so that times of day do not depend on the machine's time zone. The trip log
is fed datapoints as the hub would deliver them; the store is a real SQLite file under tmp_path.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from carmind.assistant.suggestions import (
    PlaceLabel,
    Position,
    StoreError,
    SuggestionError,
    SuggestionStore,
    Trip,
    TripLog,
    default_data_dir,
    learn_routines,
)
from carmind.assistant.suggestions.routines import MIN_SUPPORT, cluster_places
from carmind.assistant.suggestions.store import STORE_FILE
from carmind.assistant.suggestions.triplog import TRIP_END_STOP_S
from carmind.assistant.suggestions.words import WEEKDAYS
from carmind.signals.broker import Broker, Datapoint
from carmind.signals.catalog import default_catalog

MONDAY = datetime(2024, 3, 4, tzinfo=UTC)
"""Monday, 4 March 2024, 00:00 UTC: week 0 of every synthetic history."""

HOME = Position(60.1699, 24.9384)
"""Where the simulated car starts (central Helsinki), so end-to-end tests can use these trips."""
WORK = Position(60.2149, 24.9384)
"""About 5 km north of home."""
GYM = Position(60.1599, 24.8784)

COMMUTE_JITTER_MIN = (-6, -3, 0, 3, 6)
"""Departure offsets Monday to Friday: scattered, with the median exactly on the usual time."""


def at(day: int, minute: int) -> float:
    """Unix seconds of `minute` after midnight on day `day` of the history (0 = a Monday)."""
    return (MONDAY + timedelta(days=day, minutes=minute)).timestamp()


def nudge(p: Position, rng: random.Random, metres: float = 40.0) -> Position:
    """`p` moved by up to `metres` (parking in a different spot)."""
    d = metres / 111_000.0
    return Position(p.latitude + rng.uniform(-d, d), p.longitude + rng.uniform(-d, d))


def drive(start: float, minutes: float, a: Position, b: Position, km: float = 6.0) -> Trip:
    return Trip(start, start + minutes * 60.0, a, b, km)


def commute_history(weeks: int = 4, first_day: int = 0) -> list[Trip]:
    """Home to work at 08:10 and back at 17:30 on every weekday of `weeks` weeks."""
    rng = random.Random(7)
    trips: list[Trip] = []
    for week in range(weeks):
        for weekday in range(5):
            day = first_day + week * 7 + weekday
            leave = 8 * 60 + 10 + COMMUTE_JITTER_MIN[weekday]
            back = 17 * 60 + 30 + COMMUTE_JITTER_MIN[(weekday + 2) % 5]
            trips.append(drive(at(day, leave), 20, nudge(HOME, rng), nudge(WORK, rng)))
            trips.append(drive(at(day, back), 25, nudge(WORK, rng), nudge(HOME, rng)))
    return trips


# --- routines ----------------------------------------------------------------------------------


def test_weekday_commute_is_learned_with_home_and_work() -> None:
    routines = learn_routines(commute_history(), now=at(28, 7 * 60), tz=UTC)
    by_label = {(r.origin.label, r.destination.label): r for r in routines}
    assert set(by_label) == {
        (PlaceLabel.HOME, PlaceLabel.WORK),
        (PlaceLabel.WORK, PlaceLabel.HOME),
    }
    to_work = by_label[(PlaceLabel.HOME, PlaceLabel.WORK)]
    assert to_work.days == WEEKDAYS
    assert to_work.departure_minute == 8 * 60 + 10
    assert to_work.support == 20
    assert to_work.days_key == "weekdays"
    home = to_work.origin.position
    assert abs(home.latitude - HOME.latitude) < 0.001
    assert by_label[(PlaceLabel.WORK, PlaceLabel.HOME)].departure_minute == 17 * 60 + 30


def test_irregular_trips_give_no_routine() -> None:
    rng = random.Random(11)
    trips = []
    for day in range(28):
        start = Position(60.17 + rng.uniform(-0.2, 0.2), 24.94 + rng.uniform(-0.2, 0.2))
        end = Position(60.17 + rng.uniform(-0.2, 0.2), 24.94 + rng.uniform(-0.2, 0.2))
        trips.append(drive(at(day, rng.randint(6 * 60, 22 * 60)), 30, start, end))
    assert learn_routines(trips, tz=UTC) == []


def test_same_trip_at_scattered_times_is_no_routine() -> None:
    # home -> gym on six days, but never twice within half an hour of the same time of day
    minutes = [7 * 60, 9 * 60 + 30, 12 * 60, 14 * 60 + 30, 17 * 60, 19 * 60 + 30]
    trips = [drive(at(day, m), 15, HOME, GYM) for day, m in enumerate(minutes)]
    assert learn_routines(trips, tz=UTC) == []


def test_minimum_support_and_a_weekly_habit_keeps_its_day() -> None:
    tuesdays = [drive(at(1 + 7 * week, 19 * 60), 15, HOME, GYM) for week in range(4)]
    assert learn_routines(tuesdays[: MIN_SUPPORT - 1], tz=UTC) == []
    (gym,) = learn_routines(tuesdays[:MIN_SUPPORT], tz=UTC)
    assert gym.days == frozenset({1})
    assert gym.days_key == "tue"
    assert gym.support == MIN_SUPPORT
    assert gym.departure_minute == 19 * 60


def test_two_trips_on_one_day_count_as_one_day_of_support() -> None:
    trips = [drive(at(1, 19 * 60 + m), 15, HOME, GYM) for m in (0, 10)]
    trips.append(drive(at(8, 19 * 60), 15, HOME, GYM))
    assert learn_routines(trips, tz=UTC) == []


def test_old_habits_fall_out_of_the_lookback_window() -> None:
    old = commute_history(weeks=2)
    assert learn_routines(old, now=at(14, 0), tz=UTC) != []
    assert learn_routines(old, now=at(14 + 5 * 7, 0), tz=UTC) == []


def test_places_cluster_within_their_radius() -> None:
    near = Position(HOME.latitude + 0.001, HOME.longitude)  # about 110 m
    far = Position(HOME.latitude + 0.004, HOME.longitude)  # about 450 m
    assert len(cluster_places([HOME, near])) == 1
    assert len(cluster_places([HOME, far])) == 2


# --- trip log ----------------------------------------------------------------------------------

T0 = 1_700_000_000.0


def batch(
    t: float, *, moving: bool | None = None, lat: float | None = None, odo: float | None = None
) -> dict[str, Datapoint]:
    out: dict[str, Datapoint] = {}
    if moving is not None:
        out["Vehicle.IsMoving"] = Datapoint(moving, t)
    if lat is not None:
        out["Vehicle.CurrentLocation.Latitude"] = Datapoint(lat, t)
        out["Vehicle.CurrentLocation.Longitude"] = Datapoint(24.9384, t)
    if odo is not None:
        out["Vehicle.TraveledDistance"] = Datapoint(odo, t)
    return out


@pytest.fixture
def log(tmp_path: Path) -> TripLog:
    broker = Broker(default_catalog())
    return TripLog(broker.client("suggestions"), SuggestionStore(tmp_path / "s.sqlite3"))


def test_trip_log_records_a_trip_and_rides_through_short_stops(log: TripLog) -> None:
    log.feed(batch(T0, moving=False, lat=60.1699, odo=100.0))
    log.feed(batch(T0 + 10, moving=True))
    log.feed(batch(T0 + 300, lat=60.19, odo=103.0))
    log.feed(batch(T0 + 310, moving=False))  # a red light
    assert log.tick(T0 + 310 + TRIP_END_STOP_S - 1) is None
    log.feed(batch(T0 + 400, moving=True))
    log.feed(batch(T0 + 700, moving=False, lat=60.2149, odo=106.5))
    assert log.in_trip
    assert log.tick(T0 + 700 + TRIP_END_STOP_S - 1) is None
    trip = log.tick(T0 + 700 + TRIP_END_STOP_S)
    assert trip is not None and not log.in_trip
    assert (trip.start_time, trip.end_time) == (T0 + 10, T0 + 700)
    assert trip.start == Position(60.1699, 24.9384)
    assert trip.end == Position(60.2149, 24.9384)
    assert trip.distance_km == pytest.approx(6.5)
    assert log.store.trips() == [trip]


def test_trip_log_splits_at_a_long_stop_even_without_a_tick(log: TripLog) -> None:
    log.feed(batch(T0, moving=False, lat=60.1699, odo=0.0))
    log.feed(batch(T0 + 1, moving=True))
    log.feed(batch(T0 + 600, moving=False, lat=60.2149, odo=5.0))
    ended = log.feed(batch(T0 + 600 + TRIP_END_STOP_S + 60, moving=True))
    assert ended is not None and ended.end_time == T0 + 600
    log.feed(batch(T0 + 2000, moving=False, lat=60.1699, odo=10.0))
    back = log.stop(T0 + 2001)
    assert back is not None and back.start == ended.end and back.distance_km == pytest.approx(5.0)
    assert len(log.store.trips()) == 2


def test_trip_log_ignores_manoeuvres_and_falls_back_to_speed(log: TripLog) -> None:
    speed = "Vehicle.Speed"
    log.feed({speed: Datapoint(0.0, T0), **batch(T0, lat=60.1699, odo=0.0)})
    log.feed({speed: Datapoint(8.0, T0 + 1)})
    log.feed({speed: Datapoint(0.0, T0 + 30), **batch(T0 + 30, lat=60.1700, odo=0.1)})
    assert log.tick(T0 + 30 + TRIP_END_STOP_S) is None  # 100 m across the car park
    log.feed({speed: Datapoint(30.0, T0 + 1000)})
    log.feed({speed: Datapoint(0.2, T0 + 1500), **batch(T0 + 1500, lat=60.1800, odo=2.0)})
    trip = log.tick(T0 + 1500 + TRIP_END_STOP_S)
    assert trip is not None and trip.distance_km == pytest.approx(1.9)


def test_trip_log_rejects_bad_settings(log: TripLog) -> None:
    with pytest.raises(SuggestionError, match="stop_gap_s"):
        TripLog(log.client, log.store, stop_gap_s=0)


# --- store -------------------------------------------------------------------------------------


def test_default_data_dir_follows_the_environment(tmp_path: Path) -> None:
    assert default_data_dir({"CARMIND_DATA_DIR": str(tmp_path)}) == tmp_path
    xdg = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    assert default_data_dir(xdg) == tmp_path / "xdg" / "carmind"
    assert default_data_dir({"HOME": str(tmp_path)}) == tmp_path / ".local/share/carmind"


def test_store_opens_under_carmind_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARMIND_DATA_DIR", str(tmp_path / "data"))
    with SuggestionStore() as store:
        store.add_trip(drive(T0, 10, HOME, WORK))
    assert (tmp_path / "data" / STORE_FILE).is_file()
    with SuggestionStore(tmp_path / "data" / STORE_FILE) as again:
        assert again.trip_count() == 1


def test_store_keeps_coordinates_coarse_and_can_forget(tmp_path: Path) -> None:
    with SuggestionStore(tmp_path / "s.sqlite3") as store:
        store.add_trip(drive(T0, 10, Position(60.123456789, 24.987654321), WORK))
        store.add_trip(drive(T0 + 86400, 10, WORK, HOME))
        first = store.trips()[0]
        assert first.start == Position(60.1235, 24.9877)
        assert store.forget_trips(before=T0 + 1) == 1
        assert store.trips() == [drive(T0 + 86400, 10, WORK, HOME)]
        assert store.forget_trips() == 1 and store.trip_count() == 0


def test_store_refuses_what_is_not_a_store(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"shopping list: milk, eggs, bread, and more than a hundred bytes " * 4)
    before = junk.read_bytes()
    with pytest.raises(StoreError, match=r"notes\.txt is not a carmind suggestions store"):
        SuggestionStore(junk)
    assert junk.read_bytes() == before
    with pytest.raises(StoreError, match="is a directory"):
        SuggestionStore(tmp_path)


def test_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer carmind"):
        SuggestionStore(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: drive(T0, -1, HOME, WORK), "ends .* before it starts"),
        (lambda: Trip(T0, T0 + 1, HOME, WORK, -2.0), "distance -2.0 km"),
        (lambda: Position(91.0, 0.0), "latitude 91.0"),
        (lambda: Position(0.0, float("nan")), "longitude nan"),
    ],
)
def test_bad_trips_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(SuggestionError, match=message):
        make()
