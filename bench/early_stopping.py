"""Early stopping: worker-seconds saved and final best, with and without the percentile rule.

    python -m bench.early_stopping [--seeds 1] [--seed 0] [--trials 40] [--workers 4]
        [--steps 20] [--step-seconds 0.25] [--rate 0.5] [--dims 3] [--generator auto|sobol]
        [--percentile 80] [--min-progression 4] [--max-progression 8] [--min-curves 5]

Starts `--workers` real `celery worker` processes (concurrency 1 each) on a
private Redis database and runs the built-in `learning_curve` objective
(`--steps` training steps of `--step-seconds` each, decay `--rate`, `--dims`
parameters) twice per seed with the same generation strategy: once without
early stopping, once with `PercentileEarlyStoppingStrategy`. Prints, per
run, trials by status, training steps the workers ran, worker-seconds (steps
run x step seconds: the simulated training time the fleet spent), wall-clock
time and the final best loss (best completed trial), then the saving and the
difference in best; with `--seeds N`, also their mean and worst over seeds.

Steps are counted on the worker side, from each task's final stored state:
a completed task ran every step; a stopped one stores every point it
reported, up to the step at which it saw the stop request.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Any

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
    TrialStatus,
    choose_generation_strategy,
)
from scheduler.analysis.report import best_observed_trial
from scheduler.celery import CeleryMetric, CeleryRunner
from scheduler.celery.task_states import revoked_progress
from scheduler.stopping import PercentileEarlyStoppingStrategy
from tests.support.celery_workers import celery_workers
from tests.support.services import private_redis


@dataclass
class Outcome:
    label: str
    statuses: dict[str, int]
    steps_run: int
    worker_seconds: float
    wall_seconds: float
    best: float
    stop_steps: list[float]


def make_experiment(app: Any, name: str, args: argparse.Namespace) -> Experiment:
    space = SearchSpace(
        [RangeParameter(f"x{i}", ParameterType.FLOAT, 0.0, 1.0) for i in range(1, args.dims + 1)]
    )
    runner = CeleryRunner(
        "learning_curve",
        objective_options={
            "steps": args.steps,
            "step_seconds": args.step_seconds,
            "rate": args.rate,
        },
        app=app,
    )
    return Experiment(
        name=name,
        search_space=space,
        optimization_config=OptimizationConfig(Objective(CeleryMetric("loss"), minimize=True)),
        runner=runner,
    )


def generation_strategy(experiment: Experiment, args: argparse.Namespace) -> GenerationStrategy:
    if args.generator == "sobol":
        return GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=-1)], seed=args.seed)
    return choose_generation_strategy(experiment.search_space, random_seed=args.seed)


def steps_run(experiment: Experiment, steps: int, timeout: float = 60.0) -> int:
    """Training steps the workers ran, read from each task's final state."""
    runner = experiment.runner
    assert isinstance(runner, CeleryRunner)
    trials = list(experiment.trials.values())
    deadline = time.monotonic() + timeout
    while True:  # a stopped trial writes REVOKED at its next report, after the scheduler moved on
        metas = [meta for meta, _ in runner.store.read([t.run_metadata["task_id"] for t in trials])]
        states = [str((meta or {}).get("status")) for meta in metas]
        if all(s in ("SUCCESS", "REVOKED", "FAILURE") for s in states):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"tasks still running after the run: {states}")
        time.sleep(0.1)
    total = 0
    for meta, state in zip(metas, states, strict=True):
        if state == "SUCCESS":
            total += steps
        elif state == "REVOKED":
            total += len(revoked_progress((meta or {}).get("result")) or [])
    return total


