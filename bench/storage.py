"""Storage benchmark: resume time and per-poll write time as the experiment grows.

    python -m bench.storage [--sizes 1000 10000 100000] [--polls 50] [--repeat 3]

For each size it stores an experiment of that many completed trials (two
metrics each, so 2x as many data rows) in a fresh SQLite file, then prints:
- load: `SQLStore.load_experiment` (trials, data, strategy) in a new process state
  (no pooled connection, no garbage of the previous repetition);
- resume: `Scheduler.from_stored_experiment` end to end (load + attach);
- write/poll: the mean time of the store calls of one poll cycle in which one
  new trial is created, deployed and completed (INSERT trial + arm, strategy
  state, run metadata, data rows, final status, heartbeat), and how many SQL
  write statements that cycle ran. Flat across sizes means writes do not grow
  with the experiment.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scheduler import (
    Data,
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Models,
    Objective,
    OptimizationConfig,
    OutcomeConstraint,
    ParameterType,
    RangeParameter,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
)
from scheduler.core.optimization import ComparisonOp
from scheduler.local.runner import FunctionMetric, FunctionRunner
from scheduler.storage import DBSettings, SQLStore
from scheduler.storage.sql.engine import dispose_engines

DIMENSIONS = 6


def objective(parameters: dict[str, float]) -> dict[str, float]:
    values = np.array([parameters[f"x{i}"] for i in range(DIMENSIONS)])
    return {"loss": float(np.sum((values - 0.3) ** 2)), "cost": float(np.sum(values))}


def make_experiment(name: str) -> Experiment:
    space = SearchSpace(
        [RangeParameter(f"x{i}", ParameterType.FLOAT, 0.0, 1.0) for i in range(DIMENSIONS)]
    )
    config = OptimizationConfig(
        Objective(FunctionMetric("loss"), minimize=True),
        outcome_constraints=[OutcomeConstraint(FunctionMetric("cost"), ComparisonOp.LEQ, 5.0)],
    )
    return Experiment(name, space, config, runner=FunctionRunner(objective))


def strategy() -> GenerationStrategy:
    return GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=-1)], seed=0)


def build(url: str, name: str, size: int) -> None:
    """Store `size` completed trials with data, as a long run would have left them."""
    experiment = make_experiment(name)
    rng = np.random.default_rng(0)
    rows = []
    for point in rng.random((size, DIMENSIONS)):
        trial = experiment.new_trial({f"x{i}": float(v) for i, v in enumerate(point)}, "Sobol")
        result = objective(dict(trial.arm.parameters))  # type: ignore[arg-type]
        trial.update_run_metadata({"result": result, "task_id": f"task-{trial.index:06d}"})
        trial.mark_running()
        trial.mark_completed()
        for metric, value in result.items():
            rows.append((trial.index, trial.arm.name, metric, value, 0.0))
    store = SQLStore(DBSettings(url))
    store.save_experiment(experiment, strategy())
    df = pd.DataFrame(rows, columns=["trial_index", "arm_name", "metric_name", "mean", "sem"])
    store.save_data(experiment, Data(df))


def time_polls(url: str, name: str, polls: int) -> tuple[float, float]:
    """Mean seconds and write statements of the store calls of one poll cycle."""
    from sqlalchemy import event

    store = SQLStore(DBSettings(url))
    experiment, gs = store.load_experiment(name)
    assert gs is not None
    store.save_experiment(experiment, gs)
    store.heartbeat(experiment)
    writes = 0

    def count(*args: object) -> None:
        nonlocal writes
        writes += 1

    event.listen(store.engine, "before_cursor_execute", count)
    durations = []
    for _ in range(polls):
        run = gs.gen(experiment, 1)[0]
        trial = experiment.new_trial(run.parameters, run.generation_step)
        start = time.perf_counter()
        store.save_new_trials(experiment, [trial], gs)  # CANDIDATE + strategy state, one commit
        trial.update_run_metadata({"task_id": f"task-{trial.index}"})
        trial.mark_running()
        store.save_trials(experiment, [trial])  # run metadata right after
        result = objective(dict(trial.arm.parameters))  # type: ignore[arg-type]
        store.save_data(experiment, Data.from_evaluations(result, trial.index))  # type: ignore[arg-type]
        trial.mark_completed()
        store.save_trials(experiment, [trial])
        store.heartbeat(experiment)
        durations.append(time.perf_counter() - start)
    event.remove(store.engine, "before_cursor_execute", count)
    store.release(experiment)
    return statistics.mean(durations), writes / polls


def _fresh_process_state() -> None:
    """As a new process: no pooled connections, no garbage of an earlier load.

    A discarded experiment is cyclic garbage (trials point at it); left for the
    collector, its 100,000 trials would be swept during the next timed load.
    """
    dispose_engines()  # connect and schema check included in the time
    gc.collect()


def _timed_load(url: str, name: str) -> float:
    _fresh_process_state()
    start = time.perf_counter()
    SQLStore(DBSettings(url)).load_experiment(name)
    return time.perf_counter() - start


def _timed_resume(url: str, name: str) -> float:
    _fresh_process_state()
    start = time.perf_counter()
    scheduler = Scheduler.from_stored_experiment(name, SchedulerOptions(), DBSettings(url))
    elapsed = time.perf_counter() - start
    scheduler.experiment.lookup_data()  # the data really is there
    return elapsed


def bench(sizes: list[int], polls: int, repeat: int, directory: Path) -> None:
    print(
        f"{'trials':>8} {'data rows':>10} {'load s':>8} {'resume s':>9} "
        f"{'write/poll ms':>14} {'stmts/poll':>11}   (load/resume: median of {repeat})"
    )
    for size in sizes:
        url = f"sqlite:///{directory}/bench-{size}.db"
        name = f"bench-{size}"
        build(url, name, size)
        load = statistics.median(_timed_load(url, name) for _ in range(repeat))
        resume = statistics.median(_timed_resume(url, name) for _ in range(repeat))
        per_poll, statements = time_polls(url, name, polls)
        print(
            f"{size:>8} {2 * size:>10} {load:>8.2f} {resume:>9.2f} "
            f"{per_poll * 1000:>14.2f} {statements:>11.1f}"
        )
        dispose_engines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1_000, 10_000])
    parser.add_argument("--polls", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        bench(args.sizes, args.polls, args.repeat, Path(directory))


if __name__ == "__main__":
    main()
