"""The vehicle link over TLS with per-vehicle credentials, on a Mosquitto configured for it."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from carmind.config import load_config
from carmind.connect.link import VehicleLink
from carmind.vehicle.session import CarSession

from .conftest import _absent, _reachable, free_port

VIN = "WCARM1ND000000042"
SECRET = "s3cret-for-this-car"

pytestmark = pytest.mark.services


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("carmind test CA"))
        .issuer_name(_name("carmind test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@pytest.fixture
def tls_broker(tmp_path: Path) -> object:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    passwd = shutil.which("mosquitto_passwd")
    if not Path(exe).exists() or passwd is None:
        _absent("mosquitto and mosquitto_passwd are needed")
    assert passwd is not None
    ca, cert, key = make_certificates(tmp_path)
    passwords = tmp_path / "passwords"
    subprocess.run([passwd, "-b", "-c", str(passwords), VIN, SECRET], check=True)
    acl = tmp_path / "acl"
    acl.write_text("pattern readwrite carmind/v1/%u/#\n")  # each car only its own topics
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                f"listener {port} 127.0.0.1",
                f"cafile {ca}",
                f"certfile {cert}",
                f"keyfile {key}",
                "allow_anonymous false",
                f"password_file {passwords}",
                f"acl_file {acl}",
                "log_dest none",
                "user root",  # as root it would drop to `mosquitto`, who cannot read tmp_path
                "",
            ]
        )
    )
    process = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _reachable("127.0.0.1", port):
        if time.monotonic() > deadline or process.poll() is not None:
            pytest.fail("mosquitto with TLS did not start")
        time.sleep(0.05)
    yield port, ca
    process.kill()
    process.wait(timeout=10)


async def _connects(url: str, tmp_path: Path) -> bool:
    session = CarSession.create(load_config(environ={}))
    link = VehicleLink(session.client, url, VIN, tmp_path, telemetry={}, reconnect_min_s=0.2)
    task = asyncio.create_task(link.run())
    try:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline and not link.stats.connected:
            await asyncio.sleep(0.05)
        return link.stats.connected
    finally:
        link.stop()
        await asyncio.wait_for(task, 10)


async def test_the_link_needs_tls_and_its_own_credentials(
    tls_broker: tuple[int, Path], tmp_path: Path
) -> None:
    port, ca = tls_broker
    good = f"mqtts://{VIN}:{SECRET}@127.0.0.1:{port}?ca={ca}"
    assert await _connects(good, tmp_path / "good")
    assert not await _connects(f"mqtts://{VIN}:wrong@127.0.0.1:{port}?ca={ca}", tmp_path / "bad")
    # without the CA the server's certificate is not trusted
    assert not await _connects(f"mqtts://{VIN}:{SECRET}@127.0.0.1:{port}", tmp_path / "noca")
    # and plain MQTT is not spoken there at all
    assert not await _connects(f"mqtt://{VIN}:{SECRET}@127.0.0.1:{port}", tmp_path / "plain")
