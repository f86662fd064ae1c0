"""`carmind signals ...`: the VSS catalog and the values of a simulated car."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from carmind.cli.common import config_from, console, print_json
from carmind.signals.broker import Datapoint
from carmind.signals.catalog import Signal, load_catalog
from carmind.signals.errors import SignalError
from carmind.vehicle.session import CarSession, parse_assignments

app = typer.Typer(
    help="The VSS signal catalog, and reading, setting and watching signals of a simulated car.",
    no_args_is_help=True,
)

VssOption = Annotated[
    str | None,
    typer.Option("--vss", help="Load this VSS JSON export instead of carmind's curated subset."),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="Vehicle profile id (see 'carmind sim profiles')."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", help="Prime the car first: PATH=VALUE (repeatable), e.g. Vehicle.Speed=80."
    ),
]
ConfigOption = Annotated[str | None, typer.Option("--config", help="A carmind.toml to read.")]


def _limits(signal: Signal) -> str:
    if signal.allowed:
        return " | ".join(str(a) for a in signal.allowed)
    if signal.min is not None or signal.max is not None:
        low = "" if signal.min is None else f"{signal.min:g}"
        high = "" if signal.max is None else f"{signal.max:g}"
        return f"{low} .. {high}"
    return ""


@app.command("list")
def list_signals(
    pattern: Annotated[str, typer.Argument(help="Path, branch or wildcard pattern.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    vss: VssOption = None,
) -> None:
    """List the signals of the catalog (overlay signals are marked)."""
    catalog = load_catalog(vss)
    signals = catalog.match(pattern)
    if as_json:
        print_json([s.to_dict() for s in signals])
        return
    table = Table(title=f"{len(signals)} signals", title_justify="left")
    for column in ("path", "type", "datatype", "unit", "limits / allowed", "source"):
        table.add_column(column, no_wrap=column == "path", overflow="fold")
    for s in signals:
        table.add_row(
            s.path,
            s.type.value,
            s.datatype,
            s.unit or "",
            _limits(s),
            "[magenta]overlay[/]" if s.overlay else "VSS",
        )
    out = console()
    out.print(table)
    overlay = sum(1 for s in signals if s.overlay)
    out.print(
        f"{len(signals) - overlay} VSS signals, {overlay} carmind overlay signals "
        f"(under Vehicle.Carmind)."
    )


def _format(datapoint: Datapoint | None, signal: Signal) -> str:
    if datapoint is None:
        return "(no value)"
    value = datapoint.value
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return f"{text} {signal.unit}" if signal.unit else text


def _session(
    profile: str | None, config: str | None, vss: str | None, primes: list[str] | None
) -> CarSession:
    cfg = config_from(config)
    session = CarSession.create(cfg, profile=profile, vss=vss)
    session.prime(parse_assignments(session.catalog, primes or []))
    return session


@app.command("get")
def get(
    patterns: Annotated[list[str], typer.Argument(help="Signal paths, branches or patterns.")],
    profile: ProfileOption = None,
    prime: SetOption = None,
    after: Annotated[
        float, typer.Option("--after", min=0, help="Simulated seconds to run first.")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
    vss: VssOption = None,
) -> None:
    """Read signals of a fresh simulated car (primed with --set, run for --after seconds)."""
    session = _session(profile, config, vss, prime)
    session.advance(after)
    values: dict[str, Datapoint | None] = session.client.get_many(patterns)
    if as_json:
        print_json(
            {
                p: None if d is None else {"value": d.value, "timestamp": d.timestamp}
                for p, d in values.items()
            }
        )
        return
    out = console()
    for path, datapoint in values.items():
        out.print(f"{path} = {_format(datapoint, session.catalog.get(path))}", soft_wrap=True)


@app.command("set")
def set_signal(
    path: Annotated[str, typer.Argument(help="An actuator path.")],
    value: Annotated[str, typer.Argument(help="The target value.")],
    profile: ProfileOption = None,
    prime: SetOption = None,
    settle: Annotated[
        float, typer.Option("--settle", min=0, help="Simulated seconds to follow the car after.")
    ] = 6.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
    vss: VssOption = None,
) -> None:
    """Actuate a signal of a fresh simulated car and show what the car did."""
    session = _session(profile, config, vss, prime)
    signal = session.catalog.get(path)
    target = session.catalog.parse(path, value)
    before = session.client.get(path)
    try:
        session.client.actuate(path, target)
    except SignalError as exc:
        if as_json:
            print_json({"path": path, "target": target, "accepted": False, "error": str(exc)})
        raise
    trace = session.follow(path, settle)
    after = session.client.get(path)
    if as_json:
        print_json(
            {
                "path": path,
                "target": target,
                "accepted": True,
                "before": None if before is None else before.value,
                "after": None if after is None else after.value,
                "reached_after_s": trace.reached_after_s,
            }
        )
        return
    out = console()
    out.print(f"{path}: target {_format(Datapoint(target, 0), signal)} accepted", soft_wrap=True)
    reached = (
        f"reached after {trace.reached_after_s:.1f} s"
        if trace.reached_after_s is not None
        else f"not reached within {settle:g} s"
    )
    out.print(
        f"  current value {_format(before, signal)} -> {_format(after, signal)} ({reached})",
        soft_wrap=True,
    )


@app.command("watch")
def watch(
    patterns: Annotated[list[str], typer.Argument(help="Signal paths, branches or patterns.")],
    profile: ProfileOption = None,
    prime: SetOption = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0, help="Stop after this many seconds.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per update.")] = False,
    config: ConfigOption = None,
    vss: VssOption = None,
) -> None:
    """Watch signals of a live simulated car in real time (Ctrl-C stops)."""
    session = _session(profile, config, vss, prime)
    out = console()

    async def watch_loop() -> None:
        sub = session.client.subscribe(patterns)
        runner = asyncio.create_task(session.run_realtime())
        deadline = None if duration is None else time.monotonic() + duration
        try:
            while deadline is None or time.monotonic() < deadline:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    batch = await asyncio.wait_for(sub.next_batch(), timeout)
                except TimeoutError:
                    break
                for p, d in batch.items():
                    if as_json:
                        row: dict[str, Any] = {
                            "path": p,
                            "value": d.value,
                            "timestamp": d.timestamp,
                        }
                        print_json(row)
                    else:
                        stamp = time.strftime("%H:%M:%S", time.localtime(d.timestamp))
                        out.print(
                            f"{stamp} {p} = {_format(d, session.catalog.get(p))}", soft_wrap=True
                        )
        finally:
            sub.close()
            session.stop()
            await runner

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch_loop())
