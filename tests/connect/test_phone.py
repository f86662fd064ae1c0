"""`carmind phone`: pairing through the cloud with an HMAC proof of the car's code, and signed
commands end to end (the CLI in-process, a private Mosquitto, the cloud on SQLite over HTTP, a
simulated car with its vehicle link)."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from carmind.cli.main import main
from carmind.cli.phone import KEY_FILE, SESSION_FILE, STATE_FILE, parse_params, phone_dir
from carmind.config import load_config
from carmind.connect import protocol
from carmind.connect.cloud.server import CloudServer
from carmind.connect.keychain import (
    PAIRING_MAX_ATTEMPTS,
    Keychain,
    KeychainError,
    generate_key,
    key_id_of,
    pairing_proof,
)
from carmind.connect.link import VehicleLink
from carmind.vehicle.session import CarSession

from .conftest import Broker
from .test_cloud_kit import make_owner, mqtt_client, new_vin, settings_for, wait_for

LOCKED = "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"
NOW = 1_700_000_000.0


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "data"
    monkeypatch.setenv("CARMIND_DATA_DIR", str(home))
    yield home


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------------------- keychain


def test_a_proof_of_the_code_enrols_and_the_code_never_travels(tmp_path: Path) -> None:
    keychain = Keychain(tmp_path, new_vin())
    code = keychain.start_pairing(NOW)
    _, pem = generate_key()
    proof = pairing_proof(code, pem, "Anna's phone", "request-1")
    assert code not in proof and code not in base64.b64decode(proof).hex()
    key_id = keychain.enroll_with_proof(proof, pem, "Anna's phone", "request-1", NOW + 1)
    assert key_id == key_id_of(pem)
    assert keychain.get(key_id) is not None
    assert keychain.pairing_code(NOW + 2) is None  # one use


@pytest.mark.parametrize(
    "change",
    ["code", "name", "request", "not base64"],
)
def test_a_wrong_proof_counts_as_a_wrong_code(tmp_path: Path, change: str) -> None:
    keychain = Keychain(tmp_path, new_vin())
    code = keychain.start_pairing(NOW)
    _, pem = generate_key()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    proof = {
        "code": pairing_proof(wrong, pem, "phone", "request-1"),
        "name": pairing_proof(code, pem, "other phone", "request-1"),
        "request": pairing_proof(code, pem, "phone", "request-2"),
        "not base64": "%%%",
    }[change]
    with pytest.raises(KeychainError, match="wrong pairing code; 4 attempt"):
        keychain.enroll_with_proof(proof, pem, "phone", "request-1", NOW + 1)
    assert keychain.enrolled() == []
    assert keychain.pairing_code(NOW + 1) == code  # still open: one attempt spent


def test_wrong_proofs_close_the_pairing_window(tmp_path: Path) -> None:
    keychain = Keychain(tmp_path, new_vin())
    code = keychain.start_pairing(NOW)
    _, pem = generate_key()
    for _ in range(PAIRING_MAX_ATTEMPTS):
        with pytest.raises(KeychainError, match="wrong pairing code"):
            keychain.enroll_with_proof("AAAA", pem, "phone", "request-1", NOW)
    good = pairing_proof(code, pem, "phone", "request-1")
    with pytest.raises(KeychainError, match="no pairing window"):
        keychain.enroll_with_proof(good, pem, "phone", "request-1", NOW)
    assert keychain.enrolled() == []


# ---------------------------------------------------------------------------- CLI alone


def test_keygen_keeps_the_key_private(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["phone", "keygen", "--name", "Test phone"]) == 0
    directory = phone_dir()
    assert directory == data_dir / "phone"
    assert _mode(directory / KEY_FILE) == 0o600
    assert _mode(directory / STATE_FILE) == 0o600
    state = json.loads((directory / STATE_FILE).read_text())
    assert state["name"] == "Test phone" and state["counter"] == 0
    assert state["key_id"] == key_id_of(state["public_pem"])
    assert state["key_id"] in capsys.readouterr().out
    key = (directory / KEY_FILE).read_bytes()
    # a second keygen refuses to replace the key, and changes nothing
    assert main(["phone", "keygen"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert (directory / KEY_FILE).read_bytes() == key
    assert main(["phone", "keygen", "--force"]) == 0
    assert (directory / KEY_FILE).read_bytes() != key


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["phone", "send", new_vin(), "lock"], "run 'carmind phone keygen' first"),
        (["phone", "send", "NOT-A-VIN", "lock"], "bad VIN 'NOT-A-VIN'"),
        (["phone", "send", new_vin(), "fly"], "unknown command 'fly'"),
        (["phone", "send", new_vin(), "set_charge_limit", "percent"], "bad parameter 'percent'"),
        (["phone", "pair", new_vin(), "--code", "12ab56"], "bad code '12ab56'"),
        (["phone", "login", "--cloud", "ftp://x", "--user", "u", "--password", "p"], "bad cloud"),
        (["phone", "keygen", "--name", " "], "bad name"),
        (["phone", "status", "abc"], "not signed in"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (data_dir / "phone" / STATE_FILE).exists()


def test_parameters_are_json_where_they_are_json() -> None:
    assert parse_params(["percent=40", "celsius=21.5", "on=true", "name=Home"]) == {
        "percent": 40,
        "celsius": 21.5,
        "on": True,
        "name": "Home",
    }


# ---------------------------------------------------------------------------- end to end


class Cli:
    """`carmind ...` in a thread (it blocks on HTTP) while this loop runs the car and cloud."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    async def __call__(self, *argv: str) -> tuple[int, str]:
        code = await asyncio.to_thread(main, list(argv))
        out, err = self.capsys.readouterr()
        return code, (out + err).strip()


