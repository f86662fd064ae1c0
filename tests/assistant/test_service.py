"""The assistant service: suggestions offered, and answered with "yes" or "no"."""

from __future__ import annotations

from pathlib import Path

import pytest

from carmind.assistant.service import AssistantService
from carmind.assistant.suggestions import Suggestion, SuggestionStore
from carmind.vehicle.session import CarSession

WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
LOCK = "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"


@pytest.fixture
def parked_with_a_window_open(tmp_path: Path) -> tuple[CarSession, AssistantService]:
    session = CarSession.create(epoch=1_700_000_000.0)
    offered: list[Suggestion] = []
    service = AssistantService(
        session.client, store=SuggestionStore(tmp_path / "s.sqlite3"), on_suggestion=offered.append
    )
    session.prime({WINDOW: 40, LOCK: True})
    session.advance(2)
    return session, service


def test_yes_accepts_the_suggestion(
    parked_with_a_window_open: tuple[CarSession, AssistantService],
) -> None:
    session, service = parked_with_a_window_open
    suggestion = service.check()
    assert suggestion is not None and suggestion.kind == "window_open_when_locking"
    turn = service.handle("yes")
    assert turn.handled and turn.reply == "Done."
    assert (WINDOW, 0) in {(a.path, a.value) for a in turn.actions}
    session.advance(5)
    assert session.client.value(WINDOW) == 0
    assert service.offer is None


def test_no_puts_the_suggestion_off(
    parked_with_a_window_open: tuple[CarSession, AssistantService],
) -> None:
    session, service = parked_with_a_window_open
    assert service.check() is not None
    turn = service.handle("no")
    assert turn.handled and not turn.actions
    assert session.client.value(WINDOW) == 40
    assert service.check() is None  # its cooldown has started


def test_yes_without_an_offer_is_an_ordinary_turn(
    parked_with_a_window_open: tuple[CarSession, AssistantService],
) -> None:
    _, service = parked_with_a_window_open
    turn = service.handle("yes")
    assert not turn.handled and not turn.actions
    assert "nothing to confirm" in turn.reply.lower()
