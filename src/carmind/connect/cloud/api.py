"""REST API v1: vehicles, their state and telemetry, drives, charges, events and commands.

Every route names the OAuth2 scope it needs (see `auth.py`); a vehicle that is not the caller's
is answered 404, as if it did not exist. Location (`Vehicle.CurrentLocation.*`, drive tracks,
where a charge happened) is shown only to tokens with `vehicle_location`.

`POST /api/v1/login` is the first-party sign-in of the carmind phone tool (`carmind phone login`):
user name and password for an access token with the vehicle scopes, as the web pages' `/login`
gives a read-only cookie. Third-party apps use OAuth2 (`oauth.py`).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Security, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from carmind import __version__
from carmind.connect import protocol
from carmind.connect.cloud import db
from carmind.connect.cloud.admin import ALL_VEHICLE_SCOPES, AdminError, add_device
from carmind.connect.cloud.auth import (
    VEHICLE_CHARGING_CMDS,
    VEHICLE_CMDS,
    VEHICLE_DEVICE_DATA,
    VEHICLE_LOCATION,
    AuthError,
    Principal,
    command_scope,
    parse_scopes,
    verify_password,
)
from carmind.connect.cloud.commands import (
    ENROLL_KEY,
    CommandError,
    settle_enrolments,
    submit,
    submit_pairing,
)
from carmind.connect.cloud.deps import Service, caller, require_any
from carmind.connect.cloud.ingest import join_value

LOCATION_PREFIX: Final = "Vehicle.CurrentLocation."
PHONE_CLIENT: Final = "carmind-phone"
"""The client id in the tokens `POST /api/v1/login` issues."""
VinPath = Annotated[str, Path(pattern=r"^[A-HJ-NPR-Z0-9]{17}$", description="The VIN.")]
Reader = Annotated[Principal, Security(caller, scopes=[VEHICLE_DEVICE_DATA])]
Anyone = Annotated[Principal, Security(caller)]
Value = bool | int | float | str | None


class Health(BaseModel):
    status: str
    version: str
    database: str
    mqtt: str
    ingest: dict[str, int]


class VehicleOut(BaseModel):
    vin: str
    name: str
    online: bool
    status_at: float | None
    created_at: float


class StatePoint(BaseModel):
    value: Value
    ts: float


class VehicleState(BaseModel):
    vin: str
    online: bool
    signals: dict[str, StatePoint]
    location_hidden: bool = Field(description="True when location was left out (no scope).")


class TelemetryOut(BaseModel):
    vin: str
    path: str
    points: list[StatePoint]


class EventOut(BaseModel):
    seq: int
    ts: float
    kind: str
    data: dict[str, Any]


class DriveOut(BaseModel):
    id: int
    start: float
    end: float
    closed: bool
    distance_km: float
    energy_kwh: float | None
    efficiency_wh_km: float | None
    start_soc: float | None
    end_soc: float | None
    max_speed_kmh: float
    track: list[list[float]] | None = Field(
        description="[[lat, lon], ...]; needs the location scope."
    )


class ChargeOut(BaseModel):
    id: int
    start: float
    end: float
    closed: bool
    energy_added_kwh: float
    cost: float
    currency: str
    start_soc: float | None
    end_soc: float | None
    max_power_kw: float | None
    latitude: float | None
    longitude: float | None


class CommandOut(BaseModel):
    id: str
    vin: str
    name: str
    status: str = Field(description="pending, executed, refused, expired or failed")
    reason: str
    created_at: float
    expires_at: float
    result_at: float | None


class DeviceIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    public_key_pem: str = Field("", max_length=4000)
    key_id: str = Field("", max_length=64)


class DeviceOut(BaseModel):
    name: str
    key_id: str
    created_at: float


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=1000)
    scope: str = Field(
        ALL_VEHICLE_SCOPES, max_length=1000, description="Space-separated vehicle scopes."
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


class ErrorOut(BaseModel):
    detail: str


ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorOut, "description": "No valid access token."},
    403: {"model": ErrorOut, "description": "The token lacks a scope."},
    404: {"model": ErrorOut, "description": "No such vehicle among yours."},
}

router = APIRouter(prefix="/api/v1")


async def _vehicle(cloud: Service, principal: Principal, vin: str) -> db.Vehicle:
    async with cloud.sessions() as session:
        vehicle = await session.scalar(select(db.Vehicle).where(db.Vehicle.vin == vin))
    if vehicle is None or vehicle.owner_id != principal.user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no vehicle {vin} among yours")
    return vehicle


def _vehicle_out(v: db.Vehicle) -> VehicleOut:
    return VehicleOut(
        vin=v.vin, name=v.name, online=v.online, status_at=v.status_at, created_at=v.created_at
    )


def _command_out(c: db.CommandRow) -> CommandOut:
    return CommandOut(
        id=c.id,
        vin=c.vin,
        name=c.name,
        status=c.status,
        reason=c.reason,
        created_at=c.created_at,
        expires_at=c.expires_at,
        result_at=c.result_at,
    )


@router.get("/health", tags=["service"])
async def health(cloud: Service) -> Health:
    """Whether the service, its database and its broker connection are up; ingest counters."""
    database = "ok" if await cloud.database_ok() else "unreachable"
    if cloud.ingest is None:
        mqtt = "off"
    else:
        mqtt = "connected" if cloud.ingest.connected.is_set() else "disconnected"
    return Health(
        status="ok" if database == "ok" else "degraded",
        version=__version__,
        database=database,
        mqtt=mqtt,
        ingest=cloud.counters.as_dict(),
    )


@router.post(
    "/login",
    tags=["service"],
    responses={
        401: {"model": ErrorOut, "description": "Wrong user name or password."},
        422: {"model": ErrorOut, "description": "A scope that is not offered here."},
    },
)
async def login(cloud: Service, credentials: LoginIn) -> TokenOut:
    """Sign in with user name and password (the carmind phone tool): an access token with the
    vehicle scopes asked for (all four by default), valid as long as the cloud's tokens are
    (an hour by default). No refresh token: sign in again."""
    offered = frozenset(ALL_VEHICLE_SCOPES.split())
    try:
        asked = parse_scopes(credentials.scope) or offered
    except AuthError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    if not asked <= offered:
        extra = sorted(asked - offered)[0]
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"scope {extra!r} is not offered here: expected some of {ALL_VEHICLE_SCOPES}",
        )
    async with cloud.sessions() as session:
        user = await session.scalar(select(db.User).where(db.User.username == credentials.username))
    if user is None or not verify_password(credentials.password, user.password_hash):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong user name or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return TokenOut(
        access_token=cloud.tokens.issue(user.id, PHONE_CLIENT, asked),
        expires_in=cloud.tokens.ttl_s,
        scope=" ".join(sorted(asked)),
    )


@router.get("/vehicles", tags=["vehicles"], responses=ERRORS)
async def vehicles(cloud: Service, principal: Reader) -> list[VehicleOut]:
    """The caller's vehicles."""
    async with cloud.sessions() as session:
        rows = await session.scalars(
            select(db.Vehicle)
            .where(db.Vehicle.owner_id == principal.user_id)
            .order_by(db.Vehicle.vin)
        )
        return [_vehicle_out(v) for v in rows]


