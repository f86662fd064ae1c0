"""Chinese turn-by-turn instructions from Valhalla maneuvers, and spoken distances."""

from __future__ import annotations

import re
from typing import Any

import pytest

from carmind.navigation.engine import LatLon, Router
from carmind.navigation.errors import NavigationError
from carmind.navigation.narrative import distance_phrase, heading_zh, instruction

STREET = "Simonkatu"
ALL_TYPES = range(44)
# maneuvers onto a road: their instruction names the road when Valhalla gives one
ROAD_TYPES = frozenset({0, 1, 2, 3, 7, 8, *range(9, 30), 37, 38})
CJK = re.compile(r"[\u4e00-\u9fff]")
ASCII_WORD = re.compile(r"[A-Za-z]+")


def _maneuver(kind: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "instruction": "English text from Valhalla.", **fields}


def _assert_chinese(text: str, *names: str) -> None:
    """Chinese text whose only Latin letters are the street names it quotes."""
    assert CJK.search(text), text
    rest = text
    for name in names:
        rest = rest.replace(name, "")
    assert not ASCII_WORD.search(rest), f"English words in {text!r}"


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_every_maneuver_type_has_a_chinese_instruction(kind: int) -> None:
    text = instruction(
        _maneuver(kind, street_names=[STREET], bearing_after=90, roundabout_exit_count=2), "zh"
    )
    assert text
    _assert_chinese(text, STREET)
    if kind in ROAD_TYPES:
        assert STREET in text


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_every_maneuver_type_reads_without_a_street(kind: int) -> None:
    text = instruction({"type": kind}, "zh")
    assert text
    _assert_chinese(text)
    assert "进入，" not in text and not text.endswith("进入")


@pytest.mark.parametrize(
    ("maneuver", "expected"),
    [
        (_maneuver(1, street_names=["Kaivokatu"], bearing_after=2), "向北行驶，进入Kaivokatu"),
        (_maneuver(3, street_names=["Kirkkokatu"], bearing_after=267), "向西行驶，进入Kirkkokatu"),
        (_maneuver(2, bearing_after=135), "向东南行驶"),
        (_maneuver(10, street_names=["Simonkatu"]), "右转进入Simonkatu"),
        (_maneuver(15, street_names=["Mikonkatu"]), "左转进入Mikonkatu"),
        (_maneuver(9, street_names=["Kaivokatu"]), "向右前方行驶，进入Kaivokatu"),
        (_maneuver(14), "向左后方行驶"),
        (_maneuver(23), "靠右行驶"),
        (_maneuver(24, street_names=["Kaivokatu"]), "靠左行驶，进入Kaivokatu"),
        (_maneuver(13), "掉头"),
        (_maneuver(12, street_names=["Bulevardi"]), "向右掉头，进入Bulevardi"),
        (
            _maneuver(26, street_names=["Mannerheimintie"], roundabout_exit_count=2),
            "在环岛第2个出口驶出，进入Mannerheimintie",
        ),
        (_maneuver(27, street_names=["Mannerheimintie"]), "驶出环岛，进入Mannerheimintie"),
        (_maneuver(4), "到达目的地"),
        (_maneuver(5), "到达目的地，目的地在右侧"),
        (_maneuver(6), "到达目的地，目的地在左侧"),
        (_maneuver(8, street_names=["Aleksanterinkatu"]), "沿Aleksanterinkatu继续直行"),
        (_maneuver(7, street_names=["Pohjoisesplanadi"]), "继续沿Pohjoisesplanadi行驶"),
        (_maneuver(37, street_names=["Kehä I"]), "向右汇入Kehä I"),
        (_maneuver(25), "并入主路"),
        (_maneuver(10, street_names=["Ring", "E 12"]), "右转进入Ring/E 12"),
        (
            _maneuver(10, street_names=["Mannerheimintie"], to_stay_on=True),
            "右转，继续沿Mannerheimintie行驶",
        ),
        (
            _maneuver(
                20,
                sign={
                    "exit_number_elements": [{"text": "23"}],
                    "exit_toward_elements": [{"text": "Espoo"}],
                },
            ),
            "从右侧23号出口驶出，朝Espoo方向",
        ),
        (
            _maneuver(18, sign={"exit_branch_elements": [{"text": "Kehä I"}]}),
            "靠右进入匝道，进入Kehä I",
        ),
        (_maneuver(28, street_names=["Suomenlinna"]), "乘坐Suomenlinna渡轮"),
    ],
)
def test_phrases(maneuver: dict[str, Any], expected: str) -> None:
    assert instruction(maneuver, "zh") == expected


