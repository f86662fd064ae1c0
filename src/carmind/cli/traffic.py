"""`carmind traffic ...`: simulate probes, learn weekly speeds, live speeds, evaluate ETAs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID
from rich.table import Table

from carmind.cli.common import console, print_json, progress_bar
from carmind.navigation.engine import Router
from carmind.navigation.errors import TrafficDataError
from carmind.navigation.maps import MapInfo, open_map

app = typer.Typer(
    help="Traffic: simulate probe data, learn weekly speeds, live speeds, evaluate arrival times.",
    no_args_is_help=True,
)

MapOption = Annotated[
    Path | None,
    typer.Option("--map", help="Map directory (default: the Helsinki map, built on first use)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", min=1, help="Map-matching processes (default: cores).")
]


@contextmanager
def _stages(enabled: bool) -> Iterator[Callable[[str, float], None]]:
    """A progress bar on stderr that follows `(stage, fraction)` reports."""
    bar = progress_bar(enabled, description_width=34)
    tasks: dict[str, TaskID] = {}

    def report(stage: str, fraction: float) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=1.0)
        bar.update(tasks[stage], completed=min(max(fraction, 0.0), 1.0))

    with bar:
        yield report


def _map(path: Path | None) -> MapInfo:
    return open_map(path)


def _router(info: MapInfo) -> Router:
    return Router(info)


@app.command("simulate")
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Probe file to write (.parquet or .csv).")],
    days: Annotated[
        int, typer.Option("--days", min=2, help="Days to simulate, held-out included.")
    ] = 21,
    vehicles: Annotated[int, typer.Option("--vehicles", min=1, help="Vehicles in the world.")] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the world's randomness.")] = 1,
    holdout_days: Annotated[
        int, typer.Option("--holdout-days", min=1, help="Last days kept for evaluation.")
    ] = 7,
    interval: Annotated[
        float, typer.Option("--interval", min=1.0, help="Seconds between GPS fixes.")
    ] = 5.0,
    map_dir: MapOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drive simulated vehicles through a week-patterned traffic world; write their probes."""
    from carmind.navigation.traffic.congestion import WorldParams
    from carmind.navigation.traffic.world import simulate as run

    info = _map(map_dir)
    params = WorldParams(
        seed=seed, days=days, vehicles=vehicles, holdout_days=holdout_days, interval_s=interval
    )
    with _stages(not as_json) as report:
        result = run(_router(info), params, out, progress=report)
    if as_json:
        print_json(result.to_json())
        return
    c = console()
    c.print(f"{result.trips} trips ({result.holdout_trips} held out), {result.incidents} incidents")
    c.print(f"  probes      {result.points:>9,} points -> {result.probes}")
    c.print(f"  held out    {result.holdout_points:>9,} points -> {result.holdout_probes}")
    c.print(f"  world       {result.world}")


@app.command("learn")
def learn(
    file: Annotated[Path, typer.Argument(help="Probe file: .csv, .csv.gz, .parquet or .gpx.")],
    map_dir: MapOption = None,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Rejects CSV (default: NAME.rejects.csv).")
    ] = None,
    memory: Annotated[
        str, typer.Option("--memory-limit", help="DuckDB memory limit for the aggregation.")
    ] = "1GB",
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Map-match probes, learn weekly speed profiles and load them into the map's tiles."""
    from carmind.navigation.traffic.learn import learn as run

    info = _map(map_dir)
    with _stages(not as_json) as report:
        result = run(
            info, file, rejects=rejects, workers=workers, memory_limit=memory, progress=report
        )
    data = result.to_json()
    if as_json:
        print_json(data)
        return
    c = console()
    c.print(f"learned traffic for the map at {result.map.paths.root}")
    c.print(f"  points read       {data['points_read']:>10,}")
    rejected = f"  points rejected   {data['points_rejected']:>10,}"
    if data["rejects"]:
        rejected += f"  (reasons in {data['rejects']})"
    c.print(rejected)
    c.print(f"  points matched    {data['points_matched']:>10,}")
    c.print(f"  edge traversals   {data['observations']:>10,}")
    levels = data["edges_by_level"]
    c.print(f"  edges with own profiles   {levels['edge']:>6,}")
    c.print(f"  edges on road-class ratios {levels['class']:>5,}")
    c.print(f"  edges on the map's speed  {levels['map']:>6,}")
    hours = data["edge_hours_by_level"]
    c.print(
        f"  edge-hours by level: edge {hours['edge']:,}, class {hours['class']:,}, "
        f"map {hours['map']:,}"
    )


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TrafficDataError(
            f"--now {text!r} is not an ISO 8601 time: give e.g. 2026-09-21T08:00:00+03:00"
        ) from None
    if moment.tzinfo is None:
        raise TrafficDataError(
            f"--now {text!r} has no UTC offset: give e.g. 2026-09-21T08:00:00+03:00"
        )
    return moment


