"""Smart suggestions: rules over the car's signals and learned routines, with their reasons.

```python
from carmind.assistant.suggestions import SuggestionEngine, SuggestionStore

engine = SuggestionEngine(session.client, SuggestionStore())
for suggestion in engine.evaluate():
    print(suggestion.text["en"], "-", suggestion.reason["en"])
```

See docs/suggestions.md for the rules, their thresholds and the privacy of the trip log.
"""

from carmind.assistant.suggestions.engine import (
    COOLDOWN_S,
    DEFAULT_RULES,
    EVALUATE_EVERY_S,
    SuggestionEngine,
)
from carmind.assistant.suggestions.geo import (
    ROAD_DETOUR_FACTOR,
    DistanceSource,
    RouteDistance,
    estimated_road_distance,
    great_circle_km,
)
from carmind.assistant.suggestions.model import (
    Kind,
    Position,
    Suggestion,
    SuggestionError,
    Texts,
    Trip,
)
from carmind.assistant.suggestions.routines import Place, PlaceLabel, Routine, learn_routines
from carmind.assistant.suggestions.rules import Rule, RuleContext
from carmind.assistant.suggestions.safety import interruption_blockers, is_safe_to_interrupt
from carmind.assistant.suggestions.snapshot import Reading, Snapshot
from carmind.assistant.suggestions.store import StoreError, SuggestionStore
from carmind.assistant.suggestions.triplog import TripLog
from carmind.paths import default_data_dir

__all__ = [
    "COOLDOWN_S",
    "DEFAULT_RULES",
    "EVALUATE_EVERY_S",
    "ROAD_DETOUR_FACTOR",
    "DistanceSource",
    "Kind",
    "Place",
    "PlaceLabel",
    "Position",
    "Reading",
    "RouteDistance",
    "Routine",
    "Rule",
    "RuleContext",
    "Snapshot",
    "StoreError",
    "Suggestion",
    "SuggestionEngine",
    "SuggestionError",
    "SuggestionStore",
    "Texts",
    "Trip",
    "TripLog",
    "default_data_dir",
    "estimated_road_distance",
    "great_circle_km",
    "interruption_blockers",
    "is_safe_to_interrupt",
    "learn_routines",
]
