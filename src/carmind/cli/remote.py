"""Reaching a running carmind (or any KUKSA databroker) from the CLI, with the real kuksa-client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuksa_client.grpc import Datapoint as KuksaDatapoint
from kuksa_client.grpc import VSSClientError
from kuksa_client.grpc.aio import VSSClient

from carmind.errors import CarmindError
from carmind.signals.broker import Datapoint
from carmind.signals.catalog import Catalog, Value

TIMEOUT_S = 10.0


class RemoteError(CarmindError):
    """The remote hub answered with an error, or could not be reached."""


@dataclass(frozen=True, slots=True)
class Remote:
    address: str
    token: str | None = None
    tls_ca: Path | None = None
    tls_server_name: str | None = None


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RemoteError(f"bad address {address!r}: expected HOST:PORT, e.g. 127.0.0.1:55555")
    return host, int(port)


def _message(exc: VSSClientError) -> str:
    errors = [e.get("error", {}).get("message") for e in exc.errors if isinstance(e, dict)]
    return str(exc.error.get("message") or next((m for m in errors if m), None) or exc.error)


@contextlib.asynccontextmanager
async def connect(remote: Remote) -> AsyncIterator[VSSClient]:
    """A connected kuksa-client for the remote, with errors as one-line `RemoteError`s."""
    host, port = _split(remote.address)
    client = VSSClient(
        host,
        port,
        token=remote.token,
        root_certificates=remote.tls_ca,
        tls_server_name=remote.tls_server_name,
        ensure_startup_connection=False,
    )
    try:
        await client.connect()
        await client.get_server_info(timeout=TIMEOUT_S)
        yield client
    except VSSClientError as exc:
        raise RemoteError(f"{remote.address}: {_message(exc)}") from None
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()


def to_datapoint(datapoint: Any, datatype: str | None = None) -> Datapoint | None:
    """A kuksa-client datapoint as the hub's (None where the signal has no value).

    A VSS `float` travels as a 32-bit float: it is shown to the precision it has.
    """
    if datapoint is None or datapoint.value is None:
        return None
    stamp = datapoint.timestamp.timestamp() if datapoint.timestamp is not None else 0.0
    value = datapoint.value
    if datatype == "float" and isinstance(value, float):
        value = float(f"{value:.7g}")
    return Datapoint(tuple(value) if isinstance(value, list) else value, stamp)


def _datatype(catalog: Catalog, path: str) -> str | None:
    return catalog.get(path).datatype if path in catalog else None


async def get(remote: Remote, paths: list[str], catalog: Catalog) -> dict[str, Datapoint | None]:
    async with connect(remote) as client:
        values = await client.get_current_values(paths, timeout=TIMEOUT_S)
        return {path: to_datapoint(dp, _datatype(catalog, path)) for path, dp in values.items()}


async def set_targets(remote: Remote, targets: Mapping[str, Value]) -> None:
    async with connect(remote) as client:
        await client.set_target_values(
            {path: KuksaDatapoint(value) for path, value in targets.items()}, timeout=TIMEOUT_S
        )


async def watch(
    remote: Remote, paths: list[str], catalog: Catalog
) -> AsyncIterator[dict[str, Datapoint | None]]:
    async with connect(remote) as client:
        try:
            async for updates in client.subscribe_current_values(paths):
                yield {p: to_datapoint(dp, _datatype(catalog, p)) for p, dp in updates.items()}
        except VSSClientError as exc:
            raise RemoteError(f"{remote.address}: {_message(exc)}") from None
