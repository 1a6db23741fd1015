"""Each SchedulerOption, shown with the fake job queue (no sleeping, no wall clock)."""

from __future__ import annotations

import pytest

from scheduler import (
    FailureRateExceededError,
    GenerationStep,
    GenerationStrategy,
    Models,
    Scheduler,
    SchedulerOptions,
    TrialStatus,
)
from scheduler.core import InvalidSchedulerOptionsError
from tests.scheduler.fake_queue import (
    FakeClock,
    FakeJobQueue,
    FakeRunner,
    fast_options,
    make_experiment,
    sobol_only,
)


def statuses(scheduler: Scheduler) -> list[TrialStatus]:
    return [t.status for t in scheduler.experiment.trials.values()]


# -- max_pending_trials -----------------------------------------------------------
@pytest.mark.parametrize("limit", [1, 3])
def test_max_pending_trials_caps_trials_out_at_once(limit: int) -> None:
    queue = FakeJobQueue(polls_to_finish=2)
    scheduler = Scheduler(
        make_experiment(queue), sobol_only(), fast_options(max_pending_trials=limit)
    )
    scheduler.run_n_trials(max_trials=6)
    assert queue.max_outstanding == limit
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 6


# -- total_trials / run_all_trials ------------------------------------------------
def test_run_all_trials_runs_up_to_total_trials_and_no_further() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    scheduler = Scheduler(
        make_experiment(queue), sobol_only(), fast_options(total_trials=5, max_pending_trials=2)
    )
    scheduler.run_all_trials()
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 5
    scheduler.run_all_trials()
    assert scheduler.experiment.num_trials == 5


def test_total_trials_also_caps_run_n_trials() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    scheduler = Scheduler(make_experiment(queue), sobol_only(), fast_options(total_trials=3))
    scheduler.run_n_trials(max_trials=10)
    assert scheduler.experiment.num_trials == 3


def test_run_all_trials_without_total_trials_says_what_to_set() -> None:
    scheduler = Scheduler(make_experiment(FakeJobQueue()), sobol_only(), fast_options())
    with pytest.raises(InvalidSchedulerOptionsError, match=r"total_trials=N"):
        scheduler.run_all_trials()


# -- ttl_seconds_for_trials -------------------------------------------------------
def test_ttl_fails_a_trial_that_never_finishes_and_stops_its_job(clock: FakeClock) -> None:
    queue = FakeJobQueue(polls_to_finish=None, on_poll=lambda q, n: clock.advance(30))
    scheduler = Scheduler(
        make_experiment(queue), sobol_only(), fast_options(ttl_seconds_for_trials=60)
    )
    with pytest.raises(FailureRateExceededError, match="exceeded TTL"):  # its only trial failed
        scheduler.run_n_trials(max_trials=1)
    trial = scheduler.experiment.trials[0]
    assert trial.status is TrialStatus.FAILED
    assert trial.failed_reason is not None and "exceeded TTL" in trial.failed_reason
    assert queue.stopped == [(0, trial.failed_reason)]
    assert queue.num_polls == 3  # still alive at 30 s and at 60 s, failed past 60 s


def test_without_ttl_a_slow_trial_is_left_alone(clock: FakeClock) -> None:
    queue = FakeJobQueue(polls_to_finish=20, on_poll=lambda q, n: clock.advance(3600))
    scheduler = Scheduler(make_experiment(queue), sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=1)
    assert statuses(scheduler) == [TrialStatus.COMPLETED]
    assert queue.stopped == []


# -- tolerated_trial_failure_rate / min_failed_trials_for_failure_rate_check ------
def failing_scheduler(fail_reasons: dict[int, str], **options: object) -> Scheduler:
    queue = FakeJobQueue(polls_to_finish=1, fail_reasons=fail_reasons)
    return Scheduler(
        make_experiment(queue), sobol_only(), fast_options(max_pending_trials=1, **options)
    )


def test_failure_rate_guard_trips_above_the_tolerated_rate_and_not_before() -> None:
    # trial:   0  1  2  3  4   -> after 3: 2 of 4 failed (50%, tolerated); after 4: 3 of 5
    scheduler = failing_scheduler(
        {1: "out of memory", 3: "out of memory", 4: "segfault"},
        tolerated_trial_failure_rate=0.5,
        min_failed_trials_for_failure_rate_check=2,
    )
    with pytest.raises(FailureRateExceededError) as err:
        scheduler.run_n_trials(max_trials=10)
    message = str(err.value)
    assert "3 of 5 deployed trials failed (60%)" in message
    assert "tolerated 50%" in message
    assert "2x out of memory" in message and "1x segfault" in message
    assert "tolerated_trial_failure_rate" in message  # what to change
    assert scheduler.experiment.num_trials == 5


def test_failure_rate_exactly_at_the_tolerated_rate_keeps_going() -> None:
    scheduler = failing_scheduler(
        {1: "out of memory", 3: "out of memory"},
        tolerated_trial_failure_rate=0.5,
        min_failed_trials_for_failure_rate_check=2,
    )
    summary = scheduler.run_n_trials(max_trials=4)
    assert summary["trials_by_status"] == {"COMPLETED": 2, "FAILED": 2}


