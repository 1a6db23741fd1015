"""Early stopping, global stopping, request_stop and KeyboardInterrupt."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from scheduler import Experiment, Scheduler, Trial, TrialStatus
from tests.scheduler.fake_queue import (
    FakeJobQueue,
    FakeRunner,
    fast_options,
    make_experiment,
    sobol_only,
)


def statuses(scheduler: Scheduler) -> list[TrialStatus]:
    return [t.status for t in scheduler.experiment.trials.values()]


class StopChosenTrials:
    """Early-stopping strategy: stops the given trials as soon as they run."""

    def __init__(self, to_stop: set[int]) -> None:
        self.to_stop = to_stop
        self.calls: list[set[int]] = []

    def should_stop_trials_early(
        self, trial_indices: set[int], experiment: Experiment
    ) -> dict[int, str | None]:
        self.calls.append(set(trial_indices))
        return {i: "learning curve is flat" for i in trial_indices if i in self.to_stop}


class StopAfterCompleted:
    """Global-stopping strategy: enough once `n` trials completed."""

    def __init__(self, n: int) -> None:
        self.n = n

    def should_stop_optimization(self, experiment: Experiment) -> tuple[bool, str]:
        done = len(experiment.trials_by_status(TrialStatus.COMPLETED))
        return done >= self.n, f"{done} trials completed, that is enough"


# -- early stopping --------------------------------------------------------------
def test_early_stopping_strategy_is_asked_and_obeyed() -> None:
    queue = FakeJobQueue(polls_to_finish=3)
    strategy = StopChosenTrials({1})
    scheduler = Scheduler(
        make_experiment(queue),
        sobol_only(),
        fast_options(max_pending_trials=3, early_stopping_strategy=strategy),
    )
    scheduler.run_n_trials(max_trials=3)

    assert strategy.calls[0] == {0, 1, 2}  # asked about every running trial
    stopped = scheduler.experiment.trials[1]
    assert stopped.status is TrialStatus.EARLY_STOPPED
    assert stopped.failed_reason == "learning curve is flat"
    assert queue.stopped == [(1, "learning curve is flat")]  # runner.stop was called
    assert statuses(scheduler) == [
        TrialStatus.COMPLETED,
        TrialStatus.EARLY_STOPPED,
        TrialStatus.COMPLETED,
    ]


def test_early_stopped_trial_keeps_its_partial_data() -> None:
    queue = FakeJobQueue(polls_to_finish=None)
    strategy = StopChosenTrials({0})
    scheduler = Scheduler(
        make_experiment(queue), sobol_only(), fast_options(early_stopping_strategy=strategy)
    )
    # the job reports a partial value while it runs; stopping must keep it
    queue.on_poll = lambda q, n: setattr(q.job_of(0), "result", {"objective": 0.25})
    scheduler.run_n_trials(max_trials=1)
    trial = scheduler.experiment.trials[0]
    assert trial.status is TrialStatus.EARLY_STOPPED
    assert trial.objective_mean == 0.25


class NamesTrialsItCannotStop:
    """A confused strategy: names a trial that does not exist and finished ones."""

    def should_stop_trials_early(
        self, trial_indices: set[int], experiment: Experiment
    ) -> dict[int, str | None]:
        finished = experiment.trials_by_status(TrialStatus.COMPLETED)
        return {42: "no such trial", **{t.index: "too late" for t in finished}}


def test_early_stopping_decisions_about_unknown_or_finished_trials_are_ignored() -> None:
    queue = FakeJobQueue(polls_to_finish=2)
    scheduler = Scheduler(
        make_experiment(queue),
        sobol_only(),
        fast_options(max_pending_trials=1, early_stopping_strategy=NamesTrialsItCannotStop()),
    )
    scheduler.run_n_trials(max_trials=3)
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 3
    assert queue.stopped == []


# -- global stopping -------------------------------------------------------------
def global_stop_scheduler() -> Scheduler:
    queue = FakeJobQueue(polls_to_finish=1)
    return Scheduler(
        make_experiment(queue),
        sobol_only(),
        fast_options(max_pending_trials=1, global_stopping_strategy=StopAfterCompleted(2)),
    )


def test_global_stopping_strategy_ends_the_run_early() -> None:
    scheduler = global_stop_scheduler()
    summary = scheduler.run_n_trials(max_trials=5)
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 2
    assert summary["stop_reason"] == "2 trials completed, that is enough"


def test_global_stopping_strategy_can_be_ignored() -> None:
    scheduler = global_stop_scheduler()
    scheduler.run_n_trials(max_trials=5, ignore_global_stopping_strategy=True)
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 5


# -- request_stop ----------------------------------------------------------------
def test_request_stop_returns_without_new_trials_and_does_not_stick() -> None:
    queue = FakeJobQueue(polls_to_finish=None)
    scheduler = Scheduler(make_experiment(queue), sobol_only(), fast_options(max_pending_trials=2))

    summary = scheduler.run_n_trials(
        max_trials=5, idle_callback=lambda s: s.request_stop("operator asked")
    )
    assert statuses(scheduler) == [TrialStatus.RUNNING] * 2
    assert summary["stop_reason"] == "operator asked"

    queue.polls_to_finish = 1
    summary = scheduler.run_n_trials(max_trials=1)  # the old request does not stop this run
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 3
    assert summary["stop_reason"] is None  # nor is it reported as this run's reason


# -- KeyboardInterrupt -----------------------------------------------------------
def interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def test_interrupt_while_waiting_keeps_trials_and_says_how_to_resume(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = FakeJobQueue(polls_to_finish=None)
    scheduler = Scheduler(make_experiment(queue), sobol_only(), fast_options(max_pending_trials=2))
    with caplog.at_level(logging.WARNING, logger="scheduler"), pytest.raises(KeyboardInterrupt):
        scheduler.run_n_trials(max_trials=4, idle_callback=interrupt)

    assert statuses(scheduler) == [TrialStatus.RUNNING] * 2
    assert [t.run_metadata["job_id"] for t in scheduler.experiment.trials.values()] == list(
        queue.jobs
    )
    assert "Interrupted" in caplog.text
    assert "2 trial(s) still out" in caplog.text
    assert "run_n_trials again" in caplog.text
    assert "from_stored_experiment" in caplog.text

    queue.polls_to_finish = 1
    scheduler.run_n_trials(max_trials=2)
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 4
    assert len(queue.jobs) == 4  # nothing was deployed twice


def test_interrupt_during_deploy_leaves_candidates_that_the_next_run_deploys() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    interrupted = False

    def interrupt_second_deploy(trial: Trial) -> None:
        nonlocal interrupted
        if trial.index == 1 and not interrupted:
            interrupted = True
            raise KeyboardInterrupt

    runner = FakeRunner(queue, on_run=interrupt_second_deploy)
    scheduler = Scheduler(
        make_experiment(queue, runner=runner), sobol_only(), fast_options(max_pending_trials=3)
    )
    with pytest.raises(KeyboardInterrupt):
        scheduler.run_n_trials(max_trials=3)
    assert statuses(scheduler) == [
        TrialStatus.RUNNING,
        TrialStatus.CANDIDATE,
        TrialStatus.CANDIDATE,
    ]
    assert runner.run_calls == [0]

    scheduler.run_n_trials(max_trials=3)
    assert runner.run_calls[:3] == [0, 1, 2]  # the candidates go out first
    assert all(s is TrialStatus.COMPLETED for s in statuses(scheduler))
    assert sorted(scheduler.experiment.trials) == list(range(scheduler.experiment.num_trials))
    assert len(queue.jobs) == scheduler.experiment.num_trials  # each deployed exactly once
