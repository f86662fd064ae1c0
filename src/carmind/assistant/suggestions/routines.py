"""Learned routines: habits recognised in the trip log, such as the weekday drive to work.

`learn_routines(trips)` is pure: it clusters trip ends into places, groups trips by origin,
destination and kind of day, and keeps the departure times that recur on enough distinct days
within the look-back window. Places get a label where the history shows what they are (home: where
the day's driving starts and ends; work: where the car stays for a working day on weekdays).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from enum import StrEnum
from itertools import pairwise
from typing import Final

from carmind.assistant.suggestions.geo import great_circle_km
from carmind.assistant.suggestions.model import Position, Trip
from carmind.assistant.suggestions.words import WEEKDAYS, WEEKEND

PLACE_RADIUS_M: Final = 250.0
"""Trip ends within this distance of a place's centre belong to that place (m): a car park or a
street block, where the car stands on different days; GNSS noise (5-20 m) is far below it."""

LOOKBACK_WEEKS: Final = 4
"""Routines are learned from the trips of the last four weeks: long enough to see a weekly habit
three or four times, short enough to forget a job or a gym left behind."""

MIN_SUPPORT: Final = 3
"""A habit needs this many distinct days with the trip near the usual time: two could be chance,
three in four weeks is a pattern (and the least that makes a median meaningful)."""

DEPARTURE_TOLERANCE_MIN: Final = 30
"""A departure within this many minutes of the usual time counts as the habit (min): people leave
for work within a quarter of an hour or so either way; wider would merge morning and noon."""

DAY_SPREAD_FOR_GROUP: Final = 3
"""A habit seen on at least this many different weekdays is a weekday habit (Mon-Fri); seen on
fewer it belongs to those days only (the Tuesday and Thursday gym)."""

HOME_MIN_DAYS: Final = 3
"""Home is where the day's driving starts or ends on at least this many days."""

WORK_DWELL_H: Final = 4.0
"""A stay of at least this long (h) on a weekday, on `MIN_SUPPORT` days, marks a place as work:
longer than shopping or a visit, shorter than half a working day."""


class PlaceLabel(StrEnum):
    HOME = "home"
    WORK = "work"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Place:
    """A cluster of trip ends: its centre and, where the history shows it, what it is."""

    position: Position
    label: PlaceLabel = PlaceLabel.OTHER

    @property
    def key(self) -> str:
        """A stable name for ids: the label, or the centre rounded to about 100 m."""
        if self.label is not PlaceLabel.OTHER:
            return self.label.value
        return f"{self.position.latitude:.3f},{self.position.longitude:.3f}"


