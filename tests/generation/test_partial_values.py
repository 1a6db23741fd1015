"""Early-stopped trials' partial values, projected to the final scale for the model."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from scheduler import (
    Data,
    Experiment,
    Metric,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    SearchSpace,
    TrialStatus,
)
from scheduler.generation.base import GenerationContext


def loss(final: float, step: float) -> float:
    """A training curve decaying from 1.0 towards `final`."""
    return final + (1.0 - final) * math.exp(-0.5 * step)


def run(experiment: Experiment, final: float, last_step: int, stopped: bool) -> int:
    """A trial that reported steps 0..last_step; completed ones also report `final`."""
    trial = experiment.new_trial({"x": final})
    trial.mark_running()
    rows = [(trial.index, "loss", loss(final, s), float(s)) for s in range(last_step + 1)]
    if not stopped:
        rows.append((trial.index, "loss", final, math.nan))
    frame = pd.DataFrame(rows, columns=["trial_index", "metric_name", "mean", "step"])
    experiment.attach_data(Data(frame.assign(sem=0.0)))
    trial.mark_early_stopped() if stopped else trial.mark_completed()
    return trial.index


@pytest.fixture
def experiment() -> Experiment:
    space = SearchSpace([RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0)])
    return Experiment("curves", space, OptimizationConfig(Objective(Metric("loss"), minimize=True)))


def observed_means(experiment: Experiment) -> dict[int, float]:
    df = GenerationContext.from_experiment(experiment).observed_data.df
    return dict(zip(df["trial_index"], df["mean"], strict=True))


def test_a_stopped_trials_value_is_projected_by_the_completed_curves(
    experiment: Experiment,
) -> None:
    for final in (0.1, 0.3, 0.5, 0.8):
        run(experiment, final, 19, stopped=False)
    good = run(experiment, 0.2, 4, stopped=True)  # stopped early, truly good
    bad = run(experiment, 0.9, 7, stopped=True)

    means = observed_means(experiment)
    assert loss(0.2, 4) > 0.3  # as reported: looks worse than two finished runs
    assert means[good] == pytest.approx(0.2, abs=1e-6)
    assert means[bad] == pytest.approx(0.9, abs=1e-6)
    assert [means[i] for i in range(4)] == [0.1, 0.3, 0.5, 0.8]  # finals unchanged
    assert experiment.trials[good].status is TrialStatus.EARLY_STOPPED


def test_too_few_completed_curves_keep_the_partial_value(experiment: Experiment) -> None:
    run(experiment, 0.1, 19, stopped=False)
    run(experiment, 0.5, 19, stopped=False)
    run(experiment, 0.6, 2, stopped=False)  # its curve does not reach step 4
    stopped = run(experiment, 0.2, 4, stopped=True)
    assert observed_means(experiment)[stopped] == pytest.approx(loss(0.2, 4))