@router.get("/vehicles/{vin}", tags=["vehicles"], responses=ERRORS)
async def vehicle(cloud: Service, principal: Reader, vin: VinPath) -> VehicleOut:
    """One vehicle."""
    return _vehicle_out(await _vehicle(cloud, principal, vin))


@router.get("/vehicles/{vin}/state", tags=["vehicles"], responses=ERRORS)
async def state(cloud: Service, principal: Reader, vin: VinPath) -> VehicleState:
    """The newest value of every signal the vehicle has sent."""
    v = await _vehicle(cloud, principal, vin)
    located = principal.has(VEHICLE_LOCATION)
    async with cloud.sessions() as session:
        rows = await session.scalars(select(db.Latest).where(db.Latest.vin == vin))
        signals = {
            r.path: StatePoint(value=join_value(r.kind, r.num, r.txt), ts=r.ts)
            for r in rows
            if located or not r.path.startswith(LOCATION_PREFIX)
        }
    return VehicleState(
        vin=vin, online=v.online, signals=dict(sorted(signals.items())), location_hidden=not located
    )


@router.get("/vehicles/{vin}/telemetry", tags=["telemetry"], responses=ERRORS)
async def telemetry(
    cloud: Service,
    principal: Reader,
    vin: VinPath,
    path: Annotated[str, Query(min_length=1, max_length=200, description="A VSS path.")],
    since: Annotated[float | None, Query(allow_inf_nan=False, description="Unix seconds.")] = None,
    until: Annotated[float | None, Query(allow_inf_nan=False, description="Unix seconds.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> TelemetryOut:
    """One signal's values over time, oldest first (at most `limit`, the newest ones)."""
    if path.startswith(LOCATION_PREFIX) and not principal.has(VEHICLE_LOCATION):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the token lacks scope 'vehicle_location'")
    await _vehicle(cloud, principal, vin)
    point = db.TelemetryPoint
    query = select(point.ts, point.kind, point.num, point.txt).where(
        point.vin == vin, point.path == path
    )
    if since is not None:
        query = query.where(point.ts >= since)
    if until is not None:
        query = query.where(point.ts <= until)
    async with cloud.sessions() as session:
        rows = (await session.execute(query.order_by(point.ts.desc()).limit(limit))).all()
    points = [StatePoint(value=join_value(k, n, t), ts=ts) for ts, k, n, t in reversed(rows)]
    return TelemetryOut(vin=vin, path=path, points=points)


@router.get("/vehicles/{vin}/events", tags=["telemetry"], responses=ERRORS)
async def events(
    cloud: Service,
    principal: Reader,
    vin: VinPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventOut]:
    """The vehicle's events, newest first."""
    await _vehicle(cloud, principal, vin)
    async with cloud.sessions() as session:
        rows = await session.scalars(
            select(db.EventRow)
            .where(db.EventRow.vin == vin)
            .order_by(db.EventRow.ts.desc())
            .limit(limit)
        )
        return [EventOut(seq=e.seq, ts=e.ts, kind=e.kind, data=e.data) for e in rows]


@router.get("/vehicles/{vin}/drives", tags=["drives and charges"], responses=ERRORS)
async def drives(
    cloud: Service,
    principal: Reader,
    vin: VinPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[DriveOut]:
    """Drives derived from telemetry, newest first (tracks need `vehicle_location`)."""
    await _vehicle(cloud, principal, vin)
    await cloud.refresh_vehicle(vin)
    located = principal.has(VEHICLE_LOCATION)
    async with cloud.sessions() as session:
        rows = await session.scalars(
            select(db.Drive)
            .where(db.Drive.vin == vin)
            .order_by(db.Drive.start_ts.desc())
            .limit(limit)
        )
        return [
            DriveOut(
                id=d.id,
                start=d.start_ts,
                end=d.end_ts,
                closed=d.closed,
                distance_km=d.distance_km,
                energy_kwh=d.energy_kwh,
                efficiency_wh_km=d.efficiency_wh_km,
                start_soc=d.start_soc,
                end_soc=d.end_soc,
                max_speed_kmh=d.max_speed_kmh,
                track=d.track if located else None,
            )
            for d in rows
        ]


@router.get("/vehicles/{vin}/charges", tags=["drives and charges"], responses=ERRORS)
async def charges(
    cloud: Service,
    principal: Reader,
    vin: VinPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[ChargeOut]:
    """Charging sessions derived from telemetry, newest first, with their cost."""
    await _vehicle(cloud, principal, vin)
    await cloud.refresh_vehicle(vin)
    located = principal.has(VEHICLE_LOCATION)
    async with cloud.sessions() as session:
        rows = await session.scalars(
            select(db.Charge)
            .where(db.Charge.vin == vin)
            .order_by(db.Charge.start_ts.desc())
            .limit(limit)
        )
        return [
            ChargeOut(
                id=c.id,
                start=c.start_ts,
                end=c.end_ts,
                closed=c.closed,
                energy_added_kwh=c.energy_added_kwh,
                cost=c.cost,
                currency=cloud.settings.currency,
                start_soc=c.start_soc,
                end_soc=c.end_soc,
                max_power_kw=c.max_power_kw,
                latitude=c.latitude if located else None,
                longitude=c.longitude if located else None,
            )
            for c in rows
        ]


@router.post(
    "/vehicles/{vin}/commands/{name}",
    tags=["commands"],
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **ERRORS,
        409: {"model": ErrorOut, "description": "A command with this id exists."},
        503: {"model": ErrorOut, "description": "The broker is unreachable; not sent."},
    },
)
async def send_command(
    cloud: Service,
    principal: Anyone,
    vin: VinPath,
    name: protocol.CommandName,
    command: protocol.Command,
) -> CommandOut:
    """Relay a command the owner's phone signed. Charging commands need
    `vehicle_charging_cmds`, the others `vehicle_cmds`. The answer is the pending command; poll
    `GET /api/v1/commands/{id}` for the car's result."""
    require_any(principal, command_scope(name))
    try:
        row = await submit(cloud.sessions, cloud.publisher, principal, vin, name, command)
    except CommandError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return _command_out(row)


@router.post(
    "/vehicles/{vin}/keys",
    tags=["devices"],
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **ERRORS,
        409: {"model": ErrorOut, "description": "A command with this id exists."},
        503: {"model": ErrorOut, "description": "The broker is unreachable; not sent."},
    },
)
async def enroll_key(
    cloud: Service,
    principal: Annotated[Principal, Security(caller, scopes=[VEHICLE_CMDS])],
    vin: VinPath,
    request: protocol.PairingRequest,
) -> CommandOut:
    """Relay a phone's pairing request to the car: its public key with proof that it knows the
    code shown in the car (the code itself never reaches the cloud). The answer is the pending
    request, named `enroll_key`; poll `GET /api/v1/commands/{id}` for the car's result. Once
    the car has enrolled the key it is registered as one of your devices."""
    try:
        row = await submit_pairing(cloud.sessions, cloud.publisher, principal, vin, request)
    except CommandError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return _command_out(row)


@router.get("/vehicles/{vin}/commands", tags=["commands"], responses=ERRORS)
async def vehicle_commands(
    cloud: Service,
    principal: Anyone,
    vin: VinPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[CommandOut]:
    """The vehicle's commands, newest first."""
    require_any(principal, VEHICLE_DEVICE_DATA, VEHICLE_CMDS, VEHICLE_CHARGING_CMDS)
    await _vehicle(cloud, principal, vin)
    async with cloud.sessions() as session:
        rows = await session.scalars(
            select(db.CommandRow)
            .where(db.CommandRow.vin == vin)
            .order_by(db.CommandRow.created_at.desc())
            .limit(limit)
        )
        return [_command_out(c) for c in rows]


@router.get("/commands/{command_id}", tags=["commands"], responses=ERRORS)
async def command_status(
    cloud: Service, principal: Anyone, command_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> CommandOut:
    """A command's status (pending, executed, refused, expired, failed) and the reason."""
    require_any(principal, VEHICLE_DEVICE_DATA, VEHICLE_CMDS, VEHICLE_CHARGING_CMDS)
    async with cloud.sessions() as session:
        row = await session.get(db.CommandRow, command_id)
    if row is None or row.user_id != principal.user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no command {command_id!r} among yours")
    if row.name == ENROLL_KEY and row.status == protocol.ResultStatus.EXECUTED.value:
        await settle_enrolments(cloud.sessions, principal.user_id)
    return _command_out(row)


@router.get("/devices", tags=["devices"], responses=ERRORS)
async def devices(
    cloud: Service, principal: Annotated[Principal, Security(caller, scopes=[VEHICLE_CMDS])]
) -> list[DeviceOut]:
    """The caller's phones and apps (the keys that sign their commands), keys that their cars
    enrolled included."""
    await settle_enrolments(cloud.sessions, principal.user_id)
    async with cloud.sessions() as session:
        rows = await session.scalars(
            select(db.Device).where(db.Device.user_id == principal.user_id).order_by(db.Device.id)
        )
        return [DeviceOut(name=d.name, key_id=d.key_id, created_at=d.created_at) for d in rows]


@router.post(
    "/devices",
    tags=["devices"],
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS, 422: {"model": ErrorOut, "description": "Bad key, or taken."}},
)
async def register_device(
    cloud: Service,
    principal: Annotated[Principal, Security(caller, scopes=[VEHICLE_CMDS])],
    device: DeviceIn,
) -> DeviceOut:
    """Register a phone or app by its public key: the cloud then refuses commands whose
    signature does not match it (before bothering the car)."""
    try:
        row = await add_device(
            cloud.sessions, principal.user_id, device.name, device.public_key_pem, device.key_id
        )
    except AdminError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return DeviceOut(name=row.name, key_id=row.key_id, created_at=row.created_at)


def create_app(cloud: Any) -> FastAPI:
    """The FastAPI application of a `CloudService`: REST API, OAuth2 endpoints, web pages."""
    from carmind.connect.cloud import oauth, web

    app = FastAPI(
        title="carmind cloud",
        version=__version__,
        description="Vehicles, telemetry, drives, charges and signed remote commands.",
        openapi_url="/openapi.json",
    )
    app.state.cloud = cloud
    app.include_router(router)
    app.include_router(oauth.router)
    app.include_router(web.router)

    @app.exception_handler(ValueError)
    async def _bad_value(_request: Any, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    return app
