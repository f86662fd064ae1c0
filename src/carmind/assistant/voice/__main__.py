"""`python -m carmind.assistant.voice`: carmind's Wyoming server (speech, voice, assistant).

    python -m carmind.assistant.voice --uri tcp://0.0.0.0:10300

serves speech recognition, speech synthesis and the assistant (acting on a simulated car that
runs in step with the wall clock) to Home Assistant or Rhasspy satellites; `--no-asr`, `--no-tts`
and `--no-assistant` leave a service out. See docs/voice.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from carmind.assistant.voice.service import DEFAULT_URI, VoiceServer, VoiceServices
from carmind.errors import CarmindError

log = logging.getLogger("carmind.assistant.voice")

MAX_CATCH_UP_S = 60.0
"""The simulated car catches up at most this much wall-clock time after a turn."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m carmind.assistant.voice", description="carmind's Wyoming server."
    )
    parser.add_argument(
        "--uri", default=DEFAULT_URI, help=f"tcp://HOST:PORT (default {DEFAULT_URI})"
    )
    parser.add_argument("--no-asr", action="store_true", help="do not offer speech recognition")
    parser.add_argument("--no-tts", action="store_true", help="do not offer speech synthesis")
    parser.add_argument("--no-assistant", action="store_true", help="do not offer the assistant")
    parser.add_argument("--seat", default="driver", help="who speaks to the assistant")
    parser.add_argument("--config", default=None, help="a carmind.toml for the simulated car")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    return parser


def build_services(args: argparse.Namespace) -> tuple[VoiceServices, list[object]]:
    """The services the arguments ask for, and what must be stopped at the end."""
    services = VoiceServices()
    cleanup: list[object] = []
    if not args.no_asr:
        from carmind.assistant.voice.speech import shared_recognizer

        services.recognizer = shared_recognizer()
    if not args.no_tts:
        from carmind.assistant.voice.tts import Synthesizer

        services.synthesizer = Synthesizer()
    if not args.no_assistant:
        from carmind.assistant.api import Assistant, as_seat
        from carmind.config import load_config
        from carmind.vehicle.session import CarSession

        session = CarSession.create(load_config(args.config))
        cleanup.append(session)
        services.assistant = Assistant(session.client, lang="en")
        services.seat = as_seat(args.seat)
        last = [time.monotonic()]

        def catch_up() -> None:
            now = time.monotonic()
            session.advance(min(MAX_CATCH_UP_S, now - last[0]))
            last[0] = now

        services.after_turn = catch_up
    return services, cleanup


async def _serve(args: argparse.Namespace) -> None:
    services, cleanup = build_services(args)
    server = VoiceServer(services, args.uri)
    await server.start()
    print(f"carmind Wyoming server listening on {server.uri}", file=sys.stderr)
    try:
        await server.serve_forever()
    finally:
        await server.stop()
        for item in cleanup:
            stop = getattr(item, "stop", None)
            if callable(stop):
                stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(_serve(args))
    except CarmindError as exc:
        print(f"carmind: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
