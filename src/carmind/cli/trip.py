"""`carmind trip`: an EV trip with the charging stops that make it fastest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carmind.cli.common import console, print_json
from carmind.navigation.errors import NavigationError, TripError
from carmind.navigation.stations import load_stations_csv
from carmind.navigation.trip import DEFAULT_CORRIDOR_KM, DEFAULT_RESERVE_PCT, TripPlan


def trip(
    origin: Annotated[str, typer.Argument(metavar="FROM", help="lat,lon or a place name.")],
    destination: Annotated[str, typer.Argument(metavar="TO", help="lat,lon or a place name.")],
    profile: Annotated[
        str,
        typer.Option("--profile", "-p", help="Vehicle profile id (see 'carmind sim profiles')."),
    ],
    soc: Annotated[float, typer.Option("--soc", help="State of charge at the start, %.")],
    reserve: Annotated[
        float, typer.Option("--reserve", help="Never below this state of charge, %.")
    ] = DEFAULT_RESERVE_PCT,
    stations: Annotated[
        Path | None,
        typer.Option("--stations", help="Extra chargers: a CSV with name,lat,lon,power_kw."),
    ] = None,
    temp: Annotated[float, typer.Option("--temp", help="Outside temperature, °C.")] = 20.0,
    hvac: Annotated[
        bool, typer.Option("--hvac/--no-hvac", help="Heat or cool the cabin to 22 °C.")
    ] = True,
    depart: Annotated[
        str | None,
        typer.Option("--depart", help="Departure, ISO 8601 (local time without an offset)."),
    ] = None,
    corridor: Annotated[
        float, typer.Option("--corridor", help="Chargers up to this far off the route, km.")
    ] = DEFAULT_CORRIDOR_KM,
    map_dir: Annotated[
        Path | None,
        typer.Option(
            "--map", help="Map directory (default: central Helsinki, built on first use)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Plan an EV trip: energy from the car's physics, charging stops that minimise the time."""
    from carmind.cli.nav import open_navigation
    from carmind.navigation.api import parse_time
    from carmind.navigation.consumption import Conditions
    from carmind.navigation.trip import TripPlanner, TripRequest
    from carmind.vehicle.profiles import get_profile

    vehicle = get_profile(profile)
    extra = tuple(load_stations_csv(stations)) if stations is not None else ()
    try:
        moment = parse_time(depart) if depart is not None else None
    except NavigationError as exc:
        raise TripError(str(exc)) from None
    request = TripRequest(
        profile=vehicle,
        start_soc_pct=soc,
        reserve_pct=reserve,
        conditions=Conditions(ambient_c=temp, hvac=hvac),
        depart=moment,
        extra_stations=extra,
        corridor_km=corridor,
    )
    navigation = open_navigation(map_dir)
    planner = TripPlanner(navigation.map, navigation.router)
    plan = planner.plan(origin, destination, request)
    if as_json:
        print_json({**plan.to_json(), "attribution": navigation.attribution})
        return
    render(plan, vehicle.name)
    console().print(navigation.attribution)


def render(plan: TripPlan, vehicle_name: str) -> None:
    """The plan as a legs table and a stops table."""
    out = console()
    out.print(f"{plan.origin} -> {plan.destination}, {vehicle_name}")
    conditions = plan.conditions
    hvac = f"HVAC {plan.hvac_w:.0f} W" if conditions.hvac else "HVAC off"
    out.print(
        f"  {plan.distance_m / 1000.0:.0f} km, {plan.energy_kwh:.1f} kWh at "
        f"{conditions.ambient_c:g} °C ({hvac}); {plan.summary}"
    )
    legs = Table(title="Legs", title_justify="left")
    for column in ("from", "to", "km", "min", "kWh", "SoC start", "SoC end"):
        legs.add_column(column, justify="left" if column in ("from", "to") else "right")
    for leg in plan.legs:
        legs.add_row(
            leg.start,
            leg.end,
            f"{leg.distance_m / 1000.0:.1f}",
            f"{leg.duration_s / 60.0:.0f}",
            f"{leg.energy_kwh:.1f}",
            f"{leg.start_soc_pct:.0f} %",
            f"{leg.end_soc_pct:.0f} %",
        )
    out.print(legs)
    if not plan.stops:
        out.print("No charging stop needed.")
        return
    stops = Table(title="Charging stops", title_justify="left")
    for column in ("station", "lat,lon", "kW", "arrive", "leave", "min charging"):
        stops.add_column(column, justify="left" if column in ("station", "lat,lon") else "right")
    for stop in plan.stops:
        station = stop.station
        power = f"{station.power_kw:g} {'DC' if station.dc else 'AC'}"
        if station.assumed_power:
            power += " (assumed)"
        stops.add_row(
            station.name,
            f"{station.lat:.5f},{station.lon:.5f}",
            power,
            f"{stop.arrival_soc_pct:.0f} %",
            f"{stop.departure_soc_pct:.0f} %",
            f"{stop.charge_s / 60.0:.0f}",
        )
    out.print(stops)
    out.print(
        f"Arrive {plan.arrive.astimezone().strftime('%Y-%m-%d %H:%M')} with "
        f"{plan.arrival_soc_pct:.0f} %, {plan.total_s / 3600.0:.1f} h in all "
        f"({plan.charging_s / 60.0:.0f} min stopped)."
    )
