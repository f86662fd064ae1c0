"""`carmind assistant`: an interactive conversation with the assistant, on a live simulated car.

Type what you would say; the car runs in real time meanwhile, and smart suggestions appear when
they come up (answer them with "yes" or "no"). Lines starting with "/" are commands: /lang zh,
/seat passenger, /dismiss (the last suggestion, for good), /help, /quit. End of input also quits.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Annotated

import typer
from rich.console import Console

from carmind.assistant.api import as_seat
from carmind.assistant.config import AssistantConfig
from carmind.assistant.intents.loader import check_language
from carmind.assistant.model import Seat, Turn
from carmind.assistant.service import AssistantService
from carmind.assistant.suggestions import Suggestion
from carmind.cli.common import config_from, console
from carmind.errors import CarmindError
from carmind.vehicle.cycles import load_cycle
from carmind.vehicle.session import CarSession, parse_assignments

COMMANDS = "/lang en|zh|nl, /seat driver|passenger|rear-left|rear-right, /dismiss, /help, /quit"


def assistant(
    lang: Annotated[str, typer.Option("--lang", help="en, zh or nl.")] = "en",
    seat: Annotated[
        str, typer.Option("--seat", help="Who speaks: driver, passenger, ...")
    ] = "driver",
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="Vehicle profile id.")
    ] = None,
    prime: Annotated[
        list[str] | None, typer.Option("--set", "-s", help="Prime the car: PATH=VALUE.")
    ] = None,
    drive: Annotated[
        str, typer.Option("--drive", help="'park' or a drive cycle for the simulated driver.")
    ] = "park",
    speed_factor: Annotated[
        float, typer.Option("--speed-factor", min=0.01, max=1000, help="Simulation speed.")
    ] = 1.0,
    config: Annotated[str | None, typer.Option("--config", help="A carmind.toml to read.")] = None,
) -> None:
    """Talk to the assistant (typed) while the simulated car runs; suggestions pop up."""
    session = CarSession.create(config_from(config), profile=profile)
    session.prime(parse_assignments(session.catalog, prime or []))
    if drive != "park":
        session.car.drive_cycle(load_cycle(drive))
    state = _State(check_language(lang), as_seat(seat))
    asyncio.run(_converse(session, state))


class _State:
    def __init__(self, lang: str, seat: Seat) -> None:
        self.lang = lang
        self.seat = seat


def _print_turn(out: Console, turn: Turn) -> None:
    out.print(f"[bold green]carmind:[/] {turn.reply}", soft_wrap=True)
    for action in turn.actions:
        out.print(f"  [dim]set {action.path} = {action.value!r}[/]", soft_wrap=True)
    for request in turn.requests:
        out.print(f"  [dim]asked {request.service}: {request.action}[/]", soft_wrap=True)


def _command(line: str, state: _State, service: AssistantService, out: Console) -> bool:
    """Handle a /command; False ends the conversation."""
    name, _, argument = line[1:].partition(" ")
    argument = argument.strip()
    try:
        if name in ("quit", "exit"):
            return False
        if name == "lang":
            state.lang = check_language(argument)
            out.print(f"[dim]language: {state.lang}[/]")
        elif name == "seat":
            state.seat = as_seat(argument)
            out.print(f"[dim]speaking from: {state.seat}[/]")
        elif name == "dismiss":
            offer = service.offer
            if offer is None:
                out.print("[dim]no suggestion to dismiss[/]")
            else:
                service.engine.dismiss(offer.suggestion.id, forever=True)
                service.offer = None
                out.print(f"[dim]'{offer.suggestion.kind}' will not be suggested again[/]")
        else:
            out.print(f"[dim]commands: {COMMANDS}[/]")
    except CarmindError as exc:
        out.print(f"[red]{exc}[/]")
    return True


async def _converse(session: CarSession, state: _State) -> None:
    out = console()
    loop = asyncio.get_running_loop()

    def offer(suggestion: Suggestion) -> None:
        lang = state.lang
        out.print(
            f"[bold cyan]carmind suggests:[/] {suggestion.text[lang]} "
            f"[dim](because {suggestion.reason[lang]})[/]",
            soft_wrap=True,
        )

    service = AssistantService(
        session.client, lang=state.lang, config=AssistantConfig.from_env(), on_suggestion=offer
    )
    car = asyncio.create_task(session.run_realtime())
    suggestions = asyncio.create_task(service.run())
    out.print(
        f"[bold]carmind assistant[/] on a {session.car.profile.name}; type to talk, {COMMANDS}",
        soft_wrap=True,
    )
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                if not _command(text, state, service, out):
                    break
                continue
            try:
                turn = service.handle(text, lang=state.lang, seat=state.seat)
            except CarmindError as exc:
                out.print(f"[red]{exc}[/]")
                continue
            _print_turn(out, turn)
    finally:
        service.stop()
        session.stop()
        suggestions.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await suggestions
        await car
