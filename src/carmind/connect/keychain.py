"""The car's keychain: the owners' phone keys, and the checks every remote command passes.

A phone holds an ECDSA P-256 private key; the car holds its public key. The phone signs the
canonical JSON of a `SignedPart` (`sign_command`), the cloud relays the `Command`, and the car
verifies it (`Keychain.verify`): known and unrevoked key, valid signature, this car's VIN, not
expired, not valid for too long, and a counter strictly greater than the last one accepted from
that key. The cloud can relay and drop commands but cannot forge or replay one.

A key is enrolled only with presence in the car: the car shows a 6-digit pairing code
(`start_pairing`), valid for `PAIRING_TTL_S` and one use; the phone sends it with its public key
(`enroll`, in the car), or, through the cloud, a proof that it knows the code (`pairing_proof` on
the phone, `enroll_with_proof` in the car: the code never travels). `PAIRING_MAX_ATTEMPTS` wrong
codes or proofs end the pairing window. Keys are revoked from the car only.

The keychain is a JSON file in the car's data directory, replaced atomically (write, fsync,
rename), and the accepted counter is written before `verify` returns, so a crash between
verifying and executing can never let the same command through twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from carmind.connect.protocol import (
    CLOCK_SKEW_S,
    Command,
    ResultStatus,
    SignedPart,
    pairing_message,
)
from carmind.errors import CarmindError

log = logging.getLogger(__name__)

MAX_VALIDITY_S: Final = 600.0
"""The longest a command may be valid for (10 min): long enough for a car in a parking garage to
pick it up after a reconnect, short enough that a captured command is worthless soon."""
PAIRING_TTL_S: Final = 120.0
"""How long a pairing code shown in the car stays valid: time to type six digits, no more."""
PAIRING_MAX_ATTEMPTS: Final = 5
"""Wrong codes before the pairing window closes: 5 guesses in 10^6 codes, a 1-in-200,000 chance."""
PAIRING_DIGITS: Final = 6
KEYCHAIN_FILE: Final = "keychain.json"
KEY_ID_HEX: Final = 16
"""A key id is the first 64 bits of the SHA-256 of the public key: unique among a car's keys."""


class KeychainError(CarmindError):
    """Enrolment or revocation could not be done (wrong code, unknown key, bad public key)."""


class CommandRefused(CarmindError):
    """A command failed verification; `reason` says which check, `status` what to answer."""

    def __init__(self, reason: str, status: ResultStatus = ResultStatus.REFUSED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class PhoneKey:
    """An enrolled key, as the car keeps it."""

    key_id: str
    name: str
    public_pem: str
    enrolled_at: float
    counter: int = 0
    """The last counter accepted from this key."""
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(slots=True)
class _Pairing:
    code: str
    expires_at: float
    attempts: int = 0


# ---------------------------------------------------------------------------- phone side


def generate_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A new phone key: the private key (stays on the phone) and its public key as PEM."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, pem.decode("ascii")


def sign_command(
    private_key: ec.EllipticCurvePrivateKey,
    key_id: str,
    part: SignedPart,
    source: str = "cloud",
) -> Command:
    """The phone's side: sign `part` (ECDSA P-256, SHA-256, DER, base64) into a `Command`."""
    signature = private_key.sign(part.canonical(), ec.ECDSA(hashes.SHA256()))
    return Command.model_validate(
        {
            "signed": part,
            "key_id": key_id,
            "signature": base64.b64encode(signature).decode("ascii"),
            "source": source,
        }
    )


def pairing_proof(code: str, public_pem: str, name: str, request_id: str) -> str:
    """The phone's side of pairing: proof that it knows the code shown in the car, without
    sending the code (base64 HMAC-SHA256 keyed with the code over the key, name and id)."""
    return base64.b64encode(_hmac(code, public_pem, name, request_id)).decode("ascii")


def _hmac(code: str, public_pem: str, name: str, request_id: str) -> bytes:
    message = pairing_message(public_pem, name, request_id)
    return hmac.new(code.encode("utf-8"), message, hashlib.sha256).digest()


def key_id_of(public_pem: str) -> str:
    """The id of a public key (PEM), as the car names it."""
    key = _load_public(public_pem)
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:KEY_ID_HEX]


