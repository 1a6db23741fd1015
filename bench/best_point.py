"""Cost of `Scheduler.get_best_trial` on noisy data, as a daemon asks for it.

    python -m bench.best_point [--trials N]

With noisy data (metrics that report no sem, as `CeleryMetric` by default)
the best trial is the best posterior mean of a GP fitted to the completed
trials. A daemon's progress display asks after every poll; the scheduler
answers from its cache until data arrive, then refits, warm-started from the
previous fit. For the Branin and the constrained Gramacy problem of
`bench.bo_quality` (observed at Sobol points, sem unknown) this prints the
median seconds of one answer after each new completed trial from 20 to
`--trials`: a cold fit (a new `BestPointModel` each time, as before the
warm start), a warm-started refit, and a repeated question (the cache).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from bench.problems import Problem, branin, gramacy
from scheduler import Data, Experiment, Scheduler
from scheduler.analysis.best_point import BestPointModel, best_trial
from scheduler.core.parameters import TParameterization
from scheduler.generation.base import GenerationContext
from scheduler.generation.sobol import SobolGenerator
from scheduler.generation.strategy import GenerationStep, GenerationStrategy, Models
from scheduler.local.runner import FunctionRunner

FIRST = 20


def _complete(experiment: Experiment, problem: Problem, parameters: TParameterization) -> None:
    """Add one COMPLETED trial whose data report no sem (noise to be inferred)."""
    trial = experiment.new_trial(parameters)
    trial.mark_running()
    means = {
        name: float(value[0] if isinstance(value, tuple) else value)
        for name, value in problem.evaluate(parameters).items()
    }
    noisy: dict[str, float | tuple[float, float | None]] = {
        name: (mean, None) for name, mean in means.items()
    }
    experiment.attach_data(Data.from_evaluations(noisy, trial.index))
    trial.mark_completed()


def measure(problem: Problem, trials: int) -> tuple[float, float, float]:
    """Median seconds per answer: cold fit, warm-started refit, cached repeat."""
    empty = GenerationContext(problem.search_space, None, [], Data())
    points = SobolGenerator(problem.search_space, seed=0).gen(trials, empty)
    experiment = Experiment(
        problem.name, problem.search_space, problem.config, runner=FunctionRunner(problem.evaluate)
    )
    strategy = GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=-1)])
    scheduler = Scheduler(experiment, strategy)
    cold, warm, cached = [], [], []
    for k, parameters in enumerate(points, start=1):
        _complete(experiment, problem, parameters)
        if k < FIRST:
            continue
        start = time.perf_counter()
        best_trial(experiment, use_model=True, model=BestPointModel())
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        scheduler.get_best_trial()
        warm.append(time.perf_counter() - start)
        start = time.perf_counter()
        scheduler.get_best_trial()
        cached.append(time.perf_counter() - start)
    return statistics.median(cold), statistics.median(warm[1:]), statistics.median(cached)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"median seconds per get_best_trial, after each completion from {FIRST} to {args.trials}")
    print(f"{'problem':<22}{'cold fit':>10}{'warm refit':>12}{'cached':>10}")
    for problem in (branin(), gramacy()):
        cold, warm, cached = measure(problem, args.trials)
        print(f"{problem.name:<22}{cold:>10.3f}{warm:>12.3f}{cached:>10.5f}")


if __name__ == "__main__":
    main()
