"""`carmind run` as a connected car: embedded broker and cloud by default, or the given broker."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from carmind.cli.main import main
from carmind.connect.mqtt import parse_url


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


RUN = ("run", "--plain", "--drive", "park", "--no-assistant", "--no-nav")


def test_run_connects_to_its_embedded_broker_and_cloud(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, *RUN, "--duration", "3")
    assert status == 0, err
    lines = [line for line in out.splitlines() if line.startswith("t=")]
    assert any("link=online" in line for line in lines), out


@pytest.mark.services
def test_run_on_mosquitto_publishes_the_car_and_home_assistant(
    capsys: pytest.CaptureFixture[str], shared_mosquitto: str
) -> None:
    settings = parse_url(shared_mosquitto)
    seen: dict[str, bytes] = {}
    lock = threading.Lock()

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        with lock:
            seen[message.topic] = message.payload

    watcher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{time.monotonic_ns()}")
    watcher.on_message = on_message
    watcher.connect(settings.host, settings.port)
    watcher.subscribe([("carmind/#", 1), ("homeassistant/#", 1)])
    watcher.loop_start()
    try:
        status, out, err = cli(capsys, *RUN, "--duration", "3", "--mqtt", shared_mosquitto)
        assert status == 0, err
        assert any("link=online" in line for line in out.splitlines()), out
        deadline = time.monotonic() + 5  # the last messages reach the watcher a moment later
        while time.monotonic() < deadline:
            with lock:
                said = [p for t, p in seen.items() if t.endswith("/status")]
            if b"offline" in said:
                break
            time.sleep(0.05)
    finally:
        watcher.loop_stop()
        watcher.disconnect()
    with lock:
        topics = dict(seen)
    vin = next(t.split("/")[2] for t in topics if t.startswith("carmind/v1/"))
    assert topics[f"carmind/v1/{vin}/status"] == b"offline"  # said on the way out
    telemetry = [t for t in topics if t == f"carmind/v1/{vin}/telemetry"]
    assert telemetry, sorted(topics)
    batch = json.loads(topics[telemetry[0]])
    assert batch["vin"] == vin and batch["points"]
    lock_config = [
        t for t in topics if t.startswith("homeassistant/lock/") and t.endswith("config")
    ]
    assert lock_config, sorted(topics)
    assert json.loads(topics[lock_config[0]])["device"]["identifiers"]


def test_connect_options_need_the_car_and_the_link(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli(
        capsys, "run", "--no-car", "--mqtt", "mqtt://127.0.0.1:1", "--duration", "0"
    )
    assert status == 2 and "--no-car" in err
    status, _, err = cli(
        capsys, "run", "--no-connect", "--mqtt", "mqtt://127.0.0.1:1", "--duration", "0"
    )
    assert status == 2 and "--no-connect" in err
    status, _, err = cli(capsys, *RUN, "--mqtt", "ftp://example.com", "--duration", "0")
    assert status == 2 and "ftp" in err
