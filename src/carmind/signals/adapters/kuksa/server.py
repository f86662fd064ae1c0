"""The gRPC server: both KUKSA APIs on one port, with token authorization and optional TLS."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import grpc
from kuksa.val.v1 import val_pb2_grpc as v1_grpc
from kuksa.val.v2 import val_pb2_grpc as v2_grpc

from carmind.errors import CarmindError
from carmind.signals.adapters.kuksa.auth import Authorizer, load_public_key
from carmind.signals.adapters.kuksa.v1 import ValV1
from carmind.signals.adapters.kuksa.v2 import ValV2
from carmind.signals.broker import Broker

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "127.0.0.1:55555"


class GrpcConfigError(CarmindError):
    """The gRPC server cannot start as configured (address, keys, certificates)."""


@dataclass(frozen=True, slots=True)
class GrpcSettings:
    address: str = DEFAULT_ADDRESS
    insecure: bool = False
    """Serve without token authorization (must be asked for explicitly)."""
    jwt_public_key: str = ""
    """PEM file of the RS256 key that verifies access tokens."""
    tls_cert: str = ""
    tls_key: str = ""
    """PEM certificate chain and private key: with both, the server speaks TLS only."""


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host:
        raise GrpcConfigError(f"bad gRPC address {address!r}: expected HOST:PORT")
    try:
        number = int(port)
    except ValueError:
        raise GrpcConfigError(f"bad gRPC port in {address!r}: expected a number") from None
    if not 0 <= number <= 65535:
        raise GrpcConfigError(f"bad gRPC port {number} in {address!r}: expected 0 to 65535")
    return host.strip("[]"), number


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise GrpcConfigError(f"cannot read the {what} {path}: {exc}") from None


class GrpcServer:
    """Serves a broker over `kuksa.val.v1` and `kuksa.val.v2`; `start()` returns the port."""

    def __init__(self, broker: Broker, settings: GrpcSettings) -> None:
        self.settings = settings
        host, self._port = _split_address(settings.address)
        self.host = host
        public_key = load_public_key(settings.jwt_public_key) if settings.jwt_public_key else None
        self.authorizer = Authorizer(broker, public_key, insecure=settings.insecure)
        if bool(settings.tls_cert) != bool(settings.tls_key):
            raise GrpcConfigError(
                "TLS needs both a certificate (--tls-cert) and its key (--tls-key)"
            )
        self._credentials = (
            grpc.ssl_server_credentials(
                [(_read(settings.tls_key, "TLS key"), _read(settings.tls_cert, "TLS certificate"))]
            )
            if settings.tls_cert
            else None
        )
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def tls(self) -> bool:
        return self._credentials is not None

    async def start(self) -> int:
        # without SO_REUSEPORT a port that another server holds is refused instead of shared
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        v1_grpc.add_VALServicer_to_server(ValV1(self.authorizer), server)
        v2_grpc.add_VALServicer_to_server(ValV2(self.authorizer), server)
        target = f"{self.host}:{self._port}"
        try:
            if self._credentials is not None:
                port = server.add_secure_port(target, self._credentials)
            else:
                port = server.add_insecure_port(target)
        except RuntimeError as exc:
            raise GrpcConfigError(f"cannot listen on {target}: {exc}") from None
        if port == 0:
            raise GrpcConfigError(f"cannot listen on {target}: the address is taken or invalid")
        await server.start()
        self._server = server
        self.port = int(port)
        log.info(
            "KUKSA gRPC API on %s:%d (%s, %s)",
            self.host,
            port,
            "TLS" if self.tls else "plaintext",
            "no authorization" if self.settings.insecure else "JWT authorization",
        )
        return self.port

    async def stop(self, grace: float = 1.0) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
