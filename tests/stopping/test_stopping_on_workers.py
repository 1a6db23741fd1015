"""Early and global stopping with real Redis and real `celery worker` processes."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    TrialStatus,
)
from scheduler.celery import CeleryMetric, CeleryRunner
from scheduler.celery.task_states import revoked_progress
from scheduler.core.trial import Trial
from scheduler.generation.base import GenerationContext
from scheduler.stopping import ImprovementGlobalStoppingStrategy, PercentileEarlyStoppingStrategy
from scheduler.storage import DBSettings, load_experiment
from tests.support.celery_workers import WorkerFleet
from workers.objectives.learning_curve import final_loss

FAST: dict[str, Any] = {
    "init_seconds_between_polls": 0.05,
    "min_seconds_before_poll": 0.0,
    "max_seconds_between_polls": 0.2,
    "max_pending_trials": 4,
}


def experiment_for(fleet: WorkerFleet, objective: str, name: str, **options: Any) -> Experiment:
    space = SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, 0.0, 1.0),
            RangeParameter("x2", ParameterType.FLOAT, 0.0, 1.0),
        ]
    )
    return Experiment(
        name=name,
        search_space=space,
        optimization_config=OptimizationConfig(Objective(CeleryMetric("loss"), minimize=True)),
        runner=CeleryRunner(objective, objective_options=options, app=fleet.app),
    )


def sobol() -> GenerationStrategy:
    return GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=-1)], seed=3)


def runner_of(experiment: Experiment) -> CeleryRunner:
    assert isinstance(experiment.runner, CeleryRunner)
    return experiment.runner


def steps_of(experiment: Experiment, trial: Trial) -> list[float]:
    df = experiment.lookup_trial_data(trial.index).df
    return sorted(float(s) for s in df["step"] if math.isfinite(s))


def final_meta(runner: CeleryRunner, trial: Trial, state: str) -> dict[str, Any]:
    """The task's stored meta once it reads `state` (a stopped worker writes it last)."""
    meta: dict[str, Any] | None = None
    assert wait_for(
        lambda: (
            (meta := runner.store.read_one(trial.run_metadata["task_id"])) is not None
            and meta.get("status") == state
        )
    ), f"task of trial {trial.index} never reached {state}: {meta}"
    found = runner.store.read_one(trial.run_metadata["task_id"])
    assert found is not None
    return found


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_trial_far_below_the_percentile_is_stopped_with_its_partial_curve(
    fleet: WorkerFleet, tmp_path: Path
) -> None:
    steps = 40  # 2 s a trial: ample time to stop the bad one before it ends
    experiment = experiment_for(
        fleet, "learning_curve", "es-percentile", steps=steps, step_seconds=0.05
    )
    for x in (0.3, 0.35, 0.25, 0.4):  # four good configurations, then a hopeless one
        experiment.new_trial({"x1": x, "x2": 0.3})
    bad = experiment.new_trial({"x1": 1.0, "x2": 1.0})
    # min_curves=4: a trial is judged only once four others reached its step, so
    # the first four (running side by side) are never compared with each other.
    strategy = PercentileEarlyStoppingStrategy(min_progression=3, min_curves=4)
    db = DBSettings(url=f"sqlite:///{tmp_path / 'es.db'}")
    options = SchedulerOptions(early_stopping_strategy=strategy, **FAST)
    scheduler = Scheduler(experiment, sobol(), options, db_settings=db)
    scheduler.run_n_trials(max_trials=5, timeout_hours=0.02)

    good = [experiment.trials[i] for i in range(4)]
    assert [t.status for t in good] == [TrialStatus.COMPLETED] * 4
    assert bad.status is TrialStatus.EARLY_STOPPED
    assert "worst 50%" in (bad.failed_reason or "")
    # Its partial curve is kept: progress rows up to where it was stopped, no final row.
    partial = steps_of(experiment, bad)
    assert partial and 3 <= partial[-1] < steps - 1
    assert len(experiment.lookup_trial_data(bad.index).df) == len(partial)
    # Completed trials keep the curve the runner saw, plus their final value.
    for trial in good:
        assert len(steps_of(experiment, trial)) >= 4
        assert trial.objective_mean is not None
    # The worker stopped cooperatively, at its next report: it did not train to the end.
    runner = runner_of(experiment)
    assert bad.stop_metadata["terminated"] is False
    points = revoked_progress(final_meta(runner, bad, "REVOKED")["result"]) or []
    assert len(partial) <= len(points) < steps
    # Curves, partial and whole, are what the store holds too.
    stored = load_experiment(experiment.name, db)
    for trial in experiment.trials.values():
        assert steps_of(stored, trial) == steps_of(experiment, trial)
    assert stored.trials[bad.index].status is TrialStatus.EARLY_STOPPED
    # The model learns the stopped trial's last value projected by the completed
    # curves to the final scale: every curve has the same shape, so its final loss.
    observed = GenerationContext.from_experiment(experiment).observed_data.df
    learned = observed.loc[observed["trial_index"] == bad.index, "mean"].tolist()
    last = experiment.lookup_trial_data(bad.index).df["mean"].iloc[-1]
    assert learned == [pytest.approx(final_loss([1.0, 1.0]), rel=1e-3)]
    assert learned[0] < last


