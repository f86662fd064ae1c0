"""A speed controller that turns a target speed into pedal positions, or passes pedals through.

The controller is a PI loop on speed that asks for an acceleration, bounded for comfort
(``max_accel_mps2``, ``max_decel_mps2``) and rate-limited (``max_jerk_mps3``). The wanted
acceleration becomes pedal positions through the same force model the dynamics use
(`carmind.vehicle.dynamics.force_limits`): the force needed is ``m_eff a + road load``, met by the
accelerator as a share of the traction available, or by the brake as a share of the braking force.

Anti-windup: the integral only grows near the target (``INTEGRAL_ZONE_MPS``) and while the
output is not held back (by an acceleration bound, the jerk bound or a fully pressed pedal) in the
error's direction; it is also clamped so that on its own it can never ask for more than the
bounds. When a pedal saturates, the rate limiter continues from the acceleration the car can
actually deliver (back-calculation). The feedback is capped at ``sqrt(2 j |e|)``, the most that
can still be ramped back to zero at the jerk bound before the error closes, so a jerk-limited
approach does not overshoot.
"""

from __future__ import annotations

import math
from typing import Final

from carmind.vehicle.dynamics import (
    HOLD,
    DriveInput,
    MotionState,
    Road,
    SimulationInputError,
    force_limits,
    rotational_inertia_factor,
)
from carmind.vehicle.profiles import VehicleProfile

__all__ = ["HOLD_BRAKE", "INTEGRAL_ZONE_MPS", "SpeedController"]

#: Brake pedal used to hold a stopped car when the target is zero.
HOLD_BRAKE: Final = HOLD.brake
#: The integral acts only within this speed error: it trims steady errors, not transients.
INTEGRAL_ZONE_MPS: Final = 1.0
#: Below this speed a car asked to stop is considered stopped.
_STOPPED_MPS: Final = 0.05


