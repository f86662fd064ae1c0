"""Every intent the assistant knows: its domain, its slots and what each slot may hold.

One table serves three readers: the recogniser (which checks and normalises slots), the language
model fallback (whose tools are generated from it) and the documentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

type SlotKind = Literal["number", "integer", "enum", "text", "bool"]

ZONES = ("driver", "passenger", "rear-left", "rear-right", "front", "rear", "left", "right", "all")
"""Where a climate, seat or window command applies: one seat, a group of seats, or everyone."""

DIRECTIONS = ("up", "down")


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """What one slot may hold."""

    kind: SlotKind
    description: str
    values: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    required: bool = False

    def json_schema(self) -> dict[str, Any]:
        """The slot as a JSON-schema property (for the language model's tools)."""
        if self.kind == "enum":
            return {"type": "string", "enum": list(self.values), "description": self.description}
        if self.kind == "bool":
            return {"type": "boolean", "description": self.description}
        if self.kind == "text":
            return {"type": "string", "description": self.description}
        schema: dict[str, Any] = {
            "type": "number" if self.kind == "number" else "integer",
            "description": self.description,
        }
        if self.low is not None:
            schema["minimum"] = self.low
        if self.high is not None:
            schema["maximum"] = self.high
        return schema


@dataclass(frozen=True, slots=True)
class IntentSpec:
    """One intent: its domain, a one-line description and its slots."""

    name: str
    domain: str
    description: str
    slots: Mapping[str, SlotSpec] = field(default_factory=dict)
    driver_only: bool = False
    """Affects driving: taken from the driver's seat only."""


def _zone(what: str) -> SlotSpec:
    return SlotSpec("enum", f"whose {what}; omitted: the speaker's seat", ZONES)


def _on(what: str) -> SlotSpec:
    return SlotSpec("bool", f"true to switch {what} on, false to switch it off", required=True)


_DIRECTION = SlotSpec("enum", "up (more) or down (less)", DIRECTIONS, required=True)

_SPECS = (
    # --- climate
    IntentSpec(
        "ClimateSetTemperature",
        "climate",
        "Set the cabin temperature of a zone in °C.",
        {
            "temperature": SlotSpec("number", "set-point in °C", required=True),
            "zone": _zone("climate zone"),
        },
    ),
    IntentSpec(
        "ClimateAdjustTemperature",
        "climate",
        "Make a zone warmer or cooler by a step (default 1 °C).",
        {
            "direction": _DIRECTION,
            "delta": SlotSpec("number", "step in °C", low=0.5, high=10),
            "zone": _zone("climate zone"),
        },
    ),
    IntentSpec("ClimateSetAC", "climate", "Air conditioning on or off.", {"on": _on("the AC")}),
    IntentSpec(
        "ClimateSetFanSpeed",
        "climate",
        "Set the fan speed in percent (0 switches it off).",
        {
            "speed": SlotSpec("integer", "fan speed in %", low=0, high=100, required=True),
            "zone": _zone("fan"),
        },
    ),
    IntentSpec(
        "ClimateAdjustFanSpeed",
        "climate",
        "More or less air (default step 20 %).",
        {
            "direction": _DIRECTION,
            "delta": SlotSpec("integer", "step in %", low=1, high=100),
            "zone": _zone("fan"),
        },
    ),
    IntentSpec(
        "ClimateSetAirDistribution",
        "climate",
        "Where the air blows: UP (windscreen), MIDDLE (face), DOWN (feet).",
        {
            "distribution": SlotSpec("enum", "air outlet", ("UP", "MIDDLE", "DOWN"), required=True),
            "zone": _zone("air"),
        },
    ),
    IntentSpec(
        "ClimateSetRecirculation", "climate", "Air recirculation on or off.", {"on": _on("it")}
    ),
    IntentSpec(
        "ClimateSetDefrost",
        "climate",
        "Window defrosting on or off.",
        {
            "on": _on("defrosting"),
            "window": SlotSpec("enum", "which screen; default front", ("front", "rear", "all")),
        },
    ),
    IntentSpec(
        "ClimateSetSeatHeating",
        "climate",
        "Seat heating level 0-3 (front seats).",
        {
            "level": SlotSpec("integer", "0 off, 1 low, 3 high", low=0, high=3, required=True),
            "zone": _zone("seat"),
        },
    ),
    IntentSpec(
        "ClimateSetSeatVentilation",
        "climate",
        "Seat ventilation level 0-3 (front seats).",
        {
            "level": SlotSpec("integer", "0 off, 1 low, 3 high", low=0, high=3, required=True),
            "zone": _zone("seat"),
        },
    ),
    # --- body
    IntentSpec(
        "BodySetWindow",
        "body",
        "Move windows to a position: 0 closed, 100 fully open.",
        {
            "position": SlotSpec("integer", "opening in %", low=0, high=100, required=True),
            "window": _zone("window"),
        },
    ),
    IntentSpec(
        "BodySetDoorLock",
        "body",
        "Lock or unlock the doors.",
        {"locked": SlotSpec("bool", "true to lock, false to unlock", required=True)},
    ),
    IntentSpec(
        "BodySetTrunk",
        "body",
        "Open or close the trunk (rear) or the frunk (front).",
        {
            "open": SlotSpec("bool", "true to open, false to close", required=True),
            "trunk": SlotSpec("enum", "which trunk; default rear", ("rear", "front")),
        },
    ),
    IntentSpec(
        "BodySetLights",
        "body",
        "Exterior lights on or off.",
        {
            "lights": SlotSpec(
                "enum", "which lights", ("headlights", "high-beam", "fog", "parking"), required=True
            ),
            "on": _on("the lights"),
        },
        driver_only=True,
    ),
    IntentSpec("BodySetHazards", "body", "Hazard lights on or off.", {"on": _on("the hazards")}),
    IntentSpec("BodyHonk", "body", "Sound the horn briefly."),
    # --- media
    IntentSpec(
        "MediaPlay",
        "media",
        "Play or resume; with a query, search the media library and play it.",
        {"query": SlotSpec("text", "artist, song, album, genre or station")},
    ),
    IntentSpec("MediaPause", "media", "Pause playback."),
    IntentSpec("MediaNext", "media", "Next track."),
    IntentSpec("MediaPrevious", "media", "Previous track."),
    IntentSpec(
        "MediaSetVolume",
        "media",
        "Set the media volume in percent.",
        {"volume": SlotSpec("integer", "volume in %", low=0, high=100, required=True)},
    ),
    IntentSpec(
        "MediaAdjustVolume",
        "media",
        "Louder or quieter (default step 10 %).",
        {"direction": _DIRECTION, "delta": SlotSpec("integer", "step in %", low=1, high=100)},
    ),
    IntentSpec(
        "MediaSetSource",
        "media",
        "Choose the audio source.",
        {
            "source": SlotSpec(
                "enum",
                "audio source",
                ("FM", "AM", "DAB", "BLUETOOTH", "USB", "INTERNET", "AUX", "CD"),
                required=True,
            )
        },
    ),
    # --- navigation
    IntentSpec(
        "NavigateTo",
        "navigation",
        "Start route guidance to a place, an address, home, work, or the nearest charger.",
        {
            "destination": SlotSpec("text", "place or address ('home', 'work' allowed)"),
            "category": SlotSpec("enum", "a kind of place, nearest first", ("charging_station",)),
        },
    ),
    IntentSpec("NavigationCancel", "navigation", "Stop route guidance."),
    IntentSpec("NavigationEta", "navigation", "When will we arrive?"),
    IntentSpec(
        "NavigationRangeCheck",
        "navigation",
        "Can the car reach a destination on its remaining range?",
        {"destination": SlotSpec("text", "place or address", required=True)},
    ),
    IntentSpec(
        "NavigationSelectRoute",
        "navigation",
        "Pick one of the route options of the current navigation request.",
        {
            "option": SlotSpec(
                "enum",
                "which route",
                ("fastest", "shortest", "eco", "first", "second", "third"),
                required=True,
            )
        },
    ),
    # --- phone
    IntentSpec(
        "PhoneCall",
        "phone",
        "Call a contact.",
        {"contact": SlotSpec("text", "contact name or number", required=True)},
    ),
    IntentSpec("PhoneAnswer", "phone", "Answer the incoming call."),
    IntentSpec("PhoneHangUp", "phone", "End or reject the call."),
    # --- vehicle status
    IntentSpec(
        "VehicleStatus",
        "status",
        "Answer a question about the car.",
        {
            "item": SlotSpec(
                "enum",
                "what to report",
                (
                    "battery",
                    "range",
                    "tyres",
                    "cabin-temperature",
                    "outside-temperature",
                    "doors",
                    "speed",
                ),
                required=True,
            )
        },
    ),
    # --- driving (driver only)
    IntentSpec("CruiseSet", "driving", "Cruise control on or off.", {"on": _on("cruise")}, True),
    IntentSpec(
        "CruiseSetSpeed",
        "driving",
        "Engage cruise control at a speed in km/h.",
        {"speed": SlotSpec("number", "km/h", low=0, high=250, required=True)},
        True,
    ),
    IntentSpec(
        "CruiseAdjustSpeed",
        "driving",
        "Raise or lower the cruise speed (default step 5 km/h).",
        {"direction": _DIRECTION, "delta": SlotSpec("number", "km/h", low=1, high=50)},
        True,
    ),
    IntentSpec(
        "CruiseSetFollowDistance",
        "driving",
        "Following distance of adaptive cruise control.",
        {
            "distance": SlotSpec(
                "enum", "gap to the car ahead", ("short", "medium", "long"), required=True
            )
        },
        True,
    ),
    # --- conversation
    IntentSpec("ConversationHelp", "conversation", "What can the assistant do?"),
    IntentSpec("ConversationCancel", "conversation", "Never mind: drop what is pending."),
    IntentSpec("ConversationRepeat", "conversation", "Say the last reply again."),
    IntentSpec("ConversationYes", "conversation", "Confirm what the assistant asked."),
    IntentSpec("ConversationNo", "conversation", "Decline what the assistant asked."),
    # --- follow-ups (need the previous turn)
    IntentSpec(
        "FollowUpZone",
        "followup",
        "Repeat the previous command for another zone ('and for the passenger too').",
        {"zone": SlotSpec("enum", "the other zone", (*ZONES, "me"), required=True)},
    ),
    IntentSpec(
        "FollowUpAdjust",
        "followup",
        "Change the previous setting further ('a bit more', 'less').",
        {
            "direction": _DIRECTION,
            "fallback": SlotSpec("enum", "what 'it' means with no context", ("volume",)),
        },
    ),
    IntentSpec(
        "FollowUpSwitch",
        "followup",
        "Switch the previous thing on or off again ('turn it off').",
        {"on": _on("it")},
    ),
)

INTENTS: Mapping[str, IntentSpec] = MappingProxyType({s.name: s for s in _SPECS})
"""The car's intents by name (smart-home intents come from Home Assistant's own data)."""

HOME_INTENTS = (
    "HassTurnOn",
    "HassTurnOff",
    "HassLightSet",
    "HassClimateSetTemperature",
    "HassClimateGetTemperature",
    "HassGetState",
)
"""Home Assistant intents the assistant passes on to the smart home."""

CONTEXT_INTENTS = frozenset(
    {
        "FollowUpZone",
        "FollowUpAdjust",
        "FollowUpSwitch",
        "NavigationSelectRoute",
        "ConversationYes",
        "ConversationNo",
    }
)
"""Intents that only make sense after another turn."""