@app.command("live")
def live(
    file: Annotated[Path, typer.Argument(help="Probe file: .csv, .csv.gz, .parquet or .gpx.")],
    map_dir: MapOption = None,
    now: Annotated[
        str | None, typer.Option("--now", help="The current time, ISO 8601 with offset.")
    ] = None,
    window: Annotated[
        float, typer.Option("--window-min", help="Minutes of probes before now to use.")
    ] = 15.0,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the map's live speeds from the probes of the last minutes (in place)."""
    from carmind.navigation.traffic.live import update_live

    moment = _parse_now(now)
    info = _map(map_dir)
    with _stages(not as_json) as report:
        result = update_live(
            info, file, now=moment, window_min=window, workers=workers, progress=report
        )
    data = result.to_json()
    if as_json:
        print_json(data)
        return
    c = console()
    c.print(f"live speeds at {data['now']} from the last {window:g} minutes")
    c.print(f"  points in window  {data['points_in_window']:>8,} of {data['points_read']:,}")
    c.print(f"  edge traversals   {data['observations']:>8,}")
    c.print(f"  edges with live speeds {data['edges_with_live_speed']:>5,}")
    if data["points_in_window"] == 0:
        c.print(
            "  no probe falls in the window, so every edge's live speed is now unknown; "
            "to replay a recorded file, give --now with a time inside it"
        )


@app.command("eval")
def evaluate(
    map_dir: MapOption = None,
    world: Annotated[
        Path | None,
        typer.Option("--world", help="World file (default: the one beside the learned probes)."),
    ] = None,
    trips: Annotated[int, typer.Option("--trips", min=1, help="Held-out trips to predict.")] = 200,
    window: Annotated[
        float, typer.Option("--window-min", help="Minutes of live probes before departure.")
    ] = 15.0,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Arrival-time error on held-out trips: free flow, learned speeds, learned plus live."""
    from carmind.navigation.traffic.evaluate import evaluate as run
    from carmind.navigation.traffic.world import sidecar_paths

    info = _map(map_dir)
    if world is None:
        source = info.traffic.get("historical", {}).get("source")
        if not source:
            raise TrafficDataError(
                "give --world: the map has no learned traffic to find the world file from"
            )
        world = sidecar_paths(Path(source))[1]
    with _stages(not as_json) as report:
        result = run(info, world, trips=trips, window_min=window, workers=workers, progress=report)
    data = result.to_json()
    if as_json:
        print_json(data)
        return
    table = Table(
        title=f"Arrival-time error on {result.trips} held-out trips", title_justify="left"
    )
    for column in ("predictor", "MAPE %", "median APE %", "within 10 %", "bias %", "rush MAPE %"):
        table.add_column(column, justify="left" if column == "predictor" else "right")
    for name, m in result.metrics.items():
        rush = result.rush_metrics.get(name)
        table.add_row(
            name.replace("_", " "),
            f"{100 * m.mape:.1f}",
            f"{100 * m.median_ape:.1f}",
            f"{100 * m.within_10pct:.0f} %",
            f"{100 * m.bias:+.1f}",
            f"{100 * rush.mape:.1f}" if rush else "",
        )
    c = console()
    c.print(table)
    verdict = "[green]met[/]" if result.target_met else "[red]missed[/]"
    c.print(f"target (learned MAPE <= half of free flow, and <= 10 %): {verdict}")
