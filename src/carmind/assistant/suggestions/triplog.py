"""The trip log: drives recorded from the hub, the history routines are learned from.

`TripLog` follows `Vehicle.IsMoving` (or `Vehicle.Speed` where IsMoving is not published), the
location and the odometer. A trip starts when the car moves and ends when it has stood still for
`TRIP_END_STOP_S`; shorter stops (traffic lights, a queue) belong to the trip. Trips shorter than
`MIN_TRIP_KM` (moving the car in a driveway) are not kept. Finished trips go to the store.

`feed()` and `tick()` are the whole state machine and need no event loop; `start()` subscribes to
the hub and feeds every batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from carmind.assistant.suggestions.geo import great_circle_km
from carmind.assistant.suggestions.model import Position, SuggestionError, Trip
from carmind.assistant.suggestions.snapshot import (
    IS_MOVING,
    LATITUDE,
    LONGITUDE,
    ODOMETER,
    SPEED,
    STANDSTILL_KMH,
)
from carmind.assistant.suggestions.store import SuggestionStore
from carmind.signals.broker import Client, Datapoint, Subscription

log = logging.getLogger(__name__)

TRIP_END_STOP_S: Final = 180.0
"""A stop longer than this (s) ends a trip: traffic lights cycle in 1-2 min, so a three-minute
stop is a destination (a quick errand then starts a new trip, which is what it is)."""

MIN_TRIP_KM: Final = 0.3
"""Movements shorter than this (km) are manoeuvres, not trips: out of the garage, across the car
park."""

TRIP_SIGNALS: Final = (IS_MOVING, SPEED, LATITUDE, LONGITUDE, ODOMETER)


@dataclass(frozen=True, slots=True)
class _Mark:
    """Where and when the car was at a trip's start or at its latest stop."""

    time: float
    position: Position | None
    odometer_km: float | None


class TripLog:
    """Records trips from the hub's signals into `store`."""

    def __init__(
        self,
        client: Client,
        store: SuggestionStore,
        *,
        stop_gap_s: float = TRIP_END_STOP_S,
        min_distance_km: float = MIN_TRIP_KM,
    ) -> None:
        if stop_gap_s <= 0:
            raise SuggestionError(f"stop_gap_s must be > 0 s, got {stop_gap_s!r}")
        if min_distance_km < 0:
            raise SuggestionError(f"min_distance_km must be >= 0 km, got {min_distance_km!r}")
        self.client = client
        self.store = store
        self.stop_gap_s = stop_gap_s
        self.min_distance_km = min_distance_km
        self._subscription: Subscription | None = None
        self._moving: bool | None = None
        self._has_is_moving = False
        self._latitude: float | None = None
        self._longitude: float | None = None
        self._odometer: float | None = None
        self._start: _Mark | None = None
        self._stop: _Mark | None = None

    @property
    def in_trip(self) -> bool:
        """A trip has started and not ended (the car may be stopped at a light)."""
        return self._start is not None

    def start(self) -> None:
        """Subscribe to the hub (needs a running event loop); idempotent."""
        if self._subscription is None or self._subscription.closed:
            catalog = self.client.broker.catalog
            paths = [p for p in TRIP_SIGNALS if p in catalog]
            self._subscription = self.client.subscribe(paths, callback=self._on_batch)

    def stop(self, now: float) -> Trip | None:
        """Unsubscribe and end the trip under way (at its last stop, or now while moving)."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._start is None:
            return None
        end = self._stop or self._mark(now)
        return self._finish(end)

    def _on_batch(self, batch: dict[str, Datapoint]) -> None:
        self.feed(batch)

    # --- the state machine --------------------------------------------------------------------

    def feed(self, batch: Mapping[str, Datapoint]) -> Trip | None:
        """Take a batch of datapoints; returns the trip this batch ended, if any."""
        if IS_MOVING in batch:
            self._has_is_moving = True
        moving_dp = batch.get(IS_MOVING) if self._has_is_moving else batch.get(SPEED)
        moving: bool | None = None
        if moving_dp is not None:
            value = moving_dp.value
            if isinstance(value, bool):
                moving = value
            elif isinstance(value, int | float):
                moving = abs(value) >= STANDSTILL_KMH
        finished: Trip | None = None
        if moving is True and self._moving is not True:
            assert moving_dp is not None
            finished = self._started(moving_dp.timestamp, batch)
        self._update(batch)
        if moving is False and self._moving is True:
            assert moving_dp is not None
            self._stop = self._mark(moving_dp.timestamp)
        elif moving is not True and self._stop is not None and self._moving is False:
            self._stop = self._mark(self._stop.time)  # a late position fix while stopped
        if moving is not None:
            self._moving = moving
        return finished

    def tick(self, now: float) -> Trip | None:
        """End the trip when the car has stood still for `stop_gap_s`; returns it if kept."""
        stop = self._stop
        if self._start is not None and stop is not None and now - stop.time >= self.stop_gap_s:
            return self._finish(stop)
        return None

    def _started(self, at: float, batch: Mapping[str, Datapoint]) -> Trip | None:
        finished = None
        if self._stop is not None and at - self._stop.time >= self.stop_gap_s:
            finished = self._finish(self._stop)  # the stop that ended the last trip was long
        if self._start is None:
            if self._latitude is None or self._longitude is None:
                self._update(batch)  # nothing known before: the first fix will do
            self._start = self._mark(at)
        self._stop = None
        return finished

    def _update(self, batch: Mapping[str, Datapoint]) -> None:
        latitude, longitude = _number(batch.get(LATITUDE)), _number(batch.get(LONGITUDE))
        odometer = _number(batch.get(ODOMETER))
        if latitude is not None:
            self._latitude = latitude
        if longitude is not None:
            self._longitude = longitude
        if odometer is not None:
            self._odometer = odometer

    def _mark(self, at: float) -> _Mark:
        position = None
        if self._latitude is not None and self._longitude is not None:
            try:
                position = Position(self._latitude, self._longitude)
            except SuggestionError:
                position = None
        return _Mark(at, position, self._odometer)

    def _finish(self, end: _Mark) -> Trip | None:
        start, self._start, self._stop = self._start, None, None
        assert start is not None
        if start.position is None or end.position is None:
            log.info("trip from %.0f to %.0f not logged: no location", start.time, end.time)
            return None
        if start.odometer_km is not None and end.odometer_km is not None:
            distance = max(0.0, end.odometer_km - start.odometer_km)
        else:
            distance = great_circle_km(start.position, end.position)
        if distance < self.min_distance_km:
            log.debug("movement of %.2f km not logged as a trip", distance)
            return None
        trip = Trip(start.time, max(end.time, start.time), start.position, end.position, distance)
        self.store.add_trip(trip)
        log.info("trip logged: %.1f km in %.0f s", distance, trip.end_time - trip.start_time)
        return trip


def _number(datapoint: Datapoint | None) -> float | None:
    if datapoint is None or isinstance(datapoint.value, bool):
        return None
    return float(datapoint.value) if isinstance(datapoint.value, int | float) else None
