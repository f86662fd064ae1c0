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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live

from carmind.assistant.config import AssistantConfig
from carmind.assistant.intents.loader import check_language
from carmind.assistant.service import AssistantService
from carmind.assistant.voice.errors import VoiceError
from carmind.assistant.voice.service import VoiceServer, VoiceServices, parse_uri
from carmind.cli.common import config_from, console
from carmind.cli.status import Hub, panel, status_line
from carmind.config import Config
from carmind.connect.service import ConnectedServices, ConnectError
from carmind.signals.adapters.can import CanBridge, CanError, CanMapping, load_mapping, open_bus
from carmind.signals.adapters.kuksa.server import GrpcConfigError, GrpcServer, GrpcSettings
from carmind.signals.broker import Broker
from carmind.signals.catalog import load_catalog
from carmind.vehicle.cycles import load_cycle
from carmind.vehicle.session import CarSession, parse_assignments

if TYPE_CHECKING:
    from carmind.drive.service import DriveService


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
    with_assistant: Annotated[
        bool,
        typer.Option("--assistant/--no-assistant", help="Run the assistant and its suggestions."),
    ] = True,
    lang: Annotated[
        str, typer.Option("--lang", help="The assistant's language: en, zh, nl.")
    ] = "en",
    wyoming: Annotated[
        str | None,
        typer.Option(
            "--wyoming",
            metavar="tcp://HOST:PORT",
            help="Serve speech and the assistant to Wyoming voice satellites (Home Assistant).",
        ),
    ] = None,
    with_nav: Annotated[
        bool,
        typer.Option(
            "--nav/--no-nav",
            help="Run route guidance (the default map is built on first use).",
        ),
    ] = True,
    map_dir: Annotated[
        str | None, typer.Option("--map", help="Map directory for navigation (default: Helsinki).")
    ] = None,
    cloud_url: Annotated[
        str | None,
        typer.Option("--cloud", help="The carmind cloud's URL (default: an embedded cloud)."),
    ] = None,
    mqtt_url: Annotated[
        str | None,
        typer.Option("--mqtt", help="MQTT broker URL for the vehicle link (default: embedded)."),
    ] = None,
    no_connect: Annotated[
        bool, typer.Option("--no-connect", help="Run without the cloud, MQTT and Home Assistant.")
    ] = False,
    no_drive: Annotated[
        bool,
        typer.Option(
            "--no-adas", help="Run without assisted driving (the highway simulator beside it)."
        ),
    ] = False,
    drive_policy: Annotated[
        str,
        typer.Option(
            "--adas-policy",
            metavar="NAME",
            help="Who drives when assisted driving is engaged: learned+guard, expert+guard, "
            "expert, idm, or an .onnx model (optionally +guard).",
        ),
    ] = "learned+guard",
    drive_scenario: Annotated[
        str,
        typer.Option(
            "--adas-scenario",
            metavar="NAME",
            help="The assisted-driving scenario: highway, highway-light, highway-dense, merge, "
            "racetrack.",
        ),
    ] = "highway",
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
    if not no_drive:
        _check_drive(drive_policy, drive_scenario)  # before anything heavy (the map) is built
    bridge = None
    if can_bus is not None and mapping is not None:
        interface, _, channel = can_bus.partition(":")
        if not interface or not channel:
            raise CanError(
                f"bad --can {can_bus!r}: expected INTERFACE:CHANNEL, e.g. socketcan:can0"
            )
        bridge = CanBridge(hub.broker, mapping, open_bus(interface, channel))
    if with_assistant:
        hub = Hub(
            hub.broker,
            hub.session,
            AssistantService(
                hub.broker.client("assistant", "read actuate"),
                lang=check_language(lang),
                config=AssistantConfig.from_env(),
            ),
        )
    if with_nav:
        hub = _with_guidance(hub, cfg, map_dir, lang)
    if wyoming is not None and hub.assistant is None:
        raise VoiceError("--wyoming serves the assistant: drop --no-assistant")
    voice = _voice_server(hub.assistant, wyoming) if wyoming is not None else None
    connected = None
    if not no_connect and cfg.connect.enabled:
        if hub.session is None:
            if cloud_url or mqtt_url:
                raise ConnectError("--cloud and --mqtt connect the simulated car: drop --no-car")
        else:
            connected = _connected(hub, cfg, cloud_url, mqtt_url)
    elif cloud_url or mqtt_url:
        raise ConnectError("--cloud and --mqtt need the connected services: drop --no-connect")
    drive_service = None if no_drive else _drive(hub, drive_policy, drive_scenario)
    hub = Hub(hub.broker, hub.session, hub.assistant, hub.guidance, connected, drive_service)
    server = GrpcServer(hub.broker, server_settings) if server_settings else None
    plain = plain or not sys.stdout.isatty()
    asyncio.run(_serve(hub, server, bridge, voice, duration, speed_factor, plain))


