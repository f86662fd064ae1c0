"""OAuth2 endpoints: authorization code with PKCE (a login form), client credentials, refresh
tokens, and a browser session for the vehicle pages.

    GET  /oauth/authorize   the login form (response_type=code, client_id, redirect_uri, scope,
                            state, code_challenge, code_challenge_method=S256)
    POST /oauth/authorize   checks the password, redirects to redirect_uri?code=...&state=...
    POST /oauth/token       grant_type=authorization_code | client_credentials | refresh_token
    GET/POST /login, /logout  the web pages' session (a cookie holding a read-only token)

Errors at the token endpoint follow RFC 6749 (`{"error": ..., "error_description": ...}`); an
authorization request with an unknown client or redirect URI is answered on the page itself,
never redirected.
"""

from __future__ import annotations

import base64
import hmac
import html
import time
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select, update

from carmind.connect.cloud import db
from carmind.connect.cloud.auth import (
    OFFLINE_ACCESS,
    VEHICLE_DEVICE_DATA,
    VEHICLE_LOCATION,
    AuthError,
    check_pkce,
    digest,
    new_secret,
    parse_scopes,
    verify_password,
)
from carmind.connect.cloud.deps import SESSION_COOKIE, Service
from carmind.connect.cloud.web import page

CODE_TTL_S: Final = 600.0
REFRESH_TTL_S: Final = 30 * 24 * 3600.0
WEB_CLIENT: Final = "carmind-web"

router = APIRouter(tags=["oauth2"])


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    headers = {"WWW-Authenticate": "Basic"} if status == 401 else None
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers=headers,
    )


def _form_page(
    title: str, message: str, fields: dict[str, str], action: str, status: int
) -> HTMLResponse:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    body = (
        f"<h1>{html.escape(title)}</h1>"
        + (f'<p class="error">{html.escape(message)}</p>' if message else "")
        + f'<form method="post" action="{action}">{hidden}'
        '<label>User <input name="username" autocomplete="username" required></label>'
        '<label>Password <input name="password" type="password" '
        'autocomplete="current-password" required></label>'
        '<button type="submit">Sign in</button></form>'
    )
    return HTMLResponse(page(title, body), status_code=status)


async def _client(cloud: Service, client_id: str) -> db.OAuthClient | None:
    async with cloud.sessions() as session:
        return await session.get(db.OAuthClient, client_id)


def _check_authorize(
    client: db.OAuthClient | None,
    response_type: str,
    redirect_uri: str,
    scope: str,
    code_challenge: str,
    code_challenge_method: str,
) -> tuple[str, frozenset[str]]:
    """(error message or "", granted scopes) for an authorization request."""
    if client is None:
        return "unknown client_id", frozenset()
    if redirect_uri not in client.redirect_uris.split():
        return "redirect_uri is not registered for this client", frozenset()
    if response_type != "code":
        return "response_type must be 'code'", frozenset()
    if code_challenge_method != "S256" or not 43 <= len(code_challenge) <= 128:
        return "PKCE is required: code_challenge (S256) and code_challenge_method=S256", frozenset()
    try:
        asked = parse_scopes(scope)
    except AuthError as exc:
        return str(exc), frozenset()
    granted = asked & frozenset(client.scopes.split())
    if not granted:
        return "none of the requested scopes is allowed for this client", frozenset()
    return "", granted


def _authorize_fields(
    client_id: str,
    redirect_uri: str,
    response_type: str,
    scope: str,
    state: str,
    code_challenge: str,
    code_challenge_method: str,
) -> dict[str, str]:
    """The authorization request's parameters, carried through the sign-in form."""
    return {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": response_type,
        "scope": scope,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": code_challenge_method,
    }


