"""The words suggestions are made of, per language: wheels, windows, doors, days, numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final

from carmind.assistant.model import LANGUAGES
from carmind.assistant.suggestions.model import Texts, texts

WHEEL_NAMES: Final = {
    "Row1.Wheel.Left": texts(en="front-left", zh="左前", nl="linksvoor"),
    "Row1.Wheel.Right": texts(en="front-right", zh="右前", nl="rechtsvoor"),
    "Row2.Wheel.Left": texts(en="rear-left", zh="左后", nl="linksachter"),
    "Row2.Wheel.Right": texts(en="rear-right", zh="右后", nl="rechtsachter"),
}

WINDOW_NAMES: Final = {
    "Row1.DriverSide": texts(en="driver's window", zh="主驾车窗", nl="bestuurdersraam"),
    "Row1.PassengerSide": texts(
        en="front passenger's window", zh="副驾车窗", nl="raam van de bijrijder"
    ),
    "Row2.DriverSide": texts(
        en="rear window on the driver's side", zh="主驾侧后车窗", nl="achterraam bestuurderszijde"
    ),
    "Row2.PassengerSide": texts(
        en="rear window on the passenger's side", zh="副驾侧后车窗", nl="achterraam bijrijderszijde"
    ),
}

DOOR_NAMES: Final = {
    "Row1.DriverSide": texts(en="driver's door", zh="主驾车门", nl="bestuurdersdeur"),
    "Row1.PassengerSide": texts(en="front passenger's door", zh="副驾车门", nl="bijrijdersdeur"),
    "Row2.DriverSide": texts(
        en="rear door on the driver's side", zh="主驾侧后车门", nl="achterdeur bestuurderszijde"
    ),
    "Row2.PassengerSide": texts(
        en="rear door on the passenger's side", zh="副驾侧后车门", nl="achterdeur bijrijderszijde"
    ),
}

_DAY_NAMES: Final = {
    "en": ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
}

WEEKDAYS: Final = frozenset(range(5))
WEEKEND: Final = frozenset({5, 6})


def join(lang: str, items: Sequence[str]) -> str:
    """`a, b and c` in the language's own way."""
    if lang == "zh":
        return "、".join(items)
    if len(items) <= 1:
        return "".join(items)
    last = {"en": " and ", "nl": " en "}[lang]
    return ", ".join(items[:-1]) + last + items[-1]


def names(table: dict[str, Texts], keys: Iterable[str], lang: str) -> str:
    """The joined names of `keys` in `lang`."""
    return join(lang, [table[k][lang] for k in keys])


def number(lang: str, value: float, decimals: int = 0) -> str:
    """A number as the language writes it (a decimal comma in Dutch)."""
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if lang == "nl" else text


def km(lang: str, value: float) -> str:
    unit = " 公里" if lang == "zh" else " km"
    return number(lang, value) + unit


def clock_time(minute_of_day: int) -> str:
    """`08:10` for 490 minutes after midnight (24-hour clock in every language)."""
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


def days_phrase(lang: str, days: frozenset[int]) -> str:
    """`on weekdays`, `on weekends`, `on Tuesdays and Thursdays`, per language."""
    if days == WEEKDAYS:
        return {"en": "on weekdays", "zh": "工作日", "nl": "op werkdagen"}[lang]
    if days == WEEKEND:
        return {"en": "at weekends", "zh": "周末", "nl": "in het weekend"}[lang]
    if days == frozenset(range(7)):
        return {"en": "every day", "zh": "每天", "nl": "elke dag"}[lang]
    day_names = [_DAY_NAMES[lang][d] for d in sorted(days)]
    if lang == "zh":
        return "每" + "、".join(day_names)
    prefix = {"en": "on ", "nl": "op "}[lang]
    plural = [n + "en" for n in day_names] if lang == "nl" else day_names
    return prefix + join(lang, plural)


def per_language(make: Callable[[str], str]) -> Texts:
    """A text per language from a function of the language code."""
    made = {lang: make(lang) for lang in LANGUAGES}
    return texts(en=made["en"], zh=made["zh"], nl=made["nl"])
