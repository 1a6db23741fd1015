"""Fleet utilization: how busy the default strategy keeps a real worker fleet.

    python -m bench.fleet_utilization [--workers 8] [--trials 64]
                                      [--min-seconds 2 --max-seconds 5] [--seeds 1]
                                      [--poll-seconds 0.1] [--variants today,fleet,ahead]

Starts `--workers` real `celery worker` processes (concurrency 1 each) on a
private Redis database, loading `bench.fleet_objective` (Hartmann6 that sleeps
U(min, max) seconds and reports its own start and end), and runs the
scheduler with `max_pending_trials = workers` and `total_trials = --trials`
per seed and variant: **today**, `choose_generation_strategy` without the
fleet size (the default before the fleet-sized strategy); **fleet**, with
`fleet_size=workers` (what `build_generation_strategy` now passes from
`scheduler.max_pending_trials`); **ahead**, that and
`SchedulerOptions(generate_ahead=True)`.

Printed per run: **utilization**, busy worker-seconds (each trial's
`finished_at - started_at` as the worker reported it) over `workers x (last
result - first deploy)`; the same up to the moment the last trial was
deployed (**while the budget lasts**: after it the fleet can only drain);
the Sobol and BoTorch trial counts; a worker's idle gap between its
consecutive trials and the seconds the loop spent generating and polling;
busy workers sampled at a few instants; and the best Hartmann6 value
(optimum -3.32237) found by those instants. `bench.fleet_virtual` runs the
same on a virtual clock, where generation takes no time.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scheduler import (
    Experiment,
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
from scheduler.celery import CeleryMetric, CeleryRunner
from scheduler.core.trial import Trial
from scheduler.listeners import SchedulerListener
from tests.support.celery_workers import celery_workers
from tests.support.services import private_redis

OBJECTIVE = "hartmann6_slow"
HARTMANN6_MIN = -3.32237
#: today: `choose_generation_strategy` without the fleet; fleet: with `fleet_size`;
#: ahead: that, and `SchedulerOptions(generate_ahead=True)`.
VARIANTS = ("today", "fleet", "ahead")
#: Instants (fractions of the run) at which busy workers and the best value are shown.
SAMPLES = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class GenTimes(SchedulerListener):
    """Seconds per generated trial of each `gen` call, and the deploy instants."""

    per_trial: list[float] = field(default_factory=list)
    deploys: list[float] = field(default_factory=list)
    gen_total: float = 0.0
    poll_total: float = 0.0

    def on_generate(self, scheduler: Any, trials: Sequence[Trial], seconds: float) -> None:
        self.gen_total += seconds
        if trials and not (trials[0].generation_step or "").startswith("Sobol"):
            self.per_trial.extend([seconds / len(trials)] * len(trials))

    def on_poll(self, scheduler: Any, seconds: float) -> None:
        self.poll_total += seconds

    def on_trial_status(self, scheduler: Any, trial: Trial, previous: TrialStatus) -> None:
        if previous is TrialStatus.CANDIDATE:
            self.deploys.append(time.time())


@dataclass
class Run:
    """What one run measured: trial intervals (worker clock), values, counts."""

    label: str
    workers: int
    first_deploy: float
    last_deploy: float
    intervals: list[tuple[float, float, float]]  # (started_at, finished_at, hartmann6)
    steps: dict[str, int]
    gen_seconds: list[float]
    gaps: list[float]  # a worker's idle seconds between its consecutive trials
    loop_seconds: tuple[float, float]  # total seconds in `gen` calls, in polls

    @property
    def end(self) -> float:
        return max(finished for _, finished, _ in self.intervals)

    def busy(self, until: float) -> float:
        """Worker-seconds spent on trials between the first deploy and `until`."""
        return sum(
            max(0.0, min(finished, until) - max(started, self.first_deploy))
            for started, finished, _ in self.intervals
        )

    def utilization(self, until: float | None = None) -> float:
        until = self.end if until is None else until
        return self.busy(until) / (self.workers * (until - self.first_deploy))

    def busy_at(self, instant: float) -> int:
        return sum(started <= instant < finished for started, finished, _ in self.intervals)

    def best_by(self, instant: float) -> float:
        values = [value for _, finished, value in self.intervals if finished <= instant]
        return min(values) if values else float("nan")


def space() -> SearchSpace:
    return SearchSpace(
        [RangeParameter(f"x{i}", ParameterType.FLOAT, 0.0, 1.0) for i in range(1, 7)]
    )


def run_once(app: Any, args: argparse.Namespace, seed: int, label: str) -> Run:
    """One experiment of `args.trials` trials on the fleet; returns what it measured."""
    options: dict[str, Any] = {"min_seconds": args.min_seconds, "max_seconds": args.max_seconds}
    experiment = Experiment(
        name=f"fleet-{label}-{seed}-{time.time_ns()}",
        search_space=space(),
        optimization_config=OptimizationConfig(
            Objective(CeleryMetric("hartmann6", sem=0.0), minimize=True)
        ),
        runner=CeleryRunner(OBJECTIVE, objective_options=options, app=app),
        tracking_metrics=[CeleryMetric(m) for m in ("started_at", "finished_at", "worker_pid")],
    )
    strategy = choose_generation_strategy(
        experiment.search_space,
        num_trials=args.trials,
        random_seed=seed,
        fleet_size=None if label == "today" else args.workers,
    )
    listener = GenTimes()
    scheduler = Scheduler(
        experiment,
        strategy,
        SchedulerOptions(
            max_pending_trials=args.workers,
            total_trials=args.trials,
            init_seconds_between_polls=args.poll_seconds,
            min_seconds_before_poll=0.0,
            max_seconds_between_polls=args.poll_seconds,
            generate_ahead=label == "ahead",
            logging_level=logging.WARNING,
        ),
        listeners=[listener],
    )
    scheduler.run_all_trials()
    intervals = []
    steps: dict[str, int] = {}
    by_worker: dict[float, list[tuple[float, float]]] = {}
    for trial in experiment.trials_by_status(TrialStatus.COMPLETED):
        df = experiment.lookup_trial_data(trial.index).final().df
        values = dict(zip(df["metric_name"], df["mean"], strict=True))
        intervals.append((values["started_at"], values["finished_at"], values["hartmann6"]))
        by_worker.setdefault(values["worker_pid"], []).append(
            (values["started_at"], values["finished_at"])
        )
        step = trial.generation_step or "manual"
        steps[step] = steps.get(step, 0) + 1
    gaps = [
        later[0] - earlier[1]
        for runs in by_worker.values()
        for earlier, later in zip(sorted(runs), sorted(runs)[1:], strict=False)
    ]
    if len(intervals) != args.trials:
        raise SystemExit(f"{label}: only {len(intervals)} of {args.trials} trials completed")
    return Run(
        label,
        args.workers,
        min(listener.deploys),
        max(listener.deploys),
        intervals,
        steps,
        listener.per_trial,
        gaps,
        (listener.gen_total, listener.poll_total),
    )


def report(run: Run, seed: int) -> None:
    span = run.end - run.first_deploy
    gen = f"{statistics.median(run.gen_seconds):.3f}" if run.gen_seconds else "-"
    steps = ", ".join(f"{name} {count}" for name, count in sorted(run.steps.items()))
    print(
        f"{run.label:<12} seed {seed}: utilization {run.utilization():.1%} "
        f"(while the budget lasts {run.utilization(run.last_deploy):.1%}), "
        f"{span:.1f} s, best {run.best_by(run.end):.4f}; {steps}",
        flush=True,
    )
    gen_total, poll_total = run.loop_seconds
    print(
        f"    a worker's idle gap between trials: median {statistics.median(run.gaps):.2f} s, "
        f"mean {statistics.mean(run.gaps):.2f} s; loop: {gen_total:.1f} s generating "
        f"(BO median {gen} s/trial), {poll_total:.1f} s polling"
    )
    instants = [run.first_deploy + f * span for f in SAMPLES]
    print("    t (s)      " + "".join(f"{f * span:>8.1f}" for f in SAMPLES))
    print("    busy       " + "".join(f"{run.busy_at(t - 1e-6):>8d}" for t in instants))
    print("    best       " + "".join(f"{run.best_by(t):>8.3f}" for t in instants), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=5.0)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--poll-seconds", type=float, default=0.1)
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, of {', '.join(VARIANTS)}",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(sorted(unknown))}")
    with (
        private_redis() as db,
        celery_workers(
            db.url,
            count=args.workers,
            concurrency=1,
            objective_modules=["bench.fleet_objective"],
            loglevel="WARNING",
        ) as fleet,
    ):
        print(
            f"{args.workers} workers, {args.trials} trials of {args.min_seconds:g}-"
            f"{args.max_seconds:g} s, Hartmann6 (optimum {HARTMANN6_MIN}), "
            f"polls every {args.poll_seconds:g} s"
        )
        for seed in range(args.seeds):
            for variant in variants:
                report(run_once(fleet.app, args, seed, variant), seed)


if __name__ == "__main__":
    main()
