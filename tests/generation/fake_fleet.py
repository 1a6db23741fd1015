"""A fleet on a virtual clock, and a model stand-in, for tests of how busy the loop keeps it.

`ClockFleet` is an in-process runner whose trials take a seeded 2-5 virtual
seconds: each poll moves the clock to the next end and completes what ended,
so the loop sees the asynchronous completions of a real fleet without
waiting for any. `RecordingModel` stands in for BoTorch (registered as
`FleetModel`): it proposes random points and records what each call saw, so
a test can check when the model step started and with which pending points.
Nothing here measures wall-clock time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from scheduler import (
    Experiment,
    GenerationStrategy,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
)
from scheduler.core.parameters import TParameterization
from scheduler.core.trial import Trial, TrialStatus
from scheduler.generation.base import GenerationContext, Generator, register_generator
from scheduler.local.runner import FunctionMetric, FunctionRunner

MODEL = "FleetModel"


@dataclass(frozen=True)
class ModelCall:
    """What one `gen` call of the model stand-in saw."""

    n: int
    observed: int
    pending: int


class RecordingModel(Generator):
    """Uniform random points; every call appended to `RecordingModel.calls`."""

    calls: list[ModelCall] = []

    def __init__(self, search_space: SearchSpace, seed: int | None = None) -> None:
        super().__init__(search_space, seed)
        self._rng = random.Random(seed)

    def gen(self, n: int, context: GenerationContext) -> list[TParameterization]:
        RecordingModel.calls.append(
            ModelCall(n, len(context.observed_trials), len(context.pending))
        )
        return [
            {name: self._rng.random() for name in self.search_space.tunable_parameters}
            for _ in range(n)
        ]


register_generator(MODEL, RecordingModel)


class ClockFleet(FunctionRunner):
    """Trials last U(2, 5) virtual seconds; a poll jumps to the next end."""

    def __init__(
        self,
        seed: int = 0,
        function: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        seconds: tuple[float, float] = (2.0, 5.0),
    ) -> None:
        # sem 0: the run's final best-point summary needs no GP fit
        super().__init__(function or (lambda p: {"f": [sum(float(v) for v in p.values()), 0.0]}))
        self.now = 0.0
        self.starts: dict[int, float] = {}
        self.ends: dict[int, float] = {}
        self._rng = random.Random(seed)
        self._seconds = seconds

    def run(self, trial: Trial) -> dict[str, Any]:
        self.starts[trial.index] = self.now
        self.ends[trial.index] = self.now + self._rng.uniform(*self._seconds)
        return super().run(trial)

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        trials = list(trials)
        if not trials:
            return {}
        self.now = max(self.now, min(self.ends[t.index] for t in trials))
        done = [t for t in trials if self.ends[t.index] <= self.now]
        statuses = super().poll_trial_status(done)
        running = {t.index for t in trials if self.ends[t.index] > self.now}
        if running:
            statuses.setdefault(TrialStatus.RUNNING, set()).update(running)
        return statuses


def unit_space(dims: int = 6) -> SearchSpace:
    return SearchSpace(
        [RangeParameter(f"x{i}", ParameterType.FLOAT, 0.0, 1.0) for i in range(1, dims + 1)]
    )


@dataclass(frozen=True)
class Launch:
    """One `_launch` of the loop: virtual time, trials deployed, trials out after it."""

    time: float
    deployed: int
    out: int  # trials running after it
    created: int  # trials the experiment has after it (the budget used so far)
    waiting: int  # CANDIDATE trials after it


def run_fleet(
    strategy: GenerationStrategy,
    space: SearchSpace,
    fleet: int,
    total_trials: int,
    seed: int = 0,
    **options: Any,
) -> tuple[Experiment, list[Launch]]:
    """Run the real loop on a `ClockFleet` (`options`: more `SchedulerOptions`);
    the model step (if any) is `RecordingModel`."""
    for step in strategy.steps:
        if step.model_name == "BoTorch":
            step.model, step.model_kwargs = MODEL, {}
    RecordingModel.calls = []
    runner = ClockFleet(seed)
    experiment = Experiment(
        "fleet",
        space,
        OptimizationConfig(Objective(FunctionMetric("f"), minimize=True)),
        runner=runner,
        is_test=True,
    )
    scheduler_options = SchedulerOptions(
        max_pending_trials=fleet,
        total_trials=total_trials,
        init_seconds_between_polls=0.0,
        min_seconds_before_poll=0.0,
        logging_level=logging.WARNING,
        **options,
    )
    scheduler = Scheduler(experiment, strategy, scheduler_options)
    launches: list[Launch] = []
    launch = scheduler._launch

    def recorded(remaining: int) -> int:
        deployed = launch(remaining)
        out = len(experiment.running_trials)
        waiting = len(experiment.trials_by_status(TrialStatus.CANDIDATE))
        launches.append(Launch(runner.now, deployed, out, experiment.num_trials, waiting))
        return deployed

    scheduler._launch = recorded  # type: ignore[method-assign]
    scheduler.run_all_trials()
    return experiment, launches
