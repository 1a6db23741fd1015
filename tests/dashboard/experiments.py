"""Experiments the dashboard tests (and bench/dashboard.py) store in a real database.

`LiveRun` is a real run: a `Scheduler` with a `FunctionRunner` in a background
thread, saving to SQLite through `DBSettings` as a daemon would, one trial
at a time, so a test can watch the count grow. `seed_*` write finished
experiments (several objectives; learning curves) with `SQLStore`.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Any

from scheduler import (
    Data,
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Models,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    SchedulerOptions,
    SearchSpace,
)
from scheduler.core.errors import FailureRateExceededError
from scheduler.core.optimization import MultiObjective, ObjectiveThreshold
from scheduler.local.runner import FunctionMetric, FunctionRunner
from scheduler.scheduler import Scheduler
from scheduler.storage import DBSettings, SQLStore, register_function

#: The failure reason trials with x1 > FAIL_ABOVE report (the table must show it).
FAIL_ABOVE = 7.5
FAILURE = "diverged: x1 too large"


def branin_or_fail(p: dict[str, Any]) -> dict[str, float]:
    """Branin, slowed a little so a test sees trials arrive; raises for large x1."""
    time.sleep(0.05)
    x1, x2 = float(p["x1"]), float(p["x2"])
    if x1 > FAIL_ABOVE:
        raise RuntimeError(FAILURE)
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return {"branin": (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10}


def two_objectives(p: dict[str, Any]) -> dict[str, float]:
    """Two conflicting objectives (minimized): u, and 1 - sqrt(u) + v, for u, v in [0, 1]."""
    u, v = (float(p["x1"]) + 2.0) / 5.0, float(p["x2"]) / 15.0
    return {"f1": u, "f2": 1.0 - math.sqrt(u) + v}


register_function(branin_or_fail, name="tests.dashboard.branin_or_fail")
register_function(two_objectives, name="tests.dashboard.two_objectives")


def space(low: float = -5.0, high: float = 10.0) -> SearchSpace:
    return SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, low, high),
            RangeParameter("x2", ParameterType.FLOAT, 0.0, 15.0),
        ]
    )


def sobol(seed: int = 0) -> GenerationStrategy:
    return GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=-1)], seed=seed)


class LiveRun:
    """A Branin run storing to `url`, `pace` seconds between trials, in a thread."""

    def __init__(self, url: str, name: str = "live", pace: float = 0.0) -> None:
        experiment = Experiment(
            name=name,
            search_space=space(),
            optimization_config=OptimizationConfig(
                Objective(FunctionMetric("branin"), minimize=True)
            ),
            runner=FunctionRunner(branin_or_fail),
        )
        options = SchedulerOptions(
            init_seconds_between_polls=0.0,
            min_seconds_before_poll=0.0,
            max_seconds_between_polls=0.05,
            max_pending_trials=1,
        )
        self.scheduler = Scheduler(experiment, sobol(), options, db_settings=DBSettings(url=url))
        self.pace = pace
        self._thread: threading.Thread | None = None

    def run(self, n: int) -> None:
        """Run `n` more trials here, pausing `pace` s after each."""
        for _ in range(n):
            # A one-trial run whose trial failed ends with the guard's final check; the
            # failed trial is stored by then, and failures are part of what is shown.
            with contextlib.suppress(FailureRateExceededError):
                self.scheduler.run_n_trials(max_trials=1)
            time.sleep(self.pace)

    def start(self, n: int) -> LiveRun:
        self._thread = threading.Thread(target=self.run, args=(n,), daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float = 120.0) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the live run did not finish"


def seed_two_objectives(url: str, n: int = 24, name: str = "moo") -> Experiment:
    """A finished two-objective run (minimize f1, f2) with thresholds, run for real."""
    config = OptimizationConfig(
        MultiObjective(
            [
                Objective(FunctionMetric("f1"), minimize=True),
                Objective(FunctionMetric("f2"), minimize=True),
            ]
        ),
        objective_thresholds=[
            ObjectiveThreshold(FunctionMetric("f1"), 0.9),
            ObjectiveThreshold(FunctionMetric("f2"), 1.2),
        ],
    )
    experiment = Experiment(
        name=name,
        search_space=space(-2.0, 3.0),
        optimization_config=config,
        runner=FunctionRunner(two_objectives),
    )
    options = SchedulerOptions(init_seconds_between_polls=0.0, min_seconds_before_poll=0.0)
    Scheduler(experiment, sobol(), options, db_settings=DBSettings(url=url)).run_n_trials(n)
    return experiment


def seed_trials(url: str, n: int, name: str = "big", steps: int = 0, seed: int = 0) -> Experiment:
    """`n` finished Branin trials written at once (1 in 20 failed, 1 in 10 early
    stopped); with `steps`, each trial has a learning curve of that many points."""
    import numpy as np

    rng = np.random.default_rng(seed)
    experiment = Experiment(
        name=name,
        search_space=space(),
        optimization_config=OptimizationConfig(Objective(FunctionMetric("branin"), minimize=True)),
        runner=FunctionRunner(branin_or_fail),
    )
    rows = []
    for index in range(n):
        x1, x2 = float(rng.uniform(-5, 7)), float(rng.uniform(0, 15))
        trial = experiment.new_trial({"x1": x1, "x2": x2}, generation_step="Sobol")
        trial.mark_staged()
        trial.mark_running()
        if index % 20 == 19:
            trial.mark_failed(FAILURE)
            continue
        value = _branin(x1, x2)
        for step in range(1, steps + 1):
            rows.append(
                {"trial_index": index, "arm_name": trial.arm.name, "metric_name": "branin",
                 "mean": value * (1 + 3.0 / step), "sem": 0.0, "step": float(step)}
            )  # fmt: skip
        if index % 10 == 4:
            trial.mark_early_stopped("worse than the median at step 2")
            continue
        rows.append(
            {"trial_index": index, "arm_name": trial.arm.name, "metric_name": "branin",
             "mean": value, "sem": 0.0, "step": math.nan}
        )  # fmt: skip
        trial.mark_completed()
    if rows:
        experiment.attach_data(Data.from_rows(rows))
    SQLStore(DBSettings(url=url)).save_experiment(experiment, sobol())
    return experiment


def _branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
