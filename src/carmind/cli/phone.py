"""`carmind phone ...`: act as the owner's phone against a carmind cloud.

    carmind phone keygen --name "Anna's phone"       a P-256 key, kept in <data dir>/phone/
    carmind phone login --cloud http://127.0.0.1:8765 --user owner
    carmind phone pair VIN --code 123456              the code shown in the car
    carmind phone send VIN lock                       signed, relayed, answered by the car
    carmind phone send VIN set_charge_limit percent=80
    carmind phone status COMMAND_ID

The key, the phone's command counter and the access token live in `<data dir>/phone/`, each file
readable by its owner only (0600). Pairing sends the code's HMAC proof, never the code itself.
`pair` and `send` wait for the car's answer and print it in one line; the exit status is 0 when
the car executed it, 1 when it refused it, it expired or no answer came in time, and 2 for an
error (bad input, the cloud unreachable or refusing).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from carmind.cli.common import console, print_json
from carmind.connect import protocol
from carmind.connect.keychain import (
    MAX_VALIDITY_S,
    PAIRING_DIGITS,
    PAIRING_TTL_S,
    atomic_write,
    generate_key,
    key_id_of,
    pairing_proof,
    sign_command,
)
from carmind.errors import CarmindError
from carmind.paths import default_data_dir

app = typer.Typer(
    help="Act as the owner's phone: a key, sign in to the cloud, pair with the car, send "
    "signed commands.",
    no_args_is_help=True,
)

KEY_FILE: Final = "key.pem"
STATE_FILE: Final = "phone.json"
SESSION_FILE: Final = "session.json"
DEFAULT_NAME: Final = "carmind phone"
DEFAULT_TTL_S: Final = 60.0
"""A command's validity: time for a car in a car park to pick it up, not for it to linger."""
DEFAULT_WAIT_S: Final = 30.0
POLL_S: Final = 0.25
HTTP_TIMEOUT_S: Final = 10.0
VIN_PATTERN: Final = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")


class PhoneError(CarmindError):
    """The phone cannot do what was asked (no key, not signed in, bad input, cloud refused)."""


# ---------------------------------------------------------------------------- files


def phone_dir() -> Path:
    """Where the phone keeps its key, counter and token: `<data dir>/phone/`."""
    return default_data_dir() / "phone"


@dataclass(slots=True)
class PhoneState:
    name: str
    key_id: str
    public_pem: str
    counter: int = 0
    """The last counter signed; the next command uses one more (the car wants it to grow)."""


@dataclass(frozen=True, slots=True)
class Session:
    cloud: str
    user: str
    access_token: str
    expires_at: float
    scope: str


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, data)  # a mkstemp file: 0600 from the start
    os.chmod(path, 0o600)


def _read_json(path: Path, missing: str) -> dict[str, Any]:
    if not path.exists():
        raise PhoneError(missing)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise PhoneError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise PhoneError(f"{path} is unreadable: expected a JSON object")
    return data


