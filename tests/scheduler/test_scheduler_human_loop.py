"""Issue 13: candidates for review (STALE), attached configurations and best points."""

from __future__ import annotations

import pytest

from scheduler import (
    ComparisonOp,
    Objective,
    OptimizationConfig,
    OutcomeConstraint,
    Scheduler,
    TrialStatus,
)
from scheduler.core import (
    InvalidSchedulerOptionsError,
    NoBaselineError,
    NoBestPointError,
    OutOfSearchSpaceError,
)
from tests.scheduler.fake_queue import (
    FakeClock,
    FakeJobQueue,
    QueueMetric,
    fast_options,
    make_experiment,
    sobol_only,
)


def statuses(scheduler: Scheduler) -> list[TrialStatus]:
    return [t.status for t in scheduler.experiment.trials.values()]


# -- generate_candidates and STALE ------------------------------------------------
def test_generate_candidates_creates_trials_for_review_without_deploying() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    scheduler = Scheduler(make_experiment(queue), sobol_only(), fast_options())
    trials = scheduler.generate_candidates(2)
    assert [t.status for t in trials] == [TrialStatus.CANDIDATE] * 2
    assert queue.jobs == {}  # nothing deployed

    scheduler.generate_candidates(1)  # regenerate: the unreviewed two are replaced
    assert statuses(scheduler) == [TrialStatus.STALE, TrialStatus.STALE, TrialStatus.CANDIDATE]
    assert scheduler.experiment.trials[0].failed_reason == "replaced by newer candidates"
    assert TrialStatus.STALE.is_terminal

    scheduler.run_n_trials(max_trials=1)  # the reviewed candidate is the run's trial
    assert statuses(scheduler)[2] is TrialStatus.COMPLETED
    assert [j.trial_index for j in queue.jobs.values()] == [2]


def test_generate_candidates_needs_a_positive_count() -> None:
    scheduler = Scheduler(make_experiment(FakeJobQueue()), sobol_only(), fast_options())
    with pytest.raises(InvalidSchedulerOptionsError, match="positive whole number"):
        scheduler.generate_candidates(0)


def test_candidates_older_than_the_ttl_become_stale(clock: FakeClock) -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    scheduler = Scheduler(
        make_experiment(queue), sobol_only(), fast_options(ttl_seconds_for_trials=60)
    )
    scheduler.generate_candidates(1)
    clock.advance(61)
    scheduler.run_n_trials(max_trials=1)
    assert statuses(scheduler) == [TrialStatus.STALE, TrialStatus.COMPLETED]
    assert "TTL" in (scheduler.experiment.trials[0].failed_reason or "")


# -- attach_trial -----------------------------------------------------------------
def test_attached_configurations_run_first_and_are_validated() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    experiment = make_experiment(queue)
    trial = experiment.attach_trial({"x1": 0.1, "x2": 0.2})
    assert trial.status is TrialStatus.CANDIDATE
    with pytest.raises(OutOfSearchSpaceError, match="x1"):
        experiment.attach_trial({"x1": 7.0, "x2": 0.2})
    with pytest.raises(OutOfSearchSpaceError, match="dict of parameter values"):
        experiment.attach_trial([0.1, 0.2])  # type: ignore[arg-type]
    scheduler = Scheduler(experiment, sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=2)
    assert queue.job_of(0).parameters == {"x1": 0.1, "x2": 0.2}
    assert queue.job_of(0).job_id < queue.job_of(1).job_id  # deployed first
    assert experiment.num_trials == 2  # counted toward the budget


# -- best point -------------------------------------------------------------------
def two_metric_scheduler() -> Scheduler:
    """Three completed trials: objective = x1 + x2 (minimized), "cost" = 1 - x1."""
    queue = FakeJobQueue(
        polls_to_finish=1,
        evaluate=lambda p: {"objective": p["x1"] + p["x2"], "cost": 1.0 - p["x1"]},
    )
    experiment = make_experiment(queue)
    experiment.tracking_metrics = [QueueMetric("cost", queue)]
    for x1, x2 in [(0.5, 0.5), (0.1, 0.1), (0.9, 0.0)]:
        experiment.attach_trial({"x1": x1, "x2": x2})
    scheduler = Scheduler(experiment, sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=3)
    return scheduler


def test_best_parameters_from_observed_values_and_another_objective() -> None:
    scheduler = two_metric_scheduler()
    assert scheduler.get_best_parameters(use_model_predictions=False) == {"x1": 0.1, "x2": 0.1}
    cost = QueueMetric("cost", FakeJobQueue())
    best = scheduler.get_best_trial(
        optimization_config=OptimizationConfig(Objective(cost, minimize=True)),
        use_model_predictions=False,
    )
    assert best is not None and best[0] == 2  # lowest cost: x1 = 0.9
    constrained = OptimizationConfig(
        Objective(cost, minimize=True),
        outcome_constraints=[
            OutcomeConstraint(QueueMetric("objective", FakeJobQueue()), ComparisonOp.LEQ, 0.5)
        ],
    )
    best = scheduler.get_best_trial(optimization_config=constrained, use_model_predictions=False)
    assert best is not None and best[0] == 1  # the only trial with objective <= 0.5
    unknown = OptimizationConfig(Objective(QueueMetric("latency", FakeJobQueue())))
    with pytest.raises(NoBestPointError, match="'latency'"):
        scheduler.get_best_trial(optimization_config=unknown)


def test_improvement_over_baseline() -> None:
    scheduler = two_metric_scheduler()
    # baseline: the first trial (objective 1.0); best: 0.2, minimized -> 80% better
    assert scheduler.get_improvement_over_baseline() == pytest.approx(80.0)
    assert scheduler.get_improvement_over_baseline("2_0") == pytest.approx(77.7777, rel=1e-4)
    with pytest.raises(NoBaselineError, match="no arm named 'nope'"):
        scheduler.get_improvement_over_baseline("nope")


def test_improvement_over_baseline_needs_a_baseline_with_data() -> None:
    scheduler = Scheduler(make_experiment(FakeJobQueue()), sobol_only(), fast_options())
    with pytest.raises(NoBaselineError):
        scheduler.get_improvement_over_baseline()
