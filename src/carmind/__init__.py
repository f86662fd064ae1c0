"""carmind: an open, offline-first software platform for smart electric vehicles."""

__version__ = "0.1.0"
