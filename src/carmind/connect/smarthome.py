"""The assistant's smart-home requests, carried out through Home Assistant's REST API.

The assistant hands requests with service "home" and Home Assistant's own intent names
(`HassTurnOn`, `HassTurnOff`, `HassLightSet`, `HassClimateSetTemperature`,
`HassClimateGetTemperature`, `HassGetState`) and slots `entity_id`, `area`, `domain`,
`brightness`, `temperature`. `SmartHome.handle_request` turns each into REST calls on the user's
Home Assistant (base URL and a long-lived access token, `[connect] ha_url` / `ha_token`):

    GET  /api/states/<entity_id>             does the entity exist, what is its state
    GET  /api/states                         all states (to find the home's one thermostat)
    POST /api/services/<domain>/<service>    with entity_id or area_id and the service data

and returns the sentence to say, in the assistant's language. Every failure is a
`SmartHomeError` subclass (Home Assistant unreachable, the token refused, an unknown entity, a
service call refused); `handle_request` says it in one sentence instead of raising. The calls are
synchronous, each bounded by `TIMEOUT_S`, like the navigation handler's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx

from carmind.errors import CarmindError

log = logging.getLogger(__name__)

TIMEOUT_S: Final = 5.0
"""Per request: Home Assistant answers a service call on the local network in well under a
second; after 5 s the driver is better told that the home is not answering than kept waiting."""

DEFAULT_AREA_DOMAIN: Final = "light"
"""What "turn on the kitchen" switches when no domain is named: the lights, as Home Assistant's
own sentences mean it (never every device of the area)."""

_ON_OFF: Final[Mapping[str, tuple[str, str]]] = {
    "cover": ("open_cover", "close_cover"),
}
"""Services for on/off where the domain does not use turn_on / turn_off."""


class SmartHomeError(CarmindError):
    """A smart-home request could not be carried out."""


class SmartHomeConfigError(SmartHomeError):
    """The Home Assistant URL or token in the configuration cannot be used."""


class HomeAssistantUnreachableError(SmartHomeError):
    """Home Assistant did not answer (wrong address, down, no network)."""


class HomeAssistantAuthError(SmartHomeError):
    """Home Assistant refused the access token (401/403)."""


class UnknownEntityError(SmartHomeError):
    """Home Assistant has no entity of that id."""

    def __init__(self, entity_id: str) -> None:
        super().__init__(f"Home Assistant has no entity {entity_id!r}")
        self.entity_id = entity_id


class HomeAssistantRequestError(SmartHomeError):
    """Home Assistant refused or failed a request (bad service data, an unknown service)."""


@dataclass(frozen=True, slots=True)
class EntityState:
    """One entity's state as `GET /api/states/<entity_id>` returns it."""

    entity_id: str
    state: str
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        friendly = self.attributes.get("friendly_name")
        return friendly if isinstance(friendly, str) and friendly else self.entity_id

    @classmethod
    def from_json(cls, data: object) -> EntityState:
        if not isinstance(data, dict) or not isinstance(data.get("entity_id"), str):
            raise HomeAssistantRequestError(f"Home Assistant sent a malformed state: {data!r:.200}")
        attributes = data.get("attributes")
        return cls(
            data["entity_id"],
            str(data.get("state", "")),
            attributes if isinstance(attributes, dict) else {},
        )


class HomeAssistantRest:
    """A small client of Home Assistant's REST API (`/api/...`), bearer-token authenticated."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SmartHomeConfigError(
                f"Home Assistant URL {base_url!r}: expected http(s)://host[:port]"
            )
        if not token.strip():
            raise SmartHomeConfigError(
                "no Home Assistant token: create a long-lived access token in your Home Assistant "
                "profile and set [connect] ha_token"
            )
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token.strip()}"},
            timeout=timeout_s,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TimeoutException:
            raise HomeAssistantUnreachableError(
                f"Home Assistant at {self.base_url} did not answer within "
                f"{self._http.timeout.read} s"
            ) from None
        except httpx.TransportError as exc:
            raise HomeAssistantUnreachableError(
                f"Home Assistant at {self.base_url} is unreachable: {exc}"
            ) from None
        if response.status_code in (401, 403):
            raise HomeAssistantAuthError(
                f"Home Assistant at {self.base_url} refused the access token "
                f"({response.status_code}); create a new long-lived token"
            )
        if response.status_code == 404:
            raise _NotFound(path)
        if response.status_code >= 400:
            raise HomeAssistantRequestError(
                f"Home Assistant refused {method} {path} ({response.status_code}): "
                f"{_message(response)}"
            )
        try:
            return response.json()
        except ValueError:
            raise HomeAssistantRequestError(
                f"Home Assistant answered {method} {path} with something other than JSON"
            ) from None

    def state(self, entity_id: str) -> EntityState:
        """`GET /api/states/<entity_id>`; `UnknownEntityError` if there is no such entity."""
        try:
            return EntityState.from_json(self._request("GET", f"/api/states/{quote(entity_id)}"))
        except _NotFound:
            raise UnknownEntityError(entity_id) from None

    def states(self) -> list[EntityState]:
        """`GET /api/states`: every entity."""
        data = self._request("GET", "/api/states")
        if not isinstance(data, list):
            raise HomeAssistantRequestError("Home Assistant sent a malformed state list")
        return [EntityState.from_json(item) for item in data]

    def call(self, domain: str, service: str, data: Mapping[str, Any]) -> list[EntityState]:
        """`POST /api/services/<domain>/<service>`: the states the call changed."""
        path = f"/api/services/{quote(domain)}/{quote(service)}"
        try:
            changed = self._request("POST", path, data)
        except _NotFound:
            raise HomeAssistantRequestError(
                f"Home Assistant has no service {domain}.{service}"
            ) from None
        items = changed if isinstance(changed, list) else []
        return [EntityState.from_json(item) for item in items]


class _NotFound(Exception):
    """A 404, turned into the caller's specific error."""


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return str(data)[:200]


