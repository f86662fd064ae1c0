"""Real services for the connected-services tests: PostgreSQL and Mosquitto.

Tests that use them are marked `services`. Where a server is absent they skip with the reason,
except under `CI=true`, where absence fails the test (CI machines have both).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTGRES_HOST = os.environ.get("CARMIND_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("CARMIND_TEST_PG_PORT", "5432"))
POSTGRES_DB = os.environ.get("CARMIND_TEST_PG_DB", "test")
MOSQUITTO_HOST = "127.0.0.1"
MOSQUITTO_PORT = 1883


def _absent(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the service must be present)")
    pytest.skip(reason)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty PostgreSQL schema of its own (dropped after the test), as an asyncpg URL.

    The URL selects the schema through `options=-csearch_path%3D<schema>`.
    """
    if not _reachable(POSTGRES_HOST, POSTGRES_PORT):
        _absent(f"PostgreSQL is not running on {POSTGRES_HOST}:{POSTGRES_PORT}")
    psql = shutil.which("psql")
    if psql is None:
        _absent("psql is not installed")
    assert psql is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = ["-h", POSTGRES_HOST, "-p", str(POSTGRES_PORT), "-U", "postgres", "-d", POSTGRES_DB]
    subprocess.run([psql, *base, "-qc", f"CREATE SCHEMA {schema}"], check=True, capture_output=True)
    try:
        yield (
            f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DB}"
            f"?options=-csearch_path%3D{schema}"
        )
    finally:
        subprocess.run(
            [psql, *base, "-qc", f"DROP SCHEMA {schema} CASCADE"], check=False, capture_output=True
        )


@pytest.fixture
def shared_mosquitto() -> str:
    """The machine's Mosquitto (127.0.0.1:1883), as an MQTT URL; topics must be test-unique."""
    if not _reachable(MOSQUITTO_HOST, MOSQUITTO_PORT):
        _absent(f"Mosquitto is not running on {MOSQUITTO_HOST}:{MOSQUITTO_PORT}")
    return f"mqtt://{MOSQUITTO_HOST}:{MOSQUITTO_PORT}"


@dataclass
class Broker:
    """A private Mosquitto process that a test may stop and start again (same port, same
    persistence file, so persistent sessions and queued QoS 1 messages survive a restart)."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {self.workdir}/",
                    "max_queued_messages 100000",
                    "log_dest none",
                    "user root",  # as root it would drop to `mosquitto`, who cannot read tmp_path
                    "",
                ]
            )
        )
        self.process = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"mosquitto did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it the hard way (SIGKILL): no goodbye to clients, as in a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto of the test's own, on a free port, that the test can kill and restart."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        _absent("the mosquitto program is not installed")
    broker = Broker(free_port(), tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
