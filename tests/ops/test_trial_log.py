"""The daemon's trial log: one line per finished trial, with its values and the best."""

from __future__ import annotations

import logging

import pytest

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
from scheduler.local.runner import FunctionMetric, FunctionRunner
from scheduler.ops.trial_log import TrialLog
from tests.support.values import number


def test_each_completed_trial_is_logged_with_its_value_and_the_best_so_far(
    caplog: pytest.LogCaptureFixture,
) -> None:
    experiment = Experiment(
        "trial-log",
        SearchSpace([RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0)]),
        OptimizationConfig(Objective(FunctionMetric("loss"), minimize=True)),
        runner=FunctionRunner(lambda p: {"loss": (p["x"] - 0.3) ** 2}),
    )
    strategy = GenerationStrategy([GenerationStep(Models.SOBOL, -1)], seed=0)
    options = SchedulerOptions(
        max_pending_trials=1, init_seconds_between_polls=0.0, min_seconds_before_poll=0.0
    )  # one trial per poll: the best named is the best of the trials before it
    scheduler = Scheduler(experiment, strategy, options, listeners=[TrialLog()])
    with caplog.at_level(logging.INFO, logger="scheduler.trials"):
        scheduler.run_n_trials(max_trials=3)

    lines = [r.getMessage() for r in caplog.records if r.name == "scheduler.trials"]
    assert len(lines) == 3
    losses = {
        t.index: (number(t.arm.parameters["x"]) - 0.3) ** 2 for t in experiment.trials.values()
    }
    best_so_far = None
    for index, line in enumerate(lines):
        if best_so_far is None or losses[index] < losses[best_so_far]:
            best_so_far = index
        assert (
            line == f"trial {index} completed: loss={losses[index]:.6g} (best: trial {best_so_far})"
        )
