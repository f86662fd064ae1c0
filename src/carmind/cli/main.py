"""The `carmind` entry point: the command groups, and one-line errors with exit status 2."""

from __future__ import annotations

import logging
import sys

import typer

from carmind import __version__
from carmind.cli import assistant, can, cloud, drive, nav, phone, say, signals, sim, token, traffic
from carmind.cli import listen as listen_cmd
from carmind.cli import run as run_cmd
from carmind.cli import trip as trip_cmd
from carmind.cli.common import err_console
from carmind.errors import CarmindError

app = typer.Typer(
    name="carmind",
    help="carmind: an open, offline-first software platform for smart electric vehicles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(signals.app, name="signals")
app.add_typer(sim.app, name="sim")
app.add_typer(token.app, name="token")
app.add_typer(can.app, name="can")
app.add_typer(nav.app, name="map")
app.add_typer(traffic.app, name="traffic")
app.add_typer(cloud.app, name="cloud")
app.add_typer(phone.app, name="phone")
app.add_typer(drive.app, name="drive")
app.command("route")(nav.route)
app.command("trip")(trip_cmd.trip)
app.command("run")(run_cmd.run)
app.command("say")(say.say)
app.command("listen")(listen_cmd.listen)
app.command("assistant")(assistant.assistant)


def _version(value: bool) -> None:
    if value:
        print(f"carmind {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what carmind does."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _usage_error(exc: BaseException) -> str | None:
    """The message of a command-line usage error (Typer's vendored Click UsageError), if it is one.

    Recognised by its interface (exit code 2 and `format_message`), so that carmind does not
    import a private module of Typer.
    """
    format_message = getattr(exc, "format_message", None)
    if getattr(exc, "exit_code", None) == 2 and callable(format_message):
        message = _one_line(str(format_message()))
        ctx = getattr(exc, "ctx", None)
        command = getattr(ctx, "command_path", None)
        return f"{message} (see '{command} --help')" if command else message
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user mistakes print one line and return 2, never a traceback."""
    try:
        result = app(args=argv, prog_name="carmind", standalone_mode=False)
    except CarmindError as exc:
        err_console().print(f"carmind: {_one_line(str(exc))}", markup=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `carmind` or a group alone: its help
            sys.stdout.write(str(exc) + "\n")
            return 2
        message = _usage_error(exc)
        if message is None:
            if type(exc).__name__ == "Abort":
                return 130
            raise
        err_console().print(f"carmind: {message}", markup=False, soft_wrap=True)
        return 2
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
