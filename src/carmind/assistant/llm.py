"""The optional language-model fallback: an OpenAI-compatible chat-completions endpoint.

Off by default (`AssistantConfig.llm_enabled`). When templates and the semantic fallback found
nothing, the utterance goes to a local server (llama.cpp's `llama-server`, Ollama, vLLM: anything
that speaks `POST /v1/chat/completions` with `tools`). The model's tools are the assistant's own
intents, generated from the intent schema; each tool call comes back as an `Intent` whose slots
are checked exactly like a template match, and then goes through the same dialogue (driver-only,
confirmations) and the car's own interlocks. The model never touches the car itself.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from carmind.assistant.config import AssistantConfig
from carmind.assistant.intents.schema import CONTEXT_INTENTS, INTENTS
from carmind.assistant.intents.slots import normalize_slots
from carmind.assistant.model import Intent, Source

log = logging.getLogger(__name__)

_LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese", "nl": "Dutch"}
_EXCLUDED = CONTEXT_INTENTS | {"ConversationRepeat", "ConversationCancel"}

SYSTEM_PROMPT = (
    "You are the voice assistant of a car. The user speaks {language}. Call one tool for each "
    "command in the user's sentence, with the slots the user said; omit slots the user did not "
    "say. If no tool fits, call no tool. Never invent commands."
)


def tools() -> list[dict[str, Any]]:
    """The assistant's intents as OpenAI function tools."""
    out: list[dict[str, Any]] = []
    for spec in INTENTS.values():
        if spec.name in _EXCLUDED:
            continue
        properties = {name: slot.json_schema() for name, slot in spec.slots.items()}
        required = [name for name, slot in spec.slots.items() if slot.required]
        out.append(
            {
                "type": "function",
                "function": {
                    "name": spec.name,
                    "description": spec.description,
                    "parameters": {
                        "type": "object",
                        "properties": properties,
                        "required": required,
                        "additionalProperties": False,
                    },
                },
            }
        )
    return out


class LLMFallback:
    """Asks the configured endpoint which intents an utterance holds."""

    def __init__(self, config: AssistantConfig) -> None:
        self.config = config
        self._tools = tools()

    @property
    def url(self) -> str:
        return self.config.llm_endpoint.rstrip("/") + "/chat/completions"

    def request_body(self, text: str, lang: str) -> dict[str, Any]:
        language = _LANGUAGE_NAMES.get(lang, lang)
        return {
            "model": self.config.llm_model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT.format(language=language)},
                {"role": "user", "content": text},
            ],
            "tools": self._tools,
            "tool_choice": "auto",
            "temperature": 0,
        }

    def intents(self, text: str, lang: str) -> list[Intent]:
        """The intents the model found (empty when it found none or could not be reached)."""
        try:
            reply = self._post(self.request_body(text, lang))
        except (OSError, ValueError) as exc:
            log.warning("language-model endpoint %s failed: %s", self.url, exc)
            return []
        return self.parse(reply, text)

    def _post(self, body: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.llm_api_key:
            headers["Authorization"] = f"Bearer {self.config.llm_api_key}"
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.config.llm_timeout_s) as response:
            return json.loads(response.read().decode("utf-8"))

    @staticmethod
    def parse(reply: Any, text: str) -> list[Intent]:
        """Intents from a chat-completions reply; malformed or unknown tool calls are dropped."""
        try:
            message = reply["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            log.warning("language-model reply has no message: %.200r", reply)
            return []
        calls = (message.get("tool_calls") or []) if isinstance(message, dict) else []
        out: list[Intent] = []
        for call in calls:
            function = call.get("function", {}) if isinstance(call, dict) else {}
            name = str(function.get("name"))
            if name not in INTENTS or name in _EXCLUDED:
                log.warning("language model called an unknown tool %r", name)
                continue
            raw = function.get("arguments") or "{}"
            try:
                args = json.loads(raw) if isinstance(raw, str) else raw
            except json.JSONDecodeError:
                log.warning("language model gave %s malformed arguments %.200r", name, raw)
                continue
            if not isinstance(args, dict):
                continue
            slots = normalize_slots(name, args)
            if slots is None:
                log.warning("language model gave %s invalid slots %r", name, args)
                continue
            out.append(Intent(name, slots, text=text, score=1.0, source=Source.LLM))
        return out
