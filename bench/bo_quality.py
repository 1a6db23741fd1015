"""Optimization quality and generation speed of the default strategy vs Sobol-only.

    python -m bench.bo_quality [--quick] [--seeds N | --seed-list 3,7,...]
                               [--problems branin,hartmann6,...] [--verbose] [--no-sobol]
                               [--kernel rbf|matern|dim-scaled-rbf] [--set key=value ...]
                               [--trials N] [--checkpoints K1,K2,...]

Each problem runs the real closed loop: `Scheduler` + the in-process
`FunctionRunner`, 3 trials out at a time (16 for `hartmann6-16`) and
completing one by one (each poll finishes the oldest, as on a fleet: every new
trial is generated with the others pending), `choose_generation_strategy` (the
center of the space and Sobol, then BoTorch with the chosen `--kernel` and any
`--set` model keyword arguments) and a Sobol-only strategy, on the same seeds.
Printed per problem and method: mean, its standard error across seeds, median
final gap to the known optimum (best observed feasible value minus the
optimum; for the multi-objective problem, the hypervolume the observed front
misses; for the noisy problem, the noiseless value of the best evaluated arm),
the number of seeds "stuck" (gap > 0.1), and the median wall-clock and CPU
seconds the BoTorch step took per generated trial (a `gen(n)` call's time
divided by `n`), and "cpu end": the median CPU seconds over each seed's last
5 BO trials, the cost per trial at the end of the budget (Hartmann6: 35-39
observations), where a GP with the most data costs the most. The first line
also prints the host's reference figure (`bench/host_speed.py`): CPU seconds
compare across hosts, or across hours of one host, only in proportion to it.

Problems: Branin (2-d, 30 trials), Hartmann6 (6-d, 40), Gramacy's constrained
problem (2-d, 2 outcome constraints, 30; noise inferred: its metric reports no
sem), Branin-Currin (2 objectives, thresholds at the usual reference point,
30), Hartmann6 with Gaussian noise (sd 0.1, no sem: noise inferred; 40), a
mixed Hartmann6 (x5, x6 integers 0..10 scaled by 1/10, and an unordered choice
adding an offset; 40), Ackley10 (10-d, minimizer moved off the center; 100) and
Hartmann6 with 16 trials in flight (96).

`--trials N` runs every problem to a budget of N trials instead, and
`--checkpoints 40,60` adds a row per checkpoint: the gap of the first K
trials of the same runs. No step knows the budget (the initial design caps
at a quarter of it, which the fleet of 3 never reaches), so those are the
gaps a budget of K gives, from one set of runs.
"""

from __future__ import annotations

import argparse
import ast
import logging
import math
import statistics
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from bench.host_speed import reference_cpu_seconds
from bench.problems import PARALLELISM, PROBLEMS, Problem
from scheduler import (
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Models,
    Scheduler,
    SchedulerOptions,
    TrialStatus,
    choose_generation_strategy,
)
from scheduler.core.trial import Trial
from scheduler.generation.botorch.gp import KERNELS
from scheduler.generation.strategy import GeneratorRun
from scheduler.local.runner import FunctionRunner

#: A seed whose final gap exceeds this did not leave a local basin (Hartmann6's
#: second basin, f = -3.20, is 0.12 above the optimum).
STUCK_GAP = 0.1
#: "cpu end": the median CPU seconds of each seed's last this many BO trials,
#: i.e. the cost per trial near the end of the budget (Hartmann6: 35-39 observations).
END_TRIALS = 5

#: Issue 16's targets (20 seeds; "cpu end" is the CPU figure at 40 observations).
TARGETS = {
    "branin": "median gap <= 0.001",
    "hartmann6": "mean gap <= 0.02, stuck <= 2 of 20, cpu end <= 0.15",
}


class StaggeredRunner(FunctionRunner):
    """Evaluates at deploy time, but each poll completes only the oldest running trial.

    With 3 trials out this is the asynchronous regime of a fleet: one trial
    finishes, one new trial is generated with the other 2 as pending points.
    """

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        trials = sorted(trials, key=lambda t: t.index)
        if not trials:
            return {}
        statuses = super().poll_trial_status(trials[:1])
        if len(trials) > 1:
            statuses.setdefault(TrialStatus.RUNNING, set()).update(t.index for t in trials[1:])
        return statuses


class TimedStrategy(GenerationStrategy):
    """Records wall and CPU seconds per generated trial of every model-based `gen` call.

    CPU time (`time.process_time`) is the figure to compare across runs on a
    shared machine: wall time also counts whatever else the machine is doing.
    """

    def __init__(self, steps: list[GenerationStep], seed: int | None) -> None:
        super().__init__(steps=steps, seed=seed)
        self.wall_per_trial: list[float] = []
        self.cpu_per_trial: list[float] = []

    def gen(self, experiment: Experiment, n: int = 1) -> list[GeneratorRun]:
        wall, cpu = time.perf_counter(), time.process_time()
        runs = super().gen(experiment, n)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        model_runs = [r for r in runs if not r.generation_step.startswith("Sobol")]
        if model_runs:
            self.wall_per_trial.extend([wall / len(runs)] * len(model_runs))
            self.cpu_per_trial.extend([cpu / len(runs)] * len(model_runs))
        return runs


