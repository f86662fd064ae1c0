"""Suggestions from navigation: a faster route that live traffic opened up.

Guidance publishes its offer on the hub (`Vehicle.Carmind.Navigation.RerouteSaving`, with the
route described in `RerouteOffer`); the assistant asks the driver, and a "yes" sets
`Vehicle.Carmind.Navigation.AcceptReroute`, which switches guidance to the new route.
"""

from __future__ import annotations

from typing import Final

from carmind.assistant.model import Action
from carmind.assistant.suggestions.model import Kind, Suggestion
from carmind.assistant.suggestions.rules import Rule, RuleContext
from carmind.assistant.suggestions.snapshot import (
    ACCEPT_REROUTE,
    REROUTE_OFFER,
    REROUTE_SAVING,
    Snapshot,
)
from carmind.assistant.suggestions.words import per_language

PRIORITY_REROUTE: Final = 70
"""Above comfort and routines, below battery and tyres: time-critical (the turn-off comes up
soon) but not a safety matter."""


def faster_route(s: Snapshot, ctx: RuleContext) -> Suggestion | None:
    """Guidance has a faster route on offer: ask whether to take it."""
    del ctx
    saving = s.number(REROUTE_SAVING)
    if saving is None or saving <= 0:
        return None
    minutes = max(1, round(saving / 60))
    described = s.value(REROUTE_OFFER)

    def text(lang: str) -> str:
        return {
            "en": f"Traffic ahead: a faster route saves {minutes} min. Take it?",
            "zh": f"前方拥堵：另一条路线可节省 {minutes} 分钟，要切换吗？",
            "nl": f"Verkeer op de route: een snellere route scheelt {minutes} min. Nemen?",
        }[lang]

    def reason(lang: str) -> str:
        detail = f" ({described})" if isinstance(described, str) and described else ""
        return {
            "en": f"Live traffic makes the current route {minutes} min slower than another"
            f"{detail}.",
            "zh": f"实时路况显示当前路线比另一条慢 {minutes} 分钟{detail}。",
            "nl": f"Door het actuele verkeer is de huidige route {minutes} min trager dan een "
            f"andere{detail}.",
        }[lang]

    return Suggestion(
        id=f"{Kind.FASTER_ROUTE.value}:{round(saving)}",
        kind=Kind.FASTER_ROUTE,
        text=per_language(text),
        reason=per_language(reason),
        priority=PRIORITY_REROUTE,
        actions=(Action(ACCEPT_REROUTE, True),),
    )


NAVIGATION_RULES: Final[tuple[Rule, ...]] = (faster_route,)
