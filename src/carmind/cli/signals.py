"""`carmind signals ...`: the VSS catalog and the values of a simulated car."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from carmind.cli.common import config_from, console, print_json
from carmind.cli.remote import Remote, RemoteError, set_targets
from carmind.cli.remote import get as remote_get
from carmind.cli.remote import watch as remote_watch
from carmind.signals.broker import Datapoint
from carmind.signals.catalog import Catalog, Signal, Value, load_catalog
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


GrpcOption = Annotated[
    str | None,
    typer.Option(
        "--grpc",
        metavar="HOST:PORT",
        help="Talk to a running carmind (or KUKSA databroker) instead of a fresh simulated car.",
    ),
]
TokenOption = Annotated[str | None, typer.Option("--token", help="Access token for --grpc.")]
TlsCaOption = Annotated[
    Path | None, typer.Option("--tls-ca", help="CA certificate of a TLS --grpc server.")
]


def _remote(
    address: str | None, token: str | None, tls_ca: Path | None, **local_only: object
) -> Remote | None:
    if address is None:
        if token or tls_ca:
            raise RemoteError("--token and --tls-ca need --grpc HOST:PORT")
        return None
    given = [f"--{name.replace('_', '-')}" for name, value in local_only.items() if value]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise RemoteError(f"{', '.join(given)} {verb} to a fresh simulated car, not to --grpc")
    return Remote(address, token, tls_ca, "localhost" if tls_ca else None)


def _print_values(values: dict[str, Datapoint | None], catalog: Catalog, as_json: bool) -> None:
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
        signal = catalog.get(path) if path in catalog else None
        text = _format(datapoint, signal) if signal else str(datapoint and datapoint.value)
        out.print(f"{path} = {text}", soft_wrap=True)


def _print_update(path: str, datapoint: Datapoint | None, catalog: Catalog, as_json: bool) -> None:
    if datapoint is None:
        return
    if as_json:
        row: dict[str, Any] = {
            "path": path,
            "value": datapoint.value,
            "timestamp": datapoint.timestamp,
        }
        print_json(row)
        return
    stamp = time.strftime("%H:%M:%S", time.localtime(datapoint.timestamp))
    text = _format(datapoint, catalog.get(path)) if path in catalog else str(datapoint.value)
    console().print(f"{stamp} {path} = {text}", soft_wrap=True)


@app.command("get")
def get(
    patterns: Annotated[list[str], typer.Argument(help="Signal paths, branches or patterns.")],
    profile: ProfileOption = None,
    prime: SetOption = None,
    after: Annotated[
        float, typer.Option("--after", min=0, help="Simulated seconds to run first.")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    grpc: GrpcOption = None,
    token: TokenOption = None,
    tls_ca: TlsCaOption = None,
    config: ConfigOption = None,
    vss: VssOption = None,
) -> None:
    """Read signals of a fresh simulated car (primed with --set, run for --after seconds)."""
    remote = _remote(grpc, token, tls_ca, profile=profile, set=prime, after=after)
    if remote is not None:
        catalog = load_catalog(vss)
        _print_values(asyncio.run(remote_get(remote, patterns, catalog)), catalog, as_json)
        return
    session = _session(profile, config, vss, prime)
    session.advance(after)
    _print_values(session.client.get_many(patterns), session.catalog, as_json)


@app.command("set")
def set_signal(
    path: Annotated[str, typer.Argument(help="An actuator path.")],
    value: Annotated[str, typer.Argument(help="The target value.")],
    profile: ProfileOption = None,
    prime: SetOption = None,
    settle: Annotated[
        float, typer.Option("--settle", min=0, help="Seconds to follow the car after.")
    ] = 6.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    grpc: GrpcOption = None,
    token: TokenOption = None,
    tls_ca: TlsCaOption = None,
    config: ConfigOption = None,
    vss: VssOption = None,
) -> None:
    """Actuate a signal of a fresh simulated car (or a running one) and show what the car did."""
    remote = _remote(grpc, token, tls_ca, profile=profile, set=prime)
    if remote is not None:
        catalog = load_catalog(vss)
        target = catalog.parse(path, value)
        before, after, reached_after = asyncio.run(
            _remote_set(remote, path, target, settle, catalog)
        )
        _print_set(path, target, before, after, reached_after, settle, catalog, as_json)
        return
    session = _session(profile, config, vss, prime)
    target = session.catalog.parse(path, value)
    before = session.client.get(path)
    try:
        session.client.actuate(path, target)
    except SignalError as exc:
        if as_json:
            print_json({"path": path, "target": target, "accepted": False, "error": str(exc)})
        raise
    trace = session.follow(path, settle)
    after_dp = session.client.get(path)
    _print_set(
        path, target, before, after_dp, trace.reached_after_s, settle, session.catalog, as_json
    )


async def _remote_set(
    remote: Remote, path: str, target: Value, settle: float, catalog: Catalog
) -> tuple[Datapoint | None, Datapoint | None, float | None]:
    before = (await remote_get(remote, [path], catalog)).get(path)
    await set_targets(remote, {path: target})
    started = time.monotonic()
    while True:
        now = (await remote_get(remote, [path], catalog)).get(path)
        elapsed = time.monotonic() - started
        if now is not None and now.value == target:
            return before, now, round(elapsed, 1)
        if elapsed >= settle:
            return before, now, None
        await asyncio.sleep(0.2)


def _print_set(
    path: str,
    target: Value,
    before: Datapoint | None,
    after: Datapoint | None,
    reached_after_s: float | None,
    settle: float,
    catalog: Catalog,
    as_json: bool,
) -> None:
    if as_json:
        print_json(
            {
                "path": path,
                "target": target,
                "accepted": True,
                "before": None if before is None else before.value,
                "after": None if after is None else after.value,
                "reached_after_s": reached_after_s,
            }
        )
        return
    signal = catalog.get(path)
    out = console()
    out.print(f"{path}: target {_format(Datapoint(target, 0), signal)} accepted", soft_wrap=True)
    reached = (
        f"reached after {reached_after_s:.1f} s"
        if reached_after_s is not None
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
    grpc: GrpcOption = None,
    token: TokenOption = None,
    tls_ca: TlsCaOption = None,
    config: ConfigOption = None,
    vss: VssOption = None,
) -> None:
    """Watch signals of a live simulated car (or a running one) in real time (Ctrl-C stops)."""
    remote = _remote(grpc, token, tls_ca, profile=profile, set=prime)
    if remote is not None:
        catalog = load_catalog(vss)
        paths = [s.path for pattern in patterns for s in catalog.match(pattern)]

        async def remote_loop() -> None:
            async for batch in remote_watch(remote, paths, catalog):
                for p, d in batch.items():
                    _print_update(p, d, catalog, as_json)

        with contextlib.suppress(KeyboardInterrupt, TimeoutError):
            asyncio.run(asyncio.wait_for(remote_loop(), duration))
        return
    session = _session(profile, config, vss, prime)

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
                    _print_update(p, d, session.catalog, as_json)
        finally:
            sub.close()
            session.stop()
            await runner

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch_loop())
