"""What a run ends with: best trial, summary, exp_to_df, trace plots, reported results."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from scheduler import (
    ComparisonOp,
    Data,
    FailureRateExceededError,
    GenerationStep,
    GenerationStrategy,
    Models,
    OutcomeConstraint,
    Scheduler,
    TrialStatus,
    exp_to_df,
)
from scheduler.analysis.best_point import BestPointModel, best_trial
from scheduler.analysis.report import best_so_far, save_trace_plot
from scheduler.generation.botorch import gp as modeling
from tests.scheduler.fake_queue import (
    FakeJobQueue,
    QueueMetric,
    fast_options,
    make_experiment,
    sobol_only,
)


def scheduler_with_results(
    results: list[dict[str, float]], minimize: bool = True, cost_at_most: float | None = None
) -> Scheduler:
    """Trial i at x1 = i / 10 completed with `results[i]`; optional cost <= bound."""
    queue = FakeJobQueue()
    constraints = None
    if cost_at_most is not None:
        constraints = lambda q: [  # noqa: E731
            OutcomeConstraint(QueueMetric("cost", q), ComparisonOp.LEQ, cost_at_most)
        ]
    experiment = make_experiment(queue, minimize=minimize, outcome_constraints=constraints)
    for i, result in enumerate(results):
        trial = experiment.new_trial({"x1": i / 10, "x2": 0.0})
        trial.mark_running()
        # dict(): from_evaluations takes a dict of means or (mean, sem) pairs (invariant)
        experiment.attach_data(Data.from_evaluations(dict(result), trial.index))
        trial.mark_completed()
    return Scheduler(experiment, sobol_only(), fast_options())


# -- get_best_trial --------------------------------------------------------------
@pytest.mark.parametrize(("minimize", "best"), [(True, 1), (False, 0)])
def test_best_trial_follows_the_objective_direction(minimize: bool, best: int) -> None:
    scheduler = scheduler_with_results(
        [{"objective": 3.0}, {"objective": 1.0}, {"objective": 2.0}], minimize=minimize
    )
    found = scheduler.get_best_trial(use_model_predictions=False)
    assert found is not None
    index, parameters, values = found
    assert index == best
    assert parameters == {"x1": best / 10, "x2": 0.0}
    assert values["objective"] == [3.0, 1.0, 2.0][best]
    # Unknown sem: by default the GP's predicted means pick the best (same trial here).
    predicted = scheduler.get_best_trial()
    assert predicted is not None and predicted[0] == best
    assert scheduler.get_best_parameters() == parameters


def test_best_trial_is_predicted_with_the_kernel_of_the_strategys_botorch_step() -> None:
    results = [{"objective": (i - 6) ** 2 / 10 + (0.3 if i % 2 else -0.3)} for i in range(10)]
    scheduler = scheduler_with_results(results)
    scheduler.generation_strategy = GenerationStrategy(
        [
            GenerationStep(Models.SOBOL, num_trials=5),
            GenerationStep(Models.BOTORCH, num_trials=-1, model_kwargs={"kernel": "matern"}),
        ]
    )
    found = scheduler.get_best_trial()
    matern = best_trial(scheduler.experiment, use_model=True, model=BestPointModel("matern"))
    rbf = best_trial(scheduler.experiment, use_model=True)
    assert found is not None and matern is not None and rbf is not None
    assert found[2]["objective"] == matern[2]["objective"]
    assert found[2]["objective"] != pytest.approx(rbf[2]["objective"], abs=1e-6)


def test_best_trial_is_refitted_only_when_data_arrive_and_then_warm_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scheduler = scheduler_with_results([{"objective": (i - 4) ** 2 / 10} for i in range(8)])
    fits: list[bool] = []  # per fit: was it warm-started?
    fit_models = modeling.fit_models

    def counting_fit(observations: Any, warm_start: Any = None, kernel: str = "rbf") -> Any:
        fits.append(bool(warm_start))
        return fit_models(observations, warm_start, kernel)

    monkeypatch.setattr(modeling, "fit_models", counting_fit)
    first = scheduler.get_best_trial()
    for _ in range(3):  # a progress display asking after every poll
        assert scheduler.get_best_trial() == first
    assert fits == [False]

    trial = scheduler.experiment.new_trial({"x1": 0.45, "x2": 0.0})
    trial.mark_running()
    scheduler.experiment.attach_data(Data.from_evaluations({"objective": -5.0}, trial.index))
    trial.mark_completed()
    best = scheduler.get_best_trial()
    assert best is not None and best[0] == trial.index
    assert fits == [False, True]


def test_best_trial_must_satisfy_outcome_constraints() -> None:
    scheduler = scheduler_with_results(
        [
            {"objective": 3.0, "cost": 1.0},
            {"objective": 1.0, "cost": 10.0},  # best objective, but too costly
            {"objective": 2.0, "cost": 5.0},  # exactly at the bound: feasible
        ],
        cost_at_most=5.0,
    )
    best = scheduler.get_best_trial(use_model_predictions=False)
    assert best is not None and best[0] == 2


def test_best_trial_ignores_trials_that_did_not_complete() -> None:
    scheduler = scheduler_with_results([{"objective": 3.0}])
    experiment = scheduler.experiment
    running = experiment.new_trial({"x1": 0.5, "x2": 0.5})
    running.mark_running()
    experiment.attach_data(Data.from_evaluations({"objective": -100.0}, running.index))
    best = scheduler.get_best_trial()
    assert best is not None and best[0] == 0


def test_no_best_trial_without_feasible_completed_trials() -> None:
    assert scheduler_with_results([]).get_best_trial() is None
    infeasible = scheduler_with_results([{"objective": 1.0, "cost": 9.0}], cost_at_most=5.0)
    assert infeasible.get_best_trial() is None
    assert infeasible.get_best_parameters() is None


def test_best_so_far_trace() -> None:
    scheduler = scheduler_with_results(
        [{"objective": 3.0}, {"objective": 4.0}, {"objective": 1.0}, {"objective": 2.0}]
    )
    assert best_so_far(scheduler.experiment).tolist() == [3.0, 3.0, 1.0, 1.0]


# -- a finished run --------------------------------------------------------------
@pytest.fixture
def finished_run() -> Scheduler:
    """Four trials of sum(x1, x2): trial 2 failed with a reason."""
    queue = FakeJobQueue(polls_to_finish=1, fail_reasons={2: "worker lost"})
    scheduler = Scheduler(make_experiment(queue), sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=4)
    return scheduler


def test_summarize_final_result(finished_run: Scheduler) -> None:
    summary = finished_run.summarize_final_result()
    experiment = finished_run.experiment
    completed = experiment.trials_by_status(TrialStatus.COMPLETED)
    best = min(completed, key=lambda t: t.objective_mean or math.inf)
    assert summary == {
        "experiment": "fake_experiment",
        "trials_by_status": {"COMPLETED": 3, "FAILED": 1},
        "best_trial_index": best.index,
        "best_parameters": best.arm.parameters,
        "best_values": {"objective": best.objective_mean},
        "stop_reason": None,
    }
    assert finished_run.run_n_trials(max_trials=0)["trials_by_status"] == {
        "COMPLETED": 3,
        "FAILED": 1,
    }


def test_exp_to_df_has_one_row_per_trial_with_parameters_and_metrics(
    finished_run: Scheduler,
) -> None:
    df = exp_to_df(finished_run.experiment)
    assert list(df.columns) == [
        "trial_index",
        "arm_name",
        "trial_status",
        "generation_step",
        "x1",
        "x2",
        "objective",
        "reason",
    ]
    assert df["trial_index"].tolist() == [0, 1, 2, 3]
    assert df["arm_name"].tolist() == ["0_0", "1_0", "2_0", "3_0"]
    assert df["trial_status"].tolist() == ["COMPLETED", "COMPLETED", "FAILED", "COMPLETED"]
    assert set(df["generation_step"]) == {"Sobol"}
    completed = df[df["trial_status"] == "COMPLETED"]
    assert (completed["objective"] == completed["x1"] + completed["x2"]).all()
    failed = df[df["trial_status"] == "FAILED"].iloc[0]
    assert math.isnan(failed["objective"])
    assert failed["reason"] == "worker lost"


def test_save_trace_plot_writes_a_png_and_an_html_page(
    finished_run: Scheduler, tmp_path: Path
) -> None:
    png = save_trace_plot(finished_run.experiment, tmp_path / "trace.png")
    html = save_trace_plot(finished_run.experiment, tmp_path / "trace.html")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "data:image/png;base64," in page
    assert "<table" in page and "worker lost" in page  # the trial table comes along


# -- run_trials_and_yield_results ------------------------------------------------
class CountingScheduler(Scheduler):
    def report_results(self, force_refit: bool = False) -> Any:
        completed = self.experiment.trials_by_status(TrialStatus.COMPLETED)
        return True, {"completed": sorted(t.index for t in completed)}


def test_results_are_yielded_once_per_batch_of_completions() -> None:
    queue = FakeJobQueue(polls_to_finish=None)
    plan = {2: [0, 1], 4: [2], 5: [3, 4]}  # poll number -> trials finishing then

    def finish_planned(q: FakeJobQueue, n: int) -> None:
        for i in plan.get(n, []):
            q.complete(i)

    queue.on_poll = finish_planned
    scheduler = CountingScheduler(
        make_experiment(queue), sobol_only(), fast_options(max_pending_trials=5)
    )
    reported = list(scheduler.run_trials_and_yield_results(max_trials=5))
    assert reported == [
        (True, {"completed": [0, 1]}),
        (True, {"completed": [0, 1, 2]}),
        (True, {"completed": [0, 1, 2, 3, 4]}),
    ]
    assert len(queue.completion_batches) == len(reported)


def test_a_failed_trial_is_reported_too_then_the_final_check_raises() -> None:
    # a trial reaching any terminal state is reported; then, the run's only trial
    # having failed, the failure-rate guard's final check ends it
    queue = FakeJobQueue(polls_to_finish=1, fail_reasons={0: "boom"})
    scheduler = CountingScheduler(make_experiment(queue), sobol_only(), fast_options())
    reported = []
    with pytest.raises(FailureRateExceededError, match="1x boom"):
        for result in scheduler.run_trials_and_yield_results(max_trials=1):
            reported.append(result)
    assert reported == [(True, {"completed": []})]


def test_timeout_zero_polls_once_and_yields_one_report() -> None:
    queue = FakeJobQueue(polls_to_finish=None)
    scheduler = CountingScheduler(make_experiment(queue), sobol_only(), fast_options())
    # nothing finishes during the run: the one yield is the one when it ends
    assert list(scheduler.run_trials_and_yield_results(max_trials=1, timeout_hours=0)) == [
        (True, {"completed": []})
    ]
