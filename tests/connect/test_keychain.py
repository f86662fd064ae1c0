"""The car's keychain: pairing, signatures, expiry, replay, revocation, persistence."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from carmind.connect.keychain import (
    CLOCK_SKEW_S,
    MAX_VALIDITY_S,
    PAIRING_MAX_ATTEMPTS,
    PAIRING_TTL_S,
    CommandRefused,
    Keychain,
    KeychainError,
    generate_key,
    sign_command,
)
from carmind.connect.protocol import Command, CommandName, ResultStatus, SignedPart

VIN = "WCARM1ND000000001"
OTHER_VIN = "WCARM1ND000000002"
NOW = 1_750_000_000.0


def part(counter: int, *, vin: str = VIN, expires_in: float = 60.0, **params: object) -> SignedPart:
    return SignedPart(
        id=f"cmd-{counter:06d}",
        vin=vin,
        name=CommandName.SET_CHARGE_LIMIT if params else CommandName.LOCK,
        params=dict(params),
        counter=counter,
        expires_at=NOW + expires_in,
    )


@pytest.fixture
def phone(tmp_path: Path) -> tuple[Keychain, ec.EllipticCurvePrivateKey, str]:
    keychain = Keychain(tmp_path, VIN)
    private, pem = generate_key()
    code = keychain.start_pairing(NOW)
    key_id = keychain.enroll(code, pem, "Anna's phone", NOW + 5)
    return keychain, private, key_id


def test_a_signed_command_verifies_and_its_counter_is_kept_on_disk(
    phone: tuple[Keychain, ec.EllipticCurvePrivateKey, str], tmp_path: Path
) -> None:
    keychain, private, key_id = phone
    verified = keychain.verify(sign_command(private, key_id, part(1)), NOW)
    assert verified.name is CommandName.LOCK
    assert Keychain(tmp_path, VIN).get(key_id).counter == 1  # type: ignore[union-attr]
    on_disk = json.loads((tmp_path / "keychain.json").read_text())
    assert on_disk["keys"][0]["counter"] == 1


def refused(keychain: Keychain, command: Command, now: float = NOW) -> CommandRefused:
    before = [k.counter for k in keychain.enrolled()]
    with pytest.raises(CommandRefused) as info:
        keychain.verify(command, now)
    assert [k.counter for k in keychain.enrolled()] == before  # a refusal changes nothing
    return info.value


def test_a_forged_signature_is_refused(
    phone: tuple[Keychain, ec.EllipticCurvePrivateKey, str],
) -> None:
    keychain, _, key_id = phone
    attacker, _ = generate_key()
    error = refused(keychain, sign_command(attacker, key_id, part(1)))
    assert "bad signature" in error.reason
    assert error.status is ResultStatus.REFUSED


def test_an_altered_command_is_refused(
    phone: tuple[Keychain, ec.EllipticCurvePrivateKey, str],
) -> None:
    keychain, private, key_id = phone
    genuine = sign_command(private, key_id, part(1, percent=80))
    tampered = genuine.model_copy(update={"signed": part(1, percent=50)})
    assert "forged or altered" in refused(keychain, tampered).reason


def test_garbage_in_the_signature_field_is_refused(
    phone: tuple[Keychain, ec.EllipticCurvePrivateKey, str],
) -> None:
    keychain, private, key_id = phone
    genuine = sign_command(private, key_id, part(1))
    for junk in ("not base64!!", base64.b64encode(b"\x30\x02junk").decode()):
        bad = genuine.model_copy(update={"signature": junk})
        assert "bad signature" in refused(keychain, bad).reason


def test_an_unknown_key_is_refused(
    phone: tuple[Keychain, ec.EllipticCurvePrivateKey, str],
) -> None:
    keychain, private, _ = phone
    assert "unknown key" in refused(keychain, sign_command(private, "0" * 16, part(1))).reason


def test_a_command_for_another_car_is_refused(
    phone: tuple[Keychain, ec.EllipticCurvePrivateKey, str],
) -> None:
    keychain, private, key_id = phone
    error = refused(keychain, sign_command(private, key_id, part(1, vin=OTHER_VIN)))
    assert OTHER_VIN in error.reason


def test_expiry_allows_clock_skew_then_refuses_as_expired(
    phone: tuple[Keychain, ec.EllipticCurvePrivateKey, str],
) -> None:
    keychain, private, key_id = phone
    late = sign_command(private, key_id, part(1, expires_in=-(CLOCK_SKEW_S - 1)))
    keychain.verify(late, NOW)  # within the skew: accepted
    too_late = sign_command(private, key_id, part(2, expires_in=-(CLOCK_SKEW_S + 1)))
    error = refused(keychain, too_late)
    assert error.status is ResultStatus.EXPIRED
    assert "expired" in error.reason


def test_a_command_valid_for_too_long_is_refused(
    phone: tuple[Keychain, ec.EllipticCurvePrivateKey, str],
) -> None:
    keychain, private, key_id = phone
    forever = sign_command(private, key_id, part(1, expires_in=MAX_VALIDITY_S + CLOCK_SKEW_S + 5))
    assert "at most" in refused(keychain, forever).reason
    keychain.verify(sign_command(private, key_id, part(1, expires_in=MAX_VALIDITY_S)), NOW)


def test_a_replayed_or_older_counter_is_refused_even_after_a_restart(
    phone: tuple[Keychain, ec.EllipticCurvePrivateKey, str], tmp_path: Path
) -> None:
    keychain, private, key_id = phone
    fifth = sign_command(private, key_id, part(5))
    keychain.verify(fifth, NOW)
    assert "replay" in refused(keychain, fifth).reason
    assert "replay" in refused(keychain, sign_command(private, key_id, part(3))).reason
    restarted = Keychain(tmp_path, VIN)  # the car restarts: the counter was persisted
    assert "replay" in refused(restarted, fifth).reason
    restarted.verify(sign_command(private, key_id, part(6)), NOW)


def test_a_revoked_key_is_refused_and_cannot_be_enrolled_again(
    phone: tuple[Keychain, ec.EllipticCurvePrivateKey, str], tmp_path: Path
) -> None:
    keychain, private, key_id = phone
    keychain.revoke(key_id, NOW + 10)
    assert "revoked" in refused(keychain, sign_command(private, key_id, part(1))).reason
    assert (
        "revoked" in refused(Keychain(tmp_path, VIN), sign_command(private, key_id, part(1))).reason
    )
    pem = keychain.get(key_id).public_pem  # type: ignore[union-attr]
    code = keychain.start_pairing(NOW + 20)
    with pytest.raises(KeychainError, match="revoked"):
        keychain.enroll(code, pem, "again", NOW + 21)
    with pytest.raises(KeychainError, match="no key"):
        keychain.revoke("feedfeedfeedfeed")


def test_pairing_code_is_six_digits_one_use_and_expires(tmp_path: Path) -> None:
    keychain = Keychain(tmp_path, VIN)
    _, pem = generate_key()
    _, pem2 = generate_key()
    code = keychain.start_pairing(NOW)
    assert len(code) == 6 and code.isdigit()
    assert keychain.pairing_code(NOW + 1) == code
    keychain.enroll(code, pem, "phone", NOW + 1)
    with pytest.raises(KeychainError, match="no pairing window"):
        keychain.enroll(code, pem2, "phone 2", NOW + 2)  # one use
    code = keychain.start_pairing(NOW + 10)
    with pytest.raises(KeychainError, match="expired"):
        keychain.enroll(code, pem2, "phone 2", NOW + 10 + PAIRING_TTL_S + 1)
    assert keychain.pairing_code(NOW + 10 + PAIRING_TTL_S + 1) is None
    assert len(keychain.enrolled()) == 1


def test_wrong_pairing_codes_close_the_window(tmp_path: Path) -> None:
    keychain = Keychain(tmp_path, VIN)
    _, pem = generate_key()
    code = keychain.start_pairing(NOW)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for attempt in range(1, PAIRING_MAX_ATTEMPTS):
        with pytest.raises(KeychainError, match=f"{PAIRING_MAX_ATTEMPTS - attempt} attempt"):
            keychain.enroll(wrong, pem, "phone", NOW + attempt)
    with pytest.raises(KeychainError, match="closed the pairing window"):
        keychain.enroll(wrong, pem, "phone", NOW + 10)
    with pytest.raises(KeychainError, match="no pairing window"):
        keychain.enroll(code, pem, "phone", NOW + 11)  # even the right code is too late now
    assert keychain.enrolled() == []
    assert not (tmp_path / "keychain.json").exists()


def test_a_bad_public_key_is_refused_without_spending_the_code(tmp_path: Path) -> None:
    keychain = Keychain(tmp_path, VIN)
    code = keychain.start_pairing(NOW)
    with pytest.raises(KeychainError, match="PEM"):
        keychain.enroll(
            code, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "x", NOW
        )
    _, pem = generate_key()
    key_id = keychain.enroll(code, pem, "phone", NOW + 1)
    assert keychain.get(key_id) is not None
    with pytest.raises(KeychainError, match="already enrolled"):
        keychain.enroll(keychain.start_pairing(NOW + 2), pem, "phone", NOW + 3)