@router.get("/oauth/authorize", response_class=HTMLResponse)
async def authorize_form(
    cloud: Service,
    client_id: Annotated[str, Query(max_length=80)] = "",
    redirect_uri: Annotated[str, Query(max_length=2000)] = "",
    response_type: Annotated[str, Query(max_length=40)] = "",
    scope: Annotated[str, Query(max_length=1000)] = "",
    state: Annotated[str, Query(max_length=500)] = "",
    code_challenge: Annotated[str, Query(max_length=200)] = "",
    code_challenge_method: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    """The sign-in form of the authorization code flow."""
    client = await _client(cloud, client_id)
    problem, _ = _check_authorize(
        client, response_type, redirect_uri, scope, code_challenge, code_challenge_method
    )
    if problem:
        return HTMLResponse(page("Sign-in refused", f"<p>{html.escape(problem)}</p>"), 400)
    fields = _authorize_fields(
        client_id, redirect_uri, response_type, scope, state, code_challenge, code_challenge_method
    )
    name = client.name if client is not None and client.name else client_id
    return _form_page(f"Sign in to carmind for {name}", "", fields, "/oauth/authorize", 200)


@router.post("/oauth/authorize", response_model=None)
async def authorize(
    cloud: Service,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=1000)],
    client_id: Annotated[str, Form(max_length=80)] = "",
    redirect_uri: Annotated[str, Form(max_length=2000)] = "",
    response_type: Annotated[str, Form(max_length=40)] = "",
    scope: Annotated[str, Form(max_length=1000)] = "",
    state: Annotated[str, Form(max_length=500)] = "",
    code_challenge: Annotated[str, Form(max_length=200)] = "",
    code_challenge_method: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Check the password; redirect back to the app with a one-time code."""
    client = await _client(cloud, client_id)
    problem, granted = _check_authorize(
        client, response_type, redirect_uri, scope, code_challenge, code_challenge_method
    )
    if problem:
        return HTMLResponse(page("Sign-in refused", f"<p>{html.escape(problem)}</p>"), 400)
    async with cloud.sessions() as session, session.begin():
        user = await session.scalar(select(db.User).where(db.User.username == username))
        if user is None or not verify_password(password, user.password_hash):
            fields = _authorize_fields(
                client_id,
                redirect_uri,
                response_type,
                scope,
                state,
                code_challenge,
                code_challenge_method,
            )
            return _form_page(
                "Sign in to carmind", "wrong user name or password", fields, "/oauth/authorize", 401
            )
        code = new_secret()
        session.add(
            db.AuthCode(
                code_hash=digest(code),
                client_id=client_id,
                user_id=user.id,
                redirect_uri=redirect_uri,
                scope=" ".join(sorted(granted)),
                code_challenge=code_challenge,
                expires_at=time.time() + CODE_TTL_S,
                used=False,
            )
        )
    query = {"code": code, **({"state": state} if state else {})}
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(query)}", status_code=303)


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, secret


async def _issue(
    cloud: Service, user_id: int, client_id: str, scopes: frozenset[str]
) -> JSONResponse:
    body: dict[str, object] = {
        "access_token": cloud.tokens.issue(user_id, client_id, scopes),
        "token_type": "Bearer",
        "expires_in": cloud.tokens.ttl_s,
        "scope": " ".join(sorted(scopes)),
    }
    if OFFLINE_ACCESS in scopes:
        refresh = new_secret()
        async with cloud.sessions() as session, session.begin():
            session.add(
                db.RefreshToken(
                    token_hash=digest(refresh),
                    client_id=client_id,
                    user_id=user_id,
                    scope=" ".join(sorted(scopes)),
                    expires_at=time.time() + REFRESH_TTL_S,
                    revoked=False,
                )
            )
        body["refresh_token"] = refresh
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.post("/oauth/token")
async def token(
    request: Request,
    cloud: Service,
    grant_type: Annotated[str, Form(max_length=40)],
    code: Annotated[str, Form(max_length=200)] = "",
    redirect_uri: Annotated[str, Form(max_length=2000)] = "",
    code_verifier: Annotated[str, Form(max_length=200)] = "",
    client_id: Annotated[str, Form(max_length=80)] = "",
    client_secret: Annotated[str, Form(max_length=200)] = "",
    scope: Annotated[str, Form(max_length=1000)] = "",
    refresh_token: Annotated[str, Form(max_length=200)] = "",
) -> JSONResponse:
    """Exchange a code (with its PKCE verifier), client credentials or a refresh token for an
    access token."""
    basic = _basic(request)
    if basic is not None:
        client_id, client_secret = basic
    client = await _client(cloud, client_id)
    if client is None:
        return _error("invalid_client", "unknown client_id", 401)
    if client.secret_hash and not hmac.compare_digest(client.secret_hash, digest(client_secret)):
        return _error("invalid_client", "wrong client secret", 401)
    now = time.time()
    if grant_type == "client_credentials":
        if not client.secret_hash:
            return _error("unauthorized_client", "a public client cannot use client credentials")
        allowed = frozenset(client.scopes.split())
        try:
            asked = parse_scopes(scope) if scope else allowed
        except AuthError as exc:
            return _error("invalid_scope", str(exc))
        if not asked <= allowed:
            extra = sorted(asked - allowed)[0]
            return _error("invalid_scope", f"scope {extra!r} is not allowed for this client")
        return await _issue(cloud, client.owner_id, client.client_id, asked - {OFFLINE_ACCESS})
    if grant_type == "authorization_code":
        async with cloud.sessions() as session, session.begin():
            row = await session.get(db.AuthCode, digest(code))
            if row is None or row.used or row.expires_at < now or row.client_id != client_id:
                return _error("invalid_grant", "the code is unknown, used or expired")
            # a code is spent by the first attempt, good or bad (RFC 6749 section 4.1.2)
            await session.execute(
                update(db.AuthCode).where(db.AuthCode.code_hash == row.code_hash).values(used=True)
            )
            if row.redirect_uri != redirect_uri:
                return _error(
                    "invalid_grant", "redirect_uri differs from the authorization request"
                )
            if not check_pkce(code_verifier, row.code_challenge):
                return _error(
                    "invalid_grant", "the code_verifier does not match the code_challenge"
                )
            user_id, granted = row.user_id, frozenset(row.scope.split())
        return await _issue(cloud, user_id, client_id, granted)
    if grant_type == "refresh_token":
        async with cloud.sessions() as session, session.begin():
            row_r = await session.get(db.RefreshToken, digest(refresh_token))
            if (
                row_r is None
                or row_r.revoked
                or row_r.expires_at < now
                or row_r.client_id != client_id
            ):
                return _error("invalid_grant", "the refresh token is unknown, revoked or expired")
            row_r.revoked = True  # rotation: each refresh token works once
            user_id, granted = row_r.user_id, frozenset(row_r.scope.split())
        return await _issue(cloud, user_id, client_id, granted)
    return _error(
        "unsupported_grant_type",
        f"grant_type {grant_type!r}: expected authorization_code, client_credentials "
        "or refresh_token",
    )


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(
    next_url: Annotated[str, Query(alias="next", max_length=300)] = "/vehicles",
) -> HTMLResponse:
    return _form_page("Sign in to carmind", "", {"next": next_url}, "/login", 200)


@router.post("/login", include_in_schema=False, response_model=None)
async def login(
    cloud: Service,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=1000)],
    next_url: Annotated[str, Form(alias="next", max_length=300)] = "/vehicles",
) -> Response:
    """Sign in to the web pages: a cookie with a read-only token (data and location)."""
    async with cloud.sessions() as session:
        user = await session.scalar(select(db.User).where(db.User.username == username))
    if user is None or not verify_password(password, user.password_hash):
        return _form_page(
            "Sign in to carmind", "wrong user name or password", {"next": next_url}, "/login", 401
        )
    target = next_url if next_url.startswith("/") and not next_url.startswith("//") else "/vehicles"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cloud.tokens.issue(user.id, WEB_CLIENT, frozenset({VEHICLE_DEVICE_DATA, VEHICLE_LOCATION})),
        max_age=cloud.tokens.ttl_s,
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/logout", include_in_schema=False)
async def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