def run_once(
    problem: Problem,
    seed: int,
    use_bo: bool,
    kernel: str = "rbf",
    model_kwargs: dict[str, Any] | None = None,
    init_trials: int | None = None,
    checkpoints: Iterable[int] = (),
) -> tuple[dict[int, float], TimedStrategy]:
    """One closed-loop run; returns the gap after each of `checkpoints` trials
    below the budget and after the budget (keyed by trial count) and the
    (timed) strategy.

    `init_trials` overrides the number of initial (center + Sobol) trials, as
    `num_initialization_trials` does (the model then waits for half of them).
    """
    if use_bo:
        steps = choose_generation_strategy(
            problem.search_space,
            max_parallelism_cap=problem.parallelism,
            num_trials=problem.num_trials,
            random_seed=seed,
            fleet_size=problem.parallelism,  # as the config passes max_pending_trials
            num_initialization_trials=init_trials,
        ).steps
        for step in steps:
            if step.model_name == Models.BOTORCH.value:
                step.model_kwargs["kernel"] = kernel
                step.model_kwargs.update(model_kwargs or {})
    else:
        steps = [GenerationStep(Models.SOBOL, num_trials=-1, max_parallelism=problem.parallelism)]
    strategy = TimedStrategy(steps, seed=seed)
    experiment = Experiment(
        f"{problem.name}-{seed}",
        problem.search_space,
        problem.config,
        runner=StaggeredRunner(problem.evaluate),
        is_test=True,
    )
    options = SchedulerOptions(
        max_pending_trials=problem.parallelism,
        total_trials=problem.num_trials,
        init_seconds_between_polls=0.0,
        min_seconds_before_poll=0.0,
        logging_level=logging.WARNING,
    )
    Scheduler(experiment, strategy, options).run_all_trials()
    arms, values, indices = [], [], []
    for trial in experiment.trials_by_status(TrialStatus.COMPLETED):
        df = experiment.lookup_trial_data(trial.index).final().df
        arms.append(dict(trial.arm.parameters))
        values.append(dict(zip(df["metric_name"], df["mean"], strict=True)))
        indices.append(trial.index)
    gaps = {}
    for count in sorted({*(c for c in checkpoints if c < problem.num_trials), problem.num_trials}):
        first = [i for i, index in enumerate(indices) if index < count]
        gaps[count] = problem.gap([arms[i] for i in first], [values[i] for i in first])
    return gaps, strategy


@dataclass(frozen=True)
class SeedRun:
    """What one seed's run leaves for the table: its gaps (by trial count: the
    checkpoints and the budget) and per-BO-trial timings."""

    gaps: dict[int, float]
    wall_per_trial: list[float]
    cpu_per_trial: list[float]


def run_seed(
    key: str,
    seed: int,
    use_bo: bool,
    kernel: str,
    model_kwargs: dict[str, Any],
    init_trials: int | None,
    trials: int | None = None,
    checkpoints: tuple[int, ...] = (),
) -> SeedRun:
    """`run_once` on the problem named `key`, in a form a worker process can return
    (problems hold closures, so workers build their own from the name)."""
    warnings.simplefilter("ignore")
    logging.getLogger("scheduler").setLevel(logging.WARNING)
    problem = PROBLEMS[key]()
    if trials is not None:
        problem = replace(problem, num_trials=trials)
    gaps, strategy = run_once(problem, seed, use_bo, kernel, model_kwargs, init_trials, checkpoints)
    return SeedRun(gaps, strategy.wall_per_trial, strategy.cpu_per_trial)


def run_seeds(
    jobs: int,
    key: str,
    seeds: list[int],
    use_bo: bool,
    kernel: str,
    model_kwargs: dict[str, Any],
    init_trials: int | None,
    trials: int | None = None,
    checkpoints: tuple[int, ...] = (),
) -> list[SeedRun]:
    """Every seed's run, in seed order, in `jobs` worker processes (1: in this one).

    A run depends on its seed only, so the gaps are the same whatever `jobs`;
    CPU seconds are each worker's own (`time.process_time`).
    """
    one = partial(
        run_seed,
        key,
        use_bo=use_bo,
        kernel=kernel,
        model_kwargs=model_kwargs,
        init_trials=init_trials,
        trials=trials,
        checkpoints=checkpoints,
    )
    if jobs <= 1:
        return [one(seed) for seed in seeds]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, seeds))


