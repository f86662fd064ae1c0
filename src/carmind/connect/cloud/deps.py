"""FastAPI dependencies shared by the routers: the service, and the caller with their scopes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2AuthorizationCodeBearer, SecurityScopes

from carmind.connect.cloud.auth import (
    OFFLINE_ACCESS,
    OPENID,
    VEHICLE_CHARGING_CMDS,
    VEHICLE_CMDS,
    VEHICLE_DEVICE_DATA,
    VEHICLE_LOCATION,
    AuthError,
    Principal,
)

if TYPE_CHECKING:
    from carmind.connect.cloud.service import CloudService

SESSION_COOKIE: Final = "carmind_session"
SCOPE_DOCS: Final = {
    VEHICLE_DEVICE_DATA: "Read vehicle data: state, telemetry, drives, charges, commands.",
    VEHICLE_LOCATION: "See where the vehicle is and has been.",
    VEHICLE_CMDS: "Send commands (lock, climate, honk, destination...).",
    VEHICLE_CHARGING_CMDS: "Start and stop charging, set the charge limit.",
    OPENID: "Identify the user.",
    OFFLINE_ACCESS: "A refresh token, to stay signed in.",
}

oauth2 = OAuth2AuthorizationCodeBearer(
    authorizationUrl="/oauth/authorize",
    tokenUrl="/oauth/token",
    refreshUrl="/oauth/token",
    scopes=SCOPE_DOCS,
    auto_error=False,
)


def service(request: Request) -> CloudService:
    """The running `CloudService` (kept in the app's state)."""
    return request.app.state.cloud  # type: ignore[no-any-return]


Service = Annotated["CloudService", Depends(service)]


def _unauthorized(message: str, error: str = "invalid_token") -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        message,
        headers={"WWW-Authenticate": f'Bearer error="{error}"'},
    )


def caller(
    security_scopes: SecurityScopes,
    request: Request,
    token: Annotated[str | None, Depends(oauth2)],
) -> Principal:
    """The caller of a bearer token that holds every scope the route declares: 401 without a
    valid token, 403 when a scope is missing."""
    if not token:
        token = request.cookies.get(SESSION_COOKIE) if request.method == "GET" else None
    if not token:
        raise _unauthorized(
            "no access token: send 'Authorization: Bearer TOKEN'", "invalid_request"
        )
    try:
        principal = service(request).tokens.check(token)
    except AuthError as exc:
        raise _unauthorized(str(exc)) from exc
    missing = [scope for scope in security_scopes.scopes if not principal.has(scope)]
    if missing:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the token lacks scope {missing[0]!r}",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope" scope="{missing[0]}"'},
        )
    return principal


def require_any(principal: Principal, *scopes: str) -> None:
    """403 unless the caller holds at least one of `scopes`."""
    if not any(principal.has(scope) for scope in scopes):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the token lacks a scope: needs one of {', '.join(scopes)}",
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
        )
