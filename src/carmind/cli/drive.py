"""`carmind drive ...`: collect expert data, train the end-to-end driver, evaluate drivers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from carmind.cli.common import console, print_json, progress_bar

app = typer.Typer(
    help="Assisted driving: collect expert data, train the end-to-end driver, evaluate drivers.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")]
RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        help="Run the episodes on a Ray cluster at this address ('local' starts one here).",
    ),
]


def _scenarios(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    from carmind.drive.scenarios import scenario

    if not text:
        return default
    return tuple(scenario(s.strip()).name for s in text.split(",") if s.strip())


@contextmanager
def _episodes(enabled: bool, what: str) -> Iterator[Callable[[int, int, dict[str, Any]], None]]:
    """A progress bar that counts finished episodes and their collisions."""
    bar = progress_bar(enabled, description_width=40)
    task = bar.add_task(what, total=None)
    crashes = 0

    def report(done: int, total: int, metrics: dict[str, Any]) -> None:
        nonlocal crashes
        crashes += bool(metrics.get("at_fault"))
        bar.update(
            task,
            completed=done,
            total=total,
            description=f"{what} ({crashes} at-fault collisions)",
        )

    with bar:
        yield report


@app.command("scenarios")
def scenarios_cmd(as_json: JsonOption = False) -> None:
    """The driving scenarios and the seed split."""
    from carmind.drive.scenarios import HELD_OUT_SEEDS, SCENARIOS, TRAIN_SEEDS

    if as_json:
        print_json(
            {
                "scenarios": {
                    s.name: {"env": s.env_id, "description": s.description}
                    for s in SCENARIOS.values()
                },
                "train_seeds": [TRAIN_SEEDS.start, TRAIN_SEEDS.stop - 1],
                "held_out_seeds": [HELD_OUT_SEEDS.start, HELD_OUT_SEEDS.stop - 1],
            }
        )
        return
    table = Table(title="Driving scenarios (highway-env)")
    table.add_column("name")
    table.add_column("environment")
    table.add_column("description")
    for s in SCENARIOS.values():
        table.add_row(s.name, s.env_id, s.description)
    console().print(table)
    console().print(
        f"training seeds {TRAIN_SEEDS.start}–{TRAIN_SEEDS.stop - 1}; "
        f"held-out seeds {HELD_OUT_SEEDS.start}–{HELD_OUT_SEEDS.stop - 1} (evaluation only)"
    )


@app.command("collect")
def collect_cmd(
    out: Annotated[Path, typer.Option("--out", help="Dataset directory to create.")],
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Episodes to record.")] = 20,
    workers: WorkersOption = 1,
    scenarios: Annotated[
        str | None,
        typer.Option("--scenario", help="Comma-separated scenarios (default: the training mix)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="First seed (training seeds only).")] = 0,
    rig: Annotated[str, typer.Option("--rig", help="Sensor rig: a name or a TOML file.")] = (
        "default"
    ),
    ray: RayOption = None,
    append: Annotated[
        bool, typer.Option("--append", help="Add to an existing dataset of the same rig.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Record the expert driving: sensor observations, its plans and actions, in NPZ shards."""
    from carmind.drive.collect import collect
    from carmind.drive.scenarios import TRAINING_MIX

    chosen = _scenarios(scenarios, TRAINING_MIX)
    with _episodes(not as_json, "collecting") as report:
        index = collect(
            out,
            episodes=episodes,
            workers=workers,
            scenarios=chosen,
            seed=seed,
            rig=rig,
            ray_address=ray,
            append=append,
            progress=report,
        )
    summary = {
        "out": str(out),
        "episodes": index["episodes"],
        "samples": index["samples"],
        "shards": len(index["shards"]),
        "rig": index["rig"],
    }
    if as_json:
        print_json(summary)
        return
    console().print(
        f"{out}: {summary['episodes']} episodes, {summary['samples']} samples "
        f"in {summary['shards']} shards (rig {summary['rig']})"
    )


