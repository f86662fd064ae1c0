"""Loading the sentence templates: carmind's own (package data) and Home Assistant's for the home.

The car's templates live in `data/<lang>/*.yaml` (or `data/<lang>.yaml`) in Home Assistant's
intent format and are merged per language. Smart-home commands use the `home-assistant-intents`
package's sentences for the same language, cut down to the intents and slot combinations that
name one of the user's home entities or areas (`data/home.yaml`), so that "turn on the lights"
stays a car command while "turn on the kitchen lights" goes to the home.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources.abc import Traversable
from typing import Any

import yaml
from hassil import Intents, SlotList, TextSlotList, TextSlotValue, merge_dict, parse_sentence
from hassil.expression import TextChunk

from carmind.assistant.errors import IntentDataError, UnsupportedLanguageError
from carmind.assistant.intents.schema import HOME_INTENTS
from carmind.assistant.model import LANGUAGES

log = logging.getLogger(__name__)

_PACKAGE = "carmind.assistant.intents"
HA_LANGUAGE = {"en": "en", "zh": "zh-CN", "nl": "nl"}
"""The `home-assistant-intents` data file for each of carmind's languages."""

HOME_DOMAINS = frozenset({"light", "cover", "climate", "switch"})
_HOME_LISTS = frozenset({"name", "area"})


def check_language(lang: object) -> str:
    """`lang` if the assistant speaks it, else `UnsupportedLanguageError`."""
    if not isinstance(lang, str) or lang not in LANGUAGES:
        raise UnsupportedLanguageError(lang, LANGUAGES)
    return lang


def _data_root() -> Traversable:
    return importlib.resources.files(_PACKAGE).joinpath("data")


def _yaml(resource: Traversable) -> dict[str, Any]:
    try:
        data = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise IntentDataError(f"{resource.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise IntentDataError(f"{resource.name}: expected a mapping at the top level")
    return data


@cache
def intent_dict(lang: str) -> dict[str, Any]:
    """The merged template data of one language, as hassil reads it."""
    check_language(lang)
    root = _data_root()
    files: list[Traversable] = []
    folder = root.joinpath(lang)
    if folder.is_dir():
        files.extend(sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=_name))
    single = root.joinpath(f"{lang}.yaml")
    if single.is_file():
        files.append(single)
    if not files:
        raise IntentDataError(f"no sentence templates for language {lang!r} in {root}")
    merged: dict[str, Any] = {}
    for resource in files:
        merge_dict(merged, _yaml(resource))
    merged["language"] = lang
    return merged


def _name(resource: Traversable) -> str:
    return resource.name


@cache
def load_intents(lang: str) -> Intents:
    """carmind's car intents for `lang` as a `hassil.Intents` (templates, lists, rules)."""
    try:
        return Intents.from_dict(intent_dict(lang))
    except (KeyError, ValueError, TypeError) as exc:
        raise IntentDataError(f"sentence templates for {lang!r} are malformed: {exc}") from None


def template_sentences(lang: str) -> list[str]:
    """Every sentence template of the car intents for `lang`, as written (hassil syntax).

    Expansion rules (`<rule>`) and slot lists (`{list}`) are those of `load_intents(lang)`.
    """
    out: list[str] = []
    for intent in load_intents(lang).intents.values():
        for data in intent.data:
            out.extend(data.sentence_texts)
    return out


@dataclass(frozen=True, slots=True)
class HomeModel:
    """Home Assistant's intents for one language, with the user's entities and areas as lists."""

    intents: Intents
    slot_lists: dict[str, SlotList]
    entity_domains: dict[str, str]


@cache
def home_config() -> dict[str, Any]:
    return _yaml(_data_root().joinpath("home.yaml"))


def _home_lists(lang: str) -> tuple[dict[str, SlotList], dict[str, str]]:
    config = home_config()
    names: list[TextSlotValue] = []
    domains: dict[str, str] = {}
    for entity in config.get("entities", []):
        domains[entity["id"]] = entity["domain"]
        for text in entity["names"].get(lang, []):
            names.append(
                TextSlotValue(TextChunk(text), entity["id"], context={"domain": entity["domain"]})
            )
    areas = [
        TextSlotValue(TextChunk(text), area_id)
        for area_id, by_lang in config.get("areas", {}).items()
        for text in by_lang.get(lang, [])
    ]
    lists: dict[str, SlotList] = {
        "name": TextSlotList(name="name", values=names),
        "area": TextSlotList(name="area", values=areas),
        "floor": TextSlotList(name="floor", values=[]),
    }
    return lists, domains


def _domains_ok(data_dict: dict[str, Any]) -> bool:
    for source in (data_dict.get("slots", {}), data_dict.get("requires_context", {})):
        domain = source.get("domain")
        if isinstance(domain, str) and domain not in HOME_DOMAINS:
            return False
        if isinstance(domain, list) and not HOME_DOMAINS.intersection(domain):
            return False
    return True


@cache
def load_home(lang: str) -> HomeModel | None:
    """Home Assistant's smart-home intents for `lang`, cut to the user's entities and areas."""
    check_language(lang)
    try:
        resource = importlib.resources.files("home_assistant_intents").joinpath(
            "data", f"{HA_LANGUAGE[lang]}.json"
        )
        data = json.loads(resource.read_text(encoding="utf-8"))
    except (ModuleNotFoundError, FileNotFoundError, json.JSONDecodeError) as exc:
        log.warning("smart-home sentences unavailable for %s: %s", lang, exc)
        return None
    rules = {
        name: parse_sentence(body, keep_text=True)
        for name, body in data.get("expansion_rules", {}).items()
    }
    intents: dict[str, Any] = {}
    for name in HOME_INTENTS:
        blocks = []
        for block in data["intents"].get(name, {}).get("data", []):
            if not _domains_ok(block):
                continue
            kept = [
                text
                for text in block["sentences"]
                if _HOME_LISTS.intersection(parse_sentence(text).list_names(rules))
                and "floor" not in parse_sentence(text).list_names(rules)
            ]
            if kept:
                blocks.append({**block, "sentences": kept})
        if blocks:
            intents[name] = {"data": blocks}
    cut = {**data, "language": lang, "intents": intents}
    cut.pop("responses", None)
    home = Intents.from_dict(cut)
    lists, domains = _home_lists(lang)
    home = replace(home, slot_lists={**home.slot_lists, **lists})
    return HomeModel(home, lists, domains)
