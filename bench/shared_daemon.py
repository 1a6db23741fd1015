"""Overhead per trial of a daemon running 3 experiments against one running 1.

    python -m bench.shared_daemon [--trials 600] [--repeat 3] [--workers 2]

Starts real `celery worker` processes on a private Redis database, then,
alternating so drift does not land on one side, runs through the same code
as `bo-scheduler run`:
- single: one experiment of `--trials` trials (`service.run_experiment`), at
  most 8 trials out (its max_pending_trials);
- shared: three experiments of `--trials / 3` trials each in one daemon
  (`shared_daemon.run_experiments`), each with the single one's settings;
- capped: the same three under one cap of 8 trials out between them
  (`--max-trials-out 8`), so each has about a third as many out.
All use Sobol proposals (so model fits do not hide the daemon's own cost), an
instant objective and SQLite storage. It prints, per run and as medians: wall
seconds per trial and the daemon's CPU seconds per trial (all its threads,
`time.process_time`), and each one's ratio to single. The target of issue 17:
the shared daemon's overhead per trial within 10% of the single one's. A
loop's cost per trial grows as fewer trials share each poll, so the capped
ratio also carries the price of the cap, not only of sharing a daemon.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scheduler.ops.config import parse_config, resolve_services
from scheduler.ops.service import RunSettings, run_experiment
from scheduler.ops.shared_daemon import DaemonSettings, PlannedRun, run_experiments
from tests.cli.conftest import config_data
from tests.support.celery_workers import celery_workers
from tests.support.services import private_redis

#: Trials out at once: the single experiment's max_pending_trials, the shared cap.
TRIALS_OUT = 8


def config(name: str, trials: int, broker: str, seed: int) -> Any:
    """The test suite's small Sobol-only Branin config, on the bench's fleet."""
    data = config_data(
        name,
        generation={"strategy": "sobol", "seed": seed},
        scheduler={
            "total_trials": trials,
            "max_pending_trials": TRIALS_OUT,
            "init_seconds_between_polls": 0.005,
            "max_seconds_between_polls": 0.02,
        },
        broker={"broker_url": broker, "result_backend": broker},
    )
    return parse_config(data, "(bench)")


def run_single(broker: str, trials: int, folder: Path) -> tuple[float, float]:
    url = f"sqlite:///{folder / f'single-{time.time_ns()}.db'}"
    conf = config("single", trials, broker, 0)
    services = resolve_services(conf, database_url=url)
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = run_experiment(conf, services, RunSettings())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert outcome.status_counts.get("COMPLETED") == trials, outcome.status_counts
    return wall / trials, cpu / trials


def run_shared(
    broker: str, trials: int, folder: Path, cap: int | None = None
) -> tuple[float, float]:
    url = f"sqlite:///{folder / f'shared-{time.time_ns()}.db'}"
    each = trials // 3
    runs = []
    for i in range(3):
        conf = config(f"shared{i}", each, broker, i)
        runs.append(PlannedRun(conf, resolve_services(conf, database_url=url), RunSettings()))
    wall, cpu = time.perf_counter(), time.process_time()
    results = run_experiments(runs, DaemonSettings(max_trials_out=cap))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for result in results:
        assert result.outcome is not None, result.error
        assert result.outcome.status_counts.get("COMPLETED") == each
    return wall / (3 * each), cpu / (3 * each)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:  # the loop's own INFO lines too
        handler.setLevel(logging.WARNING)
    kinds: dict[str, Callable[[str, int, Path], tuple[float, float]]] = {
        "single": run_single,
        "shared": run_shared,
        "capped": lambda broker, n, folder: run_shared(broker, n, folder, cap=TRIALS_OUT),
    }
    figures: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    with (
        tempfile.TemporaryDirectory() as tmp,
        private_redis() as redis,
        celery_workers(redis.url, count=args.workers, concurrency=2, log_dir=Path(tmp)),
    ):
        for r in range(args.repeat):
            for kind, run in kinds.items():
                wall, cpu = run(redis.url, args.trials, Path(tmp))
                figures[kind].append((wall, cpu))
                figure = f"{wall * 1e3:7.2f} ms wall, {cpu * 1e3:7.2f} ms CPU per trial"
                print(f"run {r + 1} {kind:6s}: {figure}", flush=True)
    medians = {k: [statistics.median(x[i] for x in v) for i in (0, 1)] for k, v in figures.items()}
    print(f"\n{'daemon':8s} {'wall ms/trial':>14s} {'CPU ms/trial':>13s}")
    for kind, (wall, cpu) in medians.items():
        print(f"{kind:8s} {wall * 1e3:14.2f} {cpu * 1e3:13.2f}")
    for kind in ("shared", "capped"):
        wall_ratio = medians[kind][0] / medians["single"][0]
        cpu_ratio = medians[kind][1] / medians["single"][1]
        print(f"{kind}/single: wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f} (target: CPU <= 1.10)")


if __name__ == "__main__":
    main()
