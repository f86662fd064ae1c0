"""`carmind token ...`: access tokens for the KUKSA gRPC API (development and tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carmind.cli.common import config_from, console, print_json
from carmind.signals.adapters.kuksa.auth import (
    TokenError,
    create_token,
    generate_keypair,
    load_private_key,
    parse_duration,
)

app = typer.Typer(
    help="Access tokens (RS256 JWT, KUKSA scopes) for the gRPC API.", no_args_is_help=True
)


@app.command("create")
def create(
    scope: Annotated[
        str, typer.Option("--scope", help='KUKSA scopes, e.g. "read actuate:Vehicle.Cabin".')
    ],
    expires: Annotated[str, typer.Option("--expires", help="Lifetime: 90s, 15m, 1h, 7d.")] = "1h",
    key: Annotated[
        str | None, typer.Option("--key", help="Private key (PEM); default [grpc] jwt_private_key.")
    ] = None,
    subject: Annotated[
        str, typer.Option("--subject", help="Who the token is for.")
    ] = "carmind-dev",
    config: Annotated[str | None, typer.Option("--config", help="A carmind.toml to read.")] = None,
) -> None:
    """Mint an access token signed with the configured private key; prints the token."""
    key_file = key or config_from(config).grpc.jwt_private_key
    if not key_file:
        raise TokenError(
            "no private key: pass --key FILE or set [grpc] jwt_private_key "
            "(make a pair with 'carmind token keygen')"
        )
    token = create_token(
        load_private_key(key_file), scope, expires_in_s=parse_duration(expires), subject=subject
    )
    print(token)


@app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Folder for jwt.key and jwt.key.pub.")] = Path(
        "."
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make an RSA key pair for signing (private) and verifying (public) development tokens."""
    private, public = generate_keypair(out)
    if as_json:
        print_json({"private_key": str(private), "public_key": str(public)})
        return
    console().print(f"private key {private} (for [grpc] jwt_private_key, keep it secret)")
    console().print(f"public key  {public} (for [grpc] jwt_public_key on the server)")
