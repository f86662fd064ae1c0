"""The cloud's settings: where it stores data, which broker it listens to, how it behaves.

Every setting has an embedded default, so `carmind cloud serve` runs with no configuration: SQLite
in the data directory and the Mosquitto on this machine. `CARMIND_CLOUD_*` environment variables
override the defaults (`from_env`); the command line overrides both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from carmind.connect import protocol
from carmind.connect.mqtt import MqttUrlError, parse_url
from carmind.errors import ConfigError
from carmind.paths import default_data_dir

DEFAULT_MQTT_URL: Final = "mqtt://127.0.0.1:1883"
DEFAULT_CLIENT_ID: Final = "carmind-cloud"
ENV_PREFIX: Final = "CARMIND_CLOUD_"


class CloudError(ConfigError):
    """A cloud setting (database URL, MQTT URL, port) that the cloud cannot use."""


def default_db_url(data_dir: Path) -> str:
    """SQLite in the data directory: `sqlite+aiosqlite:///<data dir>/cloud.sqlite`."""
    return f"sqlite+aiosqlite:///{data_dir / 'cloud.sqlite'}"


def check_db_url(url: str) -> str:
    """The URL itself when the cloud can use it (SQLite through aiosqlite, PostgreSQL through
    asyncpg); a `CloudError` naming what is expected otherwise."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise CloudError(
            f"bad database URL {url!r}: expected sqlite+aiosqlite:///FILE or "
            "postgresql+asyncpg://USER@HOST/DB"
        )
    return url


@dataclass(frozen=True, slots=True)
class CloudSettings:
    """Everything the cloud service needs to know; frozen, so one value describes one server."""

    data_dir: Path = field(default_factory=default_data_dir)
    db_url: str = ""
    """Empty: SQLite in the data directory."""
    mqtt_url: str | None = DEFAULT_MQTT_URL
    """None: no broker (REST only; commands cannot be relayed)."""
    host: str = "127.0.0.1"
    port: int = 8710
    mqtt_client_id: str = DEFAULT_CLIENT_ID
    """Fixed, with a persistent session: messages the broker queued while the cloud was down
    arrive after a restart."""
    mqtt_session_expiry_s: int = 7 * 24 * 3600
    """How long the broker keeps the cloud's session (and queues for it) while it is away
    (MQTT 5; on 3.1.1 the session lasts until the cloud connects with a clean session)."""
    batch_max_messages: int = 2000
    """Ingest writes at most this many MQTT messages in one transaction..."""
    batch_max_ms: float = 50.0
    """...and waits at most this long for a batch to fill."""
    price_per_kwh: float = 0.30
    """Cost of charging, per kWh added, in the user's currency."""
    currency: str = "EUR"
    expiry_grace_s: float = protocol.CLOCK_SKEW_S
    """A pending command is marked expired this long after its expiry: the car accepts a command
    until then (clock skew), so the cloud never calls expired what the car may still run."""
    sweep_interval_s: float = 5.0
    """How often pending commands are checked for expiry."""
    token_ttl_s: int = 3600
    """Lifetime of an access token, seconds."""
    issuer: str = "carmind-cloud"
    drive_stop_s: float = 300.0
    """A drive ends when the car has stood still (or sent nothing) this long."""

    def __post_init__(self) -> None:
        if self.db_url:
            check_db_url(self.db_url)
        if self.mqtt_url is not None:
            try:
                parse_url(self.mqtt_url)
            except MqttUrlError as exc:
                raise CloudError(str(exc)) from exc
        if not 0 <= self.port <= 65535:
            raise CloudError(f"bad port {self.port}: expected 0..65535 (0: any free port)")
        if self.batch_max_messages < 1 or self.batch_max_ms <= 0:
            raise CloudError(
                f"bad batch size {self.batch_max_messages} / {self.batch_max_ms} ms: "
                "expected at least 1 message and more than 0 ms"
            )
        if self.price_per_kwh < 0:
            raise CloudError(f"bad price per kWh {self.price_per_kwh}: expected 0 or more")

    @property
    def database_url(self) -> str:
        """The database to use: `db_url`, else SQLite in the data directory."""
        return self.db_url or default_db_url(self.data_dir)

    @property
    def key_file(self) -> Path:
        """The server's token-signing key (HS256), made on first start, readable by owner only."""
        return self.data_dir / "cloud-jwt.key"

    def with_overrides(self, **changes: object) -> CloudSettings:
        """A copy with the given fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


_FLOATS = ("batch_max_ms", "price_per_kwh", "expiry_grace_s", "sweep_interval_s", "drive_stop_s")
_INTS = ("port", "batch_max_messages", "token_ttl_s", "mqtt_session_expiry_s")
_STRS = ("db_url", "mqtt_url", "host", "mqtt_client_id", "currency", "issuer")


def from_env(environ: Mapping[str, str] | None = None) -> CloudSettings:
    """Defaults, overridden by `CARMIND_CLOUD_<FIELD>` variables (`CARMIND_CLOUD_DB_URL`...)."""
    env = os.environ if environ is None else environ
    changes: dict[str, object] = {}
    for name in (*_FLOATS, *_INTS, *_STRS):
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None or raw == "":
            continue
        try:
            changes[name] = float(raw) if name in _FLOATS else int(raw) if name in _INTS else raw
        except ValueError as exc:
            raise CloudError(f"bad {ENV_PREFIX}{name.upper()}={raw!r}: expected a number") from exc
    if env.get(ENV_PREFIX + "DATA_DIR"):
        changes["data_dir"] = Path(env[ENV_PREFIX + "DATA_DIR"]).expanduser()
    else:
        changes["data_dir"] = default_data_dir(env)
    return CloudSettings(**changes)  # type: ignore[arg-type]
