"""The suggestion engine: rules over the hub's signals, offered when safe, never nagging.

`evaluate(now)` reads a snapshot, runs every rule and returns what to offer now, highest priority
first: nothing while it is unsafe to interrupt the driver, nothing dismissed for good, and nothing
offered within the cooldown. `run(callback)` does that every few seconds and records trips.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import tzinfo
from typing import Final

from carmind.assistant.suggestions.geo import DistanceSource, estimated_road_distance
from carmind.assistant.suggestions.model import Suggestion, SuggestionError, kind_of
from carmind.assistant.suggestions.navigation_rules import NAVIGATION_RULES
from carmind.assistant.suggestions.routine_rules import ROUTINE_RULES
from carmind.assistant.suggestions.routines import LOOKBACK_WEEKS, Routine, learn_routines
from carmind.assistant.suggestions.rules import VEHICLE_RULES, Rule, RuleContext
from carmind.assistant.suggestions.safety import interruption_blockers
from carmind.assistant.suggestions.snapshot import (
    LOCK_TARGETS,
    RULE_SIGNALS,
    Snapshot,
    SnapshotReader,
)
from carmind.assistant.suggestions.store import SuggestionStore
from carmind.assistant.suggestions.triplog import TripLog
from carmind.signals.broker import Client

log = logging.getLogger(__name__)

DEFAULT_RULES: Final[tuple[Rule, ...]] = VEHICLE_RULES + NAVIGATION_RULES + ROUTINE_RULES

COOLDOWN_S: Final = 30 * 60.0
"""A suggestion offered (or dismissed for now) is not offered again for 30 min: once per drive or
errand, which reminds without nagging."""

EVALUATE_EVERY_S: Final = 5.0
"""How often `run` evaluates the rules (s): the rules watch minutes-long situations, and 5 s
keeps a suggestion timely at a negligible cost."""

ROUTINES_REFRESH_S: Final = 3600.0
"""Routines are relearned when a trip is logged, and at least this often (s)."""

type SuggestionCallback = Callable[[list[Suggestion]], Awaitable[None] | None]
type Sleep = Callable[[float], Awaitable[None]]


class SuggestionEngine:
    """Evaluates the rules against the hub and decides what to offer.

    `client` needs the `read` scope on the signals in `RULE_SIGNALS` (those the hub's catalog
    lacks are skipped). `clock` defaults to the hub's clock (simulated time with a simulated car);
    `distance` is the road-distance source; `tz` the time zone of routines (None: the system's).
    Set `speaking` while the assistant talks: nothing is offered then.
    """

    def __init__(
        self,
        client: Client,
        store: SuggestionStore,
        *,
        clock: Callable[[], float] | None = None,
        distance: DistanceSource = estimated_road_distance,
        tz: tzinfo | None = None,
        rules: Iterable[Rule] = DEFAULT_RULES,
        paths: Iterable[str] = RULE_SIGNALS,
        cooldown_s: float = COOLDOWN_S,
        interval_s: float = EVALUATE_EVERY_S,
        sleep: Sleep = asyncio.sleep,
        trip_log: TripLog | None = None,
    ) -> None:
        if cooldown_s < 0:
            raise SuggestionError(f"cooldown_s must be >= 0 s, got {cooldown_s!r}")
        if interval_s <= 0:
            raise SuggestionError(f"interval_s must be > 0 s, got {interval_s!r}")
        self.client = client
        self.store = store
        self.clock = clock or client.broker.clock
        self.distance = distance
        self.tz = tz
        self.rules = tuple(rules)
        self.cooldown_s = cooldown_s
        self.interval_s = interval_s
        self.speaking = False
        """True while the assistant speaks: nothing is offered then."""
        self.trip_log = trip_log or TripLog(client, store)
        self._sleep = sleep
        self._reader = SnapshotReader(client, paths, LOCK_TARGETS)
        self._routines: tuple[Routine, ...] = ()
        self._routines_key: tuple[int, int] | None = None
        self._running = False

    # --- what the rules see -------------------------------------------------------------------

    def routines(self, now: float) -> tuple[Routine, ...]:
        """The routines learned from the store's trips (cached until a trip is added)."""
        key = (self.store.trip_count(), int(now // ROUTINES_REFRESH_S))
        if key != self._routines_key:
            since = now - LOOKBACK_WEEKS * 7 * 86400.0
            trips = self.store.trips(since=since)
            self._routines = tuple(learn_routines(trips, now=now, tz=self.tz))
            self._routines_key = key
        return self._routines

    def snapshot(self, now: float) -> Snapshot:
        return self._reader.read(now)

    def context(self, now: float) -> RuleContext:
        return RuleContext(now, self.tz, self.routines(now), self.distance)

    def _run_rules(self, snapshot: Snapshot, now: float) -> list[Suggestion]:
        ctx = self.context(now)
        found: list[Suggestion] = []
        for rule in self.rules:
            try:
                suggestion = rule(snapshot, ctx)
            except Exception:
                log.exception("suggestion rule %s failed; skipped", getattr(rule, "__name__", rule))
                continue
            if suggestion is not None:
                found.append(suggestion)
        found.sort(key=lambda s: (-s.priority, s.id))
        return found

    # --- deciding -----------------------------------------------------------------------------

    def candidates(self, now: float | None = None) -> list[Suggestion]:
        """Every suggestion the rules make now, ignoring safety, cooldown and dismissal."""
        at = self.clock() if now is None else now
        return self._run_rules(self.snapshot(at), at)

    def evaluate(
        self, now: float | None = None, *, speaking: bool | None = None
    ) -> list[Suggestion]:
        """The suggestions to offer now, highest priority first; each starts its cooldown.

        Nothing while it is unsafe to interrupt (see `safety`) or while the assistant speaks;
        never what was dismissed for good; not again within `cooldown_s` of the last offer.
        """
        at = self.clock() if now is None else now
        self.trip_log.tick(at)
        snapshot = self.snapshot(at)
        talking = self.speaking if speaking is None else speaking
        blockers = interruption_blockers(snapshot, speaking=talking)
        if blockers:
            log.debug("suggestions held back: %s", "; ".join(blockers))
            return []
        offers: list[Suggestion] = []
        for suggestion in self._run_rules(snapshot, at):
            keys = (suggestion.id, suggestion.kind.value)
            if self.store.is_dismissed(*keys):
                continue
            last = self.store.last_offered(*keys)
            if last is not None and at - last < self.cooldown_s:
                continue
            self.store.record_offer(suggestion.id, at)
            offers.append(suggestion)
        return offers

    def dismiss(self, key: str, forever: bool = True, *, now: float | None = None) -> None:
        """Dismiss a suggestion id, or a whole kind: for good, or (`forever=False`) for now.

        For good is kept in the store and holds for every engine on it; for now restarts the
        cooldown. An id or kind that is not one raises `SuggestionError` and changes nothing.
        """
        kind_of(key)  # validates
        at = self.clock() if now is None else now
        if forever:
            self.store.dismiss(key, at)
        else:
            self.store.record_offer(key, at)
        log.info("suggestion %s dismissed %s", key, "for good" if forever else "for now")

    # --- running ------------------------------------------------------------------------------

    async def run(self, callback: SuggestionCallback) -> None:
        """Log trips and evaluate every `interval_s`, calling back with each new set of offers.

        Runs until `stop()` or cancellation; a callback that raises is logged and the engine
        carries on. On the way out the trip under way is ended and logged.
        """
        self._running = True
        self.trip_log.start()
        try:
            while self._running:
                offers = self.evaluate()
                if offers:
                    try:
                        result = callback(offers)
                        if inspect.isawaitable(result):
                            await result
                    except Exception:
                        log.exception("suggestion callback failed")
                if self._running:
                    await self._sleep(self.interval_s)
        finally:
            self._running = False
            self.trip_log.stop(self.clock())

    def stop(self) -> None:
        """Let `run` return after the current round."""
        self._running = False
