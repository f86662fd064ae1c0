"""Contract test of the language-model fallback against the OpenAI chat-completions protocol.

No language model can run here, so a tiny HTTP server in the test speaks the protocol: it checks
the request the assistant sends (model, messages, tools, tool_choice) and answers with the tool
calls a model would make. What the test proves is the contract and that tool calls go through the
same dialogue and the same car interlocks as any other intent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from carmind.assistant.api import Assistant, Recognizer
from carmind.assistant.config import AssistantConfig
from carmind.assistant.llm import LLMFallback, tools
from carmind.assistant.model import Seat, Source
from carmind.vehicle.session import CarSession
from tests.assistant.conftest import target, targets


class FakeChatServer:
    """Answers POST /v1/chat/completions with the tool calls it was given; records requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.tool_calls: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                server.requests.append((self.path, dict(self.headers), body))
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                reply = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "tool_calls" if server.tool_calls else "stop",
                            "message": {
                                "role": "assistant",
                                "content": None if server.tool_calls else "I can't help.",
                                "tool_calls": server.tool_calls or None,
                            },
                        }
                    ],
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, *calls: tuple[str, Any]) -> None:
        self.tool_calls = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
            for i, (name, args) in enumerate(calls)
        ]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat() -> Iterator[FakeChatServer]:
    server = FakeChatServer()
    yield server
    server.close()


def _assistant(session: CarSession, chat: FakeChatServer, **extra: Any) -> Assistant:
    config = AssistantConfig(
        semantic_enabled=False,
        llm_enabled=True,
        llm_endpoint=chat.url,
        llm_model="test-model",
        llm_timeout_s=5.0,
        **extra,
    )
    return Assistant(session.client, config=config, recognizer=Recognizer(config))


def test_contract_request_shape_and_a_tool_call_that_acts(
    session: CarSession, chat: FakeChatServer
) -> None:
    chat.answer(("ClimateSetAC", {"on": True}))
    turn = _assistant(session, chat, llm_api_key="secret").handle(
        "could you get some cold air going"
    )
    assert turn.handled and turn.intents[0].source is Source.LLM
    assert target(session, "Vehicle.Cabin.HVAC.IsAirConditioningActive") is True
    ((path, headers, body),) = chat.requests
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer secret"
    assert body["model"] == "test-model" and body["tool_choice"] == "auto"
    assert body["messages"][0]["role"] == "system" and "English" in body["messages"][0]["content"]
    assert body["messages"][1] == {"role": "user", "content": "could you get some cold air going"}
    names = {t["function"]["name"] for t in body["tools"]}
    assert {"ClimateSetAC", "BodySetTrunk", "NavigateTo", "CruiseSetSpeed"} <= names
    assert "ConversationYes" not in names and "FollowUpZone" not in names
    trunk = next(t for t in body["tools"] if t["function"]["name"] == "BodySetTrunk")
    assert trunk["function"]["parameters"]["required"] == ["open"]


def test_contract_tool_calls_meet_the_cars_interlocks(
    session: CarSession, chat: FakeChatServer
) -> None:
    session.prime({"Vehicle.Speed": 80.0})
    chat.answer(("BodySetTrunk", {"open": True}))
    before = targets(session)
    turn = _assistant(session, chat).handle("pop the boot whilst we're cruising")
    assert not turn.handled and not turn.actions
    assert "80 km/h" in turn.reply
    assert targets(session) == before


def test_contract_tool_calls_meet_driver_only_and_confirmation(
    session: CarSession, chat: FakeChatServer
) -> None:
    session.prime({"Vehicle.Speed": 90.0})
    chat.answer(("CruiseSetSpeed", {"speed": 100}))
    assistant = _assistant(session, chat)
    refused = assistant.handle("keep us at a ton on the motorway", seat=Seat.PASSENGER)
    assert not refused.actions and "only the driver" in refused.reply
    session.prime({"Vehicle.Speed": 120.0})
    chat.answer(("BodySetWindow", {"position": 100, "window": "all"}))
    ask = assistant.handle("let the wind blow through the cabin")
    assert not ask.actions and "yes or no" in ask.reply


def test_contract_several_tool_calls_and_bad_ones(
    session: CarSession, chat: FakeChatServer
) -> None:
    chat.answer(
        ("ClimateSetAC", {"on": False}),
        ("NoSuchTool", {}),
        ("ClimateSetTemperature", {"temperature": "warm"}),
        ("MediaSetVolume", "{not json"),
        ("ClimateSetTemperature", {"temperature": 23, "zone": "passenger"}),
    )
    turn = _assistant(session, chat).handle("make the passenger comfy and kill the cold air")
    assert [i.name for i in turn.intents] == ["ClimateSetAC", "ClimateSetTemperature"]
    assert target(session, "Vehicle.Cabin.HVAC.Station.Row1.Passenger.Temperature") == 23.0


def test_contract_no_tool_call_or_no_server_is_not_understood(
    session: CarSession, chat: FakeChatServer
) -> None:
    chat.answer()
    assistant = _assistant(session, chat)
    assert assistant.handle("sing me a song about turtles").reply == (
        "Sorry, I didn't understand that."
    )
    chat.close()
    before = targets(session)
    turn = assistant.handle("sing me another song about turtles")
    assert not turn.handled and targets(session) == before


def test_llm_is_off_by_default_and_templates_come_first(
    session: CarSession, chat: FakeChatServer
) -> None:
    config = AssistantConfig(semantic_enabled=False, llm_endpoint=chat.url)
    assistant = Assistant(session.client, config=config, recognizer=Recognizer(config))
    assistant.handle("sing me a song about turtles")
    _assistant(session, chat).handle("turn on the AC")
    assert chat.requests == []


def test_reply_parsing_is_defensive() -> None:
    assert LLMFallback.parse({}, "x") == []
    assert LLMFallback.parse({"choices": []}, "x") == []
    assert LLMFallback.parse({"choices": [{"message": "text"}]}, "x") == []
    assert all(t["type"] == "function" for t in tools())


def test_contract_values_from_the_model_are_clamped_and_said(
    session: CarSession, chat: FakeChatServer
) -> None:
    chat.answer(("MediaSetVolume", {"volume": 150}))
    turn = _assistant(session, chat).handle("make it as loud as a rock concert")
    assert target(session, "Vehicle.Cabin.Infotainment.Media.Volume") == 100
    assert "range of 0 to 100 %" in turn.reply
