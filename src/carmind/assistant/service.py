"""The assistant as a running service: conversations, smart suggestions and the trip log together.

`carmind run` and `carmind assistant` start one `AssistantService` on the hub. It answers what
the occupants say (`handle`), offers suggestions when it is safe to interrupt, and takes a "yes"
to the suggestion just offered as accepting it (a "no" puts it off for its cooldown).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from carmind.assistant.api import Assistant
from carmind.assistant.config import AssistantConfig
from carmind.assistant.model import Seat, Turn
from carmind.assistant.replies import Message, render
from carmind.assistant.suggestions import Suggestion, SuggestionEngine, SuggestionStore
from carmind.signals.broker import Client
from carmind.signals.errors import SignalError

log = logging.getLogger(__name__)

ACCEPTED = {"en": "Done.", "zh": "好的，已完成。", "nl": "Gedaan."}
"""The reply to an accepted suggestion (what was done is in the turn's actions and requests)."""

type RequestHandler = Callable[[str, Mapping[str, Any], str], str | None]
"""Carries out a request for another service (action, data, language): the sentence to say."""

ANSWER_WINDOW_S = 60.0
"""How long after a suggestion a plain "yes" or "no" is taken as the answer to it (s)."""


@dataclass(frozen=True, slots=True)
class Offer:
    suggestion: Suggestion
    at: float


class AssistantService:
    """One assistant on one hub, with suggestions; `run()` offers them as they come up."""

    def __init__(
        self,
        client: Client,
        *,
        lang: str = "en",
        config: AssistantConfig | None = None,
        store: SuggestionStore | None = None,
        on_suggestion: Callable[[Suggestion], None] | None = None,
        services: Mapping[str, RequestHandler] | None = None,
    ) -> None:
        self.client = client
        self.services: dict[str, RequestHandler] = dict(services or {})
        """Handlers of requests by service name ("navigation", ...): their answers are said."""
        self.assistant = Assistant(client, lang=lang, config=config)
        self.engine = SuggestionEngine(client, store or SuggestionStore())
        self.on_suggestion = on_suggestion
        self.offer: Offer | None = None
        self.last_turn: Turn | None = None

    @property
    def lang(self) -> str:
        return self.assistant.lang

    def handle(self, text: str, *, lang: str | None = None, seat: Seat = Seat.DRIVER) -> Turn:
        """A turn of conversation; a "yes"/"no" right after a suggestion answers the suggestion."""
        answer = self._answer_to_offer(text, lang)
        turn = (
            self._settle_offer(text, lang or self.lang, answer)
            if answer is not None
            else self.assistant.handle(text, lang=lang, seat=seat)
        )
        turn = self._serve_requests(turn)
        self.last_turn = turn
        return turn

    def _serve_requests(self, turn: Turn) -> Turn:
        """Hand the turn's requests to the services that handle them; say what they answer."""
        answers = []
        for request in turn.requests:
            handler = self.services.get(request.service)
            if handler is None:
                continue
            answer = handler(request.action, request.data, turn.lang)
            if answer:
                answers.append(answer)
        if not answers:
            return turn
        return replace(turn, reply=" ".join(answers))

    def _answer_to_offer(self, text: str, lang: str | None) -> bool | None:
        offer = self.offer
        if offer is None or self.assistant.dialogue.state.pending is not None:
            return None
        if time.monotonic() - offer.at > ANSWER_WINDOW_S:
            self.offer = None
            return None
        names = [i.name for i in self.assistant.recognize(text, lang).intents]
        if names == ["ConversationYes"]:
            return True
        if names == ["ConversationNo"]:
            return False
        return None

    def _settle_offer(self, text: str, lang: str, accepted: bool) -> Turn:
        assert self.offer is not None
        suggestion, self.offer = self.offer.suggestion, None
        if not accepted:
            self.engine.dismiss(suggestion.id, forever=False)
            return Turn(text, lang, reply=render(lang, [Message("declined")]), handled=True)
        targets = {a.path: a.value for a in suggestion.actions}
        try:
            if targets:
                self.client.actuate_many(targets)
        except SignalError as exc:
            log.info("suggestion %s could not be carried out: %s", suggestion.id, exc)
            return Turn(text, lang, reply=str(exc), handled=False)
        return Turn(
            text,
            lang,
            actions=suggestion.actions,
            requests=suggestion.requests,
            reply=ACCEPTED.get(lang, ACCEPTED["en"]),
            handled=True,
        )

    def _offered(self, suggestions: list[Suggestion]) -> None:
        top = suggestions[0]
        self.offer = Offer(top, time.monotonic())
        if self.on_suggestion is not None:
            self.on_suggestion(top)

    def check(self) -> Suggestion | None:
        """Evaluate the rules now and offer the top suggestion, if there is one to offer."""
        offers = self.engine.evaluate()
        if offers:
            self._offered(offers)
            return offers[0]
        return None

    async def run(self) -> None:
        """Log trips and offer suggestions until `stop()`."""
        await self.engine.run(self._offered)

    def stop(self) -> None:
        self.engine.stop()
