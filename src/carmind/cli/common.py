"""What every command shares: consoles, one-line errors, JSON output, config loading."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from carmind.config import Config, load_config

_WIDE = 200


def console() -> Console:
    """Rich console for stdout; wide when piped so tables do not wrap paths."""
    return Console(width=None if sys.stdout.isatty() else _WIDE, highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else _WIDE)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on one line, no colour."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def fail(message: str, status: int = 2) -> NoReturn:
    """Print a one-line error and exit (status 2: the user's input was wrong)."""
    err_console().print(f"[bold red]carmind:[/] {message}", markup=True, soft_wrap=True)
    raise SystemExit(status)


def config_from(path: str | None) -> Config:
    return load_config(path)


def progress_bar(enabled: bool = True, description_width: int = 0) -> Progress:
    """A transient progress bar on stderr, for long jobs (not shown when `enabled` is False)."""
    width = f":<{description_width}" if description_width else ""
    return Progress(
        TextColumn("{task.description" + width + "}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
        disable=not enabled,
    )
