"""Who is calling: password hashing, OAuth2 scopes, access tokens (JWT) and PKCE.

Scopes follow the Tesla Fleet API: `vehicle_device_data` to read a vehicle, `vehicle_location` to
see where it is, `vehicle_cmds` to command it, `vehicle_charging_cmds` to start, stop and limit
charging; `openid` and `offline_access` (a refresh token) are optional. Every API call names the
scope it needs; a token without it is answered 403, a missing or bad token 401.

Access tokens are HS256 JWTs signed with a 256-bit key the server makes on first start in its data
directory (`cloud-jwt.key`, readable by its owner only). Passwords are hashed with scrypt
(hashlib), salted, with the parameters stored beside the hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import jwt

from carmind.connect.protocol import CommandName
from carmind.errors import CarmindError

VEHICLE_DEVICE_DATA: Final = "vehicle_device_data"
VEHICLE_LOCATION: Final = "vehicle_location"
VEHICLE_CMDS: Final = "vehicle_cmds"
VEHICLE_CHARGING_CMDS: Final = "vehicle_charging_cmds"
OPENID: Final = "openid"
OFFLINE_ACCESS: Final = "offline_access"
SCOPES: Final = frozenset(
    {
        VEHICLE_DEVICE_DATA,
        VEHICLE_LOCATION,
        VEHICLE_CMDS,
        VEHICLE_CHARGING_CMDS,
        OPENID,
        OFFLINE_ACCESS,
    }
)
CHARGING_COMMANDS: Final = frozenset(
    {CommandName.CHARGE_START, CommandName.CHARGE_STOP, CommandName.SET_CHARGE_LIMIT}
)
AUDIENCE: Final = "carmind-cloud-api"

_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1


class AuthError(CarmindError):
    """A credential, token or OAuth2 request that the cloud refuses."""


def command_scope(name: CommandName) -> str:
    """The scope a command needs: charging commands `vehicle_charging_cmds`, others
    `vehicle_cmds`."""
    return VEHICLE_CHARGING_CMDS if name in CHARGING_COMMANDS else VEHICLE_CMDS


def parse_scopes(text: str) -> frozenset[str]:
    """Space-separated scopes; an unknown one is an `AuthError` that names it."""
    scopes = frozenset(text.split())
    unknown = sorted(scopes - SCOPES)
    if unknown:
        raise AuthError(
            f"unknown scope {unknown[0]!r}: expected some of {', '.join(sorted(SCOPES))}"
        )
    return scopes


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash`, base64 parts, for storing."""
    if not password:
        raise AuthError("empty password: a password needs at least one character")
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return "$".join(
        [
            "scrypt",
            str(_SCRYPT_N),
            str(_SCRYPT_R),
            str(_SCRYPT_P),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def verify_password(password: str, stored: str) -> bool:
    """Whether the password matches a `hash_password` value (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (authorization codes, refresh tokens, client
    secrets): stored instead of the secret itself."""
    return hashlib.sha256(secret.encode()).hexdigest()


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636)."""
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def check_pkce(verifier: str, challenge: str) -> bool:
    """Whether the verifier belongs to the challenge (S256; verifier of 43..128 characters)."""
    if not 43 <= len(verifier) <= 128:
        return False
    return hmac.compare_digest(pkce_challenge(verifier), challenge)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def load_or_create_key(path: Path) -> bytes:
    """The server's signing key from `path`, made (32 random bytes, mode 0600) when absent."""
    if path.exists():
        key = path.read_bytes().strip()
        if len(key) < 32:
            raise AuthError(f"token key {path} is too short: expected at least 32 bytes")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a valid access token."""

    user_id: int
    client_id: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes


class Tokens:
    """Issues and checks access tokens (HS256 JWT) with the server's key."""

    def __init__(self, key: bytes, issuer: str, ttl_s: int) -> None:
        self._key = key
        self._issuer = issuer
        self.ttl_s = ttl_s

    def issue(self, user_id: int, client_id: str, scopes: frozenset[str]) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "client_id": client_id,
            "scope": " ".join(sorted(scopes)),
            "iat": now,
            "exp": now + self.ttl_s,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def check(self, token: str) -> Principal:
        """The principal of a valid token; `AuthError` for an expired, forged or odd one."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=self._issuer,
                options={"require": ["exp", "sub", "scope"]},
            )
            user_id = int(claims["sub"])
            scopes = frozenset(str(claims["scope"]).split())
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthError(f"invalid access token: {exc}") from exc
        return Principal(user_id, str(claims.get("client_id", "")), scopes)
