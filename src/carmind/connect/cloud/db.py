"""The cloud's storage: SQLAlchemy 2 models, the async engine, and the migration at start.

The same models run on SQLite (aiosqlite, the default, and `carmind run`'s embedded cloud) and on
PostgreSQL (asyncpg, production). The schema is owned by Alembic (`migrations/`): `open_database`
upgrades to head before anything else touches the database.

Telemetry is stored twice over, for two readers: `telemetry` holds every point (the time series,
indexed by vehicle, signal and time) and `latest` the newest value of each signal per vehicle (the
vehicle's state, one upsert per batch). `telemetry_batches` holds one row per MQTT message, keyed
by (vin, seq): a repeated message finds its key taken and is dropped, so nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

log = logging.getLogger(__name__)

BigId = BigInteger().with_variant(Integer, "sqlite")
"""64-bit keys on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY."""

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[float] = mapped_column(Float)


class Vehicle(Base):
    __tablename__ = "vehicles"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    vin: Mapped[str] = mapped_column(String(17), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[float] = mapped_column(Float)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    status_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Device(Base):
    """A phone or app of a user, known by the id of the key it signs commands with."""

    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    public_key_pem: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)


class OAuthClient(Base):
    """An OAuth2 client: a public app (authorization code with PKCE, no secret) or a confidential
    one acting for its owner (client credentials, with a hashed secret)."""

    __tablename__ = "oauth_clients"
    client_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    secret_hash: Mapped[str] = mapped_column(String(300), default="")
    redirect_uris: Mapped[str] = mapped_column(Text, default="")
    """Space-separated, exact match."""
    scopes: Mapped[str] = mapped_column(Text)
    """The scopes this client may ask for, space-separated."""
    created_at: Mapped[float] = mapped_column(Float)


class AuthCode(Base):
    __tablename__ = "auth_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[float] = mapped_column(Float)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class TelemetryBatch(Base):
    __tablename__ = "telemetry_batches"
    vin: Mapped[str] = mapped_column(String(17), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sent_at: Mapped[float] = mapped_column(Float)
    received_at: Mapped[float] = mapped_column(Float)
    points: Mapped[int] = mapped_column(Integer)
    summarized: Mapped[int] = mapped_column(Integer, default=0)


class TelemetryPoint(Base):
    """One measured value. `kind` says how to read it back: b(ool), i(nt), f(loat) and n(one)
    from `num`, s(tring) from `txt`."""

    __tablename__ = "telemetry"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    vin: Mapped[str] = mapped_column(String(17))
    seq: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(1))
    num: Mapped[float | None] = mapped_column(Float, nullable=True)
    txt: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (Index("ix_telemetry_vin_path_ts", "vin", "path", "ts"),)


class Latest(Base):
    __tablename__ = "latest"
    vin: Mapped[str] = mapped_column(String(17), primary_key=True)
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    ts: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(1))
    num: Mapped[float | None] = mapped_column(Float, nullable=True)
    txt: Mapped[str | None] = mapped_column(Text, nullable=True)


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    vin: Mapped[str] = mapped_column(String(17))
    seq: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    __table_args__ = (
        UniqueConstraint("vin", "seq", name="uq_events_vin_seq"),
        Index("ix_events_vin_ts", "vin", "ts"),
    )


class CommandRow(Base):
    """A signed command the cloud relayed, and what became of it."""

    __tablename__ = "commands"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vin: Mapped[str] = mapped_column(String(17), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The Command exactly as the phone signed it; relayed as is, never re-signed."""
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    result_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    result_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Drive(Base):
    __tablename__ = "drives"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    vin: Mapped[str] = mapped_column(String(17))
    start_ts: Mapped[float] = mapped_column(Float)
    end_ts: Mapped[float] = mapped_column(Float)
    closed: Mapped[bool] = mapped_column(Boolean)
    distance_km: Mapped[float] = mapped_column(Float)
    energy_kwh: Mapped[float | None] = mapped_column(Float, nullable=True)
    efficiency_wh_km: Mapped[float | None] = mapped_column(Float, nullable=True)
    start_soc: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_soc: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_speed_kmh: Mapped[float] = mapped_column(Float)
    track: Mapped[list[list[float]]] = mapped_column(JSON)
    """[[lat, lon], ...], thinned to at most a few hundred points."""
    __table_args__ = (Index("ix_drives_vin_start", "vin", "start_ts"),)


class Charge(Base):
    __tablename__ = "charges"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    vin: Mapped[str] = mapped_column(String(17))
    start_ts: Mapped[float] = mapped_column(Float)
    end_ts: Mapped[float] = mapped_column(Float)
    closed: Mapped[bool] = mapped_column(Boolean)
    energy_added_kwh: Mapped[float] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float)
    start_soc: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_soc: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_power_kw: Mapped[float | None] = mapped_column(Float, nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    __table_args__ = (Index("ix_charges_vin_start", "vin", "start_ts"),)


def table(model: type[Base]) -> Table:
    """The Core table of a model (for bulk statements that skip the ORM)."""
    return cast(Table, model.__table__)


def dialect_insert(dialect: str, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows ON CONFLICT on this dialect (PostgreSQL or SQLite)."""
    if dialect == "postgresql":
        return postgresql.insert(table(model))
    return sqlite.insert(table(model))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> AsyncEngine:
    """An async engine for the URL; SQLite gets WAL and foreign keys, its folder is created."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    parsed = make_url(url)
    server_settings: dict[str, str] = {}
    options = parsed.query.get("options")
    if options is not None:
        # libpq's `options=-ckey=value ...` (asyncpg does not know it): as server settings
        text = options if isinstance(options, str) else " ".join(options)
        for part in text.replace("-c ", "-c").split():
            key, sep, value = part.removeprefix("-c").partition("=")
            if not part.startswith("-c") or not sep:
                raise ValueError(f"bad database URL option {part!r}: expected -cNAME=VALUE")
            server_settings[key] = value
        parsed = parsed.difference_update_query(["options"])
    return create_async_engine(
        parsed,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"server_settings": server_settings} if server_settings else {},
    )


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


_MIGRATION_LOCK = asyncio.Lock()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (Alembic `upgrade head`), in one transaction."""
    async with _MIGRATION_LOCK, engine.begin() as conn:
        await conn.run_sync(_upgrade)


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory the cloud uses: objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