def parse_settings(items: list[str]) -> dict[str, Any]:
    """`["key=value", ...]` -> model kwargs; values are Python literals or strings."""
    settings: dict[str, Any] = {}
    for item in items:
        key, _, text = item.partition("=")
        try:
            settings[key.strip()] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            settings[key.strip()] = text
    return settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds instead of 5")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1")
    parser.add_argument(
        "--seed-list",
        default=None,
        metavar="S1,S2,...",
        help="run exactly these seeds (e.g. a problem's stuck ones) instead of --seeds",
    )
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument(
        "--kernel", default="rbf", choices=KERNELS, help="the BoTorch step's GP kernel"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a BoTorch step model keyword argument (repeatable), e.g. --set maxiter=20",
    )
    parser.add_argument(
        "--init-trials",
        type=int,
        default=None,
        metavar="N",
        help="initial (center + Sobol) trials instead of the strategy's max(5, ceil((d + 2) / 2))",
    )
    parser.add_argument(
        "--trials", type=int, default=None, metavar="N", help="every problem's budget instead"
    )
    parser.add_argument(
        "--checkpoints",
        default="",
        metavar="K1,K2,...",
        help="also print the gaps after the first K trials of the same runs",
    )
    parser.add_argument("--no-sobol", action="store_true", help="skip the Sobol-only floor")
    parser.add_argument("--verbose", action="store_true", help="print every seed's gap")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run the seeds in N worker processes (the gaps do not change)",
    )
    args = parser.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 5)
    seed_list = (
        [int(s) for s in args.seed_list.split(",")] if args.seed_list else list(range(seeds))
    )
    model_kwargs = parse_settings(args.set)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("scheduler").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")

    header = (
        f"{'problem':<26}{'method':<9}{'runs':>5}{'mean gap':>11}{'median gap':>12}"
        f"{'wall s/BO':>11}{'cpu s/BO':>10}{'cpu end':>9}{'stuck':>7}{'se':>9}  target"
    )
    settings = "".join(f", {key}={value!r}" for key, value in model_kwargs.items())
    if args.init_trials is not None:
        settings += f", {args.init_trials} initial trials"
    print(
        f"parallelism {PARALLELISM} (asynchronous; 16 for hartmann6-16), "
        f"seeds {_describe(seed_list)}, kernel {args.kernel}{settings}; "
        f"host reference {reference_cpu_seconds():.3f} CPU s (bench/host_speed.py)"
    )
    print(header)
    print("-" * len(header))
    methods = (("BoTorch", True),) if args.no_sobol else (("BoTorch", True), ("Sobol", False))
    checkpoints = tuple(int(k) for k in args.checkpoints.split(",") if k.strip())
    for key in args.problems.split(","):
        problem = PROBLEMS[key]()
        for method, use_bo in methods:
            runs = run_seeds(
                args.jobs,
                key,
                seed_list,
                use_bo,
                args.kernel,
                model_kwargs,
                args.init_trials,
                args.trials,
                checkpoints,
            )
            budget = max(runs[0].gaps)
            for count in sorted(runs[0].gaps):
                print_row(
                    problem,
                    method,
                    count,
                    [r.gaps[count] for r in runs],
                    runs if count == budget else [],
                    TARGETS.get(key, "") if use_bo and count == problem.num_trials else "",
                )
                if args.verbose:
                    pairs = " ".join(
                        f"{s}:{r.gaps[count]:.4f}" for s, r in zip(seed_list, runs, strict=True)
                    )
                    print("    gaps (seed:gap): " + pairs, flush=True)


def print_row(
    problem: Problem, method: str, count: int, gaps: list[float], timed: list[SeedRun], target: str
) -> None:
    """One table row: the gaps after `count` trials, and the timings of `timed` runs."""
    wall = [t for r in timed for t in r.wall_per_trial]
    cpu = [t for r in timed for t in r.cpu_per_trial]
    cpu_end = [t for r in timed for t in r.cpu_per_trial[-END_TRIALS:]]
    timing = (
        f"{statistics.median(wall):>11.3f}{statistics.median(cpu):>10.3f}"
        f"{statistics.median(cpu_end):>9.3f}"
        if wall
        else f"{'-':>11}{'-':>10}{'-':>9}"
    )
    stuck = sum(g > STUCK_GAP for g in gaps)
    se = statistics.stdev(gaps) / math.sqrt(len(gaps)) if len(gaps) > 1 else math.nan
    label = f"{problem.name}@{count}"
    print(
        f"{label:<26}{method:<9}{len(gaps):>5}{statistics.mean(gaps):>11.4f}"
        f"{statistics.median(gaps):>12.4f}{timing}{stuck:>7}{se:>9.4f}  {target}",
        flush=True,
    )


def _describe(seeds: list[int]) -> str:
    """`0..19` for a range from 0, else the list."""
    if seeds == list(range(len(seeds))):
        return f"0..{len(seeds) - 1}"
    return ",".join(str(s) for s in seeds)


if __name__ == "__main__":
    main()