@dataclass(frozen=True, slots=True)
class Routine:
    """A habit: from `origin` to `destination` on `days`, usually leaving at `departure_minute`."""

    origin: Place
    destination: Place
    days: frozenset[int]
    """Weekdays it happens on, Monday = 0."""
    departure_minute: int
    """Usual departure, minutes after local midnight (the median of the occurrences)."""
    support: int
    """Distinct days it was seen on within the look-back window."""
    last_seen: float

    @property
    def days_key(self) -> str:
        if self.days == WEEKDAYS:
            return "weekdays"
        if self.days == WEEKEND:
            return "weekend"
        return "+".join(
            ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in sorted(self.days)
        )

    def departure_on(self, day: date, tz: tzinfo | None) -> float | None:
        """The usual departure on `day` (Unix seconds), or None when the routine skips that day."""
        if day.weekday() not in self.days:
            return None
        at = time(self.departure_minute // 60, self.departure_minute % 60)
        return to_timestamp(datetime.combine(day, at), tz)


def local_time(timestamp: float, tz: tzinfo | None) -> datetime:
    """`timestamp` as an aware local time in `tz` (None: the system's time zone)."""
    if tz is None:
        return datetime.fromtimestamp(timestamp).astimezone()
    return datetime.fromtimestamp(timestamp, tz)


def to_timestamp(naive_local: datetime, tz: tzinfo | None) -> float:
    """Unix seconds of a wall-clock time in `tz` (None: the system's time zone)."""
    if tz is None:
        return naive_local.astimezone().timestamp()
    return naive_local.replace(tzinfo=tz).timestamp()


def minute_of_day(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


# --- Places -----------------------------------------------------------------------------------


def cluster_places(points: Iterable[Position], radius_m: float = PLACE_RADIUS_M) -> list[Position]:
    """Leader clustering: each point joins the nearest centre within `radius_m`, else starts one.

    Centres are running means of their members. Deterministic for a given order of points.
    """
    centres: list[Position] = []
    members: list[int] = []
    for point in points:
        best, best_km = -1, radius_m / 1000.0
        for i, centre in enumerate(centres):
            d = great_circle_km(point, centre)
            if d <= best_km:
                best, best_km = i, d
        if best < 0:
            centres.append(point)
            members.append(1)
            continue
        n = members[best] + 1
        c = centres[best]
        centres[best] = Position(
            c.latitude + (point.latitude - c.latitude) / n,
            c.longitude + (point.longitude - c.longitude) / n,
        )
        members[best] = n
    return centres


def _nearest(point: Position, centres: Sequence[Position]) -> int:
    return min(range(len(centres)), key=lambda i: great_circle_km(point, centres[i]))


# --- Learning ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Occurrence:
    trip: Trip
    local: datetime


def learn_routines(
    trips: Iterable[Trip], *, now: float | None = None, tz: tzinfo | None = None
) -> list[Routine]:
    """The routines in a trip history, most supported first.

    Only trips that started within `LOOKBACK_WEEKS` before `now` (default: the end of the latest
    trip) count. `tz` is the time zone departure times are read in (None: the system's).
    """
    history = sorted(trips, key=lambda t: t.start_time)
    if not history:
        return []
    end = max(t.end_time for t in history) if now is None else now
    recent = [t for t in history if end - LOOKBACK_WEEKS * 7 * 86400.0 <= t.start_time <= end]
    if not recent:
        return []
    centres = cluster_places(p for t in recent for p in (t.start, t.end))
    ends = [(_nearest(t.start, centres), _nearest(t.end, centres)) for t in recent]
    labels = _label_places(recent, ends, centres, tz)
    places = [Place(c, labels.get(i, PlaceLabel.OTHER)) for i, c in enumerate(centres)]

    groups: dict[tuple[int, int, bool], list[_Occurrence]] = defaultdict(list)
    for trip, (o, d) in zip(recent, ends, strict=True):
        if o == d:
            continue  # a round trip says nothing about where the driver goes
        local = local_time(trip.start_time, tz)
        groups[(o, d, local.weekday() < 5)].append(_Occurrence(trip, local))

    routines: list[Routine] = []
    for (o, d, weekday), occurrences in groups.items():
        for habit in _recurring(occurrences):
            routines.append(_routine(places[o], places[d], weekday, habit))
    routines.sort(key=lambda r: (-r.support, r.departure_minute, r.destination.key))
    return routines


def _recurring(occurrences: list[_Occurrence]) -> list[list[_Occurrence]]:
    """Sets of occurrences around one time of day that recur on `MIN_SUPPORT` distinct days.

    Repeatedly takes the densest time of day (the occurrence with the most distinct days within
    `DEPARTURE_TOLERANCE_MIN`), recentres on the median of its neighbours, and keeps the set when
    it still has the support. Departures just before and after midnight are not joined.
    """
    remaining = sorted(occurrences, key=lambda o: minute_of_day(o.local))
    found: list[list[_Occurrence]] = []
    while len(remaining) >= MIN_SUPPORT:
        pool = remaining
        seed = max(pool, key=lambda o: _days(_around(pool, minute_of_day(o.local))))
        cluster = _around(pool, minute_of_day(seed.local))
        median = round(statistics.median(minute_of_day(o.local) for o in cluster))
        recentred = _around(pool, median)
        if _days(recentred) >= _days(cluster):
            cluster = recentred
        if _days(cluster) < MIN_SUPPORT:
            break
        found.append(cluster)
        taken = {id(o) for o in cluster}
        remaining = [o for o in pool if id(o) not in taken]
    return found


def _around(pool: list[_Occurrence], minute: int) -> list[_Occurrence]:
    return [o for o in pool if abs(minute_of_day(o.local) - minute) <= DEPARTURE_TOLERANCE_MIN]


def _days(occurrences: list[_Occurrence]) -> int:
    return len({o.local.date() for o in occurrences})


def _routine(origin: Place, destination: Place, weekday: bool, habit: list[_Occurrence]) -> Routine:
    seen_days = frozenset(o.local.weekday() for o in habit)
    group = WEEKDAYS if weekday else WEEKEND
    days = group if len(seen_days) >= min(DAY_SPREAD_FOR_GROUP, len(group)) else seen_days
    return Routine(
        origin=origin,
        destination=destination,
        days=days,
        departure_minute=round(statistics.median(minute_of_day(o.local) for o in habit)),
        support=len({o.local.date() for o in habit}),
        last_seen=max(o.trip.start_time for o in habit),
    )


def _label_places(
    trips: list[Trip], ends: list[tuple[int, int]], centres: list[Position], tz: tzinfo | None
) -> dict[int, PlaceLabel]:
    """Home: where most days' driving starts and ends; work: long weekday stays elsewhere."""
    by_day: dict[date, list[tuple[Trip, int, int]]] = defaultdict(list)
    for trip, (o, d) in zip(trips, ends, strict=True):
        by_day[local_time(trip.start_time, tz).date()].append((trip, o, d))
    home_days: Counter[int] = Counter()
    for day_trips in by_day.values():
        for place in {day_trips[0][1], day_trips[-1][2]}:
            home_days[place] += 1
    labels: dict[int, PlaceLabel] = {}
    home: int | None = None
    if home_days:
        place, days = max(home_days.items(), key=lambda item: (item[1], -item[0]))
        if days >= HOME_MIN_DAYS:
            home = place
            labels[place] = PlaceLabel.HOME
    work_days: Counter[int] = Counter()
    for day, day_trips in by_day.items():
        if day.weekday() >= 5:
            continue
        stayed: set[int] = set()
        for (arrival, _, place), (departure, leave_from, _) in pairwise(day_trips):
            dwell_h = (departure.start_time - arrival.end_time) / 3600.0
            if place == leave_from and place != home and dwell_h >= WORK_DWELL_H:
                stayed.add(place)
        work_days.update(stayed)
    if work_days:
        place, days = max(work_days.items(), key=lambda item: (item[1], -item[0]))
        if days >= MIN_SUPPORT:
            labels[place] = PlaceLabel.WORK
    return labels