@pytest.mark.parametrize("min_failed", [1, 3])
def test_failure_rate_is_only_checked_after_min_failed_trials(min_failed: int) -> None:
    scheduler = failing_scheduler(
        dict.fromkeys(range(10), "bad config"),
        tolerated_trial_failure_rate=0.0,
        min_failed_trials_for_failure_rate_check=min_failed,
    )
    with pytest.raises(FailureRateExceededError, match=f"{min_failed} of {min_failed} deployed"):
        scheduler.run_n_trials(max_trials=10)
    assert scheduler.experiment.num_trials == min_failed


def test_failures_below_min_failed_trials_trip_the_guard_only_when_the_run_ends() -> None:
    # during the run 4 failures stay below the minimum of 5 and every trial runs; the
    # check when the run ends counts any failure, as Ax's force_check does
    scheduler = failing_scheduler(
        dict.fromkeys(range(4), "bad config"),
        tolerated_trial_failure_rate=0.0,
        min_failed_trials_for_failure_rate_check=5,
    )
    with pytest.raises(FailureRateExceededError, match="4 of 4 deployed trials failed"):
        scheduler.run_n_trials(max_trials=4)
    assert statuses(scheduler) == [TrialStatus.FAILED] * 4


def test_a_tolerated_share_of_failures_ends_normally_after_the_final_check() -> None:
    scheduler = failing_scheduler(
        {1: "bad config"},
        tolerated_trial_failure_rate=0.5,
        min_failed_trials_for_failure_rate_check=5,
    )
    summary = scheduler.run_n_trials(max_trials=2)  # 1 of 2 failed: 50% is tolerated
    assert summary["trials_by_status"] == {"COMPLETED": 1, "FAILED": 1}


# -- init_seconds_between_polls / backoff / min_seconds_before_poll --------------
def test_poll_interval_backs_off_by_the_factor_and_resets_on_change(clock: FakeClock) -> None:
    queue = FakeJobQueue(polls_to_finish=None)
    options = SchedulerOptions(
        max_pending_trials=1,
        init_seconds_between_polls=1.0,
        seconds_between_polls_backoff_factor=2.0,
        max_seconds_between_polls=8.0,
        min_seconds_before_poll=0.0,
    )
    scheduler = Scheduler(make_experiment(queue), sobol_only(), options)
    clock.attach(scheduler)
    idle_calls = 0

    def finish_jobs_now_and_then(s: Scheduler) -> None:
        # called before every wait (the k-th call before the k-th sleep below)
        nonlocal idle_calls
        idle_calls += 1
        if idle_calls == 7:
            queue.complete(0)
        if idle_calls == 11:
            queue.complete(1)

    scheduler.run_n_trials(max_trials=2, idle_callback=finish_jobs_now_and_then)
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 2
    assert clock.sleeps == [
        1.0,  # trial 0 deployed: a change, so the initial interval
        1.0, 2.0, 4.0, 8.0, 8.0, 8.0,  # idle: doubles each time, capped at 8
        1.0,  # trial 0 completed and trial 1 deployed: reset
        1.0, 2.0, 4.0,  # idle again, backing off from the start
    ]  # fmt: skip


@pytest.mark.parametrize("min_before_poll", [0.0, 5.0])
def test_min_seconds_before_poll_delays_the_first_poll_after_deploying(
    clock: FakeClock, min_before_poll: float
) -> None:
    events: list[tuple[str, float]] = []  # in the order they happened
    queue = FakeJobQueue(polls_to_finish=3, on_poll=lambda q, n: events.append(("poll", clock.now)))
    runner = FakeRunner(queue, on_run=lambda trial: events.append(("deploy", clock.now)))
    options = fast_options(
        init_seconds_between_polls=0.5,
        max_pending_trials=2,
        min_seconds_before_poll=min_before_poll,
    )
    scheduler = Scheduler(make_experiment(queue, runner=runner), sobol_only(), options)
    clock.attach(scheduler)
    scheduler.run_n_trials(max_trials=4)

    gaps, last_deploy = [], None
    for kind, at in events:
        if kind == "deploy":
            last_deploy = at
        elif last_deploy is not None:
            gaps.append(at - last_deploy)
            last_deploy = None  # only the first poll after a deploy
    assert gaps == [max(0.5, min_before_poll)] * 2  # two deploy rounds of 2 trials


# -- run_trials_in_batches / poll_available_capacity ------------------------------
def test_batches_are_deployed_with_run_multiple_within_fleet_capacity() -> None:
    queue = FakeJobQueue(polls_to_finish=2, capacity=2)
    runner = FakeRunner(queue)
    scheduler = Scheduler(
        make_experiment(queue, runner=runner),
        sobol_only(),
        fast_options(run_trials_in_batches=True, max_pending_trials=10),
    )
    scheduler.run_n_trials(max_trials=5)
    assert runner.run_calls == []  # never one by one
    assert runner.batches == [[0, 1], [2, 3], [4]]
    assert queue.max_outstanding == 2
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 5