# --------------------------------------------------------------------------- sentences

_SENTENCES: Final[Mapping[str, Mapping[str, str]]] = {
    "on": {"en": "Turned on {name}.", "zh": "已打开{name}。", "nl": "{name} staat aan."},
    "off": {"en": "Turned off {name}.", "zh": "已关闭{name}。", "nl": "{name} staat uit."},
    "open": {"en": "Opening {name}.", "zh": "正在打开{name}。", "nl": "{name} gaat open."},
    "close": {"en": "Closing {name}.", "zh": "正在关闭{name}。", "nl": "{name} gaat dicht."},
    "area_on": {
        "en": "Turned on the {domain} in the {area}.",
        "zh": "已打开{area}的{domain}。",
        "nl": "De {domain} in de {area} gaan aan.",
    },
    "area_off": {
        "en": "Turned off the {domain} in the {area}.",
        "zh": "已关闭{area}的{domain}。",
        "nl": "De {domain} in de {area} gaan uit.",
    },
    "light": {
        "en": "Set {name} to {value} %.",
        "zh": "已将{name}调到 {value}%。",
        "nl": "{name} staat op {value} %.",
    },
    "temperature": {
        "en": "Set {name} to {value} °C.",
        "zh": "已将{name}设为 {value}°C。",
        "nl": "{name} staat op {value} °C.",
    },
    "current_temperature": {
        "en": "It is {value} °C at home ({name}).",
        "zh": "家里现在 {value}°C（{name}）。",
        "nl": "Het is thuis {value} °C ({name}).",
    },
    "state": {"en": "{name} is {value}.", "zh": "{name}：{value}。", "nl": "{name}: {value}."},
    "unreachable": {
        "en": "Home Assistant is not answering.",
        "zh": "无法连接到 Home Assistant。",
        "nl": "Home Assistant reageert niet.",
    },
    "auth": {
        "en": "Home Assistant refused carmind's access token.",
        "zh": "Home Assistant 拒绝了访问令牌。",
        "nl": "Home Assistant weigert het toegangstoken.",
    },
    "unknown": {
        "en": "Home Assistant does not know {name}.",
        "zh": "Home Assistant 中没有{name}。",
        "nl": "Home Assistant kent {name} niet.",
    },
    "failed": {
        "en": "Home Assistant could not do that: {value}",
        "zh": "Home Assistant 无法执行：{value}",
        "nl": "Home Assistant kon dat niet doen: {value}",
    },
    "no_thermostat": {
        "en": "Which thermostat? Home Assistant has {value}.",
        "zh": "请说明是哪个温控器（Home Assistant 中有 {value} 个）。",
        "nl": "Welke thermostaat? Home Assistant heeft er {value}.",
    },
}

_DOMAIN_WORDS: Final[Mapping[str, Mapping[str, str]]] = {
    "light": {"en": "lights", "zh": "灯", "nl": "lampen"},
    "switch": {"en": "switches", "zh": "开关", "nl": "schakelaars"},
    "cover": {"en": "covers", "zh": "窗帘", "nl": "zonwering"},
    "climate": {"en": "heating", "zh": "暖气", "nl": "verwarming"},
}


