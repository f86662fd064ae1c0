"""`carmind can ...`: check a VSS <-> CAN mapping, replay a recorded CAN log into the hub."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carmind.cli.common import console, err_console, print_json
from carmind.signals.adapters.can.errors import CanReplayError
from carmind.signals.adapters.can.mapping import SIM_LOG, CanMapping, load_mapping, package_data
from carmind.signals.adapters.can.replay import count_frames, replay_file
from carmind.signals.catalog import Value, load_catalog

app = typer.Typer(
    help="The CAN bus bridge: check a VSS <-> CAN mapping, replay recorded CAN logs into the hub.",
    no_args_is_help=True,
)

DbcOption = Annotated[
    list[str] | None,
    typer.Option("--dbc", help="A DBC file (repeatable); default: the files the mapping names."),
]
MapOption = Annotated[
    str | None,
    typer.Option("--map", help="A mapping TOML; default: the shipped one for the simulated car."),
]
VssOption = Annotated[
    str | None,
    typer.Option("--vss", help="Load this VSS JSON export instead of carmind's curated subset."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _mapping(map_file: str | None, dbc: list[str] | None, vss: str | None) -> CanMapping:
    return load_mapping(map_file, dbc or (), load_catalog(vss))


@contextlib.contextmanager
def _log_path(file: str | None) -> Iterator[Path]:
    if file is not None:
        yield Path(file)
        return
    with resources.as_file(package_data(SIM_LOG)) as path:
        yield path


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@app.command("replay")
def replay(
    file: Annotated[
        str | None,
        typer.Argument(
            help="A CAN log: candump .log, Vector .asc or .blf; default: the shipped "
            "sim_drive.log (150 s of the simulated car on the WLTC)."
        ),
    ] = None,
    dbc: DbcOption = None,
    map_file: MapOption = None,
    speed: Annotated[
        float | None,
        typer.Option("--speed", help="Replay N times faster than recorded (default 1: real time)."),
    ] = None,
    fast: Annotated[
        bool, typer.Option("--as-fast-as-possible", help="Replay without waiting between frames.")
    ] = False,
    vss: VssOption = None,
    as_json: JsonOption = False,
) -> None:
    """Feed a recorded drive into the hub through the bridge; summarise frames and values."""
    if fast and speed is not None:
        raise CanReplayError("choose either --speed N or --as-fast-as-possible, not both")
    if speed is not None and not speed > 0:
        raise CanReplayError(f"--speed must be greater than 0, got {speed:g}")
    pace = None if fast else (speed or 1.0)
    mapping = _mapping(map_file, dbc, vss)
    with _log_path(file) as path:
        if as_json:
            result = replay_file(path, mapping, speed=pace)
        else:
            total = count_frames(path)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console(),
                transient=True,
            ) as progress:
                task = progress.add_task(f"replaying {path.name}", total=total)
                result = replay_file(
                    path,
                    mapping,
                    speed=pace,
                    progress=lambda done: progress.update(task, completed=done),
                )
    if as_json:
        print_json(result.as_dict() | {"file": str(file or SIM_LOG)})
        return
    out = console()
    stats = result.stats
    out.print(
        f"Replayed {file or SIM_LOG}: {stats['frames']:,} frames, {result.log_duration_s:.1f} s "
        f"of log in {result.wall_s:.2f} s"
    )
    counts = Table(title="Frames", title_justify="left")
    counts.add_column("count")
    counts.add_column("n", justify="right")
    rows = [
        ("frames", "frames"),
        ("decoded", "decoded"),
        ("ignored (known, not read)", "ignored"),
        ("VSS values published", "published"),
        ("bad: unknown id", "unknown_id"),
        ("bad: wrong length", "bad_length"),
        ("bad: decode error", "decode_error"),
        ("bad: error frame", "error_frame"),
        ("bad value: out of range", "out_of_range"),
        ("bad value: not allowed", "not_allowed"),
    ]
    for label, key in rows:
        style = "red" if key in ("unknown_id", "bad_length", "decode_error") and stats[key] else ""
        counts.add_row(label, f"[{style}]{stats[key]:,}[/]" if style else f"{stats[key]:,}")
    out.print(counts)
    catalog = mapping.catalog
    values = Table(title=f"{len(result.values)} VSS signals updated", title_justify="left")
    for column in ("path", "last value", "unit"):
        values.add_column(column, no_wrap=column == "path")
    for signal_path, value in result.values.items():
        values.add_row(signal_path, _text(value), catalog.get(signal_path).unit or "")
    out.print(values)


@app.command("check")
def check(
    dbc: DbcOption = None,
    map_file: MapOption = None,
    vss: VssOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate a mapping against its DBC files and the VSS catalog; list what it maps."""
    mapping = _mapping(map_file, dbc, vss)
    rows: list[dict[str, object]] = []
    for entry in mapping.entries:
        message = mapping.database.get_message_by_name(entry.message)
        transform = []
        if entry.enum is not None:
            transform.append(", ".join(f"{raw}={value}" for raw, value in entry.enum))
        if entry.scale != 1.0:
            transform.append(f"x{entry.scale:g}")
        if entry.offset:
            transform.append(f"{entry.offset:+g}")
        if entry.min_interval_ms:
            transform.append(f"every >= {entry.min_interval_ms:g} ms")
        rows.append(
            {
                "vss": entry.vss,
                "direction": entry.direction.value,
                "message": entry.message,
                "frame_id": message.frame_id,
                "signal": entry.signal,
                "transform": "; ".join(transform),
            }
        )
    if as_json:
        print_json({"mapping": mapping.source, "dbc": list(mapping.dbc_sources), "signals": rows})
        return
    table = Table(
        title=f"{mapping.source}: {len(rows)} mappings over {', '.join(mapping.dbc_sources)}",
        title_justify="left",
    )
    for column in ("vss", "direction", "message", "id", "signal", "transform"):
        table.add_column(column, no_wrap=column == "vss")
    for row in rows:
        frame_id = row["frame_id"]
        assert isinstance(frame_id, int)
        table.add_row(
            str(row["vss"]),
            str(row["direction"]),
            str(row["message"]),
            f"0x{frame_id:03X}",
            str(row["signal"]),
            str(row["transform"]),
        )
    out = console()
    out.print(table)
    inbound = len(mapping.can_to_vss_paths)
    out.print(
        f"OK: {inbound} VSS signals from {len(mapping.inbound)} status messages, "
        f"{len(mapping.outbound)} actuators to request frames."
    )
