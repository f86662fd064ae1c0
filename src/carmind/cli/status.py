"""What `carmind run` serves, and its live status: a panel on a terminal, lines otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from carmind.assistant.service import AssistantService
from carmind.connect.service import ConnectedServices
from carmind.navigation.guidance import GuidanceService
from carmind.signals.adapters.kuksa.server import GrpcServer
from carmind.signals.broker import Broker, Client
from carmind.signals.catalog import Value
from carmind.vehicle.session import CarSession

if TYPE_CHECKING:  # carmind.drive imports the highway simulator: only when driving is on
    from carmind.drive.service import DriveService

DRIVE = "Vehicle.Carmind.Drive."


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


@dataclass(frozen=True, slots=True)
class Hub:
    """What `carmind run` serves: the broker, and the simulated car unless --no-car."""

    broker: Broker
    session: CarSession | None
    assistant: AssistantService | None = None
    guidance: GuidanceService | None = None
    connected: ConnectedServices | None = None
    drive: DriveService | None = None


def status_line(hub: Hub, server: GrpcServer | None) -> str:
    grpc_text = f" grpc=:{server.port}" if server else ""
    if hub.assistant is not None and hub.assistant.offer is not None:
        grpc_text += f" suggestion={hub.assistant.offer.suggestion.id}"
    if hub.guidance is not None:
        g = hub.guidance
        nav_state = _v(g.client, "Vehicle.Carmind.Navigation.State", "IDLE")
        grpc_text += f" nav={str(nav_state).lower()}"
        if g.current is not None:
            left = _num(g.client, "Vehicle.Carmind.Navigation.DistanceRemaining")
            grpc_text += f" left={left / 1000:.2f}km"
    if hub.connected is not None:
        st = hub.connected.status()
        grpc_text += f" link={st['state'].lower()} queued={st['queued']}"
    if hub.drive is not None:
        c = hub.drive.client
        status = str(_v(c, DRIVE + "Status", "OFF")).lower()
        gap = _num(c, DRIVE + "Gap")
        grpc_text += (
            f" drive={status} policy={_v(c, DRIVE + 'Policy', '')}"
            f" v={_num(c, DRIVE + 'Speed'):.0f}km/h gap={f'{gap:.0f}m' if gap else '-'}"
            f" alert={_v(c, DRIVE + 'Alert', 'none')}"
            f" interventions={_num(c, DRIVE + 'Interventions'):.0f}"
            f" collisions={_num(c, DRIVE + 'Collisions'):.0f}"
        )
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


def panel(hub: Hub, server: GrpcServer | None) -> Group:
    footer = Text(
        f"KUKSA gRPC API on {server.host}:{server.port}"
        + (" (TLS)" if server.tls else "")
        + (" without authorization" if server.settings.insecure else " with JWT authorization")
        if server
        else "gRPC off (carmind run --grpc 127.0.0.1:55555)",
        style="dim",
    )
    assistant = [
        *_navigation_line(hub),
        *_drive_line(hub),
        *_connect_line(hub),
        *_assistant_line(hub),
    ]
    if hub.session is None:
        return Group(
            Text("carmind hub (no simulated car: providers connect over gRPC)", style="bold"),
            Text(f"{hub.broker.updates_published} signal updates"),
            *assistant,
            footer,
            Text("Ctrl-C stops", style="dim"),
        )
    return Group(status_table(hub.session), *assistant, footer)


def _navigation_line(hub: Hub) -> list[Text]:
    guidance = hub.guidance
    if guidance is None:
        return []
    c = guidance.client
    state = _v(c, "Vehicle.Carmind.Navigation.State", "IDLE")
    credit = Text(f"map data {guidance.nav.attribution}", style="dim")
    if state != "GUIDING" or guidance.current is None:
        message = _v(c, "Vehicle.Carmind.Navigation.Message", "")
        return [Text(f"navigation {str(state).lower()}: {message}", style="green"), credit]
    left = _num(c, "Vehicle.Carmind.Navigation.DistanceRemaining") / 1000
    eta = str(_v(c, "Vehicle.Carmind.Navigation.ArrivalTime", ""))[11:16]
    lines = [
        Text(
            f"to {guidance.current.label}: {left:.1f} km, arrive {eta} UTC · "
            f"{_v(c, 'Vehicle.Carmind.Navigation.NextInstruction', '')}",
            style="green",
        )
    ]
    offer = _v(c, "Vehicle.Carmind.Navigation.RerouteOffer", "")
    if offer:
        lines.append(Text(str(offer), style="bold yellow"))
    return [*lines, credit]


_DRIVE_STYLES = {
    "engaged": "bold green",
    "override": "green",
    "takeover": "bold red",
    "lockout": "red",
    "unavailable": "yellow",
}


def _drive_line(hub: Hub) -> list[Text]:
    """Assisted driving: its status, who drives, the gap ahead, alerts and the guard's work."""
    drive = hub.drive
    if drive is None:
        return []
    c = drive.client
    status = str(_v(c, DRIVE + "Status", "OFF")).lower()
    gap = _num(c, DRIVE + "Gap")
    time_gap = _num(c, DRIVE + "TimeGap")
    ahead = f"gap {gap:.0f} m ({time_gap:.1f} s)" if gap else "lane clear ahead"
    line = Text.assemble(
        ("Drive ", "bold"),
        (status, _DRIVE_STYLES.get(status, "blue")),
        (
            f" · {_v(c, DRIVE + 'Policy', '')} on {_v(c, DRIVE + 'Scenario', '')}"
            f" (episode {_num(c, DRIVE + 'Episode'):.0f})"
            f" · {_num(c, DRIVE + 'Speed'):.0f} km/h · {ahead}"
            f" · {_num(c, DRIVE + 'Interventions'):.0f} guard interventions"
            f" · {_num(c, DRIVE + 'Collisions'):.0f} collisions",
            "blue",
        ),
    )
    lines = [line]
    alert = str(_v(c, DRIVE + "Alert", "none"))
    text = str(_v(c, DRIVE + "AlertText", ""))
    if alert != "none" or text:
        style = "bold red" if alert in ("prompt", "terminal") else "yellow"
        lines.append(Text(f"  {alert}: {text}" if alert != "none" else f"  {text}", style=style))
    return lines


def _connect_line(hub: Hub) -> list[Text]:
    if hub.connected is None:
        return []
    st = hub.connected.status()
    text = (
        f"cloud link {st['state'].lower()} via {st['broker']}, {st['queued']} queued, "
        f"{st['commands']} remote commands · owner's page {st['cloud']}/vehicles/"
        f"{hub.connected.vin}"
    )
    return [Text(text, style="magenta")]


def _assistant_line(hub: Hub) -> list[Text]:
    service = hub.assistant
    if service is None:
        return []
    offer = service.offer
    lang = service.lang
    if offer is None:
        return [Text(f"assistant ({lang}) ready; no suggestion now", style="cyan")]
    suggestion = offer.suggestion
    return [
        Text(
            f"suggestion: {suggestion.text[lang]} (because {suggestion.reason[lang]})",
            style="bold cyan",
        )
    ]
