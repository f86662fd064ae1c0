"""Short replies in the user's language, from message keys and parameters.

The sentences live in `data/replies/<lang>.yaml` (package data): `messages` by key, and tables
that name zones, windows, lights, sources and so on in that language. The car's refusal reasons
(English, from the car) are explained in the user's language by the patterns in `reasons`.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from carmind.assistant.errors import IntentDataError
from carmind.assistant.intents.loader import check_language, home_config

log = logging.getLogger(__name__)

_TABLES = {
    "zone": "zones_for",
    "where": "airflow",
    "lights": "lights",
    "source": "sources",
    "option": "routes",
    "distance": "distances",
    "window": "defrost",
}


@dataclass(frozen=True, slots=True)
class Message:
    """A reply sentence by key, with its parameters (rendered in the user's language later)."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


@cache
def table(lang: str) -> dict[str, Any]:
    """The reply data of one language."""
    check_language(lang)
    resource = importlib.resources.files("carmind.assistant").joinpath(
        "data", "replies", f"{lang}.yaml"
    )
    try:
        data = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise IntentDataError(f"replies for {lang!r} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), dict):
        raise IntentDataError(f"replies for {lang!r}: expected a 'messages' mapping")
    return data


def number(lang: str, value: float) -> str:
    """A number as people write it: no trailing .0; a decimal comma in Dutch."""
    text = f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return text.replace(".", ",") if lang == "nl" else text


def join(lang: str, items: Sequence[str]) -> str:
    """A list in words: 'a, b and c' (or the language's way)."""
    t = table(lang)
    if len(items) <= 1:
        return "".join(items)
    return str(t["list_separator"]).join(items[:-1]) + str(t["list_and"]) + items[-1]


def explain_reason(lang: str, reason: str) -> str:
    """The car's refusal reason in the user's language (the car's words if no pattern fits)."""
    for entry in table(lang).get("reasons", []):
        found = re.search(entry["pattern"], reason)
        if found:
            groups = {k: _fmt_group(lang, v) for k, v in found.groupdict().items()}
            return str(entry["text"]).format(**groups)
    return reason


def _fmt_group(lang: str, value: str | None) -> str:
    if value is None:
        return ""
    try:
        return number(lang, float(value))
    except ValueError:
        return value


def home_name(lang: str, entity_id: str | None, area: str | None) -> str:
    """How the user calls a home entity or area in `lang`."""
    config = home_config()
    for entity in config.get("entities", []):
        if entity["id"] == entity_id:
            names = entity["names"].get(lang) or [entity_id]
            return str(table(lang)["home_entity"]).format(name=names[0])
    if area:
        names = config.get("areas", {}).get(area, {}).get(lang) or [area]
        return str(table(lang)["home_area"]).format(area=names[0])
    return str(table(lang)["home_default"])


def _params(lang: str, message: Message) -> dict[str, Any]:
    t = table(lang)
    out: dict[str, Any] = {}
    for name, value in message.params.items():
        if name in _TABLES and isinstance(value, str):
            out[name] = t[_TABLES[name]].get(value, value)
        elif isinstance(value, float | int) and not isinstance(value, bool):
            out[name] = number(lang, value)
        elif name in ("parts", "wheels") and isinstance(value, list):
            out[name] = join(lang, [t["parts"].get(v, v) for v in value])
        elif name == "reason" and isinstance(value, str):
            out[name] = explain_reason(lang, value)
        else:
            out[name] = value if value is not None else ""
    zone = message.params.get("zone")
    if isinstance(zone, str):
        out["windows"] = t["windows"].get(zone, zone)
        out["zone_name"] = t["zones"].get(zone, zone)
    elif "zone" in message.params:
        out["zone"] = ""
    if "entity_id" in message.params or "area" in message.params:
        out["target"] = home_name(lang, message.params.get("entity_id"), message.params.get("area"))
    return out


def render(lang: str, messages: Sequence[Message]) -> str:
    """The reply: each message's sentence in `lang`, joined."""
    t = table(lang)
    sentences: list[str] = []
    for message in messages:
        template = t["messages"].get(message.key)
        if template is None:
            log.warning("no %s reply for message %r", lang, message.key)
            template = table("en")["messages"].get(message.key, message.key)
        text = str(template).format_map(_Default(_params(lang, message)))
        sentences.append(" ".join(text.split()))
    return str(t["sentence_separator"]).join(s for s in sentences if s)


class _Default(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""
