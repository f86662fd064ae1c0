"""Accounts and registrations: users, vehicles, OAuth2 clients and devices.

Used by the command line (`carmind cloud user add`, ...) and by the REST API; each function is
one transaction and raises `AdminError`, changing nothing, when the input is wrong.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carmind.connect.cloud import db
from carmind.connect.cloud.auth import (
    OFFLINE_ACCESS,
    OPENID,
    SCOPES,
    AuthError,
    digest,
    hash_password,
    new_secret,
    parse_scopes,
)
from carmind.connect.keychain import KeychainError, key_id_of
from carmind.errors import CarmindError

VIN_PATTERN: Final = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
USERNAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.@+-]{1,80}$")
ALL_VEHICLE_SCOPES: Final = " ".join(sorted(SCOPES - {OPENID, OFFLINE_ACCESS}))


class AdminError(CarmindError):
    """A user, vehicle, client or device that cannot be added as asked."""


@dataclass(frozen=True, slots=True)
class NewClient:
    """A registered OAuth2 client; `secret` is shown once (only its digest is stored)."""

    client_id: str
    secret: str | None
    scopes: str
    redirect_uris: str


Sessions = async_sessionmaker[AsyncSession]


async def find_user(session: AsyncSession, username: str) -> db.User:
    """The user of that name; `AdminError` when there is none."""
    user = await session.scalar(select(db.User).where(db.User.username == username))
    if user is None:
        raise AdminError(f"no user {username!r}: add one with 'carmind cloud user add'")
    return user


async def add_user(
    sessions: async_sessionmaker[AsyncSession], username: str, password: str
) -> db.User:
    """A new user with a scrypt-hashed password."""
    if not USERNAME_PATTERN.match(username):
        raise AdminError(f"bad user name {username!r}: expected 1..80 letters, digits or _.@+-")
    if len(password) < 8:
        raise AdminError("password too short: expected at least 8 characters")
    user = db.User(username=username, password_hash=hash_password(password), created_at=time.time())
    try:
        async with sessions() as session, session.begin():
            session.add(user)
    except IntegrityError as exc:
        raise AdminError(f"user {username!r} exists already") from exc
    return user


async def add_vehicle(
    sessions: async_sessionmaker[AsyncSession], username: str, vin: str, name: str = ""
) -> db.Vehicle:
    """Register a vehicle to its owner (the VIN must not be registered yet)."""
    if not VIN_PATTERN.match(vin):
        raise AdminError(f"bad VIN {vin!r}: expected 17 capitals and digits without I, O and Q")
    try:
        async with sessions() as session, session.begin():
            owner = await find_user(session, username)
            vehicle = db.Vehicle(
                vin=vin, owner_id=owner.id, name=name[:80], created_at=time.time(), online=False
            )
            session.add(vehicle)
            await session.flush()
    except IntegrityError as exc:
        raise AdminError(f"vehicle {vin} is registered already") from exc
    return vehicle


async def add_client(
    sessions: async_sessionmaker[AsyncSession],
    username: str,
    *,
    name: str = "",
    scopes: str = ALL_VEHICLE_SCOPES,
    redirect_uris: str = "",
    confidential: bool = True,
) -> NewClient:
    """Register an OAuth2 client owned by `username`.

    A confidential client gets a secret (client credentials: it acts for its owner); a public
    one (an app on a phone) gets none and must use the authorization code flow with PKCE and one
    of its `redirect_uris`.
    """
    try:
        parse_scopes(scopes)
    except AuthError as exc:
        raise AdminError(str(exc)) from exc
    if not scopes.split():
        raise AdminError("no scopes: a client needs at least one")
    uris = redirect_uris.split()
    for uri in uris:
        if not re.match(r"^(https?://|[a-z][a-z0-9+.-]*:/)", uri):
            raise AdminError(f"bad redirect URI {uri!r}: expected an absolute URI")
    if not confidential and not uris:
        raise AdminError("a public client needs at least one redirect URI")
    secret = new_secret() if confidential else None
    client_id = "cm-" + new_secret(12)
    async with sessions() as session, session.begin():
        owner = await find_user(session, username)
        session.add(
            db.OAuthClient(
                client_id=client_id,
                owner_id=owner.id,
                name=name[:80],
                secret_hash=digest(secret) if secret else "",
                redirect_uris=" ".join(uris),
                scopes=" ".join(sorted(set(scopes.split()))),
                created_at=time.time(),
            )
        )
    return NewClient(client_id, secret, " ".join(sorted(set(scopes.split()))), " ".join(uris))


async def add_device(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    name: str,
    public_key_pem: str = "",
    key_id: str = "",
) -> db.Device:
    """Register a phone or app by its public key (its id is derived) or by a key id alone."""
    if public_key_pem:
        try:
            derived = key_id_of(public_key_pem)
        except (KeychainError, ValueError) as exc:
            raise AdminError(f"bad public key: {exc}") from exc
        if key_id and key_id != derived:
            raise AdminError(f"key id {key_id!r} does not belong to the public key ({derived})")
        key_id = derived
    if not key_id or len(key_id) > 64:
        raise AdminError("a device needs a public key (PEM) or a key id of 1..64 characters")
    device = db.Device(
        user_id=user_id,
        name=name[:80],
        key_id=key_id,
        public_key_pem=public_key_pem,
        created_at=time.time(),
    )
    try:
        async with sessions() as session, session.begin():
            session.add(device)
    except IntegrityError as exc:
        raise AdminError(f"a device with key id {key_id!r} is registered already") from exc
    return device