def load_state(directory: Path) -> PhoneState:
    data = _read_json(
        directory / STATE_FILE, f"no phone key in {directory}: run 'carmind phone keygen' first"
    )
    try:
        return PhoneState(
            str(data["name"]), str(data["key_id"]), str(data["public_pem"]), int(data["counter"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PhoneError(f"{directory / STATE_FILE} is unreadable: {exc}") from exc


def save_state(directory: Path, state: PhoneState) -> None:
    _write_private(directory / STATE_FILE, json.dumps(asdict(state), indent=1).encode("utf-8"))


def _private_key(directory: Path) -> ec.EllipticCurvePrivateKey:
    path = directory / KEY_FILE
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PhoneError(f"the phone key {path} is unreadable: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PhoneError(f"the phone key {path} is not an ECDSA key")
    return key


def load_session(directory: Path, now: float | None = None) -> Session:
    data = _read_json(
        directory / SESSION_FILE,
        "not signed in: run 'carmind phone login --cloud URL --user NAME' first",
    )
    try:
        session = Session(
            str(data["cloud"]),
            str(data["user"]),
            str(data["access_token"]),
            float(data["expires_at"]),
            str(data.get("scope", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PhoneError(f"{directory / SESSION_FILE} is unreadable: {exc}") from exc
    if (time.time() if now is None else now) >= session.expires_at:
        raise PhoneError(
            f"the sign-in to {session.cloud} as {session.user} has expired: run "
            "'carmind phone login' again"
        )
    return session


# ---------------------------------------------------------------------------- HTTP


def _detail(response: Any) -> str:
    try:
        detail = response.json().get("detail", "")
    except (ValueError, AttributeError):
        return str(response.text)[:200]
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return f"{where}: {first.get('msg', '')}" if where else str(first.get("msg", ""))
    return str(detail)


def _call(
    cloud: str, method: str, path: str, token: str | None = None, body: Any = None
) -> dict[str, Any]:
    """One request to the cloud's REST API; its JSON answer, or a `PhoneError` that says why."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(
            method, cloud + path, json=body, headers=headers, timeout=HTTP_TIMEOUT_S
        )
    except httpx.HTTPError as exc:
        raise PhoneError(f"cannot reach the cloud at {cloud}: {exc}") from exc
    if response.status_code == 401 and token:
        raise PhoneError(
            f"the cloud refused the sign-in ({_detail(response)}): run 'carmind phone login' again"
        )
    if response.status_code >= 400:
        raise PhoneError(f"the cloud refused: {_detail(response)} (HTTP {response.status_code})")
    try:
        data = response.json()
    except ValueError as exc:
        raise PhoneError(f"the cloud at {cloud} answered something that is not JSON") from exc
    if not isinstance(data, dict):
        raise PhoneError(f"the cloud at {cloud} answered something unexpected: {data!r:.100}")
    return data


def _wait(session: Session, command_id: str, wait_s: float) -> dict[str, Any]:
    """Poll the command's status until the car answered (or the cloud gave up), or `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        out = _call(session.cloud, "GET", f"/api/v1/commands/{command_id}", session.access_token)
        if out.get("status") != "pending" or time.monotonic() >= deadline:
            return out
        time.sleep(POLL_S)


def _report(out: dict[str, Any], what: str, wait_s: float, as_json: bool) -> None:
    """Print a command's outcome in one line; exit 1 unless the car executed it."""
    status = str(out.get("status", "?"))
    if as_json:
        print_json(out)
    else:
        reason = str(out.get("reason") or "")
        command_id = out.get("id", "?")
        if status == "pending":
            reason = (
                f"no answer from the car within {wait_s:g} s; see 'carmind phone status "
                f"{command_id}'"
            )
        line = f"{status}: {reason or what} [{command_id}]"
        console().print(line, markup=False, soft_wrap=True)
    if status != protocol.ResultStatus.EXECUTED.value:
        raise typer.Exit(1)


def _vin(vin: str) -> str:
    if not VIN_PATTERN.match(vin):
        raise PhoneError(f"bad VIN {vin!r}: expected 17 capitals and digits without I, O and Q")
    return vin


def parse_params(items: list[str]) -> dict[str, Any]:
    """`key=value` pairs; a value is read as JSON where it is JSON (40, 21.5, true), else text."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise PhoneError(f"bad parameter {item!r}: expected KEY=VALUE, such as percent=80")
        if key in params:
            raise PhoneError(f"parameter {key!r} is given twice")
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return params


# ---------------------------------------------------------------------------- commands

JsonOption = Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")]
WaitOption = Annotated[
    float,
    typer.Option("--wait", min=0, help="Seconds to wait for the car's answer."),
]


@app.command("keygen")
def keygen(
    name: Annotated[
        str, typer.Option("--name", help="What the car will call this key.")
    ] = DEFAULT_NAME,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing key (pair the new one again).")
    ] = False,
) -> None:
    """Make the phone's key (ECDSA P-256), kept in <data dir>/phone/ (mode 0600)."""
    clean = name.strip()
    if not 1 <= len(clean) <= 64:
        raise PhoneError(f"bad name {name!r}: expected 1 to 64 characters")
    directory = phone_dir()
    if (directory / KEY_FILE).exists() and not force:
        try:
            held = load_state(directory).key_id
        except PhoneError:
            held = "unreadable"
        raise PhoneError(
            f"a phone key exists already in {directory} (key {held}); --force replaces it, and "
            "the new key must be paired with the car again"
        )
    private, public_pem = generate_key()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    state = PhoneState(clean, key_id_of(public_pem), public_pem)
    _write_private(directory / KEY_FILE, pem)
    save_state(directory, state)
    console().print(
        f"phone key {state.key_id} ({clean}) in {directory}", markup=False, soft_wrap=True
    )


@app.command("login")
def login(
    cloud: Annotated[str, typer.Option("--cloud", help="The cloud's URL, http(s)://HOST:PORT.")],
    user: Annotated[str, typer.Option("--user", help="Your user name on the cloud.")],
    password: Annotated[
        str | None, typer.Option("--password", help="Asked for when left out.")
    ] = None,
) -> None:
    """Sign in to the cloud; the access token is kept in <data dir>/phone/ (mode 0600)."""
    base = cloud.rstrip("/")
    if not re.match(r"^https?://[^/\s]+", base):
        raise PhoneError(f"bad cloud URL {cloud!r}: expected http(s)://HOST[:PORT]")
    secret = password if password is not None else typer.prompt("password", hide_input=True)
    try:
        out = _call(base, "POST", "/api/v1/login", body={"username": user, "password": secret})
        token, expires_in = str(out["access_token"]), float(out["expires_in"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PhoneError(f"the cloud at {base} answered the sign-in oddly: {exc}") from exc
    session = Session(base, user, token, time.time() + expires_in, str(out.get("scope", "")))
    _write_private(phone_dir() / SESSION_FILE, json.dumps(asdict(session)).encode("utf-8"))
    console().print(
        f"signed in to {base} as {user} for {expires_in / 60:.0f} min", markup=False, soft_wrap=True
    )


@app.command("pair")
def pair(
    vin: Annotated[str, typer.Argument(help="The car's VIN.")],
    code: Annotated[str, typer.Option("--code", help="The 6-digit code shown in the car.")],
    wait: WaitOption = DEFAULT_WAIT_S,
    as_json: JsonOption = False,
) -> None:
    """Enrol this phone's key on the car with the code shown in it (the code never leaves the
    phone: the car gets an HMAC proof of it)."""
    _vin(vin)
    if not re.fullmatch(rf"\d{{{PAIRING_DIGITS}}}", code):
        raise PhoneError(
            f"bad code {code!r}: expected the {PAIRING_DIGITS} digits shown in the car"
        )
    directory = phone_dir()
    state = load_state(directory)
    session = load_session(directory)
    request_id = uuid.uuid4().hex
    request = protocol.PairingRequest(
        id=request_id,
        vin=vin,
        name=state.name,
        public_pem=state.public_pem,
        proof=pairing_proof(code, state.public_pem, state.name, request_id),
        expires_at=time.time() + PAIRING_TTL_S,
    )
    out = _call(
        session.cloud,
        "POST",
        f"/api/v1/vehicles/{vin}/keys",
        session.access_token,
        request.model_dump(mode="json"),
    )
    if out.get("status") == "pending":
        out = _wait(session, request_id, wait)
    _report(out, f"key {state.key_id} enrolled", wait, as_json)


@app.command("send")
def send(
    vin: Annotated[str, typer.Argument(help="The car's VIN.")],
    command: Annotated[str, typer.Argument(help="lock, unlock, climate_on, honk, ...")],
    params: Annotated[
        list[str] | None, typer.Argument(help="Parameters as KEY=VALUE (percent=80).")
    ] = None,
    ttl: Annotated[
        float,
        typer.Option(
            "--ttl", min=1, max=MAX_VALIDITY_S, help="Seconds the command stays valid (≤ 600)."
        ),
    ] = DEFAULT_TTL_S,
    wait: WaitOption = DEFAULT_WAIT_S,
    as_json: JsonOption = False,
) -> None:
    """Sign a command with the phone's key and send it through the cloud; print the car's
    answer: executed, refused (with the reason) or expired."""
    _vin(vin)
    try:
        name = protocol.CommandName(command)
    except ValueError:
        known = ", ".join(c.value for c in protocol.CommandName)
        raise PhoneError(f"unknown command {command!r}: expected one of {known}") from None
    values = parse_params(params or [])
    directory = phone_dir()
    state = load_state(directory)
    session = load_session(directory)
    private = _private_key(directory)
    state.counter += 1
    save_state(directory, state)  # before sending: a counter is never signed twice
    part = protocol.SignedPart(
        id=uuid.uuid4().hex,
        vin=vin,
        name=name,
        params=values,
        counter=state.counter,
        expires_at=time.time() + ttl,
    )
    signed = sign_command(private, state.key_id, part)
    out = _call(
        session.cloud,
        "POST",
        f"/api/v1/vehicles/{vin}/commands/{name.value}",
        session.access_token,
        signed.model_dump(mode="json"),
    )
    if out.get("status") == "pending":
        out = _wait(session, part.id, wait)
    _report(out, name.value, wait, as_json)


@app.command("status")
def status(
    command_id: Annotated[str, typer.Argument(help="The id 'send' or 'pair' printed.")],
    as_json: JsonOption = False,
) -> None:
    """Show a command's status: pending, executed, refused, expired or failed, and why."""
    if not 1 <= len(command_id) <= 64 or not re.fullmatch(r"[\w.-]+", command_id):
        raise PhoneError(f"bad command id {command_id!r}")
    session = load_session(phone_dir())
    out = _call(session.cloud, "GET", f"/api/v1/commands/{command_id}", session.access_token)
    if as_json:
        print_json(out)
        return
    line = f"{out.get('status')}: {out.get('reason') or out.get('name')} [{out.get('id')}]"
    console().print(line, markup=False, soft_wrap=True)
