"""The conversation: context across turns, the speaking seat, driver-only commands, confirmations.

`Dialogue.step(intent, seat)` takes one recognised intent and returns what it did:

- follow-ups are resolved against the previous turns ("and for the passenger too" repeats the
  last zone command for the passenger; "a bit more" continues the last adjustment; "turn it off"
  switches the last thing off; "the fastest one" picks a route of the current navigation);
- zones and windows default to the speaking seat ("I'm cold" from the passenger warms the
  passenger), and an adjustment with no zone continues the zone of the same kind of command;
- commands that affect driving are taken from the driver only;
- consequential commands wait for a "yes": unlocking while parked away from home, opening
  windows more than a crack at motorway speed;
- everything else is planned and executed by `CarActions`, whose refusals (the car's own
  interlocks) come back with their reasons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Final

from carmind.assistant.actions import CarActions, Outcome
from carmind.assistant.config import AssistantConfig
from carmind.assistant.intents.schema import INTENTS, ZONES
from carmind.assistant.model import Intent, Seat, Source
from carmind.assistant.replies import Message
from carmind.assistant.vehicle_terms import DEFAULT_STEPS

PARKED_KMH: Final = 1.0
CRACK_PCT: Final = 10
"""A window opened this far or less is "a crack": allowed at any speed without asking."""
EARTH_RADIUS_M: Final = 6_371_000.0

_ADJUST_OF: Final = {
    "ClimateSetTemperature": "ClimateAdjustTemperature",
    "ClimateAdjustTemperature": "ClimateAdjustTemperature",
    "ClimateSetFanSpeed": "ClimateAdjustFanSpeed",
    "ClimateAdjustFanSpeed": "ClimateAdjustFanSpeed",
    "MediaSetVolume": "MediaAdjustVolume",
    "MediaAdjustVolume": "MediaAdjustVolume",
    "CruiseSetSpeed": "CruiseAdjustSpeed",
    "CruiseAdjustSpeed": "CruiseAdjustSpeed",
}
_SWITCHABLE: Final = frozenset(
    {
        "ClimateSetAC",
        "ClimateSetRecirculation",
        "ClimateSetDefrost",
        "ClimateSetSeatHeating",
        "ClimateSetSeatVentilation",
        "BodySetLights",
        "BodySetHazards",
        "CruiseSet",
    }
)
_LEVEL_ON: Final = 3


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points in metres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _seat_slot(name: str) -> str | None:
    spec = INTENTS.get(name)
    if spec is None:
        return None
    for slot in ("zone", "window"):
        found = spec.slots.get(slot)
        if found is not None and found.values == ZONES:
            return slot
    return None


@dataclass
class DialogueState:
    """What the conversation remembers between turns."""

    last_zoned: Intent | None = None
    last_adjustable: Intent | None = None
    last_switch: Intent | None = None
    destination: str | None = None
    pending: Intent | None = None
    last_reply: str = ""
    last_speaker: Seat | None = None
    """Who gave the last command carried out: a new speaker's "I'm cold" is about their zone."""


