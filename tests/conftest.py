"""Suite-wide set-up: carmind's data directory is a fresh temporary one, never the user's."""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # XDG_DATA_HOME, not CARMIND_DATA_DIR: tests that clear CARMIND_* variables stay isolated.
    # Maps built on first use (carmind run, carmind route) land here once per test session.
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="carmind-test-data-")
    os.environ.pop("CARMIND_DATA_DIR", None)
