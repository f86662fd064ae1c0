"""`carmind run`: the live simulated car on the hub, with a compact live status.

Later subsystems (the KUKSA gRPC API, the assistant, navigation, connected services) plug their
services into this same command; each is a task on the same event loop, beside the car.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from carmind.cli.common import config_from, console
from carmind.signals.broker import Client
from carmind.signals.catalog import Value
from carmind.vehicle.cycles import load_cycle
from carmind.vehicle.session import CarSession, parse_assignments


def _v(client: Client, path: str, default: Value) -> Value:
    datapoint = client.get(path)
    return default if datapoint is None else datapoint.value


def _num(client: Client, path: str) -> float:
    value = _v(client, path, 0.0)
    return float(value) if isinstance(value, int | float) else 0.0


def status_table(session: CarSession) -> Group:
    """The compact live status: motion, energy, climate, body, and the hub itself."""
    c = session.client
    car = session.car
    speed = _num(c, "Vehicle.Speed")
    soc = _num(c, "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current")
    range_m = _num(c, "Vehicle.Powertrain.Range")
    power_w = _num(c, "Vehicle.Powertrain.TractionBattery.CurrentPower")
    cabin = _num(c, "Vehicle.Cabin.HVAC.AmbientAirTemperature")
    outside = _num(c, "Vehicle.Exterior.AirTemperature")
    odo = _num(c, "Vehicle.TraveledDistance")
    doors = c.get_many("Vehicle.Cabin.Door.*.*.IsLocked")
    locked = sum(1 for d in doors.values() if d is not None and d.value is True)
    opened = [
        p.split(".")[3] + "." + p.split(".")[4]
        for p, d in c.get_many("Vehicle.Cabin.Door.*.*.IsOpen").items()
        if d is not None and d.value is True
    ]
    windows = [
        d.value
        for d in c.get_many("Vehicle.Cabin.Door.*.*.Window.Position").values()
        if d is not None and isinstance(d.value, int)
    ]
    charging = _v(c, "Vehicle.Powertrain.TractionBattery.Charging.IsCharging", False)
    refusal = _v(c, "Vehicle.Carmind.Safety.LastRefusal", "")

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", justify="right")
    table.add_column()
    table.add_column(style="bold cyan", justify="right")
    table.add_column()
    table.add_row(
        "speed",
        f"{speed:6.1f} km/h",
        "battery",
        f"{soc:5.1f} %  range {range_m / 1000:5.0f} km",
    )
    table.add_row(
        "power",
        f"{power_w / 1000:+7.1f} kW",
        "charging",
        "yes" if charging else "no",
    )
    table.add_row(
        "cabin",
        f"{cabin:5.1f} °C (outside {outside:.1f} °C)",
        "odometer",
        f"{odo:9.2f} km",
    )
    table.add_row(
        "doors",
        f"{locked}/4 locked" + (f", open: {', '.join(opened)}" if opened else ""),
        "windows",
        " ".join(f"{w:3d}%" for w in windows),
    )
    table.add_row(
        "hub",
        f"{session.broker.updates_published} updates",
        "sim",
        f"{car.clock.elapsed:8.1f} s  x{car.real_time_factor:.2f} real time",
    )
    title = Text.assemble(
        ("carmind ", "bold"),
        (f"{car.profile.name}", "bold green"),
        (f"  ({car.profile.id})", "dim"),
    )
    parts: list[Text | Table] = [title, table]
    if refusal:
        parts.append(Text(f"last refusal: {refusal}", style="yellow"))
    parts.append(Text("Ctrl-C stops", style="dim"))
    return Group(*parts)


def run(
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="Vehicle profile id (see 'carmind sim profiles')."),
    ] = None,
    drive: Annotated[
        str,
        typer.Option("--drive", help="What the simulated driver does: 'park' or a cycle ('wltc')."),
    ] = "wltc",
    prime: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Prime the car first: PATH=VALUE (repeatable)."),
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0, help="Stop after this many seconds.")
    ] = None,
    speed_factor: Annotated[
        float,
        typer.Option(
            "--speed-factor", min=0.01, max=1000, help="Run this many times faster than real time."
        ),
    ] = 1.0,
    plain: Annotated[
        bool,
        typer.Option("--plain", help="Print a status line each second instead of a live panel."),
    ] = False,
    config: Annotated[str | None, typer.Option("--config", help="A carmind.toml to read.")] = None,
) -> None:
    """Start carmind: the live simulated car on the signal hub, with a live status."""
    cfg = config_from(config)
    session = CarSession.create(cfg, profile=profile)
    session.prime(parse_assignments(session.catalog, prime or []))
    if drive != "park":
        session.car.drive_cycle(load_cycle(drive))
    asyncio.run(_serve(session, duration, speed_factor, plain or not sys.stdout.isatty()))


async def _serve(
    session: CarSession, duration: float | None, speed_factor: float, plain: bool
) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, session.stop)
    car_task = asyncio.create_task(session.run_realtime(speed_factor))
    out = console()
    started = time.monotonic()

    def expired() -> bool:
        return duration is not None and time.monotonic() - started >= duration

    try:
        if plain:
            while not car_task.done() and not expired():
                await asyncio.sleep(min(1.0, duration or 1.0))
                c = session.client
                soc = _num(c, "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current")
                speed = _num(c, "Vehicle.Speed")
                out.print(
                    f"t={session.car.clock.elapsed:7.1f}s speed={speed:6.1f} km/h "
                    f"soc={soc:6.2f}% "
                    f"cabin={_num(c, 'Vehicle.Cabin.HVAC.AmbientAirTemperature'):5.1f}C "
                    f"updates={session.broker.updates_published}",
                    soft_wrap=True,
                )
        else:
            with Live(status_table(session), console=out, refresh_per_second=4) as live:
                while not car_task.done() and not expired():
                    await asyncio.sleep(0.25)
                    live.update(status_table(session))
    finally:
        session.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await car_task
    out.print(
        f"carmind stopped after {session.car.clock.elapsed:.1f} simulated seconds, "
        f"{session.broker.updates_published} signal updates."
    )