def run(app: Any, label: str, args: argparse.Namespace, early_stopping: bool) -> Outcome:
    experiment = make_experiment(app, f"es-bench-{label}-{time.time_ns()}", args)
    strategy = None
    if early_stopping:
        strategy = PercentileEarlyStoppingStrategy(
            percentile_threshold=args.percentile,
            min_progression=args.min_progression,
            min_curves=args.min_curves,
            max_progression=args.max_progression,
        )
    options = SchedulerOptions(
        max_pending_trials=args.workers,
        init_seconds_between_polls=0.05,
        min_seconds_before_poll=0.0,
        max_seconds_between_polls=0.2,
        early_stopping_strategy=strategy,
        logging_level=logging.WARNING,
    )
    scheduler = Scheduler(experiment, generation_strategy(experiment, args), options)
    start = time.perf_counter()
    scheduler.run_n_trials(max_trials=args.trials)
    wall = time.perf_counter() - start
    steps = steps_run(experiment, args.steps)
    statuses: dict[str, int] = {}
    for trial in experiment.trials.values():
        statuses[trial.status.name] = statuses.get(trial.status.name, 0) + 1
    best = best_observed_trial(experiment)
    if best is None or statuses.get(TrialStatus.COMPLETED.name, 0) == 0:
        raise SystemExit(f"{label}: no completed trial ({statuses})")
    stop_steps = [
        float(experiment.lookup_trial_data(t.index).df["step"].max())
        for t in experiment.trials_by_status(TrialStatus.EARLY_STOPPED)
    ]
    return Outcome(
        label, statuses, steps, steps * args.step_seconds, wall, best[2]["loss"], stop_steps
    )


def report(plain: Outcome, stopped: Outcome, seed: int) -> tuple[float, float]:
    """Print one seed's pair of runs; return (worker-seconds saved, relative best gap)."""
    print(f"-- seed {seed}")
    for o in (plain, stopped):
        listed = ", ".join(f"{k.lower()} {v}" for k, v in sorted(o.statuses.items()))
        print(
            f"{o.label:<20}{listed:<34}{o.steps_run:>7}{o.worker_seconds:>10.1f}"
            f"{o.wall_seconds:>9.1f}{o.best:>12.4f}"
        )
    if stopped.stop_steps:
        print(f"   stopped at step (last seen): {sorted(int(s) for s in stopped.stop_steps)}")
    saved = 1.0 - stopped.worker_seconds / plain.worker_seconds
    gap = (stopped.best - plain.best) / abs(plain.best)
    print(f"   worker-seconds saved {saved:.0%}; best with early stopping vs without {gap:+.1%}")
    return saved, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-seconds", type=float, default=0.25)
    parser.add_argument("--dims", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.5, help="learning-curve decay rate")
    parser.add_argument("--generator", choices=("auto", "sobol"), default="auto")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds, from --seed on")
    parser.add_argument("--percentile", type=float, default=80.0)
    parser.add_argument("--min-progression", type=float, default=4.0)
    parser.add_argument("--min-curves", type=int, default=5)
    parser.add_argument("--max-progression", type=float, default=8.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("scheduler").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    print(
        f"learning_curve: {args.trials} trials, {args.workers} worker processes, "
        f"{args.steps} steps x {args.step_seconds:g} s, rate {args.rate:g}, "
        f"{args.dims} parameters, "
        f"generator {args.generator}"
    )
    print(
        f"percentile rule: threshold {args.percentile:g}, min_progression "
        f"{args.min_progression:g}, min_curves {args.min_curves}, max_progression "
        f"{args.max_progression}"
    )
    print(f"{'run':<20}{'statuses':<34}{'steps':>7}{'worker-s':>10}{'wall s':>9}{'best loss':>12}")
    figures: list[tuple[float, float]] = []
    with (
        private_redis() as db,
        celery_workers(db.url, count=args.workers, concurrency=1, loglevel="WARNING") as fleet,
    ):
        for seed in range(args.seed, args.seed + args.seeds):
            args.seed = seed
            plain = run(fleet.app, "no-early-stopping", args, early_stopping=False)
            stopped = run(fleet.app, "percentile", args, early_stopping=True)
            figures.append(report(plain, stopped, seed))
    if len(figures) > 1:
        saved = [f[0] for f in figures]
        gaps = [f[1] for f in figures]
        print(
            f"over {len(figures)} seeds: worker-seconds saved mean {statistics.mean(saved):.0%} "
            f"(min {min(saved):.0%}); best vs without: mean {statistics.mean(gaps):+.1%}, "
            f"worst {max(gaps):+.1%}"
        )


if __name__ == "__main__":
    main()
