"""A simulated car on its own hub: what the CLI and tests start when they need "a car".

`CarSession.create(config)` builds a broker over the catalog, a simulated car as its provider and
a consumer client with full scopes; `prime()` puts the car into a state first (`--set PATH=VALUE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from carmind.config import Config
from carmind.errors import CarmindError
from carmind.signals.broker import Broker, Client
from carmind.signals.catalog import Catalog, NodeType, Value, load_catalog
from carmind.vehicle.car import CarOptions, SimClock, SimulatedCar
from carmind.vehicle.errors import PrimeError
from carmind.vehicle.profiles import get_profile
from carmind.vehicle.settings import PRIMEABLE


class AssignmentError(CarmindError):
    """A `PATH=VALUE` assignment is malformed."""


def parse_assignments(catalog: Catalog, items: Iterable[str]) -> dict[str, Value]:
    """`["Vehicle.Speed=80", ...]` as typed, validated values, in the order given."""
    out: dict[str, Value] = {}
    for item in items:
        path, sep, text = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise AssignmentError(f"expected PATH=VALUE, got {item!r}")
        out[path] = catalog.parse(path, text.strip())
    return out


@dataclass(frozen=True, slots=True)
class FollowResult:
    reached_after_s: float | None
    """Simulated seconds until the current value equalled the target (None: not within time)."""


class CarSession:
    """A broker, a simulated car providing it, and a consumer client (`client`)."""

    def __init__(self, broker: Broker, car: SimulatedCar, client: Client) -> None:
        self.broker = broker
        self.car = car
        self.client = client

    @property
    def catalog(self) -> Catalog:
        return self.broker.catalog

    @classmethod
    def create(
        cls,
        config: Config | None = None,
        *,
        profile: str | None = None,
        vss: str | None = None,
        epoch: float | None = None,
        exclude: tuple[str, ...] = (),
    ) -> CarSession:
        cfg = config or Config()
        vehicle_profile = get_profile(profile or cfg.vehicle.profile)
        catalog = load_catalog(vss or cfg.signals.vss or None)
        for pattern in exclude:
            catalog.match(pattern)  # an unknown path or a pattern matching nothing is an error
        clock = SimClock(epoch)
        broker = Broker(catalog, clock=clock)
        v = cfg.vehicle
        options = CarOptions(
            soc_pct=v.soc,
            ambient_c=v.ambient_c,
            latitude=v.latitude,
            longitude=v.longitude,
            heading_deg=v.heading,
            vin=v.vin,
            seed=v.seed,
            tick_hz=cfg.run.tick_hz,
            publish_hz=cfg.run.publish_hz,
            exclude=exclude,
        )
        car = SimulatedCar(broker, vehicle_profile, options, clock)
        car.attach()
        return cls(broker, car, broker.client("carmind"))

    def prime(self, values: Mapping[str, Value]) -> None:
        """Put the car into a state, in order: sensors directly, actuators through the hub.

        Every entry is checked before any is applied (a path the car cannot prime changes
        nothing); an actuation the car refuses by its own rules stops the priming there.
        """
        for path in values:
            if self.catalog.get(path).type is not NodeType.ACTUATOR and path not in PRIMEABLE:
                raise PrimeError(path, PRIMEABLE)
        for path, value in values.items():
            if self.catalog.get(path).type is NodeType.ACTUATOR:
                self.client.actuate(path, value)
                self.follow(path, 10.0)
            else:
                self.car.prime(path, value)

    def advance(self, seconds: float) -> None:
        self.car.advance(seconds)

    def follow(self, path: str, seconds: float) -> FollowResult:
        """Run the car until the current value of actuator `path` reaches its target."""
        target = self.client.get_target(path)
        step = self.car.dt
        elapsed = 0.0
        while True:
            current = self.client.get(path)
            if target is not None and current is not None and current.value == target.value:
                return FollowResult(round(elapsed, 3))
            if elapsed >= seconds - 1e-9:
                return FollowResult(None)
            self.car.step()
            elapsed += step

    async def run_realtime(self, speed_factor: float = 1.0) -> None:
        await self.car.run_realtime(speed_factor)

    def stop(self) -> None:
        self.car.stop()
