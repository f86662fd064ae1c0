"""Turn-by-turn instructions in Chinese, written by carmind from Valhalla's maneuvers.

Valhalla 3.9 ships no Chinese narrative locale: a request in `zh-CN` comes back in English. So for
Chinese carmind asks Valhalla for English and rewrites each maneuver from its structured fields
(`type`, `street_names`, `bearing_after`, `roundabout_exit_count`, `sign`, ...) the way Chinese
navigation apps phrase them: "向北行驶，进入Kaivokatu", "右转进入Simonkatu", "靠右行驶",
"在环岛第2个出口驶出，进入Mannerheimintie", "到达目的地，目的地在右侧". Street names stay as
they are on the map. English and Dutch use Valhalla's own narrative.

Maneuver types are Valhalla's `DirectionsLeg_Maneuver_Type` (proto/directions.proto).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final

from carmind.navigation.errors import NavigationError

LANGUAGES: Final = ("en", "zh", "nl")
COMPASS_ZH: Final = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")

Maneuver = dict[str, Any]


def heading_zh(bearing: float) -> str:
    """The compass direction of `bearing` (degrees clockwise from north) in Chinese: 北, 东北..."""
    return COMPASS_ZH[int(((bearing % 360.0) + 22.5) // 45.0) % 8]


def _names(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Sequence):
        return "/".join(str(v).strip() for v in value if str(v).strip())
    return ""


def _street(m: Maneuver) -> str:
    """The street the maneuver leads onto, as Valhalla names it."""
    return _names(m.get("street_names")) or _names(m.get("begin_street_names"))


def _sign(m: Maneuver, key: str) -> str:
    elements = (m.get("sign") or {}).get(key) or []
    return "/".join(str(e.get("text", "")).strip() for e in elements if e.get("text"))


def _onto(street: str) -> str:
    return f"，进入{street}" if street else ""


def _turn(action: str) -> Callable[[Maneuver], str]:
    """A turn: "右转进入X", or "右转，继续沿X行驶" when the turn keeps to the same road."""

    def phrase(m: Maneuver) -> str:
        street = _street(m)
        if not street:
            return action
        if m.get("to_stay_on"):
            return f"{action}，继续沿{street}行驶"
        joiner = "" if action.endswith("转") else "，"
        return f"{action}{joiner}进入{street}"

    return phrase


def _start(m: Maneuver) -> str:
    bearing = m.get("bearing_after")
    head = f"向{heading_zh(float(bearing))}行驶" if bearing is not None else "出发"
    return head + _onto(_street(m))


def _destination(side: str) -> Callable[[Maneuver], str]:
    def phrase(m: Maneuver) -> str:
        del m
        return "到达目的地" + (f"，目的地在{side}侧" if side else "")

    return phrase


def _becomes(m: Maneuver) -> str:
    street = _street(m)
    return f"继续沿{street}行驶" if street else "继续直行"


def _continue(m: Maneuver) -> str:
    street = _street(m)
    return f"沿{street}继续直行" if street else "继续直行"


def _keep(action: str) -> Callable[[Maneuver], str]:
    """Forks, ramps and exits: the action, then the exit number, direction and road from signs."""

    def phrase(m: Maneuver) -> str:
        text = action
        number = _sign(m, "exit_number_elements")
        if number and "出口" in action:
            text = action.replace("出口", f"{number}号出口")
        branch = _sign(m, "exit_branch_elements") or _street(m)
        toward = _sign(m, "exit_toward_elements")
        if branch:
            text += f"，进入{branch}"
        if toward:
            text += f"，朝{toward}方向"
        return text

    return phrase


def _merge(side: str) -> Callable[[Maneuver], str]:
    def phrase(m: Maneuver) -> str:
        street = _street(m)
        return f"{side}汇入{street}" if street else f"{side}并入主路"

    return phrase


def _roundabout_enter(m: Maneuver) -> str:
    count = m.get("roundabout_exit_count")
    street = _street(m)
    if isinstance(count, int) and count > 0:
        return f"在环岛第{count}个出口驶出" + _onto(street)
    return "进入环岛" + _onto(street)


def _roundabout_exit(m: Maneuver) -> str:
    return "驶出环岛" + _onto(_street(m))


def _ferry_enter(m: Maneuver) -> str:
    street = _street(m)
    return f"乘坐{street}渡轮" if street else "乘坐渡轮"


def _ferry_exit(m: Maneuver) -> str:
    return "下渡轮" + _onto(_street(m))


def _fixed(text: str, *, with_street: bool = True) -> Callable[[Maneuver], str]:
    def phrase(m: Maneuver) -> str:
        return text + (_onto(_street(m)) if with_street else "")

    return phrase


def _transit(verb: str) -> Callable[[Maneuver], str]:
    """Public transport legs (multimodal routes): the line's name as the operator gives it."""

    def phrase(m: Maneuver) -> str:
        info = m.get("transit_info") or {}
        line = str(info.get("short_name") or info.get("long_name") or "").strip()
        return f"{verb}{line}" if line else f"{verb}公共交通"

    return phrase


