"""Authorization for the gRPC API: KUKSA-style JWT bearer tokens mapped onto hub clients.

A token is an RS256-signed JWT whose `scope` claim holds KUKSA scopes (`read actuate:Vehicle.Cabin
provide:Vehicle.Speed`). The server verifies it with the configured public key and gives the
caller a broker client with exactly those scopes, so every call is checked by the hub's own access
control. Without a key the server refuses to start unless insecure mode was asked for explicitly.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from carmind.errors import CarmindError
from carmind.signals.access import ALL_SCOPES, Permissions, parse_scopes
from carmind.signals.broker import Broker, Client
from carmind.signals.errors import ScopeError

ALGORITHM = "RS256"
AUDIENCE = "kuksa.val"
ISSUER = "carmind"
_CACHE_LIMIT = 1024


class TokenError(CarmindError):
    """A token or a key could not be made or read."""


@dataclass(frozen=True, slots=True)
class AuthFailure(Exception):
    """Why a call is refused before it reaches the hub (UNAUTHENTICATED)."""

    status: grpc.StatusCode
    message: str


def _read_key(path: str | Path, what: str) -> bytes:
    file = Path(path)
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise TokenError(f"{what} not found: {file}") from None
    except OSError as exc:
        raise TokenError(f"cannot read {what} {file}: {exc}") from None


def load_public_key(path: str | Path) -> bytes:
    data = _read_key(path, "JWT public key")
    try:
        serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise TokenError(f"{path} is not a PEM public key: {exc}") from None
    return data


def load_private_key(path: str | Path) -> bytes:
    data = _read_key(path, "JWT private key")
    try:
        serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise TokenError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    return data


def generate_keypair(directory: str | Path) -> tuple[Path, Path]:
    """Write a new RSA key pair (`jwt.key`, `jwt.key.pub`) for signing development tokens."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = folder / "jwt.key"
    public = folder / "jwt.key.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h', '7d' (or plain seconds) as seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    scale = units.get(raw[-1:])
    number = raw[:-1] if scale is not None else raw
    try:
        value = float(number) * (scale or 1)
    except ValueError:
        raise TokenError(
            f"bad duration {text!r}: use seconds or a number with s, m, h or d"
        ) from None
    if value <= 0:
        raise TokenError(f"bad duration {text!r}: it must be positive")
    return value


def create_token(
    private_key: bytes,
    scope: str,
    *,
    expires_in_s: float = 3600.0,
    subject: str = "carmind-dev",
    now: float | None = None,
) -> str:
    """Mint a KUKSA-style access token with these scopes (validated first)."""
    try:
        parse_scopes(scope)
    except ScopeError as exc:
        raise TokenError(str(exc)) from None
    issued = time.time() if now is None else now
    claims = {
        "iss": ISSUER,
        "aud": [AUDIENCE],
        "sub": subject,
        "client_id": subject,
        "iat": int(issued),
        "exp": int(issued + expires_in_s),
        "jti": str(uuid.uuid4()),
        "scope": scope,
    }
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"typ": "at+jwt"})


class Authorizer:
    """Turns a call's metadata into a hub client with the caller's scopes."""

    def __init__(self, broker: Broker, public_key: bytes | None, *, insecure: bool = False) -> None:
        if public_key is None and not insecure:
            raise TokenError(
                "the gRPC API needs a JWT public key ([grpc] jwt_public_key); "
                "run without authorization only with --grpc-insecure"
            )
        self.broker = broker
        self.public_key = public_key
        self.insecure = insecure
        self._anonymous = broker.client("grpc", ALL_SCOPES) if insecure else None
        self._cache: dict[str, tuple[Client, float]] = {}

    def client_for(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Client:
        """The client for a call, or `AuthFailure` (missing, malformed, expired or forged token)."""
        header = ""
        for key, value in metadata or ():
            if key.lower() == "authorization":
                header = value.decode() if isinstance(value, bytes) else value
                break
        if not header:
            if self._anonymous is not None:
                return self._anonymous
            raise AuthFailure(grpc.StatusCode.UNAUTHENTICATED, "no bearer token was given")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthFailure(grpc.StatusCode.UNAUTHENTICATED, "expected 'Bearer <token>'")
        if self.public_key is None:  # insecure: a token grants no more than anonymous access
            assert self._anonymous is not None
            return self._anonymous
        cached = self._cache.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                options={"verify_aud": False, "require": ["exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthFailure(grpc.StatusCode.UNAUTHENTICATED, "the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthFailure(grpc.StatusCode.UNAUTHENTICATED, f"invalid token: {exc}") from None
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise AuthFailure(grpc.StatusCode.UNAUTHENTICATED, "the token's scope is not a string")
        try:
            permissions = Permissions(scope)
        except ScopeError as exc:
            raise AuthFailure(grpc.StatusCode.UNAUTHENTICATED, f"bad scope: {exc}") from None
        name = str(claims.get("client_id") or claims.get("sub") or "token")
        client = self.broker.client(name, permissions.scopes)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[token] = (client, float(claims["exp"]))
        return client
