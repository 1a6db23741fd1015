"""Dispatch throughput: the scheduler against raw Celery, and Redis commands per poll.

    python -m bench.dispatch [--trials 2000] [--rounds 5] [--sqlite] [--postgres]

Starts two real `celery worker` processes (concurrency 1 each) on a private
Redis database, then, for `--rounds` rounds that alternate their order,
prints each round's rates and ratios and then their medians:
- raw Celery: send all trials' tasks, then `get()` every result (the ceiling);
- the scheduler: a Sobol-only experiment of the same size through CeleryRunner,
  end to end, without storage, with SQLite storage (`--sqlite`, a fresh file
  each time) and with PostgreSQL storage (`--postgres`: a database created on
  127.0.0.1:5432 for this run and dropped at its end);
- Redis commands one `poll_trial_status` issues at 10, 100 and 1,000
  outstanding trials (they should not grow);
- how long the runner's vanished-message check takes over those 1,110 queued
  messages (`scheduler.celery.broker_queue.held_task_ids`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import redis

from scheduler import (
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Models,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
)
from scheduler.celery import CeleryMetric, CeleryRunner
from scheduler.celery.broker_queue import held_task_ids
from scheduler.storage.sql.engine import dispose_engines
from tests.support.celery_workers import celery_workers
from tests.support.services import postgres_url, private_redis
from workers.protocol import TASK_NAME


def branin_space() -> SearchSpace:
    return SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, -5, 10),
            RangeParameter("x2", ParameterType.FLOAT, 0, 15),
        ]
    )


def experiment(app: Any, name: str, queue: str = "bo-trials") -> Experiment:
    return Experiment(
        name=name,
        search_space=branin_space(),
        optimization_config=OptimizationConfig(
            # Branin is deterministic: sem 0, so no run ends with a GP fit for its best point.
            Objective(CeleryMetric("branin", sem=0.0), minimize=True)
        ),
        runner=CeleryRunner("branin", queue=queue, app=app),
    )


def raw_celery(app: Any, n: int) -> float:
    """Trials/s for plain Celery: send every task, then get every result."""
    start = time.perf_counter()
    results = [
        app.send_task(
            TASK_NAME,
            args=[{"trial_index": i, "objective": "branin", "parameters": {"x1": 1.0, "x2": 2.0}}],
        )
        for i in range(n)
    ]
    for result in results:
        result.get(timeout=120)
    elapsed = time.perf_counter() - start
    for result in results:
        result.forget()
    return n / elapsed


def scheduler_rate(app: Any, n: int, db_url: str | None) -> float:
    """Trials/s for the closed loop (Sobol proposals, so generation is cheap)."""
    exp = experiment(app, f"dispatch-{time.time_ns()}")
    options = SchedulerOptions(
        max_pending_trials=200,
        init_seconds_between_polls=0.005,
        min_seconds_before_poll=0.0,
        max_seconds_between_polls=0.02,
        tolerated_trial_failure_rate=0.0,
        min_failed_trials_for_failure_rate_check=1,
    )
    strategy = GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=n)], seed=0)
    db_settings = None
    if db_url is not None:
        from scheduler.storage import DBSettings

        db_settings = DBSettings(url=db_url)
    scheduler = Scheduler(exp, strategy, options, db_settings=db_settings)
    start = time.perf_counter()
    scheduler.run_n_trials(max_trials=n)
    elapsed = time.perf_counter() - start
    completed = sum(t.status.name == "COMPLETED" for t in exp.trials.values())
    if completed != n:
        raise SystemExit(f"only {completed} of {n} trials completed")
    return n / elapsed


def commands_per_poll(app: Any, outstanding: int) -> int:
    """Redis commands one poll issues with `outstanding` queued trials."""
    exp = experiment(app, f"poll-{outstanding}-{time.time_ns()}", queue="bo-bench-parked")
    runner = exp.runner
    assert isinstance(runner, CeleryRunner)
    trials = []
    for i in range(outstanding):
        trial = exp.new_trial({"x1": float(i % 15) - 5, "x2": 1.0})
        trial.update_run_metadata(runner.run(trial))
        trial.mark_staged()
        trials.append(trial)
    count = 0
    original = redis.Redis.execute_command

    def counting(self: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        return original(self, *args, **kwargs)

    redis.Redis.execute_command = counting  # type: ignore[method-assign]
    try:
        runner.poll_trial_status(trials)
    finally:
        redis.Redis.execute_command = original  # type: ignore[method-assign]
    return count


@contextmanager
def private_postgres() -> Iterator[str]:
    """URL of a database created on the test PostgreSQL server for this run, then dropped."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(postgres_url())
    name = f"bo_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(app: Any, kind: str, trials: int, directory: Path, pg_url: str | None) -> float:
    """Trials/s of one measurement: raw Celery, or the scheduler with `kind` storage."""
    if kind == "raw":
        return raw_celery(app, trials)
    if kind == "none":
        return scheduler_rate(app, trials, None)
    if kind == "sqlite":
        path = directory / f"dispatch-{time.time_ns()}.db"
        try:
            return scheduler_rate(app, trials, f"sqlite:///{path}")
        finally:
            dispose_engines()  # close the file before removing it
            for leftover in directory.glob(f"{path.name}*"):  # the file, -wal, -shm
                leftover.unlink()
    assert pg_url is not None
    return scheduler_rate(app, trials, pg_url)