def _load_public(public_pem: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(public_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise KeychainError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeychainError("expected an ECDSA P-256 (secp256r1) public key")
    return key


# ---------------------------------------------------------------------------- car side


class Keychain:
    """The car's enrolled phone keys, persisted in `directory/keychain.json`."""

    def __init__(self, directory: str | Path, vin: str, *, skew_s: float = CLOCK_SKEW_S) -> None:
        """`skew_s`: how long after its expiry a command is still accepted (the protocol's
        `CLOCK_SKEW_S`; the cloud waits as long before it calls a command expired)."""
        self.skew_s = skew_s
        self.directory = Path(directory)
        self.vin = vin
        self.path = self.directory / KEYCHAIN_FILE
        self.directory.mkdir(parents=True, exist_ok=True)
        self._keys: dict[str, PhoneKey] = self._load()
        self._public: dict[str, ec.EllipticCurvePublicKey] = {}
        self._pairing: _Pairing | None = None

    # ------------------------------------------------------------------ persistence

    def _load(self) -> dict[str, PhoneKey]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text("utf-8"))
            return {k["key_id"]: PhoneKey(**k) for k in data["keys"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeychainError(f"keychain {self.path} is unreadable: {exc}") from exc

    def _save(self) -> None:
        data: dict[str, Any] = {
            "version": 1,
            "vin": self.vin,
            "keys": [
                {
                    "key_id": k.key_id,
                    "name": k.name,
                    "public_pem": k.public_pem,
                    "enrolled_at": k.enrolled_at,
                    "counter": k.counter,
                    "revoked_at": k.revoked_at,
                }
                for k in self._keys.values()
            ],
        }
        atomic_write(self.path, json.dumps(data, indent=1).encode("utf-8"))

    # ------------------------------------------------------------------ reading

    def enrolled(self) -> list[PhoneKey]:
        """Every key ever enrolled, revoked ones included (they stay refused)."""
        return list(self._keys.values())

    def get(self, key_id: str) -> PhoneKey | None:
        return self._keys.get(key_id)

    # ------------------------------------------------------------------ pairing

    def start_pairing(self, now: float) -> str:
        """Open a pairing window: a fresh 6-digit code to show in the car (replaces any other)."""
        code = f"{secrets.randbelow(10**PAIRING_DIGITS):0{PAIRING_DIGITS}d}"
        self._pairing = _Pairing(code, now + PAIRING_TTL_S)
        log.info("pairing window open for %.0f s", PAIRING_TTL_S)
        return code

    def pairing_code(self, now: float) -> str | None:
        """The code to show now, or None when no pairing window is open."""
        pairing = self._pairing
        if pairing is None or now > pairing.expires_at:
            self._pairing = None
            return None
        return pairing.code

    def cancel_pairing(self) -> None:
        self._pairing = None

    def enroll(self, code: str, public_pem: str, name: str, now: float) -> str:
        """Enrol a phone key with the code shown in the car; returns its key id.

        Refused (raising `KeychainError`, changing nothing but the attempt count) when no
        pairing window is open, it has expired, or the code is wrong; the window closes after a
        success or `PAIRING_MAX_ATTEMPTS` wrong codes.
        """
        pairing = self._open_window(now)
        if not secrets.compare_digest(code.encode("utf-8"), pairing.code.encode("utf-8")):
            self._wrong_code(pairing)
        return self._add(public_pem, name, now)

    def enroll_with_proof(
        self, proof: str, public_pem: str, name: str, request_id: str, now: float
    ) -> str:
        """Enrol a phone key that proves it knows the code shown in the car; returns its key id.

        `proof` is what `pairing_proof(code, public_pem, name, request_id)` made on the phone:
        the code itself never leaves the car or the phone. A proof that does not match the open
        code (or is not base64) counts as a wrong code; otherwise as `enroll`.
        """
        pairing = self._open_window(now)
        try:
            given = base64.b64decode(proof, validate=True)
        except (binascii.Error, ValueError):
            given = b""
        expected = _hmac(pairing.code, public_pem, name, request_id)
        if not hmac.compare_digest(given, expected):
            self._wrong_code(pairing)
        return self._add(public_pem, name, now)

    def _open_window(self, now: float) -> _Pairing:
        pairing = self._pairing
        if pairing is None:
            raise KeychainError("no pairing window is open: start pairing in the car first")
        if now > pairing.expires_at:
            self._pairing = None
            raise KeychainError(f"the pairing code has expired (valid {PAIRING_TTL_S:g} s)")
        return pairing

    def _wrong_code(self, pairing: _Pairing) -> NoReturn:
        pairing.attempts += 1
        left = PAIRING_MAX_ATTEMPTS - pairing.attempts
        if left <= 0:
            self._pairing = None
            log.warning("pairing window closed after %d wrong codes", PAIRING_MAX_ATTEMPTS)
            raise KeychainError(
                f"wrong pairing code; {PAIRING_MAX_ATTEMPTS} wrong codes closed the pairing "
                "window: start pairing in the car again"
            )
        raise KeychainError(f"wrong pairing code; {left} attempt(s) left")

    def _add(self, public_pem: str, name: str, now: float) -> str:
        """Add a key once the code was right; a bad name or key leaves the window open."""
        clean_name = name.strip()
        if not 1 <= len(clean_name) <= 64:
            raise KeychainError(f"key name must be 1 to 64 characters, got {name!r}")
        key_id = key_id_of(public_pem)  # raises on a bad key, before the code is spent
        existing = self._keys.get(key_id)
        if existing is not None:
            state = "revoked: generate a new key" if existing.revoked else "already enrolled"
            raise KeychainError(f"key {key_id} is {state}")
        self._pairing = None
        self._keys[key_id] = PhoneKey(key_id, clean_name, public_pem.strip() + "\n", now)
        self._save()
        log.info("enrolled phone key %s (%s)", key_id, clean_name)
        return key_id

    def revoke(self, key_id: str, now: float | None = None) -> PhoneKey:
        """Revoke a key (from the car's own screen or CLI only; never over the link)."""
        now = time.time() if now is None else now
        key = self._keys.get(key_id)
        if key is None:
            raise KeychainError(f"no key {key_id!r}; known: {', '.join(self._keys) or 'none'}")
        if key.revoked:
            return key
        key = replace(key, revoked_at=now)
        self._keys[key_id] = key
        self._public.pop(key_id, None)
        self._save()
        log.info("revoked phone key %s (%s)", key_id, key.name)
        return key

    # ------------------------------------------------------------------ verifying

    def verify(self, command: Command, now: float) -> SignedPart:
        """Check a command; on success record its counter (on disk) and return what it says.

        Raises `CommandRefused` naming the failed check; a refused command changes nothing.
        """
        key = self._keys.get(command.key_id)
        if key is None:
            raise CommandRefused(f"unknown key {command.key_id!r}: enrol the phone in the car")
        if key.revoked:
            raise CommandRefused(f"key {key.key_id} ({key.name}) has been revoked")
        part = command.signed
        try:
            signature = base64.b64decode(command.signature, validate=True)
            self._public_key(key).verify(signature, part.canonical(), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, binascii.Error, ValueError):
            raise CommandRefused(f"bad signature for key {key.key_id}: forged or altered") from None
        if part.vin != self.vin:
            raise CommandRefused(f"command is for VIN {part.vin}, this car is {self.vin}")
        if now > part.expires_at + self.skew_s:
            raise CommandRefused(
                f"command expired {now - part.expires_at:.0f} s ago", ResultStatus.EXPIRED
            )
        if part.expires_at - now > MAX_VALIDITY_S + self.skew_s:
            raise CommandRefused(
                f"command valid for {part.expires_at - now:.0f} s; at most {MAX_VALIDITY_S:g} s "
                "is accepted"
            )
        if part.counter <= key.counter:
            raise CommandRefused(
                f"replay: counter {part.counter} is not greater than {key.counter}, the last "
                f"accepted from key {key.key_id}"
            )
        self._keys[key.key_id] = replace(key, counter=part.counter)
        try:
            self._save()
        except OSError:
            self._keys[key.key_id] = key
            raise
        return part

    def _public_key(self, key: PhoneKey) -> ec.EllipticCurvePublicKey:
        public = self._public.get(key.key_id)
        if public is None:
            public = _load_public(key.public_pem)
            self._public[key.key_id] = public
        return public


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


__all__ = [
    "CLOCK_SKEW_S",
    "MAX_VALIDITY_S",
    "PAIRING_MAX_ATTEMPTS",
    "PAIRING_TTL_S",
    "CommandRefused",
    "Keychain",
    "KeychainError",
    "PhoneKey",
    "generate_key",
    "key_id_of",
    "pairing_proof",
    "sign_command",
]
