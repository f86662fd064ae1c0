"""carmind cloud: vehicles, telemetry, drives and charges, OAuth2, and signed remote commands.

A FastAPI service on SQLAlchemy (SQLite by default, PostgreSQL in production) that ingests what
cars publish over MQTT (`carmind.connect.protocol`) and relays commands their owners' phones
signed. Start it with `carmind cloud serve`, or inside another program with `EmbeddedCloud`.
"""

from __future__ import annotations

from carmind.connect.cloud.server import CloudServer, EmbeddedCloud, serve
from carmind.connect.cloud.service import CloudService
from carmind.connect.cloud.settings import CloudError, CloudSettings

__all__ = ["CloudError", "CloudServer", "CloudService", "CloudSettings", "EmbeddedCloud", "serve"]