@pytest.mark.services
async def test_pair_and_send_through_the_cloud(
    private_mosquitto: Broker,
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = CloudServer(settings_for(tmp_path, mqtt_url=private_mosquitto.url, port=0))
    await server.start()
    owner = await make_owner(server.service)
    vin = owner.vin
    session = CarSession.create(load_config(environ={}))
    link = VehicleLink(
        session.broker.client("link", "read actuate"),
        private_mosquitto.url,
        vin,
        tmp_path / "car",
        telemetry={},
    )
    task = asyncio.create_task(link.run())
    cli = Cli(capsys)
    try:
        await wait_for(lambda: link.stats.connected, what="the link")
        assert (await cli("phone", "keygen", "--name", "Test phone"))[0] == 0
        login = ("phone", "login", "--cloud", server.url, "--user", owner.username)
        code, out = await cli(*login, "--password", "wrong password")
        assert code == 2 and "wrong user name or password" in out
        assert (await cli(*login, "--password", owner.password))[0] == 0
        assert _mode(data_dir / "phone" / SESSION_FILE) == 0o600
        key_id = json.loads((data_dir / "phone" / STATE_FILE).read_text())["key_id"]

        # the car shows a code; a wrong one is refused by the car and counted
        shown = link.start_pairing()
        wrong = f"{(int(shown) + 1) % 10**6:06d}"
        code, out = await cli("phone", "pair", vin, "--code", wrong)
        assert code == 1 and out.startswith("refused: wrong pairing code; 4 attempt"), out
        assert link.stats.pairing_refused == 1 and link.keychain.get(key_id) is None

        # a malformed request on the pairing topic is counted, and the car carries on
        malformed = link.stats.malformed
        async with mqtt_client(private_mosquitto.url) as raw:
            await raw.publish(protocol.topic(vin, protocol.Stream.PAIRING), b"{not json", qos=1)
        await wait_for(lambda: link.stats.malformed == malformed + 1, what="malformed counted")

        # the right code enrols the key; the cloud registers it as the owner's device
        code, out = await cli("phone", "pair", vin, "--code", shown)
        assert code == 0 and out.startswith(f"executed: key {key_id} enrolled as Test phone"), out
        assert link.keychain.get(key_id) is not None
        assert link.stats.pairing_enrolled == 1
        async with httpx.AsyncClient(base_url=server.url, headers=owner.headers) as http:
            devices = (await http.get("/api/v1/devices")).json()
            assert [d["key_id"] for d in devices] == [key_id]
            events = (await http.get(f"/api/v1/vehicles/{vin}/events")).json()
            enrolled = [e for e in events if e["kind"] == "key_enrolled"]
            assert enrolled and enrolled[0]["data"]["key_id"] == key_id

        # signed commands: executed, and refused with the car's reason
        code, out = await cli("phone", "send", vin, "lock")
        assert code == 0 and out.startswith("executed: lock"), out
        locked = session.client.get_target(LOCKED)
        assert locked is not None and locked.value is True
        code, out = await cli("phone", "send", vin, "set_charge_limit", "percent=40")
        assert code == 1 and out.startswith("refused:") and "50" in out, out
        command_id = out.rsplit("[", 1)[1].rstrip("]")
        code, out = await cli("phone", "status", command_id)
        assert code == 0 and out.startswith("refused:"), out
        assert json.loads((data_dir / "phone" / STATE_FILE).read_text())["counter"] == 2

        # another phone, never paired: its commands are refused by the car
        monkeypatch.setenv("CARMIND_DATA_DIR", str(tmp_path / "other"))
        assert (await cli("phone", "keygen"))[0] == 0
        assert (await cli(*login, "--password", owner.password))[0] == 0
        code, out = await cli("phone", "send", vin, "unlock")
        assert code == 1 and out.startswith("refused: unknown key"), out
        assert link.stats.commands_executed == 1
    finally:
        link.stop()
        await asyncio.wait_for(task, 15)
        await server.stop()