@app.command("eval")
def eval_cmd(
    policy: Annotated[
        list[str],
        typer.Option(
            "--policy",
            help="idle, idm, expert, learned or learned+guard; repeat for a side-by-side table.",
        ),
    ],
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Episodes per driver.")] = 20,
    seed: Annotated[
        int, typer.Option("--seed", help="First seed (default: the held-out seeds).")
    ] = 1_000_000,
    scenarios: Annotated[
        str | None,
        typer.Option("--scenario", help="Comma-separated scenarios (default: the highway ones)."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="A trained model (directory or .onnx) for 'learned'."),
    ] = None,
    workers: WorkersOption = 1,
    ray: RayOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory for eval.json and eval.png."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Closed-loop evaluation with nuPlan/NAVSIM-style metrics, drivers side by side."""
    from carmind.drive.agents import load_agent
    from carmind.drive.evaluate import METRICS, evaluate, plot, resolve_policy
    from carmind.drive.scenarios import STANDARD_HIGHWAY

    chosen = _scenarios(scenarios, STANDARD_HIGHWAY)
    for name in policy:
        load_agent(resolve_policy(name, model))  # a bad name or model fails before any episode
    with _episodes(not as_json, "evaluating") as report:
        result = evaluate(
            policy,
            scenarios=chosen,
            episodes=episodes,
            seed=seed,
            workers=workers,
            model=model,
            ray_address=ray,
            progress=report,
        )
    data = result.to_json()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(data, indent=1))
        plot(result, out / "eval.png")
    if as_json:
        print_json({k: v for k, v in data.items() if k != "episodes"})
        return
    kind = "held-out" if result.held_out else "training"
    table = Table(
        title=f"{episodes} episodes per driver, {kind} seeds {seed}–{seed + episodes - 1}"
    )
    table.add_column("metric")
    for row in result.rows:
        table.add_column(row.policy, justify="right")
    for key, title, fmt in METRICS:
        cells = []
        for row in result.rows:
            value = row.to_json()[key]
            cells.append("–" if value is None else fmt.format(value))
        table.add_row(title, *cells)
    console().print(table)
    if out is not None:
        console().print(f"wrote {out / 'eval.json'} and {out / 'eval.png'}")


@app.command("train")
def train_cmd(
    data: Annotated[
        list[Path], typer.Option("--data", help="Dataset directory from `collect`; repeatable.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for the model and its report.")],
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file of training settings.")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Behaviour-cloning epochs.")
    ] = None,
    dagger_rounds: Annotated[
        int | None, typer.Option("--dagger-rounds", min=0, help="DAgger rounds after cloning.")
    ] = None,
    dagger_episodes: Annotated[
        int | None, typer.Option("--dagger-episodes", min=1, help="Episodes per DAgger round.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Processes for DAgger episodes.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a model already in --out.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Behaviour cloning on the expert's data, then DAgger rounds; exports ONNX and a report."""
    from dataclasses import replace

    from carmind.drive.train import TrainConfig, train

    settings = TrainConfig.from_toml(config) if config is not None else TrainConfig()
    overrides: dict[str, Any] = {
        "epochs": epochs,
        "dagger_rounds": dagger_rounds,
        "dagger_episodes": dagger_episodes,
        "workers": workers,
    }
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    bar = progress_bar(not as_json, description_width=40)
    task = bar.add_task("training", total=None)

    def report(done: int, total: int, info: dict[str, Any]) -> None:
        stage = info.get("stage") or info.get("phase") or "training"
        bar.update(task, completed=done, total=total, description=str(stage))

    with bar:
        result = train(data, out, settings, progress=report, force=force)
    final = result.final
    summary = {
        "out": str(out),
        "samples": result.samples,
        "parameters": result.parameters,
        "epochs": len(result.history),
        "dagger_rounds": len(result.rounds),
        "val_loss": final.val_loss,
        "val_lane_accuracy": final.val_lane_accuracy,
        "onnx": str(result.onnx),
        "wall_s": round(result.wall_s, 1),
    }
    if as_json:
        print_json(summary)
        return
    console().print(
        f"trained on {result.samples} samples in {summary['wall_s']} s "
        f"({summary['epochs']} epochs, {summary['dagger_rounds']} DAgger rounds): "
        f"{result.onnx}, curves in {out / 'curves.png'}"
    )
