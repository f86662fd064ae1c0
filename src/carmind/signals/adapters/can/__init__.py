"""The CAN bus bridge: VSS signals to and from CAN frames through DBC files and a mapping.

```python
from carmind.signals.adapters.can import CanBridge, load_mapping, open_bus

mapping = load_mapping("car.toml", ["car.dbc"], catalog=broker.catalog)
async with CanBridge(broker, mapping, open_bus("socketcan", "vcan0")) as bridge:
    ...  # status frames arrive as VSS values; actuator targets leave as request frames
```

`load_mapping()` with no arguments loads the shipped mapping for carmind's simulated car
(`data/carmind_sim_map.toml` over `data/carmind_sim.dbc`); `data/sim_drive.log` is a recorded drive
with it. See docs/can.md.
"""

from carmind.signals.adapters.can.bridge import CanBridge, open_bus
from carmind.signals.adapters.can.codec import MessageCodec, SignalCodec
from carmind.signals.adapters.can.entries import Direction, SignalMapping
from carmind.signals.adapters.can.errors import (
    CanBusError,
    CanError,
    CanMappingError,
    CanReplayError,
    CanValueError,
    ValueFault,
)
from carmind.signals.adapters.can.mapping import CanMapping, load_mapping, package_data
from carmind.signals.adapters.can.replay import ReplayResult, read_frames, replay, replay_file
from carmind.signals.adapters.can.stats import BridgeStats

__all__ = [
    "BridgeStats",
    "CanBridge",
    "CanBusError",
    "CanError",
    "CanMapping",
    "CanMappingError",
    "CanReplayError",
    "CanValueError",
    "Direction",
    "MessageCodec",
    "ReplayResult",
    "SignalCodec",
    "SignalMapping",
    "ValueFault",
    "load_mapping",
    "open_bus",
    "package_data",
    "read_frames",
    "replay",
    "replay_file",
]
