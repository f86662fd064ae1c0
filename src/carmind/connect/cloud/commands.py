"""Remote commands: the cloud relays what the owner's phone signed, and records the outcome.

The phone signs a `protocol.Command`; the cloud checks the caller's scope and that the vehicle is
theirs, stores the command as pending, and publishes it unchanged on `carmind/v1/{vin}/commands`
(QoS 1). The car checks the signature, the expiry and the key's counter, acts, and answers on
`results`; ingest records that answer. The cloud never signs and never re-sends: a command the
car did not answer before its expiry (plus a grace for clock skew) is marked expired, at start
and by a periodic sweep, so every command ends executed once or with a clear result.

Pairing requests (a phone asking the car to enrol its key, `protocol.PairingRequest`) travel the
same way: stored as a command named `enroll_key` (so `GET /api/v1/commands/{id}` shows the car's
answer), published on `carmind/v1/{vin}/pairing`, answered on `results`. Once the car has said
`executed`, the key is registered as one of the user's devices (`settle_enrolments`, run when
the user reads the request's status or their devices): from then on the cloud checks the
signature of that key's commands before bothering the car.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carmind.connect import protocol
from carmind.connect.cloud import db
from carmind.connect.cloud.auth import Principal
from carmind.connect.keychain import PAIRING_TTL_S, KeychainError, key_id_of
from carmind.errors import CarmindError

log = logging.getLogger(__name__)

PENDING = "pending"
ENROLL_KEY = "enroll_key"
"""The command name under which pairing requests are stored."""


class CommandError(CarmindError):
    """A command the cloud will not relay; `status` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Publisher(Protocol):
    async def publish(self, topic: str, payload: bytes) -> None: ...


