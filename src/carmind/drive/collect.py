"""Running many episodes in parallel: worker processes here, or tasks on a Ray cluster.

`run_tasks` is shared by data collection, DAgger rounds and evaluation; results stream back as
episodes finish, so progress shows and nothing finished is lost if the run is interrupted.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from carmind.drive.dataset import DatasetWriter, Episode
from carmind.drive.rollout import Task, episode_task
from carmind.drive.scenarios import TRAINING_MIX, check_training_seed, scenario
from carmind.errors import CarmindError

Result = tuple[dict[str, Any], Episode | None]


class CollectError(CarmindError):
    """Bad collection settings, or a Ray cluster that cannot be reached."""


def _serial(tasks: Sequence[Task]) -> Iterator[Result]:
    for task in tasks:
        yield episode_task(task)


def _pool(tasks: Sequence[Task], workers: int) -> Iterator[Result]:
    context = multiprocessing.get_context("spawn")  # no forked torch/onnxruntime/pygame state
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(episode_task, t) for t in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for f in futures:
                f.cancel()


def _ray(tasks: Sequence[Task], address: str) -> Iterator[Result]:
    try:
        import ray
    except ImportError:
        raise CollectError("--ray needs the ray package: pip install 'carmind[drive]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address == "local":
                ray.init(include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise CollectError(f"cannot reach the Ray cluster at {address!r}: {exc}") from None
    try:
        remote = ray.remote(num_cpus=1)(episode_task)
        pending = [remote.remote(t) for t in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
    finally:
        if started_here:
            ray.shutdown()


def run_tasks(
    tasks: Sequence[Task], workers: int = 1, ray_address: str | None = None
) -> Iterator[Result]:
    """Every task's result, in the order they finish."""
    if workers < 1:
        raise CollectError(f"--workers {workers}: expected at least 1")
    if ray_address:
        return _ray(tasks, ray_address)
    if workers == 1 or len(tasks) <= 1:
        return _serial(tasks)
    return _pool(tasks, workers)


def plan_tasks(
    scenarios: Iterable[str], episodes: int, seed: int, policy: str = "expert", **kw: Any
) -> list[Task]:
    """`episodes` episodes spread round-robin over `scenarios`, on consecutive seeds."""
    names = [scenario(s).name for s in scenarios]
    if episodes < 1:
        raise CollectError(f"--episodes {episodes}: expected at least 1")
    return [Task(policy, names[i % len(names)], seed + i, **kw) for i in range(episodes)]


def collect(
    out: Path,
    *,
    episodes: int,
    workers: int = 1,
    scenarios: Sequence[str] = TRAINING_MIX,
    seed: int = 0,
    rig: str = "default",
    ray_address: str | None = None,
    policy: str = "expert",
    beta: float = 0.0,
    append: bool = False,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Record `episodes` episodes driven by the expert (or, for DAgger, by a learned `policy`
    with the expert labelling) into the dataset at `out`. Returns the dataset index."""
    check_training_seed(seed)
    check_training_seed(seed + episodes - 1)
    tasks = plan_tasks(scenarios, episodes, seed, policy, rig=rig, record=True, beta=beta)
    from carmind.drive.expert import ExpertParams
    from carmind.drive.rig import SensorRig

    sensors = SensorRig.load(rig)
    meta = {
        "rig": rig,
        "observation": {
            k: {"shape": list(v.shape or ()), "dtype": str(v.dtype)}
            for k, v in sensors.observation_space.spaces.items()
        },
        "expert": {"max_lateral_accel": ExpertParams().max_lateral_accel},
        "labels": {"acceleration": "m/s²", "lane": "-1 right, 0 keep, +1 left"},
    }
    results = run_tasks(tasks, workers, ray_address)  # bad settings fail before `out` is made
    writer = DatasetWriter(out, meta, append=append)
    done = 0
    try:
        for metrics, episode in results:
            if episode is not None:
                writer.add(episode)
            done += 1
            if progress is not None:
                progress(done, len(tasks), metrics)
    finally:
        writer.flush()
    return writer.index