LABELS = {"none": "scheduler", "sqlite": "+ SQLite", "postgres": "+ PostgreSQL"}


def rounds(app: Any, args: argparse.Namespace, pg_url: str | None) -> None:
    """Alternate raw Celery and each scheduler variant, round after round.

    Every round measures raw Celery and each variant once; odd rounds run
    them in reverse order, so a drift of the machine's speed (other jobs
    starting or ending) does not always land on the same side. Each ratio
    is a variant's rate over raw Celery's in the same round; the figure to
    read is the median over rounds.
    """
    kinds = ["none"] + (["sqlite"] if args.sqlite else []) + (["postgres"] if args.postgres else [])
    rates: dict[str, list[float]] = {kind: [] for kind in ["raw", *kinds]}
    print(f"trials: {args.trials}, workers: 2 processes, rounds: {args.rounds}")
    header = f"{'round':>5} {'raw /s':>8}" + "".join(
        f" {LABELS[k] + ' /s':>17} {'ratio':>6}" for k in kinds
    )
    print(header)
    with tempfile.TemporaryDirectory() as folder:
        for number in range(args.rounds):
            order = ["raw", *kinds]
            for kind in order if number % 2 == 0 else reversed(order):
                rates[kind].append(measure(app, kind, args.trials, Path(folder), pg_url))
            raw = rates["raw"][-1]
            print(
                f"{number + 1:>5} {raw:>8.1f}"
                + "".join(f" {rates[k][-1]:>17.1f} {rates[k][-1] / raw:>6.2f}" for k in kinds)
            )
    raw_rates = rates["raw"]
    print(
        f"{'median':>5} {statistics.median(raw_rates):>8.1f}"
        + "".join(
            f" {statistics.median(rates[k]):>17.1f} "
            f"{statistics.median(r / w for r, w in zip(rates[k], raw_rates, strict=True)):>6.2f}"
            for k in kinds
        )
        + "   (ratio: median of the rounds' ratios)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="raw/scheduler alternations")
    parser.add_argument("--sqlite", action="store_true", help="also run with SQLite storage")
    parser.add_argument(
        "--postgres", action="store_true", help="also run with PostgreSQL storage (private db)"
    )
    parser.add_argument("--skip-poll-counts", action="store_true", help="only the rates")
    args = parser.parse_args()
    with ExitStack() as stack:
        pg_url = stack.enter_context(private_postgres()) if args.postgres else None
        db = stack.enter_context(private_redis())
        fleet = stack.enter_context(
            celery_workers(db.url, count=2, concurrency=1, loglevel="WARNING")
        )
        app = fleet.app
        raw_celery(app, 100)  # warm up connections and pools
        rounds(app, args, pg_url)
        if not args.skip_poll_counts:
            poll_costs(app, db.url)


def poll_costs(app: Any, redis_url: str) -> None:
    """Redis commands per poll at 10, 100, 1,000 outstanding; the vanished-message check."""
    for outstanding in (10, 100, 1000):
        print(
            f"Redis commands per poll at {outstanding:5d} outstanding: "
            f"{commands_per_poll(app, outstanding)}"
        )
    client = redis.Redis.from_url(redis_url)
    queued = client.llen("bo-bench-parked")
    started = time.perf_counter()
    held = held_task_ids(app, "bo-bench-parked")
    check_ms = (time.perf_counter() - started) * 1000
    assert held is not None and len(held) == queued
    print(f"vanished-message check over {queued} queued messages: {check_ms:.1f} ms")
    client.delete("bo-bench-parked")


if __name__ == "__main__":
    main()