def verify_signature(command: protocol.Command, public_key_pem: str) -> bool:
    """Whether the command's signature is valid for the PEM public key (ECDSA P-256 SHA-256)."""
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        key.verify(
            base64.b64decode(command.signature, validate=True),
            command.signed.canonical(),
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


async def submit(
    sessions: async_sessionmaker[AsyncSession],
    publisher: Publisher | None,
    principal: Principal,
    vin: str,
    name: protocol.CommandName,
    command: protocol.Command,
) -> db.CommandRow:
    """Check, store as pending and publish one command; a `CommandError` changes nothing
    (except a broker failure after storing, which marks the command failed)."""
    signed = command.signed
    if signed.vin != vin:
        raise CommandError(422, f"the command is signed for {signed.vin}, not for {vin}")
    if signed.name != name:
        raise CommandError(
            422, f"the command is signed as {signed.name.value!r}, not as {name.value!r}"
        )
    now = time.time()
    if signed.expires_at <= now:
        raise CommandError(
            422, f"the command expired at {signed.expires_at:.0f} (now {now:.0f}); sign a new one"
        )
    async with sessions() as session, session.begin():
        await _check_owner(session, vin, principal)
        device = await session.scalar(select(db.Device).where(db.Device.key_id == command.key_id))
        if device is not None:
            if device.user_id != principal.user_id:
                raise CommandError(403, f"key {command.key_id!r} belongs to another user")
            if device.public_key_pem and not verify_signature(command, device.public_key_pem):
                raise CommandError(
                    422,
                    f"the signature does not match key {command.key_id!r}; the car would refuse it",
                )
        row = await _store_pending(
            session,
            principal,
            vin,
            command_id=signed.id,
            name=name.value,
            envelope=command.model_dump(mode="json"),
            now=now,
            expires_at=signed.expires_at,
        )
    stream = protocol.Stream.COMMANDS
    await _send(sessions, publisher, row, stream, command.model_dump_json().encode(), "command")
    return row


async def submit_pairing(
    sessions: async_sessionmaker[AsyncSession],
    publisher: Publisher | None,
    principal: Principal,
    vin: str,
    request: protocol.PairingRequest,
) -> db.CommandRow:
    """Check, store as pending and publish one pairing request (as `submit` does a command).

    The cloud cannot check the proof (it never knows the code); it checks what it can: the VIN,
    the owner, a P-256 public key not registered to someone else, a sensible expiry."""
    if request.vin != vin:
        raise CommandError(422, f"the pairing request is for {request.vin}, not for {vin}")
    try:
        key_id = key_id_of(request.public_pem)
    except KeychainError as exc:
        raise CommandError(422, f"bad public key: {exc}") from exc
    now = time.time()
    if request.expires_at <= now:
        raise CommandError(
            422, f"the request expired at {request.expires_at:.0f} (now {now:.0f}); make a new one"
        )
    longest = PAIRING_TTL_S + protocol.CLOCK_SKEW_S
    if request.expires_at - now > longest:
        raise CommandError(
            422,
            f"the request is valid for {request.expires_at - now:.0f} s; at most {longest:g} s "
            "(a pairing code is valid for two minutes)",
        )
    async with sessions() as session, session.begin():
        await _check_owner(session, vin, principal)
        device = await session.scalar(select(db.Device).where(db.Device.key_id == key_id))
        if device is not None and device.user_id != principal.user_id:
            raise CommandError(403, f"key {key_id!r} belongs to another user")
        row = await _store_pending(
            session,
            principal,
            vin,
            command_id=request.id,
            name=ENROLL_KEY,
            envelope=request.model_dump(mode="json"),
            now=now,
            expires_at=request.expires_at,
        )
    payload = request.model_dump_json().encode()
    await _send(sessions, publisher, row, protocol.Stream.PAIRING, payload, "pairing request")
    return row


async def _check_owner(session: AsyncSession, vin: str, principal: Principal) -> None:
    vehicle = await session.scalar(select(db.Vehicle).where(db.Vehicle.vin == vin))
    if vehicle is None or vehicle.owner_id != principal.user_id:
        raise CommandError(404, f"no vehicle {vin} among yours")


async def _store_pending(
    session: AsyncSession,
    principal: Principal,
    vin: str,
    *,
    command_id: str,
    name: str,
    envelope: dict[str, Any],
    now: float,
    expires_at: float,
) -> db.CommandRow:
    """Add the request as a pending command (its id must be new) in the open transaction."""
    row = db.CommandRow(
        id=command_id,
        vin=vin,
        user_id=principal.user_id,
        name=name,
        envelope=envelope,
        status=PENDING,
        reason="",
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise CommandError(409, f"a command with id {command_id!r} exists already") from exc
    return row


async def _send(
    sessions: async_sessionmaker[AsyncSession],
    publisher: Publisher | None,
    row: db.CommandRow,
    stream: protocol.Stream,
    payload: bytes,
    what: str,
) -> None:
    """Publish a stored request to its car; a broker failure marks it failed (503)."""
    if publisher is None:
        await _fail(sessions, row, "the cloud has no MQTT broker configured")
        raise CommandError(503, f"the cloud has no MQTT broker configured: {what} not sent")
    try:
        await publisher.publish(protocol.topic(row.vin, stream), payload)
    except CarmindError as exc:
        await _fail(sessions, row, f"not sent: {exc}")
        raise CommandError(503, f"{what} not sent: {exc}") from exc


async def settle_enrolments(sessions: async_sessionmaker[AsyncSession], user_id: int) -> int:
    """Register as the user's devices the keys their cars reported enrolled (pairing requests
    answered `executed`) that are not registered yet; how many were added."""
    try:
        added = await _settle(sessions, user_id)
    except IntegrityError:  # a concurrent call registered the same key first: nothing lost
        return 0
    if added:
        log.info("registered %d phone keys that cars enrolled for user %d", added, user_id)
    return added


async def _settle(sessions: async_sessionmaker[AsyncSession], user_id: int) -> int:
    async with sessions() as session, session.begin():
        rows = await session.scalars(
            select(db.CommandRow).where(
                db.CommandRow.user_id == user_id,
                db.CommandRow.name == ENROLL_KEY,
                db.CommandRow.status == protocol.ResultStatus.EXECUTED.value,
            )
        )
        wanted: dict[str, protocol.PairingRequest] = {}
        for row in rows:
            try:
                request = protocol.PairingRequest.model_validate(row.envelope)
                wanted.setdefault(key_id_of(request.public_pem), request)
            except (ValueError, KeychainError):  # not a pairing request this cloud stored
                continue
        if not wanted:
            return 0
        # registered already (or another user's: such a request was refused at submit)
        known = set(
            await session.scalars(select(db.Device.key_id).where(db.Device.key_id.in_(wanted)))
        )
        fresh = {k: r for k, r in wanted.items() if k not in known}
        for key_id, request in fresh.items():
            session.add(
                db.Device(
                    user_id=user_id,
                    name=request.name[:80],
                    key_id=key_id,
                    public_key_pem=request.public_pem,
                    created_at=time.time(),
                )
            )
    return len(fresh)


async def _fail(
    sessions: async_sessionmaker[AsyncSession], row: db.CommandRow, reason: str
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(db.CommandRow)
            .where(db.CommandRow.id == row.id, db.CommandRow.status == PENDING)
            .values(status=protocol.ResultStatus.FAILED.value, reason=reason)
        )
    row.status = protocol.ResultStatus.FAILED.value
    row.reason = reason


async def expire_pending(
    sessions: async_sessionmaker[AsyncSession], grace_s: float, now: float | None = None
) -> int:
    """Mark pending commands whose expiry (plus `grace_s`) has passed as expired; how many."""
    moment = time.time() if now is None else now
    async with sessions() as session, session.begin():
        outcome = await session.execute(
            update(db.CommandRow)
            .where(db.CommandRow.status == PENDING, db.CommandRow.expires_at + grace_s < moment)
            .values(
                status=protocol.ResultStatus.EXPIRED.value,
                reason="expired: the car did not answer before the command's expiry "
                "(it will refuse the command if it arrives later)",
            )
        )
    count = int(getattr(outcome, "rowcount", 0) or 0)
    if count:
        log.info("marked %d pending commands expired", count)
    return count