def _connected(
    hub: Hub, cfg: Config, cloud_url: str | None, mqtt_url: str | None
) -> ConnectedServices:
    """The vehicle link, the cloud (embedded unless --cloud) and Home Assistant, and the
    assistant's smart-home requests to Home Assistant's REST API when one is configured."""
    from carmind.connect.smarthome import SmartHome
    from carmind.paths import default_data_dir

    services = ConnectedServices(
        hub.broker,
        cfg.connect,
        default_data_dir() / "connect",
        mqtt_url=mqtt_url,
        cloud_url=cloud_url,
    )
    if hub.assistant is not None and cfg.connect.ha_url:
        home = SmartHome.from_settings(cfg.connect.ha_url, cfg.connect.ha_token)
        hub.assistant.services["home"] = home.handle_request
    return services


def _with_guidance(hub: Hub, cfg: Config, map_dir: str | None, lang: str) -> Hub:
    """Route guidance beside the car; the assistant's navigation requests go to it."""
    from carmind.cli.nav import open_navigation
    from carmind.navigation.guidance import GuidanceService

    chosen = map_dir or cfg.navigation.map_dir
    nav = open_navigation(Path(chosen) if chosen else None, cfg.navigation.language)
    clock = hub.session.car.clock if hub.session is not None else time.time
    guidance = GuidanceService(
        hub.broker.client("navigation", "read actuate provide"),
        nav,
        clock=clock,
        drive=hub.session is not None,
        language=lang if hub.assistant is not None else cfg.navigation.language,
        margin_s=cfg.navigation.reroute_margin_s,
        margin_pct=cfg.navigation.reroute_margin_pct,
        routines=hub.assistant.engine.routines if hub.assistant is not None else None,
    )
    if hub.assistant is not None:
        hub.assistant.services["navigation"] = guidance.handle_request
        hub.assistant.engine.distance = guidance.road_distance
    return Hub(hub.broker, hub.session, hub.assistant, guidance)


def _check_drive(policy: str, scenario: str) -> None:
    """A bad policy or scenario name is an error before anything starts. carmind.drive is
    imported only when driving is on: the simulator is heavy."""
    from carmind.drive.service import check_names

    check_names(policy, scenario)


def _drive(hub: Hub, policy: str, scenario: str) -> DriveService:
    """Assisted driving in its highway world beside the car (its own simulator)."""
    from carmind.drive.service import DriveService

    clock = hub.session.car.clock if hub.session is not None else time.time
    return DriveService(
        hub.broker.client("drive", "read actuate provide"),
        scenario=scenario,
        policy=policy,
        clock=clock,
    )


def _voice_server(assistant: AssistantService | None, uri: str) -> VoiceServer:
    """Speech recognition, synthesis and the live car's assistant over the Wyoming protocol."""
    from carmind.assistant.voice.speech import shared_recognizer
    from carmind.assistant.voice.tts import Synthesizer

    parse_uri(uri)  # a bad URI is an error before anything starts
    services = VoiceServices(
        recognizer=shared_recognizer(), synthesizer=Synthesizer(), assistant=assistant
    )
    return VoiceServer(services, uri)


def _bridged(mapping: CanMapping | None) -> tuple[str, ...]:
    """The signals a CAN bus provides, which the simulated car then leaves to it."""
    if mapping is None:
        return ()
    return (*mapping.can_to_vss_paths, *mapping.vss_to_can_paths)


async def _serve(
    hub: Hub,
    server: GrpcServer | None,
    bridge: CanBridge | None,
    voice: VoiceServer | None,
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
        if voice is not None:
            await voice.start()
            services.push_async_callback(voice.stop)
        if bridge is not None:
            if bridge.bus is not None:
                services.callback(bridge.bus.shutdown)
            await services.enter_async_context(bridge)
        if hub.assistant is not None:
            suggestions = asyncio.create_task(hub.assistant.run())
            services.push_async_callback(lambda: suggestions)
            services.callback(hub.assistant.stop)
        if hub.guidance is not None:
            hub.guidance.attach()
            services.callback(hub.guidance.detach)
            guiding = asyncio.create_task(hub.guidance.run())
            services.push_async_callback(lambda: guiding)
            services.callback(hub.guidance.stop)
        if hub.drive is not None:
            hub.drive.attach()
            services.callback(hub.drive.close)
            services.callback(hub.drive.detach)
            driving = asyncio.create_task(hub.drive.run())
            services.push_async_callback(lambda: driving)
            services.callback(hub.drive.stop)
        if hub.connected is not None:
            await hub.connected.start()
            services.push_async_callback(hub.connected.stop)
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
            out.print(status_line(hub, server), soft_wrap=True)
        return
    with Live(panel(hub, server), console=out, refresh_per_second=4) as live:
        while running():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 0.25)
            live.update(panel(hub, server))
