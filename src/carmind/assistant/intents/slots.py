"""Slot values as the recogniser hands them on: typed, checked, in the car's terms."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from carmind.assistant.intents.schema import HOME_INTENTS, INTENTS, SlotSpec

log = logging.getLogger(__name__)

FAN_LEVELS = 5
"""Fan levels people name ("level 3") map onto percent in steps of 100 / FAN_LEVELS."""

_SEAT_SLOTS = frozenset({"zone", "window"})

_FUNCTION_WORDS = {
    "en": "to the a an me us it this that my our some for of at in on please",
    "nl": "naar de het een me ons mijn dit dat wat even alsjeblieft",
    "zh": "去 到 的 我 给 一下 吧",
}
FUNCTION_WORDS = frozenset(w for words in _FUNCTION_WORDS.values() for w in words.split())
"""Words that alone cannot be a destination, contact or song (a wildcard that caught nothing)."""


def fahrenheit_to_celsius(value: float) -> float:
    """°F as °C, to the nearest half degree (what a climate panel shows)."""
    return round((value - 32.0) * 5.0 / 9.0 * 2.0) / 2.0


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def check_slot(name: str, spec: SlotSpec, value: object) -> Any:
    """The value typed for the slot, or None when it cannot be one."""
    if spec.kind == "bool":
        return _bool(value)
    if spec.kind in ("number", "integer"):
        number = _number(value)
        if number is None:
            return None
        return round(number) if spec.kind == "integer" else float(number)
    if spec.kind == "enum":
        text = str(value)
        if text in spec.values or (name in _SEAT_SLOTS and text == "me"):
            return text
        return None
    text = str(value).strip().strip(".,!?;:。，！？").strip()
    if not text or set(text.casefold().split()) <= FUNCTION_WORDS or text in FUNCTION_WORDS:
        return None  # "navigate to" is not a destination called "to"
    return text


def normalize_slots(intent: str, raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """Slots of a recognised intent in car terms, or None when they do not make a valid intent."""
    if intent in HOME_INTENTS:
        return _home_slots(raw)
    spec = INTENTS.get(intent)
    if spec is None:
        return None
    values = dict(raw)
    if "temperature_f" in values:
        fahrenheit = _number(values.pop("temperature_f"))
        if fahrenheit is None:
            return None
        values["temperature"] = fahrenheit_to_celsius(fahrenheit)
    if intent == "ClimateSetFanSpeed" and "level" in values:
        level = _number(values.pop("level"))
        if level is None:
            return None
        values["speed"] = round(min(max(level, 0.0), FAN_LEVELS) * 100 / FAN_LEVELS)
    slots: dict[str, Any] = {}
    for name, value in values.items():
        slot = spec.slots.get(name)
        if slot is None:
            log.debug("%s: ignoring slot %s=%r", intent, name, value)
            continue
        checked = check_slot(name, slot, value)
        if checked is None:
            log.debug("%s: slot %s=%r is not a valid %s", intent, name, value, slot.kind)
            return None
        slots[name] = checked
    for name, slot in spec.slots.items():
        if slot.required and name not in slots:
            return None
    return slots


def _home_slots(raw: Mapping[str, Any]) -> dict[str, Any]:
    slots: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "name":
            slots["entity_id"] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            slots[name] = int(value) if float(value).is_integer() else float(value)
        else:
            slots[name] = value
    return slots
