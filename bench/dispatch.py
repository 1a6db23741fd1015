"""Dispatch throughput: the scheduler against raw Celery, and Redis commands per poll.

    python -m bench.dispatch [--trials 2000] [--sqlite]

Starts two real `celery worker` processes (concurrency 1 each) on a private
Redis database, then prints:
- raw Celery: send all trials' tasks, then `get()` every result (the ceiling);
- the scheduler: a Sobol-only experiment of the same size through CeleryRunner
  (optionally with SQLite storage), end to end;
- Redis commands one `poll_trial_status` issues at 10, 100 and 1,000
  outstanding trials (they should not grow);
- how long the runner's vanished-message check takes over those 1,110 queued
  messages (`scheduler.celery.broker_queue.held_task_ids`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
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
from tests.support.celery_workers import celery_workers
from tests.support.services import private_redis
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
        optimization_config=OptimizationConfig(Objective(CeleryMetric("branin"), minimize=True)),
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
        from scheduler.storage import DBSettings  # type: ignore[attr-defined]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--sqlite", action="store_true", help="also run with SQLite storage")
    args = parser.parse_args()
    with (
        private_redis() as db,
        celery_workers(db.url, count=2, concurrency=1, loglevel="WARNING") as fleet,
    ):
        app = fleet.app
        raw_celery(app, 100)  # warm up connections and pools
        raw = raw_celery(app, args.trials)
        ours = scheduler_rate(app, args.trials, None)
        print(f"trials: {args.trials}, workers: 2 processes")
        print(f"raw Celery (send all, get all): {raw:8.1f} trials/s")
        print(f"scheduler (CeleryRunner):       {ours:8.1f} trials/s  ({ours / raw:.2f} x raw)")
        if args.sqlite:
            path = Path(tempfile.mkdtemp()) / "dispatch.db"
            stored = scheduler_rate(app, args.trials, f"sqlite:///{path}")
            ratio = stored / raw
            print(f"scheduler + SQLite storage:     {stored:8.1f} trials/s  ({ratio:.2f} x raw)")
        for outstanding in (10, 100, 1000):
            print(
                f"Redis commands per poll at {outstanding:5d} outstanding: "
                f"{commands_per_poll(app, outstanding)}"
            )
        queued = redis.Redis.from_url(db.url).llen("bo-bench-parked")
        started = time.perf_counter()
        held = held_task_ids(app, "bo-bench-parked")
        check_ms = (time.perf_counter() - started) * 1000
        assert held is not None and len(held) == queued
        print(f"vanished-message check over {queued} queued messages: {check_ms:.1f} ms")
        redis.Redis.from_url(db.url).delete("bo-bench-parked")


if __name__ == "__main__":
    main()