class SpeedController:
    """Follows a target speed with bounded acceleration and jerk (see the module docstring)."""

    def __init__(
        self,
        profile: VehicleProfile,
        kp: float = 0.8,
        ki: float = 0.15,
        max_accel_mps2: float = 2.0,
        max_decel_mps2: float = 3.0,
        max_jerk_mps3: float = 2.5,
        road: Road | None = None,
        mass_kg: float | None = None,
    ) -> None:
        for name, value in (
            ("kp", kp),
            ("max_accel_mps2", max_accel_mps2),
            ("max_decel_mps2", max_decel_mps2),
            ("max_jerk_mps3", max_jerk_mps3),
        ):
            if not (math.isfinite(value) and value > 0.0):
                raise SimulationInputError(f"{name} must be a positive number, got {value!r}")
        if not (math.isfinite(ki) and ki >= 0.0):
            raise SimulationInputError(f"ki must be zero or a positive number, got {ki!r}")
        if mass_kg is not None and not 100.0 <= mass_kg <= 20_000.0:
            raise SimulationInputError(f"mass_kg must be between 100 and 20000 kg, got {mass_kg!r}")
        self.profile = profile
        self.kp = kp
        self.ki = ki
        self.max_accel_mps2 = max_accel_mps2
        self.max_decel_mps2 = max_decel_mps2
        self.max_jerk_mps3 = max_jerk_mps3
        self.road = road if road is not None else Road()
        self.mass_kg = mass_kg if mass_kg is not None else profile.mass_with_driver_kg
        # m_eff, computed once: the wheels and rotors add inertia.
        self._m_eff = self.mass_kg * rotational_inertia_factor(profile, self.mass_kg)
        self._integral = 0.0
        self._last_accel = 0.0
        self.reset()

    @property
    def commanded_accel_mps2(self) -> float:
        """The acceleration the controller asked for in its last update."""
        return self._last_accel

    def reset(self) -> None:
        """Forget the integral and the last commanded acceleration."""
        self._integral = 0.0
        self._last_accel = 0.0

    def passthrough(self, drive: DriveInput, state: MotionState) -> DriveInput:
        """Pass the driver's pedals through, and track them so a later `update` starts smoothly."""
        self._integral = 0.0
        self._last_accel = state.acceleration_mps2
        return drive

    def update(
        self,
        target_speed_mps: float,
        state: MotionState,
        dt: float,
        target_accel_mps2: float = 0.0,
    ) -> DriveInput:
        """Pedal positions that bring the car towards ``target_speed_mps``.

        ``target_accel_mps2`` is an optional feed-forward: the target's own rate of change, when
        the caller knows it (a drive cycle does).
        """
        if not (math.isfinite(target_speed_mps) and target_speed_mps >= 0.0):
            raise SimulationInputError(
                f"target_speed_mps must be zero or a positive number, got {target_speed_mps!r}"
            )
        if not 0.0 < dt <= 10.0:
            raise SimulationInputError(f"dt must be above 0 and at most 10 s, got {dt!r}")
        if not math.isfinite(target_accel_mps2):
            raise SimulationInputError(
                f"target_accel_mps2 must be a finite number, got {target_accel_mps2!r}"
            )
        v = state.speed_mps
        if target_speed_mps <= 0.0 and v < _STOPPED_MPS:
            self._integral = 0.0
            self._last_accel = 0.0
            return HOLD

        error = target_speed_mps - v
        feedback = self.kp * error + self.ki * self._integral
        # Ask for no more than can still be ramped back to zero, at the jerk bound, before the
        # error closes (|a| <= sqrt(2 j |e|)): this is what keeps a jerk-limited loop from
        # overshooting.
        reachable = math.sqrt(2.0 * self.max_jerk_mps3 * abs(error))
        if feedback > reachable and error >= 0.0:
            feedback = reachable
        elif feedback < -reachable and error <= 0.0:
            feedback = -reachable
        wanted = target_accel_mps2 + feedback
        hi, lo = self.max_accel_mps2, -self.max_decel_mps2
        bounded = hi if wanted > hi else lo if wanted < lo else wanted

        step = self.max_jerk_mps3 * dt
        last = self._last_accel
        rate_limited = True
        if bounded > last + step:
            accel = last + step
        elif bounded < last - step:
            accel = last - step
        else:
            accel, rate_limited = bounded, False
        self._last_accel = accel

        limits = force_limits(self.profile, state, self.road, self.mass_kg)
        force = self._m_eff * accel + limits.road_load_n
        pedal_saturated = False
        if force >= 0.0:
            pedal = force / limits.traction_max_n if limits.traction_max_n > 0.0 else 1.0
            if pedal >= 1.0:
                pedal, pedal_saturated = 1.0, True
                available = limits.traction_max_n
            drive = DriveInput(pedal, 0.0)
        else:
            pedal = -force / limits.brake_max_n if limits.brake_max_n > 0.0 else 1.0
            if pedal >= 1.0:
                pedal, pedal_saturated = 1.0, True
                available = -limits.brake_max_n
            drive = DriveInput(0.0, pedal)
        if pedal_saturated:
            # Back-calculation: the car delivers only this much, so the rate limiter continues
            # from it, not from an acceleration the car never had.
            self._last_accel = (available - limits.road_load_n) / self._m_eff

        # Conditional integration (anti-windup): only near the target, and never while an
        # acceleration bound, the jerk bound or a pedal holds the output back in the error's
        # direction.
        saturated_high = wanted > hi or (pedal_saturated and force > 0.0)
        saturated_low = wanted < lo or (pedal_saturated and force < 0.0)
        if (
            abs(error) < INTEGRAL_ZONE_MPS
            and not rate_limited
            and not ((saturated_high and error > 0.0) or (saturated_low and error < 0.0))
        ):
            self._integral += error * dt
            if self.ki > 0.0:
                bound = max(hi, -lo) / self.ki
                self._integral = max(-bound, min(bound, self._integral))
        return drive