def test_without_batches_trials_are_deployed_one_run_call_each() -> None:
    queue = FakeJobQueue(polls_to_finish=2)
    runner = FakeRunner(queue)
    scheduler = Scheduler(make_experiment(queue, runner=runner), sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=3)
    assert runner.batches == []
    assert runner.run_calls == [0, 1, 2]


# -- wait_for_running_trials -----------------------------------------------------
def test_not_waiting_returns_with_trials_still_running() -> None:
    queue = FakeJobQueue(polls_to_finish=None)
    scheduler = Scheduler(
        make_experiment(queue), sobol_only(), fast_options(wait_for_running_trials=False)
    )
    scheduler.run_n_trials(max_trials=3)
    assert statuses(scheduler) == [TrialStatus.RUNNING] * 3
    assert all("job_id" in t.run_metadata for t in scheduler.experiment.trials.values())

    for index in range(3):
        queue.complete(index)
    scheduler.run_n_trials(max_trials=0)  # a later run picks their results up
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 3


def test_waiting_is_the_default() -> None:
    queue = FakeJobQueue(polls_to_finish=5)
    scheduler = Scheduler(make_experiment(queue), sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=3)
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 3


# -- staging --------------------------------------------------------------------
def test_queued_jobs_are_staged_until_the_runner_says_running() -> None:
    queue = FakeJobQueue(polls_to_finish=None, start_queued=True)
    seen: list[list[TrialStatus]] = []
    scheduler = Scheduler(make_experiment(queue), sobol_only(), fast_options())

    def drive(s: Scheduler) -> None:
        seen.append(statuses(s))
        if len(seen) == 1:
            queue.start(0)
        elif len(seen) == 2:
            queue.complete(0)

    scheduler.run_n_trials(max_trials=1, idle_callback=drive)
    # before each wait, and once after the last poll: the final state
    assert seen == [[TrialStatus.STAGED], [TrialStatus.RUNNING], [TrialStatus.COMPLETED]]
    assert statuses(scheduler) == [TrialStatus.COMPLETED]


# -- generation strategy limits ---------------------------------------------------
def test_step_max_parallelism_is_respected_below_max_pending_trials() -> None:
    queue = FakeJobQueue(polls_to_finish=2)
    scheduler = Scheduler(
        make_experiment(queue), sobol_only(max_parallelism=2), fast_options(max_pending_trials=10)
    )
    scheduler.run_n_trials(max_trials=6)
    assert queue.max_outstanding == 2
    assert scheduler.experiment.num_trials == 6


def test_next_step_waits_for_min_trials_observed() -> None:
    launched: list[tuple[str | None, int]] = []  # (step, completed trials at launch)
    queue = FakeJobQueue(polls_to_finish=None)
    # each poll finishes the oldest job still out, so completions are staggered
    queue.on_poll = lambda q, n: q.complete(q.active[0].trial_index) if q.active else None
    experiment = make_experiment(queue)

    def record(trial: object) -> None:
        done = len(experiment.trials_by_status(TrialStatus.COMPLETED))
        launched.append((trial.generation_step, done))  # type: ignore[attr-defined]

    experiment.runner = FakeRunner(queue, on_run=record)
    strategy = GenerationStrategy(
        steps=[
            GenerationStep(model=Models.SOBOL, num_trials=3, min_trials_observed=3),
            GenerationStep(model=Models.SOBOL, num_trials=-1),
        ],
        seed=0,
    )
    scheduler = Scheduler(experiment, strategy, fast_options(max_pending_trials=10))
    scheduler.run_n_trials(max_trials=5)
    assert launched[:3] == [("Sobol", 0)] * 3
    second_step = [done for step, done in launched if step == "Sobol#2"]
    assert len(second_step) == 2
    assert min(second_step) >= 3  # only once all 3 first-step trials had data


def test_a_finite_strategy_ends_the_run_when_exhausted() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    strategy = sobol_only(num_trials=3)
    scheduler = Scheduler(make_experiment(queue), strategy, fast_options())
    scheduler.run_n_trials(max_trials=10)
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 3
    assert strategy.is_exhausted(scheduler.experiment)
    scheduler.run_n_trials(max_trials=10)  # nothing left: returns at once
    assert scheduler.experiment.num_trials == 3


# -- timeout_hours ----------------------------------------------------------------
def test_timeout_ends_the_run_gracefully_with_fewer_trials(clock: FakeClock) -> None:
    queue = FakeJobQueue(polls_to_finish=3, on_poll=lambda q, n: clock.advance(60))
    scheduler = Scheduler(make_experiment(queue), sobol_only(), fast_options(max_pending_trials=1))
    summary = scheduler.run_n_trials(max_trials=5, timeout_hours=5 / 60)  # 5 fake minutes
    assert 0 < scheduler.experiment.num_trials < 5
    assert summary["experiment"] == scheduler.experiment.name
