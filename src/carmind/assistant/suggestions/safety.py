"""When the assistant may interrupt the driver with a suggestion, and when it must wait.

`interruption_blockers` lists what makes now a bad moment; `is_safe_to_interrupt` is true when
there is nothing. A suggestion held back is not lost: the engine offers it at the next safe moment.
"""

from __future__ import annotations

from typing import Final

from carmind.assistant.suggestions.snapshot import (
    ACCEL_LATERAL,
    ACCEL_LONGITUDINAL,
    CRASH_DETECTED,
    HAZARD,
    INDICATOR_LEFT,
    INDICATOR_RIGHT,
    INTERVENTIONS,
    SPEED,
    STANDSTILL_KMH,
    WARNINGS,
    Snapshot,
)

HARD_LONGITUDINAL_MPS2: Final = 3.5
"""Braking or accelerating harder than this (m/s², about 0.36 g) needs the driver's attention.
Telematics insurers count 0.3-0.45 g as harsh braking; a firm, planned stop stays at or below
3 m/s² (the simulated driver's limit), so an ordinary stop at a light does not hold suggestions."""

HARD_LATERAL_MPS2: Final = 3.5
"""Cornering harder than this (m/s², about 0.36 g): a tight bend taken briskly, or a swerve."""

LANE_CHANGE_SPEED_KMH: Final = 60.0
"""At or above this speed (km/h) a direction indicator means a lane change on a fast road (below
it, more likely a turn at a junction, where a short prompt can wait for the next check anyway)."""

SAFETY_SIGNALS: Final = (
    ACCEL_LONGITUDINAL,
    ACCEL_LATERAL,
    SPEED,
    INDICATOR_LEFT,
    INDICATOR_RIGHT,
    HAZARD,
    CRASH_DETECTED,
    *INTERVENTIONS,
    *WARNINGS,
)


def interruption_blockers(s: Snapshot, *, speaking: bool = False) -> tuple[str, ...]:
    """Why the driver must not be interrupted now (empty: it is safe), for the log."""
    blockers: list[str] = []
    if speaking:
        blockers.append("the assistant is speaking")
    longitudinal = s.number(ACCEL_LONGITUDINAL)
    if longitudinal is not None and abs(longitudinal) > HARD_LONGITUDINAL_MPS2:
        what = "braking" if longitudinal < 0 else "accelerating"
        blockers.append(f"hard {what} ({longitudinal:+.1f} m/s²)")
    lateral = s.number(ACCEL_LATERAL)
    if lateral is not None and abs(lateral) > HARD_LATERAL_MPS2:
        blockers.append(f"hard cornering ({lateral:+.1f} m/s²)")
    speed = s.number(SPEED) or 0.0
    signalling = s.flag(INDICATOR_LEFT) or s.flag(INDICATOR_RIGHT)
    if signalling and abs(speed) >= LANE_CHANGE_SPEED_KMH:
        blockers.append(f"changing lanes at {speed:.0f} km/h")
    if s.flag(HAZARD):
        blockers.append("hazard lights on")
    if s.flag(CRASH_DETECTED):
        blockers.append("crash detected")
    if abs(speed) >= STANDSTILL_KMH:  # a standing car's ABS or ESC cannot be intervening
        blockers += [f"{p.split('.')[2]} intervening" for p in INTERVENTIONS if s.flag(p)]
    blockers += [f"{p.split('.')[2]} warning the driver" for p in WARNINGS if s.flag(p)]
    return tuple(blockers)


def is_safe_to_interrupt(s: Snapshot, *, speaking: bool = False) -> bool:
    """True when nothing in `interruption_blockers` holds."""
    return not interruption_blockers(s, speaking=speaking)