class Dialogue:
    """One conversation with one car."""

    def __init__(self, actions: CarActions, config: AssistantConfig | None = None) -> None:
        self.actions = actions
        self.config = config or AssistantConfig()
        self.state = DialogueState()

    def reset(self) -> None:
        self.state = DialogueState()

    # ------------------------------------------------------------------ one intent

    def step(self, intent: Intent, seat: Seat) -> Outcome:
        """Resolve, check and carry out one intent spoken from `seat`."""
        state = self.state
        name = intent.name
        if name == "ConversationYes":
            if state.pending is None:
                return _say(intent, "nothing_pending", ok=False)
            confirmed, state.pending = state.pending, None
            return self._carry_out(replace(confirmed, source=Source.CONTEXT), seat)
        if name in ("ConversationNo", "ConversationCancel"):
            had_pending, state.pending = state.pending is not None, None
            if name == "ConversationNo" and not had_pending:
                return _say(intent, "nothing_pending", ok=False)
            return _say(intent, "declined" if name == "ConversationNo" else "cancelled")
        state.pending = None
        if name == "ConversationHelp":
            return _say(intent, "help")
        resolved = self._resolve(intent, seat)
        if resolved is None:
            key = "no_route" if name == "NavigationSelectRoute" else "no_context"
            return _say(intent, key, ok=False)
        spec = INTENTS.get(resolved.name)
        if spec is not None and spec.driver_only and seat is not Seat.DRIVER:
            return _say(resolved, "driver_only", ok=False)
        question = self._confirmation(resolved)
        if question is not None:
            state.pending = resolved
            return Outcome(resolved, messages=(question,))
        return self._carry_out(resolved, seat)

    def _carry_out(self, intent: Intent, seat: Seat) -> Outcome:
        outcome = self.actions.execute(self.actions.plan(intent))
        if outcome.ok:
            self._remember(intent)
            self.state.last_speaker = seat
        return outcome

    # ------------------------------------------------------------------ context

    def _resolve(self, intent: Intent, seat: Seat) -> Intent | None:
        """The intent with follow-ups resolved and default slots filled (None: no context)."""
        state = self.state
        name = intent.name
        slots: dict[str, Any] = dict(intent.slots)
        source = intent.source
        if name == "FollowUpZone":
            base = state.last_zoned
            if base is None:
                return None
            slot = _seat_slot(base.name) or "zone"
            name, slots = base.name, {**base.slots, slot: slots["zone"]}
            source = Source.CONTEXT
        elif name == "FollowUpAdjust":
            base = state.last_adjustable
            if base is None and slots.get("fallback") == "volume":
                base = Intent("MediaAdjustVolume", {})  # "turn it up" with nothing before
            if base is None:
                return None
            name = _ADJUST_OF[base.name]
            kept = {k: v for k, v in base.slots.items() if k == "zone"}
            slots = {**kept, "direction": slots.get("direction", "up")}
            source = Source.CONTEXT
        elif name == "FollowUpSwitch":
            base = state.last_switch
            if base is None:
                return None
            name, slots = base.name, dict(base.slots)
            if "level" in slots:
                slots["level"] = _LEVEL_ON if intent.slots["on"] else 0
            else:
                slots["on"] = intent.slots["on"]
            source = Source.CONTEXT
        elif name == "NavigationSelectRoute":
            if state.destination is None:
                return None
            slots["destination"] = state.destination
        seat_slot = _seat_slot(name)
        if seat_slot is not None:
            value = slots.get(seat_slot)
            if value is None and name in _ADJUST_OF.values() and state.last_speaker == seat:
                value = self._continued_zone(name)
            if value is None or value == "me":
                value = seat.value
            slots[seat_slot] = value
        if name in DEFAULT_STEPS and "delta" not in slots:
            step = DEFAULT_STEPS[name]
            slots["delta"] = int(step) if INTENTS[name].slots["delta"].kind == "integer" else step
        if name == "ClimateSetDefrost":
            slots.setdefault("window", "front")
        return Intent(name, slots, text=intent.text, score=intent.score, source=source)

    def _continued_zone(self, name: str) -> str | None:
        last = self.state.last_zoned
        if last is not None and _ADJUST_OF.get(last.name) == name:
            zone = last.slots.get("zone")
            return str(zone) if zone is not None else None
        return None

    def _remember(self, intent: Intent) -> None:
        state = self.state
        name = intent.name
        if _seat_slot(name) is not None:
            state.last_zoned = intent
        if name in _ADJUST_OF:
            state.last_adjustable = intent
        if name in _SWITCHABLE:
            state.last_switch = intent
        if name == "NavigateTo":
            state.destination = str(
                intent.slots.get("destination") or intent.slots.get("category") or ""
            )
        elif name == "NavigationCancel":
            state.destination = None

    # ------------------------------------------------------------------ safety

    def _confirmation(self, intent: Intent) -> Message | None:
        """The question to ask before a consequential command, or None to go ahead."""
        status = self.actions.status
        config = self.config
        unlocking = intent.name == "BodySetDoorLock" and intent.slots.get("locked") is False
        if unlocking and status.speed_kmh() < PARKED_KMH:
            here = status.location()
            home = (config.home_latitude, config.home_longitude)
            if here is not None and distance_m(here, home) > config.home_radius_m:
                return Message("confirm_unlock")
        if intent.name == "BodySetWindow" and int(intent.slots["position"]) > CRACK_PCT:
            speed = status.speed_kmh()
            if speed > config.fast_window_kmh:
                return Message("confirm_windows", {"speed": round(speed)})
        return None


def _say(intent: Intent, key: str, *, ok: bool = True, **params: Any) -> Outcome:
    return Outcome(intent, messages=(Message(key, params),), ok=ok)