def _say(key: str, lang: str, **params: Any) -> str:
    table = _SENTENCES[key]
    return table.get(lang, table["en"]).format(**params)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _fmt(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- the handler


class SmartHome:
    """The assistant's "home" service: `handle_request(action, data, lang)`."""

    def __init__(self, rest: HomeAssistantRest) -> None:
        self.rest = rest

    @classmethod
    def from_settings(cls, base_url: str, token: str) -> SmartHome:
        """From `[connect] ha_url` and `ha_token`; `SmartHomeConfigError` names what is wrong."""
        return cls(HomeAssistantRest(base_url, token))

    def close(self) -> None:
        self.rest.close()

    def handle_request(self, action: str, data: Mapping[str, Any], lang: str) -> str | None:
        """Carry out an assistant request for the home; the sentence to say (None: not ours)."""
        handler = {
            "HassTurnOn": self._turn_on,
            "HassTurnOff": self._turn_off,
            "HassLightSet": self._light_set,
            "HassClimateSetTemperature": self._set_temperature,
            "HassClimateGetTemperature": self._get_temperature,
            "HassGetState": self._get_state,
        }.get(action)
        if handler is None:
            return None
        try:
            return handler(data, lang)
        except UnknownEntityError as exc:
            log.info("smart home: %s", exc)
            return _say("unknown", lang, name=exc.entity_id)
        except HomeAssistantUnreachableError as exc:
            log.warning("smart home: %s", exc)
            return _say("unreachable", lang)
        except HomeAssistantAuthError as exc:
            log.warning("smart home: %s", exc)
            return _say("auth", lang)
        except SmartHomeError as exc:
            log.warning("smart home: %s", exc)
            return _say("failed", lang, value=str(exc))

    # ------------------------------------------------------------------ targets

    def _entity(self, data: Mapping[str, Any]) -> EntityState | None:
        entity_id = data.get("entity_id")
        if isinstance(entity_id, str) and entity_id:
            return self.rest.state(entity_id)  # raises UnknownEntityError before any call
        return None

    def _target(
        self, data: Mapping[str, Any], domain_default: str
    ) -> tuple[str, dict[str, Any], str | None, EntityState | None]:
        """(domain, target data, area, entity) for a request naming an entity or an area."""
        entity = self._entity(data)
        if entity is not None:
            return entity.entity_id.split(".", 1)[0], {"entity_id": entity.entity_id}, None, entity
        area = data.get("area")
        domain = str(data.get("domain") or domain_default)
        if isinstance(area, str) and area:
            return domain, {"area_id": area}, area, None
        raise SmartHomeError("name a device or a room for the smart home")

    def _switch(self, data: Mapping[str, Any], lang: str, on: bool) -> str:
        domain, target, area, entity = self._target(data, DEFAULT_AREA_DOMAIN)
        on_service, off_service = _ON_OFF.get(domain, ("turn_on", "turn_off"))
        self.rest.call(domain, on_service if on else off_service, target)
        if entity is None:
            words = _DOMAIN_WORDS.get(domain, {}).get(lang, domain)
            where = str(area).replace("_", " ")
            return _say("area_on" if on else "area_off", lang, domain=words, area=where)
        if domain in _ON_OFF:
            return _say("open" if on else "close", lang, name=entity.name)
        return _say("on" if on else "off", lang, name=entity.name)

    def _turn_on(self, data: Mapping[str, Any], lang: str) -> str:
        return self._switch(data, lang, True)

    def _turn_off(self, data: Mapping[str, Any], lang: str) -> str:
        return self._switch(data, lang, False)

    def _light_set(self, data: Mapping[str, Any], lang: str) -> str:
        _, target, area, entity = self._target(data, "light")
        brightness = _number(data.get("brightness"))
        if brightness is None or not 0 <= brightness <= 100:
            raise SmartHomeError(
                f"brightness {data.get('brightness')!r}: expected a percentage from 0 to 100"
            )
        self.rest.call("light", "turn_on", {**target, "brightness_pct": round(brightness)})
        name = entity.name if entity is not None else str(area)
        return _say("light", lang, name=name, value=round(brightness))

    def _thermostat(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        entity = self._entity(data)
        if entity is not None:
            return {"entity_id": entity.entity_id}, entity.name
        area = data.get("area")
        if isinstance(area, str) and area:
            return {"area_id": area}, area
        climates = [s for s in self.rest.states() if s.entity_id.startswith("climate.")]
        if len(climates) != 1:
            raise _Ambiguous(len(climates))
        return {"entity_id": climates[0].entity_id}, climates[0].name

    def _set_temperature(self, data: Mapping[str, Any], lang: str) -> str:
        temperature = _number(data.get("temperature"))
        if temperature is None:
            raise SmartHomeError(f"temperature {data.get('temperature')!r}: expected a number")
        try:
            target, name = self._thermostat(data)
        except _Ambiguous as exc:
            return _say("no_thermostat", lang, value=exc.count)
        self.rest.call("climate", "set_temperature", {**target, "temperature": temperature})
        return _say("temperature", lang, name=name, value=_fmt(temperature))

    def _get_temperature(self, data: Mapping[str, Any], lang: str) -> str:
        try:
            target, name = self._thermostat(data)
        except _Ambiguous as exc:
            return _say("no_thermostat", lang, value=exc.count)
        entity_id = target.get("entity_id")
        if not isinstance(entity_id, str):
            raise SmartHomeError("the temperature of a room needs a thermostat's name")
        state = self.rest.state(entity_id)
        current = _number(state.attributes.get("current_temperature"))
        if current is None:
            return _say("state", lang, name=name, value=state.state)
        return _say("current_temperature", lang, name=name, value=_fmt(current))

    def _get_state(self, data: Mapping[str, Any], lang: str) -> str:
        entity = self._entity(data)
        if entity is None:
            raise SmartHomeError("name the device whose state you want to know")
        return _say("state", lang, name=entity.name, value=entity.state)


class _Ambiguous(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count