_PHRASES: Final[dict[int, Callable[[Maneuver], str]]] = {
    0: _continue,
    1: _start,
    2: _start,
    3: _start,
    4: _destination(""),
    5: _destination("右"),
    6: _destination("左"),
    7: _becomes,
    8: _continue,
    9: _turn("向右前方行驶"),
    10: _turn("右转"),
    11: _turn("向右后方行驶"),
    12: _turn("向右掉头"),
    13: _turn("掉头"),
    14: _turn("向左后方行驶"),
    15: _turn("左转"),
    16: _turn("向左前方行驶"),
    17: _keep("直行进入匝道"),
    18: _keep("靠右进入匝道"),
    19: _keep("靠左进入匝道"),
    20: _keep("从右侧出口驶出"),
    21: _keep("从左侧出口驶出"),
    22: _keep("保持直行"),
    23: _keep("靠右行驶"),
    24: _keep("靠左行驶"),
    25: _merge(""),
    26: _roundabout_enter,
    27: _roundabout_exit,
    28: _ferry_enter,
    29: _ferry_exit,
    30: _transit("乘坐"),
    31: _transit("换乘"),
    32: _transit("继续乘坐"),
    33: _fixed("前往车站", with_street=False),
    34: _fixed("在车站换乘", with_street=False),
    35: _fixed("出站", with_street=False),
    36: _fixed("出站后继续前行"),
    37: _merge("向右"),
    38: _merge("向左"),
    39: _fixed("乘坐电梯", with_street=False),
    40: _fixed("走楼梯", with_street=False),
    41: _fixed("乘坐自动扶梯", with_street=False),
    42: _fixed("进入建筑物", with_street=False),
    43: _fixed("离开建筑物", with_street=False),
}


def instruction(maneuver: dict[str, Any], language: str) -> str:
    """The instruction for one Valhalla maneuver (`trip.legs[i].maneuvers[j]`) in `language`.

    Chinese (`zh`) is written here from the maneuver's fields; English and Dutch are
    Valhalla's own text (request the route in that language).
    """
    if language not in LANGUAGES:
        raise NavigationError(
            f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}"
        )
    if language != "zh":
        text = maneuver.get("instruction")
        if not isinstance(text, str):
            raise NavigationError("the maneuver carries no 'instruction' text from Valhalla")
        return text
    try:
        kind = int(maneuver.get("type", 0))
    except (TypeError, ValueError):
        raise NavigationError(
            f"maneuver type must be a Valhalla maneuver number, got {maneuver.get('type')!r}"
        ) from None
    phrase = _PHRASES.get(kind, _continue)
    return phrase(maneuver)


def _round_distance(meters: float) -> float:
    """Distances as a driver hears them: 10 m steps below 100 m, 50 m steps up to 1 km."""
    if meters < 100.0:
        return max(10.0, round(meters / 10.0) * 10.0)
    if meters < 1000.0:
        return round(meters / 50.0) * 50.0
    return meters


def _km(meters: float, decimal: str) -> str:
    km = meters / 1000.0
    text = f"{km:.0f}" if km >= 10.0 or round(km, 1).is_integer() else f"{km:.1f}"
    return text.replace(".", decimal)


def distance_phrase(meters: float, language: str) -> str:
    """How far ahead the next maneuver is: "200 米后", "in 200 meters", "over 200 meter".

    Below 1 km in meters (rounded to 10 m, then 50 m), above in kilometers.
    """
    if language not in LANGUAGES:
        raise NavigationError(
            f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}"
        )
    if not math.isfinite(meters) or meters < 0:
        raise NavigationError(f"a distance must be a finite number of meters >= 0, got {meters}")
    rounded = _round_distance(meters)
    if rounded < 1000.0:
        n = f"{rounded:.0f}"
        return {"zh": f"{n} 米后", "en": f"in {n} meters", "nl": f"over {n} meter"}[language]
    if language == "zh":
        return f"{_km(rounded, '.')} 公里后"
    if language == "nl":
        return f"over {_km(rounded, ',')} kilometer"
    km = _km(rounded, ".")
    return f"in {km} kilometer" + ("" if km == "1" else "s")