def test_a_completed_trial_keeps_every_point_reported_between_polls(
    fleet: WorkerFleet, tmp_path: Path
) -> None:
    gate = tmp_path / "finish"
    experiment = experiment_for(fleet, "gated_curve", "es-curve", steps=10, gate=str(gate))
    runner = runner_of(experiment)
    attached: list[int] = []

    def open_gate_once_all_points_seen(scheduler: Scheduler) -> None:
        # The worker reported ten points between two polls; the PROGRESS meta holds them all.
        view = runner.views.get(0)
        if view is not None and len(view.progress or []) == 10 and not gate.exists():
            attached.append(len(steps_of(experiment, experiment.trials[0])))
            gate.write_text("go")

    options = SchedulerOptions(early_stopping_strategy=PercentileEarlyStoppingStrategy(), **FAST)
    Scheduler(experiment, sobol(), options).run_n_trials(
        max_trials=1, idle_callback=open_gate_once_all_points_seen, timeout_hours=0.01
    )
    (trial,) = experiment.trials.values()
    assert trial.status is TrialStatus.COMPLETED
    assert attached == [10]  # the running curve was attached for the strategy
    assert steps_of(experiment, trial) == [float(s) for s in range(10)]
    assert trial.objective_mean == pytest.approx(0.1)  # the final row, not a progress point


def test_a_trial_ending_between_polls_keeps_its_whole_curve_and_the_runner_forgets_it(
    fleet: WorkerFleet, tmp_path: Path
) -> None:
    gate = tmp_path / "open"
    gate.write_text("go")  # nothing holds the trials: each ends long before a poll
    experiment = experiment_for(fleet, "gated_curve", "curve-tail", steps=5, gate=str(gate))
    runner = runner_of(experiment)
    options = SchedulerOptions(
        init_seconds_between_polls=1.0,
        min_seconds_before_poll=1.0,
        max_seconds_between_polls=1.0,
        max_pending_trials=1,
    )
    Scheduler(experiment, sobol(), options).run_n_trials(max_trials=3, timeout_hours=0.01)

    assert [t.status for t in experiment.trials.values()] == [TrialStatus.COMPLETED] * 3
    for trial in experiment.trials.values():  # no poll saw a PROGRESS state
        assert steps_of(experiment, trial) == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert trial.objective_mean == pytest.approx(0.2)
    # Only the last trial's curve is still held; the next poll drops it too.
    assert set(runner.views) <= {2}
    runner.poll_trial_status([])
    assert not runner.views and runner.failure_reason(experiment.trials[2]) is None


def test_global_stopping_ends_a_plateau_before_its_budget_unless_ignored(
    fleet: WorkerFleet,
) -> None:
    def run(ignore: bool) -> tuple[Experiment, dict[str, Any]]:
        experiment = experiment_for(fleet, "plateau", f"es-plateau-{ignore}")
        strategy = ImprovementGlobalStoppingStrategy(min_trials=4, window_size=3)
        options = SchedulerOptions(
            global_stopping_strategy=strategy, **{**FAST, "max_pending_trials": 2}
        )
        summary = Scheduler(experiment, sobol(), options).run_n_trials(
            max_trials=12, ignore_global_stopping_strategy=ignore, timeout_hours=0.02
        )
        return experiment, summary

    stopped, summary = run(ignore=False)
    assert 4 <= stopped.num_trials < 12
    assert all(t.status is TrialStatus.COMPLETED for t in stopped.trials.values())
    assert "below improvement_bar" in (summary["stop_reason"] or "")

    kept_going, summary = run(ignore=True)
    assert kept_going.num_trials == 12
    assert all(t.status is TrialStatus.COMPLETED for t in kept_going.trials.values())


class StopWhenStarted:
    """Stops every running trial whose objective wrote its `started` file."""

    def __init__(self, started: Path) -> None:
        self.started = started

    def should_stop_trials_early(
        self, trial_indices: set[int], experiment: Experiment
    ) -> dict[int, str | None]:
        return {i: "stop the silent one" for i in trial_indices if self.started.exists()}


def test_an_objective_that_never_reports_is_stopped_by_terminating_its_process(
    fleet: WorkerFleet, tmp_path: Path
) -> None:
    started = tmp_path / "pid"
    experiment = experiment_for(fleet, "silent_sleeper", "es-silent", started=str(started))
    options = SchedulerOptions(early_stopping_strategy=StopWhenStarted(started), **FAST)
    Scheduler(experiment, sobol(), options).run_n_trials(max_trials=1, timeout_hours=0.01)

    (trial,) = experiment.trials.values()
    assert trial.status is TrialStatus.EARLY_STOPPED
    assert trial.stop_metadata["terminated"] is True
    final_meta(runner_of(experiment), trial, "REVOKED")
    # The pool process running it is gone, and no worker is busy with it any more.
    pid = int(started.read_text())
    assert wait_for(lambda: not process_alive(pid)), f"process {pid} still runs the trial"
    assert wait_for(lambda: not busy_with(fleet, trial.run_metadata["task_id"]))
    # Every slot takes work again: four trials at once all complete.
    follow_up = experiment_for(fleet, "plateau", "es-after-silent")
    Scheduler(follow_up, sobol(), SchedulerOptions(**FAST)).run_n_trials(
        max_trials=4, timeout_hours=0.01
    )
    assert [t.status for t in follow_up.trials.values()] == [TrialStatus.COMPLETED] * 4


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def busy_with(fleet: WorkerFleet, task_id: str) -> bool:
    active = fleet.app.control.inspect(timeout=1.0).active() or {}
    return any(task["id"] == task_id for tasks in active.values() for task in tasks)
