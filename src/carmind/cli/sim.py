"""`carmind sim ...`: vehicle profiles, acceleration, drive cycles and validation."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from carmind.cli.common import config_from, console, err_console, print_json, progress_bar
from carmind.signals.adapters.kuksa.provider import (
    RemoteProvider,
    RemoteProviderError,
    RemoteTarget,
)
from carmind.vehicle.cycles import load_cycle, run_cycle
from carmind.vehicle.profiles import get_profile, load_profiles
from carmind.vehicle.session import CarSession
from carmind.vehicle.validate import accel_test, validate_all

app = typer.Typer(
    help="The simulated car: profiles, 0-100 and top speed, drive cycles, validation.",
    no_args_is_help=True,
)

ProfileOption = Annotated[
    str, typer.Option("--profile", "-p", help="Vehicle profile id (see 'carmind sim profiles').")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("profiles")
def profiles(as_json: JsonOption = False) -> None:
    """List the vehicle profiles and their main figures."""
    all_profiles = load_profiles()
    if as_json:
        print_json(
            [
                {
                    "id": p.id,
                    "name": p.name,
                    "curb_mass_kg": p.curb_mass_kg,
                    "peak_power_kw": p.peak_power_kw,
                    "usable_battery_kwh": p.usable_battery_kwh,
                    "drag_coefficient": p.drag_coefficient,
                    "published": asdict(p.published),
                }
                for p in all_profiles.values()
            ]
        )
        return
    table = Table(title="Vehicle profiles", title_justify="left")
    for column in ("id", "name", "mass kg", "power kW", "battery kWh", "Cd", "0-100 s", "top km/h"):
        table.add_column(column, justify="left" if column in ("id", "name") else "right")
    for p in all_profiles.values():
        table.add_row(
            p.id,
            p.name,
            f"{p.curb_mass_kg:.0f}",
            f"{p.peak_power_kw:.0f}",
            f"{p.usable_battery_kwh:.1f}",
            f"{p.drag_coefficient:.3f}",
            f"{p.published.accel_0_100_s:.2f}",
            f"{p.published.top_speed_kmh:.0f}",
        )
    console().print(table)


@app.command("accel")
def accel(profile: ProfileOption, as_json: JsonOption = False) -> None:
    """Simulate 0-100 km/h and top speed at full pedal on a flat road."""
    vehicle = get_profile(profile)
    result = accel_test(vehicle)
    if as_json:
        print_json(asdict(result))
        return
    out = console()
    published = vehicle.published
    zero_to_100 = "n/a" if result.zero_to_100_s is None else f"{result.zero_to_100_s:6.2f} s"
    out.print(f"{vehicle.name} ({vehicle.id})")
    out.print(f"  0-100 km/h  {zero_to_100}   (published {published.accel_0_100_s:.2f} s)")
    out.print(
        f"  top speed   {result.top_speed_kmh:6.1f} km/h (published {published.top_speed_kmh:.0f}"
        f" km/h, limited by {result.top_speed_limited_by})"
    )


@app.command("cycle")
def cycle(
    profile: ProfileOption,
    cycle_name: Annotated[str, typer.Option("--cycle", "-c", help="Drive cycle (wltc).")] = "wltc",
    ambient: Annotated[float, typer.Option("--ambient", help="Outside temperature, °C.")] = 23.0,
    as_json: JsonOption = False,
) -> None:
    """Run a whole drive cycle faster than real time; report consumption and range."""
    vehicle = get_profile(profile)
    drive_cycle = load_cycle(cycle_name)
    with progress_bar(not as_json) as progress:
        task = progress.add_task(f"{drive_cycle.name} with {vehicle.id}", total=1.0)
        result = run_cycle(
            vehicle,
            drive_cycle,
            ambient_c=ambient,
            progress=lambda done: progress.update(task, completed=done),
        )
    if as_json:
        print_json(asdict(result))
        return
    out = console()
    out.print(f"{vehicle.name} on {drive_cycle.name} at {ambient:g} °C")
    out.print(f"  distance     {result.distance_km:8.2f} km in {result.duration_s:.0f} s")
    out.print(f"  energy       {result.energy_kwh:8.3f} kWh from the battery")
    out.print(f"  consumption  {result.consumption_kwh_per_100km:8.2f} kWh/100 km")
    usable = vehicle.usable_battery_kwh
    out.print(f"  range        {result.implied_range_km:8.0f} km on {usable:g} kWh usable")


@app.command("validate")
def validate(as_json: JsonOption = False) -> None:
    """Every profile simulated next to its published figures, with the error and target."""
    with progress_bar(not as_json) as progress:
        task = progress.add_task("validating profiles", total=1.0)
        rows = validate_all(progress=lambda done: progress.update(task, completed=done))
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    render_validation(rows)


def render_validation(rows: list[Any]) -> None:
    table = Table(title="Simulated vs published", title_justify="left")
    for column in ("profile", "0-100 s", "top speed km/h", "range km", "result"):
        table.add_column(column)
    for r in rows:
        table.add_row(*validation_cells(r))
    out = console()
    out.print(table)
    out.print(
        "Targets: 0-100 within 10 %, top speed within 3 %, WLTP range within 8 % (Tesla, BMW). "
        "Xiaomi ranges: simulated WLTC next to the published CLTC figure, for information."
    )


def validation_cells(r: Any) -> tuple[str, ...]:
    def fmt(sim: float, pub: float | None, err: float | None, digits: int) -> str:
        if pub is None or err is None:
            return f"{sim:.{digits}f}"
        return f"{sim:.{digits}f} vs {pub:.{digits}f} ({err:+.1f} %)"

    return (
        r.profile_id,
        fmt(r.accel_simulated_s, r.accel_published_s, r.accel_error_pct, 2),
        fmt(r.top_speed_simulated_kmh, r.top_speed_published_kmh, r.top_speed_error_pct, 0),
        f"{r.range_kind}: " + fmt(r.range_simulated_km, r.range_published_km, r.range_error_pct, 0),
        "[green]pass[/]" if r.passed else "[red]FAIL[/]",
    )


@app.command("provide")
def provide(
    grpc_address: Annotated[
        str,
        typer.Option(
            "--grpc", metavar="HOST:PORT", help="The carmind or KUKSA server to provide to."
        ),
    ],
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="Vehicle profile id.")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", metavar="PATTERN", help="Provide only these signals (repeatable)."),
    ] = None,
    drive: Annotated[
        str, typer.Option("--drive", help="'park' or a drive cycle for the simulated driver.")
    ] = "park",
    token: Annotated[str | None, typer.Option("--token", help="Access token (JWT).")] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="File holding the access token.")
    ] = None,
    tls_ca: Annotated[
        Path | None, typer.Option("--tls-ca", help="CA certificate to verify the server (TLS).")
    ] = None,
    tls_server_name: Annotated[
        str | None, typer.Option("--tls-server-name", help="Server name to verify (TLS).")
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0, help="Stop after this many seconds.")
    ] = None,
    config: Annotated[str | None, typer.Option("--config", help="A carmind.toml to read.")] = None,
) -> None:
    """Run the simulated car in this process as a provider of a remote hub (OpenProviderStream)."""
    if token and token_file:
        raise RemoteProviderError("give --token or --token-file, not both")
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise RemoteProviderError(f"cannot read the token file {token_file}: {exc}") from None
    root_ca = None
    if tls_ca is not None:
        try:
            root_ca = tls_ca.read_bytes()
        except OSError as exc:
            raise RemoteProviderError(f"cannot read the CA certificate {tls_ca}: {exc}") from None
    session = CarSession.create(config_from(config), profile=profile)
    if drive != "park":
        session.car.drive_cycle(load_cycle(drive))
    paths = session.car.provided_paths
    if only:
        chosen = {s.path for pattern in only for s in session.catalog.match(pattern)}
        paths = frozenset(p for p in paths if p in chosen)
        if not paths:
            raise RemoteProviderError(f"the simulated car provides none of {', '.join(only)}")
    target = RemoteTarget(grpc_address, token, root_ca, tls_server_name)
    provider = RemoteProvider(session.client, target, paths)
    asyncio.run(_provide(session, provider, duration))


async def _provide(session: CarSession, provider: RemoteProvider, duration: float | None) -> None:
    out = err_console()
    car = asyncio.create_task(session.run_realtime())
    remote = asyncio.create_task(provider.run())
    out.print(
        f"providing {len(provider.paths)} signals ({len(provider.actuators)} actuators) of "
        f"{session.car.profile.id} to {provider.target.address}; Ctrl-C stops"
    )
    try:
        done, _ = await asyncio.wait({car, remote}, timeout=duration, return_when="FIRST_COMPLETED")
        for task in done:
            task.result()  # a refused stream raises RemoteProviderError here
    finally:
        session.stop()
        remote.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await remote
        await car
    stats = provider.stats
    out.print(
        f"stopped: {stats.published} values published, {stats.actuations} actuations "
        f"({stats.refused} refused by the car)"
    )
