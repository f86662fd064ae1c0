"""Where carmind keeps its data on this machine."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

DATA_DIR_ENV = "CARMIND_DATA_DIR"


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$CARMIND_DATA_DIR`, else the platform's per-user data directory for carmind."""
    env = os.environ if environ is None else environ
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV]).expanduser()
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "win32":
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / "carmind"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "carmind"
    return Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / "carmind"