@pytest.mark.parametrize(
    ("bearing", "direction"),
    [(0, "北"), (22, "北"), (23, "东北"), (90, "东"), (135, "东南"), (180, "南"), (225, "西南"),
     (270, "西"), (315, "西北"), (338, "北"), (359, "北"), (360, "北")],
)  # fmt: skip
def test_headings(bearing: int, direction: str) -> None:
    assert heading_zh(bearing) == direction


def test_english_and_dutch_are_valhallas_own_text() -> None:
    maneuver = _maneuver(10, street_names=[STREET])
    assert instruction(maneuver, "en") == "English text from Valhalla."
    assert instruction(maneuver, "nl") == "English text from Valhalla."
    with pytest.raises(NavigationError, match="no 'instruction' text"):
        instruction({"type": 10}, "en")


def test_bad_input() -> None:
    with pytest.raises(NavigationError, match="unknown language 'fr': choose one of en, zh, nl"):
        instruction(_maneuver(10), "fr")
    with pytest.raises(NavigationError, match="maneuver type must be a Valhalla maneuver number"):
        instruction({"type": "left"}, "zh")
    with pytest.raises(NavigationError, match="unknown language 'de'"):
        distance_phrase(100, "de")
    with pytest.raises(NavigationError, match="finite number of meters >= 0, got -5"):
        distance_phrase(-5, "zh")
    with pytest.raises(NavigationError, match="got nan"):
        distance_phrase(float("nan"), "en")


@pytest.mark.parametrize(
    ("meters", "zh", "en", "nl"),
    [
        (3, "10 米后", "in 10 meters", "over 10 meter"),
        (84, "80 米后", "in 80 meters", "over 80 meter"),
        (200, "200 米后", "in 200 meters", "over 200 meter"),
        (236, "250 米后", "in 250 meters", "over 250 meter"),
        (980, "1 公里后", "in 1 kilometer", "over 1 kilometer"),
        (1520, "1.5 公里后", "in 1.5 kilometers", "over 1,5 kilometer"),
        (2000, "2 公里后", "in 2 kilometers", "over 2 kilometer"),
        (12_340, "12 公里后", "in 12 kilometers", "over 12 kilometer"),
    ],
)
def test_distance_phrases(meters: float, zh: str, en: str, nl: str) -> None:
    assert distance_phrase(meters, "zh") == zh
    assert distance_phrase(meters, "en") == en
    assert distance_phrase(meters, "nl") == nl


def test_a_real_route_through_helsinki_reads_in_chinese(router: Router) -> None:
    cathedral, chapel = LatLon(60.17038, 24.95216), LatLon(60.16944, 24.93592)
    zh = router.route(cathedral, chapel, language="zh", traffic="none")
    en = router.route(cathedral, chapel, language="en", traffic="none")
    assert [m.type for m in zh.maneuvers] == [m.type for m in en.maneuvers]
    assert len(zh.maneuvers) >= 3
    for maneuver in zh.maneuvers:
        _assert_chinese(maneuver.instruction, *maneuver.street_names)
        for name in maneuver.street_names[:1]:
            assert name in maneuver.instruction
    assert zh.maneuvers[0].instruction.startswith("向")
    assert zh.maneuvers[-1].instruction.startswith("到达目的地")
    assert all(CJK.search(m.instruction) is None for m in en.maneuvers)
