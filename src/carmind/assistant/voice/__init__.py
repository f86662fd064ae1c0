"""The assistant's voice: offline speech recognition (pocketsphinx, with a grammar made from the
sentence templates), the wake phrase, endpointing, speech synthesis (espeak-ng) and Wyoming
servers for Home Assistant and Rhasspy satellites.

```python
from carmind.assistant.voice import Synthesizer, shared_recognizer

recognizer = shared_recognizer()            # English; loads once per process
transcript = recognizer.transcribe_wav(open("command.wav", "rb").read())
transcript.text                             # "turn on the ac" ("" when no command was heard)
Synthesizer().synthesize("Air conditioning on.", lang="en")   # WAV bytes
```

See docs/voice.md.
"""

from carmind.assistant.voice.errors import AudioError, GrammarError, SpeechEngineError, VoiceError
from carmind.assistant.voice.grammar import Grammar, TemplateSource, build_grammar
from carmind.assistant.voice.recognizer import DecoderSettings, Recognizer, Transcript
from carmind.assistant.voice.speech import load_grammar, shared_recognizer
from carmind.assistant.voice.stream import (
    EndpointSettings,
    Heard,
    HeardKind,
    Listener,
    Utterance,
    UtteranceDetector,
)
from carmind.assistant.voice.tts import Speech, Synthesizer

__all__ = [
    "AudioError",
    "DecoderSettings",
    "EndpointSettings",
    "Grammar",
    "GrammarError",
    "Heard",
    "HeardKind",
    "Listener",
    "Recognizer",
    "Speech",
    "SpeechEngineError",
    "Synthesizer",
    "TemplateSource",
    "Transcript",
    "Utterance",
    "UtteranceDetector",
    "VoiceError",
    "build_grammar",
    "load_grammar",
    "shared_recognizer",
]
