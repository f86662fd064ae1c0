"""Contract tests of Home Assistant's REST API, as the assistant's smart-home handler uses it.

Home Assistant itself cannot run here, so `FakeHomeAssistant` serves the documented endpoints
(https://developers.home-assistant.io/docs/api/rest/) with Home Assistant's answers: bearer-token
authentication (401 otherwise), `GET /api/states[/<entity_id>]` (404 "Entity not found."),
`POST /api/services/<domain>/<service>` returning the changed states (400 for an unknown service
or data that is not JSON). It records every call, so the tests check what reached the home.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from carmind.connect.smarthome import (
    HomeAssistantAuthError,
    HomeAssistantRequestError,
    HomeAssistantRest,
    HomeAssistantUnreachableError,
    SmartHome,
    SmartHomeConfigError,
    UnknownEntityError,
)
from tests.connect.conftest import free_port

TOKEN = "test-long-lived-token"

SERVICES = {
    ("light", "turn_on"): "on",
    ("light", "turn_off"): "off",
    ("switch", "turn_on"): "on",
    ("switch", "turn_off"): "off",
    ("cover", "open_cover"): "open",
    ("cover", "close_cover"): "closed",
    ("climate", "set_temperature"): None,
}


def _home() -> dict[str, dict[str, Any]]:
    def entity(entity_id: str, state: str, name: str, area: str, **attrs: Any) -> dict[str, Any]:
        return {
            "entity_id": entity_id,
            "state": state,
            "attributes": {"friendly_name": name, **attrs},
            "area": area,  # areas are not in the REST state; kept here for area_id targets
        }

    return {
        e["entity_id"]: e
        for e in (
            entity("light.kitchen", "off", "Kitchen light", "kitchen"),
            entity("light.living_room", "off", "Living room light", "living_room"),
            entity("cover.garage_door", "closed", "Garage door", "garage"),
            entity(
                "climate.home",
                "heat",
                "Thermostat",
                "living_room",
                temperature=19.0,
                current_temperature=18.5,
            ),
            entity("switch.coffee_maker", "off", "Coffee maker", "kitchen"),
        )
    }


@dataclass
class FakeHomeAssistant:
    """Home Assistant's REST API on a local port (a contract stand-in; see the module doc)."""

    port: int
    entities: dict[str, dict[str, Any]] = field(default_factory=_home)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def public(self, entity: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entity.items() if k != "area"}

    def service(self, domain: str, service: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls.append((domain, service, data))
        if "entity_id" in data:
            ids = [data["entity_id"]]
        else:
            area = data.get("area_id")
            ids = [i for i, e in self.entities.items() if e["area"] == area]
        changed = []
        for entity_id in ids:
            entity = self.entities.get(entity_id)
            if entity is None or not entity_id.startswith(domain + "."):
                continue  # Home Assistant ignores entities a service does not apply to
            new_state = SERVICES[(domain, service)]
            if new_state is not None:
                entity["state"] = new_state
            if "temperature" in data:
                entity["attributes"]["temperature"] = data["temperature"]
            if "brightness_pct" in data:
                entity["attributes"]["brightness"] = round(data["brightness_pct"] * 255 / 100)
            changed.append(self.public(entity))
        return changed

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: object) -> None:
                raw = (json.dumps(body) if not isinstance(body, str) else body).encode()
                self.send_response(status)
                ctype = "application/json" if not isinstance(body, str) else "text/plain"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                    return True
                self._send(401, "401: Unauthorized")
                return False

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path == "/api/":
                    self._send(200, {"message": "API running."})
                elif self.path == "/api/states":
                    self._send(200, [fake.public(e) for e in fake.entities.values()])
                elif self.path.startswith("/api/states/"):
                    entity = fake.entities.get(self.path.removeprefix("/api/states/"))
                    if entity is None:
                        self._send(404, {"message": "Entity not found."})
                    else:
                        self._send(200, fake.public(entity))
                else:
                    self._send(404, {"message": "Not found."})

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                parts = self.path.split("/")
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if len(parts) != 5 or parts[:3] != ["", "api", "services"]:
                    self._send(404, {"message": "Not found."})
                    return
                try:
                    data = json.loads(body) if body else {}
                except ValueError:
                    self._send(400, {"message": "Data should be valid JSON."})
                    return
                if (parts[3], parts[4]) not in SERVICES:
                    self._send(400, "400: Bad Request")
                    return
                self._send(200, fake.service(parts[3], parts[4], data))

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def home_assistant() -> Iterator[FakeHomeAssistant]:
    fake = FakeHomeAssistant(free_port())
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def smart_home(home_assistant: FakeHomeAssistant) -> Iterator[SmartHome]:
    home = SmartHome.from_settings(home_assistant.url, TOKEN)
    try:
        yield home
    finally:
        home.close()


def test_turn_on_an_entity_calls_its_domain_service(
    smart_home: SmartHome, home_assistant: FakeHomeAssistant
) -> None:
    said = smart_home.handle_request("HassTurnOn", {"entity_id": "light.kitchen"}, "en")
    assert said == "Turned on Kitchen light."
    assert home_assistant.calls == [("light", "turn_on", {"entity_id": "light.kitchen"})]
    assert home_assistant.entities["light.kitchen"]["state"] == "on"


