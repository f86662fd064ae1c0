"""The recogniser on its own, the template API for other engines, replies and configuration."""

from __future__ import annotations

import pytest
from hassil import Intents

from carmind.assistant.api import (
    Recognizer,
    example_sentences,
    load_intents,
    template_sentences,
)
from carmind.assistant.config import AssistantConfig
from carmind.assistant.errors import UnsupportedLanguageError
from carmind.assistant.intents.schema import INTENTS, ZONES
from carmind.assistant.model import LANGUAGES, Source
from carmind.assistant.replies import table
from carmind.errors import ConfigError


@pytest.mark.parametrize("lang", LANGUAGES)
def test_templates_for_other_engines(lang: str) -> None:
    intents = load_intents(lang)
    assert isinstance(intents, Intents)
    car_intents = {n for n in INTENTS}
    assert car_intents <= set(intents.intents), car_intents - set(intents.intents)
    sentences = template_sentences(lang)
    assert len(sentences) > 150
    assert all(isinstance(s, str) and s for s in sentences)
    assert any("{temperature}" in s for s in sentences)
    assert "zone" in intents.slot_lists and "temperature" in intents.slot_lists
    examples = example_sentences(lang)
    assert len(examples) > 300 and all("{" not in e for e in examples)


def test_unknown_language_in_the_template_api() -> None:
    with pytest.raises(UnsupportedLanguageError):
        load_intents("fr")
    with pytest.raises(UnsupportedLanguageError):
        Recognizer().recognize("hello", "fr")


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "set the temperature to twenty two point five", [("ClimateSetTemperature", 22.5)]),
        ("zh", "把温度调到二十二度", [("ClimateSetTemperature", 22.0)]),
        ("zh", "温度设为22.5度", [("ClimateSetTemperature", 22.5)]),
        ("nl", "zet de temperatuur op tweeëntwintig graden", [("ClimateSetTemperature", 22.0)]),
        ("nl", "zet de temperatuur op 21,5 graden", [("ClimateSetTemperature", 21.5)]),
        ("en", "set the temperature to 70 fahrenheit", [("ClimateSetTemperature", 21.0)]),
    ],
)
def test_numbers_and_units_in_each_language(
    fast_recognizer: Recognizer, lang: str, text: str, expected: list[tuple[str, float]]
) -> None:
    intents = fast_recognizer.recognize(text, lang)
    assert [(i.name, i.slots["temperature"]) for i in intents] == expected


def test_multi_command_split_prefers_the_least_wildcard_text(fast_recognizer: Recognizer) -> None:
    intents = fast_recognizer.recognize("navigate to the airport and turn on the AC", "en")
    assert [(i.name, dict(i.slots)) for i in intents] == [
        ("NavigateTo", {"destination": "the airport"}),
        ("ClimateSetAC", {"on": True}),
    ]
    whole = fast_recognizer.recognize("play rock and roll", "en")
    assert [dict(i.slots) for i in whole] == [{"query": "rock and roll"}]
    pair = fast_recognizer.recognize("open the driver and passenger windows", "en")
    assert [dict(i.slots) for i in pair] == [{"position": 100, "window": "front"}]


def test_home_commands_use_home_assistant_intents(fast_recognizer: Recognizer) -> None:
    (intent,) = fast_recognizer.recognize("set the thermostat to 20 degrees", "en")
    assert intent.name == "HassClimateSetTemperature"
    assert dict(intent.slots) == {"entity_id": "climate.home", "temperature": 20}
    (car,) = fast_recognizer.recognize("turn on the lights", "en")
    assert car.name == "BodySetLights"  # without a home entity or area, "lights" are the car's


def test_semantic_fallback_for_paraphrases(semantic_recognizer: Recognizer) -> None:
    (intent,) = semantic_recognizer.recognize("make the fan stronger", "en")
    assert (intent.name, intent.source) == ("ClimateAdjustFanSpeed", Source.SEMANTIC)
    assert intent.slots["direction"] == "up"
    assert 0.7 <= intent.score <= 1.0
    assert semantic_recognizer.recognize("what is the meaning of life", "en") == []
    assert semantic_recognizer.recognize("the cat sat on the mat", "en") == []
    # the example's zone is read again from the paraphrase
    (zoned,) = semantic_recognizer.recognize(
        "put the temperature to 21 degrees on the rear right side please", "en"
    )
    assert zoned.slots.get("zone") in ("rear-right", None)


def test_semantic_fallback_is_english_only_by_default(semantic_recognizer: Recognizer) -> None:
    assert semantic_recognizer.recognize("het is een oven hierbinnen", "nl") == []


def test_replies_are_complete_in_every_language() -> None:
    keys = set(table("en")["messages"])
    for lang in LANGUAGES:
        data = table(lang)
        assert set(data["messages"]) == keys, lang
        for name in ("zones_for", "zones", "windows"):
            assert set(data[name]) >= set(ZONES), (lang, name)
        assert set(data["languages"]) == set(LANGUAGES)


def test_configuration_from_the_environment() -> None:
    config = AssistantConfig.from_env(
        {
            "CARMIND_ASSISTANT_LLM_ENABLED": "true",
            "CARMIND_ASSISTANT_SEMANTIC_THRESHOLD": "0.8",
            "CARMIND_ASSISTANT_SEMANTIC_LANGUAGES": "en,nl",
            "CARMIND_ASSISTANT_LLM_MODEL": "qwen2.5",
            "CARMIND_VEHICLE_PROFILE": "ignored here",
        }
    )
    assert config.llm_enabled and config.semantic_threshold == 0.8
    assert config.semantic_languages == ("en", "nl") and config.llm_model == "qwen2.5"
    assert not AssistantConfig().llm_enabled
    with pytest.raises(ConfigError, match="semantic_threshold"):
        AssistantConfig(semantic_threshold=2.0)
    with pytest.raises(ConfigError, match="'colour'"):
        AssistantConfig.from_env({"CARMIND_ASSISTANT_COLOUR": "red"})
    with pytest.raises(ConfigError, match="home_radius_m"):
        AssistantConfig.from_env({"CARMIND_ASSISTANT_HOME_RADIUS_M": "far"})
