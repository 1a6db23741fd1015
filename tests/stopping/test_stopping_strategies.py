"""Stopping strategies on hand-built experiments, and the scheduler's side of them (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pytest

from scheduler import (
    ComparisonOp,
    Data,
    Err,
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Metric,
    MetricFetchE,
    Models,
    MultiObjective,
    Objective,
    Ok,
    OptimizationConfig,
    OutcomeConstraint,
    ParameterType,
    RangeParameter,
    Runner,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
    Trial,
    TrialStatus,
)
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.core.metric import MetricFetchResult
from scheduler.generation.base import GenerationContext
from scheduler.stopping import (
    ImprovementGlobalStoppingStrategy,
    PercentileEarlyStoppingStrategy,
    ThresholdEarlyStoppingStrategy,
    fetch_progress,
)

Curve = dict[float, float]


class CurveMetric(Metric):
    """Returns `curves[trial_index]` as progress rows (and `finals[trial_index]`, if any)."""

    def __init__(self, name: str = "loss", progress: bool = True) -> None:
        super().__init__(name)
        self.curves: dict[int, Curve] = {}
        self.finals: dict[int, float] = {}
        self.progress = progress
        self.fetched: list[int] = []

    @property
    def reports_progress(self) -> bool:
        return self.progress

    def fetch_trial_data(self, trial: Trial) -> MetricFetchResult:
        self.fetched.append(trial.index)
        rows = rows_of(trial.index, self.name, self.curves.get(trial.index, {}))
        if trial.index in self.finals:
            rows.append(row(trial.index, self.name, self.finals[trial.index], math.nan))
        if not rows:
            return Err(MetricFetchE(f"nothing for trial {trial.index} yet"))
        return Ok(Data(pd.DataFrame(rows)))


def row(index: int, metric: str, mean: float, step: float) -> dict[str, Any]:
    return {
        "trial_index": index,
        "arm_name": f"{index}_0",
        "metric_name": metric,
        "mean": mean,
        "sem": None,
        "step": step,
    }


def rows_of(index: int, metric: str, curve: Curve) -> list[dict[str, Any]]:
    return [row(index, metric, value, step) for step, value in curve.items()]


def make_experiment(
    minimize: bool = True, metric: Metric | None = None, runner: Runner | None = None
) -> Experiment:
    objective = Objective(metric or CurveMetric(), minimize=minimize)
    return Experiment(
        name="stopping",
        search_space=SearchSpace([RangeParameter("x1", ParameterType.FLOAT, 0.0, 1.0)]),
        optimization_config=OptimizationConfig(objective),
        runner=runner,
    )


def add_trial(
    experiment: Experiment,
    status: TrialStatus,
    curve: Curve | None = None,
    final: float | None = None,
    metric: str = "loss",
) -> Trial:
    """A trial in `status` whose data is `curve` (step rows) plus `final` (a row without step)."""
    trial = experiment.new_trial({"x1": 0.5})
    trial.mark_running()
    if status is not TrialStatus.RUNNING:
        trial.mark_as(status)
    rows = rows_of(trial.index, metric, curve or {})
    if final is not None:
        rows.append(row(trial.index, metric, final, math.nan))
    if rows:
        experiment.attach_data(Data(pd.DataFrame(rows)))
    return trial


def decay(final: float, steps: Iterable[float] = range(10)) -> Curve:
    """A learning curve from 5.0 towards `final`."""
    return {float(s): final + (5.0 - final) * math.exp(-0.3 * s) for s in steps}


def running(experiment: Experiment) -> set[int]:
    return {t.index for t in experiment.trials_by_status(TrialStatus.RUNNING)}


# -- percentile ---------------------------------------------------------------------
def test_percentile_stops_a_trial_far_worse_than_the_others_at_its_step() -> None:
    experiment = make_experiment()
    for final in (0.1, 0.2, 0.3, 0.4, 0.5):
        add_trial(experiment, TrialStatus.COMPLETED, decay(final), final)
    good = add_trial(experiment, TrialStatus.RUNNING, decay(0.15, range(4)))
    bad = add_trial(experiment, TrialStatus.RUNNING, decay(3.0, range(4)))

    strategy = PercentileEarlyStoppingStrategy(percentile_threshold=50, min_curves=5)
    decisions = strategy.should_stop_trials_early(running(experiment), experiment)

    assert set(decisions) == {bad.index}
    reason = decisions[bad.index] or ""
    assert "step 3" in reason and "worst 50%" in reason
    assert good.index not in decisions


def test_percentile_threshold_is_the_share_of_worst_trials_stopped() -> None:
    # Others at step 1: 1, 2, 3, 4, 5. Minimizing, q=50 stops above the median (3),
    # q=80 stops above the 20th percentile (1.8).
    experiment = make_experiment()
    for value in (1.0, 2.0, 3.0, 4.0, 5.0):
        add_trial(experiment, TrialStatus.COMPLETED, {0.0: value, 2.0: value})
    trial = add_trial(experiment, TrialStatus.RUNNING, {0.0: 2.5, 1.0: 2.5})
    ask = lambda q: PercentileEarlyStoppingStrategy(  # noqa: E731
        percentile_threshold=q, min_curves=5
    ).should_stop_trials_early({trial.index}, experiment)
    assert ask(50) == {}
    assert set(ask(80)) == {trial.index}


def test_percentile_respects_maximization() -> None:
    experiment = make_experiment(minimize=False)
    for value in (0.6, 0.7, 0.8, 0.9, 0.95):
        add_trial(experiment, TrialStatus.COMPLETED, {0.0: 0.1, 10.0: value})
    low = add_trial(experiment, TrialStatus.RUNNING, {0.0: 0.1, 5.0: 0.2})
    high = add_trial(experiment, TrialStatus.RUNNING, {0.0: 0.1, 5.0: 0.6})

    decisions = PercentileEarlyStoppingStrategy(min_curves=5).should_stop_trials_early(
        {low.index, high.index}, experiment
    )
    # At step 5 the others are interpolated to 0.35 .. 0.525: 0.2 is worse, 0.6 better.
    assert set(decisions) == {low.index}
    assert "higher is better" in (decisions[low.index] or "")


def test_percentile_compares_by_interpolation_and_never_extrapolates() -> None:
    experiment = make_experiment()
    # Reported on even steps only; the running trial is at step 3.
    for final in (0.1, 0.2, 0.3, 0.4):
        add_trial(experiment, TrialStatus.COMPLETED, decay(final, range(0, 10, 2)))
    short = add_trial(experiment, TrialStatus.EARLY_STOPPED, decay(0.2, range(0, 3)))
    trial = add_trial(experiment, TrialStatus.RUNNING, decay(2.0, range(4)))
    strategy = PercentileEarlyStoppingStrategy(min_curves=5)

    # Four curves cover step 3 by interpolation; `short` ended at step 2: not enough.
    assert strategy.should_stop_trials_early({trial.index}, experiment) == {}
    experiment.attach_data(Data(pd.DataFrame(rows_of(short.index, "loss", decay(0.2, range(5))))))
    assert set(strategy.should_stop_trials_early({trial.index}, experiment)) == {trial.index}


def test_percentile_waits_for_min_progression_and_skips_ignored_trials() -> None:
    experiment = make_experiment()
    for final in (0.1, 0.2, 0.3, 0.4, 0.5):
        add_trial(experiment, TrialStatus.COMPLETED, decay(final), final)
    bad = add_trial(experiment, TrialStatus.RUNNING, decay(3.0, range(3)))
    unreported = add_trial(experiment, TrialStatus.RUNNING)
    both = {bad.index, unreported.index}

    def stops(**kwargs: Any) -> set[int]:
        strategy = PercentileEarlyStoppingStrategy(**kwargs)
        return set(strategy.should_stop_trials_early(both, experiment))

    assert stops(min_progression=5) == set()
    assert stops(trial_indices_to_ignore=[bad.index]) == set()
    assert stops(min_curves=6) == set()
    assert stops(max_progression=1) == set()
    assert stops(min_progression=2, max_progression=2) == {bad.index}


def test_percentile_reads_the_named_metric_only() -> None:
    accuracy = CurveMetric("accuracy")
    accuracy.lower_is_better = False
    experiment = make_experiment()
    experiment.tracking_metrics.append(accuracy)
    for value in (0.8, 0.85, 0.9, 0.95, 0.97):
        add_trial(experiment, TrialStatus.COMPLETED, {0.0: 0.5, 4.0: value}, metric="accuracy")
    trial = add_trial(experiment, TrialStatus.RUNNING, {0.0: 0.5, 4.0: 0.55}, metric="accuracy")
    strategy = PercentileEarlyStoppingStrategy(metric_names=["accuracy"], min_curves=5)
    assert set(strategy.should_stop_trials_early({trial.index}, experiment)) == {trial.index}
    # The objective "loss" has no curves: the default strategy sees nothing to judge.
    default = PercentileEarlyStoppingStrategy(min_curves=5)
    assert default.should_stop_trials_early({trial.index}, experiment) == {}


# -- threshold ------------------------------------------------------------------------
def test_threshold_stops_trials_still_worse_than_the_bound_past_min_progression() -> None:
    experiment = make_experiment()
    early = add_trial(experiment, TrialStatus.RUNNING, {0.0: 9.0, 1.0: 8.0})
    bad = add_trial(experiment, TrialStatus.RUNNING, {0.0: 9.0, 3.0: 2.5})
    good = add_trial(experiment, TrialStatus.RUNNING, {0.0: 9.0, 3.0: 0.5})
    strategy = ThresholdEarlyStoppingStrategy(metric_threshold=1.0, min_progression=2)

    decisions = strategy.should_stop_trials_early({early.index, bad.index, good.index}, experiment)
    assert set(decisions) == {bad.index}
    assert "above the threshold 1" in (decisions[bad.index] or "")

    maximized = make_experiment(minimize=False)
    low = add_trial(maximized, TrialStatus.RUNNING, {0.0: 0.1, 3.0: 0.2})
    high = add_trial(maximized, TrialStatus.RUNNING, {0.0: 0.1, 3.0: 0.9})
    decisions = ThresholdEarlyStoppingStrategy(0.5, 2).should_stop_trials_early(
        {low.index, high.index}, maximized
    )
    assert set(decisions) == {low.index}


# -- improvement (global) ---------------------------------------------------------------
def finished(experiment: Experiment, values: Iterable[float | None]) -> None:
    """One completed trial per value (None: an early-stopped trial with a partial value)."""
    for value in values:
        if value is None:
            add_trial(experiment, TrialStatus.EARLY_STOPPED, {0.0: 99.0})
        else:
            add_trial(experiment, TrialStatus.COMPLETED, final=value)


def test_improvement_stops_a_plateau_and_not_a_descent() -> None:
    strategy = ImprovementGlobalStoppingStrategy(min_trials=6, window_size=3, improvement_bar=0.1)

    plateau = make_experiment()
    finished(plateau, [5.0, 3.0, 2.0, 1.95, 1.9, 1.99])
    stop, message = strategy.should_stop_optimization(plateau)
    assert stop
    assert "from 2 to 1.9" in message and "improvement_bar" in message

    descent = make_experiment()
    finished(descent, [5.0, 3.0, 2.0, 1.95, 1.9, 1.5])
    stop, message = strategy.should_stop_optimization(descent)
    assert not stop
    assert "from 2 to 1.5" in message


def test_improvement_waits_for_min_trials_and_a_trial_before_the_window() -> None:
    experiment = make_experiment()
    strategy = ImprovementGlobalStoppingStrategy(min_trials=5)  # window_size 5
    finished(experiment, [1.0, 1.0, 1.0, 1.0])
    assert not strategy.should_stop_optimization(experiment)[0]
    finished(experiment, [1.0])  # five: a sixth is needed to have a best before the window
    assert not strategy.should_stop_optimization(experiment)[0]
    finished(experiment, [1.0])
    assert strategy.should_stop_optimization(experiment)[0]


def test_improvement_counts_early_stopped_trials_but_never_their_partial_value() -> None:
    experiment = make_experiment()
    finished(experiment, [4.0, 2.0, None, None, None])
    stop, message = ImprovementGlobalStoppingStrategy(
        min_trials=5, window_size=3
    ).should_stop_optimization(experiment)
    assert stop  # three trials stopped early: no improvement in the window
    assert "from 2 to 2" in message


def test_improvement_maximizes_and_skips_infeasible_trials() -> None:
    cost = CurveMetric("cost", progress=False)
    objective = Objective(CurveMetric("accuracy"), minimize=False)
    constraint = OutcomeConstraint(cost, ComparisonOp.LEQ, 10.0)
    experiment = Experiment(
        name="max",
        search_space=SearchSpace([RangeParameter("x1", ParameterType.FLOAT, 0.0, 1.0)]),
        optimization_config=OptimizationConfig(objective, outcome_constraints=[constraint]),
    )
    for accuracy, c in ((0.5, 1.0), (0.6, 1.0), (0.7, 1.0), (0.99, 50.0), (0.71, 1.0)):
        trial = add_trial(experiment, TrialStatus.COMPLETED, final=accuracy, metric="accuracy")
        experiment.attach_data(Data(pd.DataFrame([row(trial.index, "cost", c, math.nan)])))
    strategy = ImprovementGlobalStoppingStrategy(min_trials=5, window_size=2, improvement_bar=0.05)
    stop, message = strategy.should_stop_optimization(experiment)
    assert stop, message  # 0.99 violates cost <= 10; 0.7 -> 0.71 is 1.4 %
    assert "from 0.7 to 0.71" in message


# -- bad arguments ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "wanted"),
    [
        (lambda: PercentileEarlyStoppingStrategy(percentile_threshold=0), "percentile_threshold"),
        (lambda: PercentileEarlyStoppingStrategy(percentile_threshold=100), "(0, 100)"),
        (lambda: PercentileEarlyStoppingStrategy(percentile_threshold=150.0), "(0, 100)"),
        (lambda: PercentileEarlyStoppingStrategy(percentile_threshold=math.nan), "finite"),
        (lambda: PercentileEarlyStoppingStrategy(percentile_threshold="50"), "finite"),  # type: ignore[arg-type]
        (lambda: PercentileEarlyStoppingStrategy(min_curves=0), "whole number >= 1"),
        (lambda: PercentileEarlyStoppingStrategy(min_progression=-1), "min_progression"),
        (lambda: PercentileEarlyStoppingStrategy(metric_names="loss"), "metric_names=['loss']"),
        (lambda: PercentileEarlyStoppingStrategy(metric_names=["a", "b"]), "exactly one"),
        (lambda: PercentileEarlyStoppingStrategy(trial_indices_to_ignore=[-1]), "ignore"),
        (lambda: PercentileEarlyStoppingStrategy(min_progression=5, max_progression=2), "[5,"),
        (lambda: ThresholdEarlyStoppingStrategy(math.inf, 1), "metric_threshold"),
        (lambda: ThresholdEarlyStoppingStrategy(None, 1), "metric_threshold"),  # type: ignore[arg-type]
        (lambda: ThresholdEarlyStoppingStrategy(1.0, -2), "min_progression"),
        (lambda: ImprovementGlobalStoppingStrategy(min_trials=0), "min_trials"),
        (lambda: ImprovementGlobalStoppingStrategy(5, window_size=0), "window_size"),
        (lambda: ImprovementGlobalStoppingStrategy(5, improvement_bar=-0.1), "improvement_bar"),
    ],
)
def test_bad_arguments_raise_naming_what_to_pass(make: Any, wanted: str) -> None:
    with pytest.raises(InvalidSchedulerOptionsError, match=r"pass") as error:
        make()
    assert wanted in str(error.value)


# -- the scheduler's side ----------------------------------------------------------------
class StaticRunner(Runner):
    """Every deployed trial stays RUNNING."""

    def run(self, trial: Trial) -> dict[str, Any]:
        return {"job": trial.index}

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        return {TrialStatus.RUNNING: {t.index for t in trials}}

    def stop(self, trial: Trial, reason: str | None = None) -> dict[str, Any]:
        return {"stopped": True}


def sobol() -> GenerationStrategy:
    return GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=-1)], seed=0)


def test_scheduler_rejects_a_strategy_whose_metric_reports_no_progress() -> None:
    experiment = make_experiment(metric=CurveMetric(progress=False), runner=StaticRunner())
    options = SchedulerOptions(early_stopping_strategy=PercentileEarlyStoppingStrategy())
    with pytest.raises(InvalidSchedulerOptionsError, match="reports_progress is False") as error:
        Scheduler(experiment, sobol(), options)
    assert "remove early_stopping_strategy" in str(error.value)

    experiment = make_experiment(runner=StaticRunner())
    options = SchedulerOptions(
        early_stopping_strategy=ThresholdEarlyStoppingStrategy(1.0, 1, metric_names=["nope"])
    )
    with pytest.raises(InvalidSchedulerOptionsError, match="does not have"):
        Scheduler(experiment, sobol(), options)


def test_scheduler_asks_which_objective_when_there_are_several() -> None:
    objectives = [Objective(CurveMetric("a"), True), Objective(CurveMetric("b"), True)]
    experiment = Experiment(
        name="moo",
        search_space=SearchSpace([RangeParameter("x1", ParameterType.FLOAT, 0.0, 1.0)]),
        optimization_config=OptimizationConfig(MultiObjective(objectives)),
        runner=StaticRunner(),
    )
    options = SchedulerOptions(early_stopping_strategy=PercentileEarlyStoppingStrategy())
    with pytest.raises(InvalidSchedulerOptionsError, match="metric_names=\\['<one of them>'\\]"):
        Scheduler(experiment, sobol(), options)
    options = SchedulerOptions(
        early_stopping_strategy=PercentileEarlyStoppingStrategy(metric_names=["b"])
    )
    Scheduler(experiment, sobol(), options)  # fine


class RecordingStrategy:
    """A custom strategy (no `progress_metric_names`): records the curves it was shown."""

    def __init__(self) -> None:
        self.seen: list[Data] = []

    def should_stop_trials_early(
        self, trial_indices: set[int], experiment: Experiment
    ) -> dict[int, str | None]:
        self.seen.append(experiment.lookup_data(trial_indices))
        return {}


def test_scheduler_attaches_running_trials_progress_before_asking() -> None:
    loss = CurveMetric("loss")
    silent = CurveMetric("cpu", progress=False)
    experiment = make_experiment(metric=loss, runner=StaticRunner())
    experiment.tracking_metrics.append(silent)
    strategy = RecordingStrategy()
    scheduler = Scheduler(experiment, sobol(), SchedulerOptions(early_stopping_strategy=strategy))
    trial = experiment.new_trial({"x1": 0.2})
    trial.mark_running()
    loss.curves[trial.index] = {0.0: 3.0, 1.0: 2.0}
    silent.curves[trial.index] = {0.0: 50.0}

    scheduler.poll_and_process_results()
    loss.curves[trial.index][2.0] = 1.5  # the next poll sees the longer curve whole
    scheduler.poll_and_process_results()

    first, second = (seen.df for seen in strategy.seen)
    assert list(first["step"]) == [0.0, 1.0]
    assert list(second["step"]) == [0.0, 1.0, 2.0]
    assert set(second["metric_name"]) == {"loss"}
    assert silent.fetched == []  # not a progress metric: never fetched while running


def test_fetch_progress_keeps_step_rows_and_skips_failing_metrics() -> None:
    class Raises(CurveMetric):
        def fetch_trial_data(self, trial: Trial) -> MetricFetchResult:
            raise RuntimeError("metric backend down")

    loss = CurveMetric("loss")
    experiment = make_experiment(metric=loss)
    experiment.tracking_metrics.append(Raises("broken"))
    trial = add_trial(experiment, TrialStatus.RUNNING)
    loss.curves[trial.index] = {0.0: 3.0}
    loss.finals[trial.index] = 1.0  # a row without a step is not progress
    data = fetch_progress(experiment, [trial])
    assert list(data.df["step"]) == [0.0]
    assert fetch_progress(experiment, []).df.empty


def test_early_stopped_trials_last_value_is_an_observation_for_the_model() -> None:
    experiment = make_experiment()
    add_trial(experiment, TrialStatus.COMPLETED, decay(0.2), 0.2)
    stopped = add_trial(experiment, TrialStatus.EARLY_STOPPED, {0.0: 5.0, 1.0: 4.0, 2.0: 3.5})
    add_trial(experiment, TrialStatus.RUNNING, {0.0: 5.0})

    context = GenerationContext.from_experiment(experiment)
    df = context.observed_data.df
    assert stopped.index in {t.index for t in context.observed_trials}
    assert df.loc[df["trial_index"] == stopped.index, "mean"].tolist() == [3.5]
    assert df.loc[df["trial_index"] == 0, "mean"].tolist() == [0.2]
    assert len(context.pending) == 1