def test_a_cover_opens_and_closes_rather_than_turning_on(
    smart_home: SmartHome, home_assistant: FakeHomeAssistant
) -> None:
    said = smart_home.handle_request("HassTurnOn", {"entity_id": "cover.garage_door"}, "zh")
    assert said == "正在打开Garage door。"
    smart_home.handle_request("HassTurnOff", {"entity_id": "cover.garage_door"}, "nl")
    assert [c[1] for c in home_assistant.calls] == ["open_cover", "close_cover"]
    assert home_assistant.entities["cover.garage_door"]["state"] == "closed"


def test_an_area_request_targets_the_area_and_the_named_domain_only(
    smart_home: SmartHome, home_assistant: FakeHomeAssistant
) -> None:
    said = smart_home.handle_request("HassTurnOn", {"area": "kitchen"}, "nl")
    assert said == "De lampen in de kitchen gaan aan."
    assert home_assistant.calls == [("light", "turn_on", {"area_id": "kitchen"})]
    assert home_assistant.entities["light.kitchen"]["state"] == "on"
    assert home_assistant.entities["switch.coffee_maker"]["state"] == "off"


def test_light_brightness_is_sent_as_a_percentage(
    smart_home: SmartHome, home_assistant: FakeHomeAssistant
) -> None:
    said = smart_home.handle_request(
        "HassLightSet", {"entity_id": "light.living_room", "brightness": 40}, "en"
    )
    assert said == "Set Living room light to 40 %."
    assert home_assistant.calls[-1] == (
        "light",
        "turn_on",
        {"entity_id": "light.living_room", "brightness_pct": 40},
    )
    assert home_assistant.entities["light.living_room"]["attributes"]["brightness"] == 102


def test_thermostat_without_a_name_is_the_homes_only_one(
    smart_home: SmartHome, home_assistant: FakeHomeAssistant
) -> None:
    said = smart_home.handle_request("HassClimateSetTemperature", {"temperature": 21.5}, "en")
    assert said == "Set Thermostat to 21.5 °C."
    assert home_assistant.calls == [
        ("climate", "set_temperature", {"entity_id": "climate.home", "temperature": 21.5})
    ]
    said = smart_home.handle_request("HassClimateGetTemperature", {}, "zh")
    assert said == "家里现在 18.5°C（Thermostat）。"


def test_get_state_reads_the_entity(smart_home: SmartHome) -> None:
    said = smart_home.handle_request("HassGetState", {"entity_id": "switch.coffee_maker"}, "en")
    assert said == "Coffee maker is off."


def test_unknown_entity_is_a_specific_error_and_calls_nothing(
    smart_home: SmartHome, home_assistant: FakeHomeAssistant
) -> None:
    with pytest.raises(UnknownEntityError, match=r"light\.attic"):
        smart_home.rest.state("light.attic")
    said = smart_home.handle_request("HassTurnOff", {"entity_id": "light.attic"}, "en")
    assert said == "Home Assistant does not know light.attic."
    assert home_assistant.calls == []


def test_a_bad_token_is_refused_and_changes_nothing(home_assistant: FakeHomeAssistant) -> None:
    home = SmartHome.from_settings(home_assistant.url, "not-the-token")
    try:
        with pytest.raises(HomeAssistantAuthError, match="401"):
            home.rest.call("light", "turn_on", {"entity_id": "light.kitchen"})
        said = home.handle_request("HassTurnOn", {"entity_id": "light.kitchen"}, "nl")
        assert said == "Home Assistant weigert het toegangstoken."
    finally:
        home.close()
    assert home_assistant.calls == []
    assert home_assistant.entities["light.kitchen"]["state"] == "off"


def test_an_unreachable_home_assistant_is_said_in_one_sentence() -> None:
    home = SmartHome(HomeAssistantRest(f"http://127.0.0.1:{free_port()}", TOKEN, timeout_s=2.0))
    try:
        with pytest.raises(HomeAssistantUnreachableError, match="unreachable"):
            home.rest.states()
        said = home.handle_request("HassTurnOn", {"entity_id": "light.kitchen"}, "en")
        assert said == "Home Assistant is not answering."
    finally:
        home.close()


def test_an_unknown_service_is_refused_with_its_name(
    smart_home: SmartHome, home_assistant: FakeHomeAssistant
) -> None:
    with pytest.raises(HomeAssistantRequestError, match=r"vacuum/start \(400\)"):
        smart_home.rest.call("vacuum", "start", {"entity_id": "vacuum.robot"})
    assert home_assistant.calls == []


@pytest.mark.parametrize(
    ("url", "token", "named"),
    [
        ("ftp://ha.local", TOKEN, "ftp://ha.local"),
        ("ha.local:8123", TOKEN, "ha.local:8123"),
        ("http://ha.local:8123", " ", "ha_token"),
    ],
)
def test_bad_settings_are_errors_naming_the_value(url: str, token: str, named: str) -> None:
    with pytest.raises(SmartHomeConfigError, match=named):
        SmartHome.from_settings(url, token)


def test_requests_for_other_services_are_not_ours(smart_home: SmartHome) -> None:
    assert smart_home.handle_request("navigate", {"destination": "home"}, "en") is None
