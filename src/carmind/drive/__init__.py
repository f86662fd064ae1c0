"""End-to-end assisted driving in simulation: sensors, an expert, a learned driver, a safety
guard, driver monitoring and closed-loop evaluation.

The two entry points other tools use are imported lazily, so that `carmind.drive.types` and the
like stay cheap to import:

    from carmind.drive import make_env, load_agent
    env = make_env("highway", seed=1_000_000)
    agent = load_agent("learned+guard")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carmind.drive.agents import load_agent
    from carmind.drive.env import make_env

__all__ = ["load_agent", "make_env"]


def __getattr__(name: str) -> Any:
    if name == "make_env":
        from carmind.drive.env import make_env

        return make_env
    if name == "load_agent":
        from carmind.drive.agents import load_agent

        return load_agent
    raise AttributeError(f"module 'carmind.drive' has no attribute {name!r}")
