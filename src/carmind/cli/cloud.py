"""`carmind cloud ...`: run the cloud service and manage its users, vehicles and clients."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer

from carmind.cli.common import console, print_json
from carmind.connect.cloud import admin, db
from carmind.connect.cloud.auth import parse_scopes
from carmind.connect.cloud.settings import CloudSettings, from_env

app = typer.Typer(
    help="The carmind cloud: REST API, OAuth2, MQTT ingest, vehicle pages.",
    no_args_is_help=True,
)
user_app = typer.Typer(help="Users of the cloud.", no_args_is_help=True)
vehicle_app = typer.Typer(help="Vehicles and their owners.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(vehicle_app, name="vehicle")


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB "
        "(default: SQLite in the data directory; env CARMIND_CLOUD_DB_URL).",
    ),
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Where the SQLite file and token key live.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _settings(db_url: str | None, data_dir: Path | None, **changes: object) -> CloudSettings:
    settings = from_env()
    if db_url:
        changes["db_url"] = db_url
    if data_dir is not None:
        changes["data_dir"] = data_dir
    return settings.with_overrides(**changes)


def _with_db[T](settings: CloudSettings, work: Callable[[admin.Sessions], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = db.make_engine(settings.database_url)
        try:
            await db.migrate(engine)
            return await work(db.sessions(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


@app.command("serve")
def serve(
    db_url: DbOption = None,
    mqtt: Annotated[
        str | None,
        typer.Option("--mqtt", help="Broker URL (default mqtt://127.0.0.1:1883); 'none' for none."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="HTTP port (default 8710).")] = None,
    price: Annotated[
        float | None, typer.Option("--price-per-kwh", help="Charging price per kWh.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the REST API, OAuth2 and the vehicle pages, and ingest what cars send over MQTT."""
    from carmind.connect.cloud.server import serve as run_server

    changes: dict[str, object] = {}
    if mqtt is not None:
        changes["mqtt_url"] = None if mqtt.lower() == "none" else mqtt
    if host is not None:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    if price is not None:
        changes["price_per_kwh"] = price
    settings = _settings(db_url, data_dir, **changes)
    where = settings.database_url.split("@")[-1]
    console().print(
        f"carmind cloud on http://{settings.host}:{settings.port} "
        f"(API docs /docs, database {where}, broker {settings.mqtt_url or 'none'}); Ctrl-C stops"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_server(settings))


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="The new user's name.")],
    password: Annotated[
        str | None,
        typer.Option("--password", help="Password (asked for when left out; 8+ characters)."),
    ] = None,
    db_url: DbOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a user who can sign in and own vehicles."""
    secret = password if password is not None else getpass.getpass("password: ")
    user = _with_db(_settings(db_url, data_dir), lambda s: admin.add_user(s, username, secret))
    if as_json:
        print_json({"username": user.username, "id": user.id})
    else:
        console().print(f"user {user.username} added")


@vehicle_app.command("add")
def vehicle_add(
    vin: Annotated[str, typer.Argument(help="The vehicle's VIN (17 characters).")],
    owner: Annotated[str, typer.Option("--owner", help="The owner's user name.")],
    name: Annotated[str, typer.Option("--name", help="A name to show.")] = "",
    db_url: DbOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a vehicle to its owner."""
    vehicle = _with_db(
        _settings(db_url, data_dir), lambda s: admin.add_vehicle(s, owner, vin, name)
    )
    if as_json:
        print_json({"vin": vehicle.vin, "owner": owner, "name": vehicle.name})
    else:
        console().print(f"vehicle {vehicle.vin} registered to {owner}")


@app.command("client")
def client_add(
    owner: Annotated[str, typer.Option("--owner", help="The user the client acts for.")],
    scopes: Annotated[
        str, typer.Option("--scope", help="Space-separated scopes it may ask for.")
    ] = admin.ALL_VEHICLE_SCOPES,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option("--redirect-uri", help="For a public app (code flow with PKCE); repeatable."),
    ] = None,
    public: Annotated[
        bool, typer.Option("--public", help="A public app (no secret; needs --redirect-uri).")
    ] = False,
    name: Annotated[str, typer.Option("--name", help="A name to show on the sign-in page.")] = "",
    db_url: DbOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register an OAuth2 client: confidential (client credentials, a secret printed once) or
    public (authorization code with PKCE)."""
    parse_scopes(scopes)
    made = _with_db(
        _settings(db_url, data_dir),
        lambda s: admin.add_client(
            s,
            owner,
            name=name,
            scopes=scopes,
            redirect_uris=" ".join(redirect_uri or []),
            confidential=not public,
        ),
    )
    if as_json:
        print_json(
            {
                "client_id": made.client_id,
                "client_secret": made.secret,
                "scope": made.scopes,
                "redirect_uris": made.redirect_uris.split(),
            }
        )
        return
    console().print(f"client_id     {made.client_id}")
    if made.secret:
        console().print(f"client_secret {made.secret}  (shown once: keep it secret)")
    console().print(f"scope         {made.scopes}")


@app.command("token")
def token(
    owner: Annotated[str, typer.Option("--owner", help="The user the token acts for.")],
    scopes: Annotated[
        str, typer.Option("--scope", help="Space-separated scopes.")
    ] = admin.ALL_VEHICLE_SCOPES,
    db_url: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Mint an access token for a user directly (for scripts and tests; prints the token)."""
    from carmind.connect.cloud.auth import Tokens, load_or_create_key

    granted = parse_scopes(scopes)
    settings = _settings(db_url, data_dir)

    async def user_id(sessions: admin.Sessions) -> int:
        async with sessions() as session:
            return (await admin.find_user(session, owner)).id

    uid = _with_db(settings, user_id)
    tokens = Tokens(load_or_create_key(settings.key_file), settings.issuer, settings.token_ttl_s)
    print(tokens.issue(uid, "carmind-cli", granted))


@app.command("export-probes")
def export_probes(
    out: Annotated[Path, typer.Argument(help="CSV file for `carmind traffic learn`.")],
    since: Annotated[str | None, typer.Option("--since", help="From this time (ISO 8601).")] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Up to this time (ISO 8601).")
    ] = None,
    vins: Annotated[
        list[str] | None, typer.Option("--vin", help="Only this car (repeatable).")
    ] = None,
    db_url: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The fleet's positions as GPS probes, for learning traffic (`carmind traffic learn`)."""
    from carmind.connect.cloud.probes import export_probes as export
    from carmind.navigation.api import parse_time

    start = parse_time(since).timestamp() if since else None
    end = parse_time(until).timestamp() if until else None
    settings = _settings(db_url, data_dir)

    async def work(sessions: admin.Sessions) -> str:
        stats = await export(sessions, out, since=start, until=end, vins=vins or ())
        return (
            f"{stats.probes:,} probes from {stats.vehicles} vehicles "
            f"({stats.points_read:,} telemetry points read) -> {out}"
        )

    print(_with_db(settings, work))
