"""`carmind run`: the live simulated car on the hub, with a compact live status.

Later subsystems (the KUKSA gRPC API, the assistant, navigation, connected services) plug their
services into this same command; each is a task on the same event loop, beside the car.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from carmind.cli.common import config_from, console
from carmind.signals.adapters.can import CanBridge, CanError, CanMapping, load_mapping, open_bus
from carmind.signals.adapters.kuksa.server import GrpcConfigError, GrpcServer, GrpcSettings
from carmind.signals.broker import Broker, Client
from carmind.signals.catalog import Value, load_catalog
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
    grpc_address: Annotated[
        str | None,
        typer.Option(
            "--grpc",
            metavar="HOST:PORT",
            help="Serve the KUKSA gRPC API (kuksa.val.v1 and v2) here, e.g. 127.0.0.1:55555.",
        ),
    ] = None,
    grpc_insecure: Annotated[
        bool, typer.Option("--grpc-insecure", help="Serve gRPC without token authorization.")
    ] = False,
    jwt_public_key: Annotated[
        str | None, typer.Option("--jwt-public-key", help="PEM key that verifies tokens.")
    ] = None,
    tls_cert: Annotated[
        str | None, typer.Option("--tls-cert", help="TLS certificate (PEM).")
    ] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="TLS private key (PEM).")] = None,
    no_car: Annotated[
        bool,
        typer.Option("--no-car", help="Run the hub without the simulated car (providers connect)."),
    ] = False,
    car_exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--car-exclude",
            metavar="PATTERN",
            help="Signals the simulated car leaves to other providers (repeatable).",
        ),
    ] = None,
    can_bus: Annotated[
        str | None,
        typer.Option(
            "--can",
            metavar="INTERFACE:CHANNEL",
            help="Bridge a CAN bus (socketcan:can0, virtual:vcan0): its signals replace the car's.",
        ),
    ] = None,
    can_map: Annotated[
        str | None, typer.Option("--can-map", help="VSS-to-CAN mapping (default: the shipped one).")
    ] = None,
    can_dbc: Annotated[
        list[str] | None, typer.Option("--can-dbc", help="DBC file(s) for the mapping.")
    ] = None,
    config: Annotated[str | None, typer.Option("--config", help="A carmind.toml to read.")] = None,
) -> None:
    """Start carmind: the live simulated car on the signal hub, with a live status."""
    cfg = config_from(config)
    g = cfg.grpc
    server_settings: GrpcSettings | None = None
    if grpc_address is not None or g.enabled:
        server_settings = GrpcSettings(
            address=grpc_address or g.address,
            insecure=grpc_insecure or g.insecure,
            jwt_public_key=jwt_public_key or g.jwt_public_key,
            tls_cert=tls_cert or g.tls_cert,
            tls_key=tls_key or g.tls_key,
        )
    elif grpc_insecure or jwt_public_key or tls_cert or tls_key:
        raise GrpcConfigError("gRPC options need --grpc HOST:PORT (or [grpc] enabled = true)")
    catalog = load_catalog(cfg.signals.vss or None)
    mapping = None
    if can_bus is not None:
        mapping = load_mapping(can_map, can_dbc or (), catalog=catalog)
    elif can_map or can_dbc:
        raise CanError("--can-map and --can-dbc need --can INTERFACE:CHANNEL")
    if no_car:
        if prime or car_exclude:
            raise GrpcConfigError("--set and --car-exclude need the simulated car (drop --no-car)")
        hub = Hub(Broker(catalog), None)
    else:
        exclude = (*(car_exclude or ()), *_bridged(mapping))
        session = CarSession.create(cfg, profile=profile, exclude=exclude)
        session.prime(parse_assignments(session.catalog, prime or []))
        if drive != "park":
            session.car.drive_cycle(load_cycle(drive))
        hub = Hub(session.broker, session)
    bridge = None
    if can_bus is not None and mapping is not None:
        interface, _, channel = can_bus.partition(":")
        if not interface or not channel:
            raise CanError(
                f"bad --can {can_bus!r}: expected INTERFACE:CHANNEL, e.g. socketcan:can0"
            )
        bridge = CanBridge(hub.broker, mapping, open_bus(interface, channel))
    server = GrpcServer(hub.broker, server_settings) if server_settings else None
    plain = plain or not sys.stdout.isatty()
    asyncio.run(_serve(hub, server, bridge, duration, speed_factor, plain))


def _bridged(mapping: CanMapping | None) -> tuple[str, ...]:
    """The signals a CAN bus provides, which the simulated car then leaves to it."""
    if mapping is None:
        return ()
    return (*mapping.can_to_vss_paths, *mapping.vss_to_can_paths)


@dataclass(frozen=True, slots=True)
class Hub:
    """What `carmind run` serves: the broker, and the simulated car unless --no-car."""

    broker: Broker
    session: CarSession | None


def _status_line(hub: Hub, server: GrpcServer | None) -> str:
    grpc_text = f" grpc=:{server.port}" if server else ""
    if hub.session is None:
        return f"hub updates={hub.broker.updates_published}{grpc_text}"
    c = hub.session.client
    soc = _num(c, "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current")
    speed = _num(c, "Vehicle.Speed")
    cabin = _num(c, "Vehicle.Cabin.HVAC.AmbientAirTemperature")
    return (
        f"t={hub.session.car.clock.elapsed:7.1f}s speed={speed:6.1f} km/h soc={soc:6.2f}% "
        f"cabin={cabin:5.1f}C updates={hub.broker.updates_published}{grpc_text}"
    )


def _panel(hub: Hub, server: GrpcServer | None) -> Group:
    footer = Text(
        f"KUKSA gRPC API on {server.host}:{server.port}"
        + (" (TLS)" if server.tls else "")
        + (" without authorization" if server.settings.insecure else " with JWT authorization")
        if server
        else "gRPC off (carmind run --grpc 127.0.0.1:55555)",
        style="dim",
    )
    if hub.session is None:
        return Group(
            Text("carmind hub (no simulated car: providers connect over gRPC)", style="bold"),
            Text(f"{hub.broker.updates_published} signal updates"),
            footer,
            Text("Ctrl-C stops", style="dim"),
        )
    return Group(status_table(hub.session), footer)


async def _serve(
    hub: Hub,
    server: GrpcServer | None,
    bridge: CanBridge | None,
    duration: float | None,
    speed_factor: float,
    plain: bool,
) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()
        if hub.session is not None:
            hub.session.stop()

    async with contextlib.AsyncExitStack() as services:  # stopped in reverse order of start
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(sig, stop)  # only the main thread of a process can
                services.callback(loop.remove_signal_handler, sig)
        if server is not None:
            await server.start()
            services.push_async_callback(server.stop)
        if bridge is not None:
            if bridge.bus is not None:
                services.callback(bridge.bus.shutdown)
            await services.enter_async_context(bridge)
        if hub.session is not None:
            car_task = asyncio.create_task(hub.session.run_realtime(speed_factor))
            car_task.add_done_callback(lambda _: stopping.set())  # a failing car ends the run
            services.push_async_callback(lambda: car_task)
        services.callback(stop)
        await _show(hub, server, duration, plain, stopping)
    simulated = (
        f"after {hub.session.car.clock.elapsed:.1f} simulated seconds, " if hub.session else ""
    )
    console().print(f"carmind stopped {simulated}{hub.broker.updates_published} signal updates.")


async def _show(
    hub: Hub,
    server: GrpcServer | None,
    duration: float | None,
    plain: bool,
    stopping: asyncio.Event,
) -> None:
    """The live status until Ctrl-C, the duration, or the car stops."""
    out = console()
    started = time.monotonic()

    def running() -> bool:
        if stopping.is_set():
            return False
        return duration is None or time.monotonic() - started < duration

    if plain:
        while running():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), min(1.0, duration or 1.0))
            out.print(_status_line(hub, server), soft_wrap=True)
        return
    with Live(_panel(hub, server), console=out, refresh_per_second=4) as live:
        while running():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 0.25)
            live.update(_panel(hub, server))
