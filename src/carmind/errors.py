"""The root of carmind's error hierarchy.

Every error a user can cause is a `CarmindError`: its message names the offending value and what
was expected, and raising it changes nothing. The CLI prints the message on one line and exits
with status 2.
"""

from __future__ import annotations


class CarmindError(Exception):
    """Base class of every error carmind raises on purpose."""


class ConfigError(CarmindError):
    """A configuration file or `CARMIND_*` variable holds a value carmind cannot use."""
