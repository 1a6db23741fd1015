"""Issue 13: the loop keeps Ax's Scheduler contract (budget, candidates, failures,
reports, timing), each behaviour on the fake queue and, where time matters, the
fake clock."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from scheduler import (
    Data,
    Experiment,
    FailureRateExceededError,
    GenerationStep,
    GenerationStrategy,
    Ok,
    ParameterType,
    RangeParameter,
    Scheduler,
    Trial,
    TrialStatus,
)
from scheduler.core import InvalidSchedulerOptionsError, Metric, MetricFetchE
from scheduler.core.result import Err
from scheduler.generation.base import GenerationContext, Generator, register_generator
from tests.scheduler.fake_queue import (
    FakeClock,
    FakeJobQueue,
    FakeRunner,
    QueueMetric,
    fast_options,
    make_experiment,
    sobol_only,
)
from tests.support.values import number


def statuses(scheduler: Scheduler) -> list[TrialStatus]:
    return [t.status for t in scheduler.experiment.trials.values()]


# -- budget and candidates --------------------------------------------------------
def test_attached_candidates_count_against_max_trials() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    experiment = make_experiment(queue)
    experiment.attach_trial({"x1": 0.5, "x2": 0.5})
    scheduler = Scheduler(experiment, sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=0)
    assert statuses(scheduler) == [TrialStatus.CANDIDATE]  # max_trials=0 deploys nothing
    scheduler.run_n_trials(max_trials=1)
    assert statuses(scheduler) == [TrialStatus.COMPLETED]  # the candidate was the one trial
    assert len(queue.jobs) == 1


def test_candidates_count_against_max_pending_trials_and_total_trials() -> None:
    queue = FakeJobQueue(polls_to_finish=2)
    experiment = make_experiment(queue)
    for i in range(5):
        experiment.attach_trial({"x1": i / 10, "x2": 0.0})
    scheduler = Scheduler(
        experiment, sobol_only(), fast_options(max_pending_trials=2, total_trials=6)
    )
    scheduler.run_n_trials(max_trials=10)
    assert queue.max_outstanding == 2
    assert queue.job_of(0).job_id < queue.job_of(4).job_id < queue.job_of(5).job_id
    assert scheduler.experiment.num_trials == 6  # total_trials counts every trial


def test_timeout_zero_polls_once_reports_and_returns() -> None:
    queue = FakeJobQueue(polls_to_finish=None)
    options = fast_options(wait_for_running_trials=False)
    scheduler = Scheduler(make_experiment(queue), sobol_only(), options)
    scheduler.run_n_trials(max_trials=1)  # returns with its trial still running
    polls = queue.num_polls
    reports = list(scheduler.run_trials_and_yield_results(max_trials=3, timeout_hours=0))
    assert queue.num_polls == polls + 1  # one poll
    assert reports == [{"trials": 1, "completed": 0}]  # one report
    assert statuses(scheduler) == [TrialStatus.RUNNING]  # nothing new deployed


class EmptyGenerator(Generator):
    def gen(self, n: int, context: GenerationContext) -> list[dict[str, Any]]:
        return []


class RepeatingGenerator(Generator):
    uses_data = False

    def gen(self, n: int, context: GenerationContext) -> list[dict[str, Any]]:
        return [{"x1": 0.25, "x2": 0.75}] * n


register_generator("EmptyForTests", lambda space, seed=None, **kw: EmptyGenerator(space, seed))
register_generator(
    "RepeatingForTests", lambda space, seed=None, **kw: RepeatingGenerator(space, seed)
)


def one_step(model: str) -> GenerationStrategy:
    return GenerationStrategy(steps=[GenerationStep(model=model, num_trials=-1)])


def test_a_strategy_proposing_nothing_ends_the_run_with_a_message() -> None:
    scheduler = Scheduler(
        make_experiment(FakeJobQueue()), one_step("EmptyForTests"), fast_options()
    )
    summary = scheduler.run_n_trials(max_trials=3)
    complete, message = scheduler.should_consider_optimization_complete()
    assert complete and "proposed nothing new" in message
    assert summary["stop_reason"] == message
    assert scheduler.experiment.num_trials == 0


def test_duplicate_proposals_are_dropped_and_end_the_run_when_nothing_is_new() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    scheduler = Scheduler(make_experiment(queue), one_step("RepeatingForTests"), fast_options())
    summary = scheduler.run_n_trials(max_trials=12)
    assert scheduler.experiment.num_trials == 1  # the point once, never again
    assert "duplicate(s) of existing arms dropped" in (summary["stop_reason"] or "")


def test_a_failed_point_is_never_proposed_again_in_a_discrete_space() -> None:
    # an objective that is NaN at two of the six points; each point is tried once
    queue = FakeJobQueue(
        polls_to_finish=1,
        evaluate=lambda p: {"objective": float("nan") if p["k"] in (1, 4) else float(p["k"])},
    )
    experiment = make_experiment(
        queue, parameters=[RangeParameter("k", ParameterType.INT, lower=0, upper=5)]
    )
    scheduler = Scheduler(
        experiment,
        sobol_only(),
        fast_options(max_pending_trials=1, tolerated_trial_failure_rate=0.5),
    )
    scheduler.run_n_trials(max_trials=12)
    tried = [number(t.arm.parameters["k"]) for t in experiment.trials.values()]
    assert sorted(tried) == [0, 1, 2, 3, 4, 5]
    assert scheduler.should_consider_optimization_complete()[0]


# -- failures -------------------------------------------------------------------
def test_abandoned_trials_count_toward_the_failure_rate() -> None:
    def abandon_all(q: FakeJobQueue, n: int) -> None:
        for job in q.active:
            job.status = TrialStatus.ABANDONED

    queue = FakeJobQueue(polls_to_finish=None, on_poll=abandon_all)
    scheduler = Scheduler(
        make_experiment(queue),
        sobol_only(),
        fast_options(max_pending_trials=1, min_failed_trials_for_failure_rate_check=2),
    )
    with pytest.raises(FailureRateExceededError, match="2 of them abandoned"):
        scheduler.run_n_trials(max_trials=10)
    assert scheduler.experiment.num_trials == 2


def test_the_guard_counts_only_this_schedulers_trials() -> None:
    queue = FakeJobQueue(polls_to_finish=1, fail_reasons={0: "old failure"})
    experiment = make_experiment(queue)
    with pytest.raises(FailureRateExceededError):
        Scheduler(experiment, sobol_only(), fast_options()).run_n_trials(max_trials=1)
    # a new scheduler on the same experiment does not inherit trial 0's failure
    summary = Scheduler(experiment, sobol_only(), fast_options()).run_n_trials(max_trials=1)
    assert summary["trials_by_status"] == {"FAILED": 1, "COMPLETED": 1}


class FlakyPollRunner(FakeRunner):
    """Bulk polls raise `bulk_failures` times; a poll including `broken` always raises."""

    def __init__(self, queue: FakeJobQueue, bulk_failures: int, broken: int | None) -> None:
        super().__init__(queue)
        self.bulk_failures = bulk_failures
        self.broken = broken

    def poll_trial_status(self, trials: Any) -> dict[TrialStatus, set[int]]:
        trials = list(trials)
        if self.broken is not None and any(t.index == self.broken for t in trials):
            raise ConnectionError(f"cannot read job of trial {self.broken}")
        if len(trials) > 1 and self.bulk_failures > 0:
            self.bulk_failures -= 1
            raise TimeoutError("bulk poll timed out")
        return super().poll_trial_status(trials)


def test_a_failing_bulk_poll_is_retried_and_a_broken_trial_abandoned() -> None:
    queue = FakeJobQueue(polls_to_finish=2)
    runner = FlakyPollRunner(queue, bulk_failures=0, broken=1)
    scheduler = Scheduler(
        make_experiment(queue, runner=runner), sobol_only(), fast_options(max_pending_trials=3)
    )
    summary = scheduler.run_n_trials(max_trials=3)
    trial = scheduler.experiment.trials[1]
    assert trial.status is TrialStatus.ABANDONED
    assert trial.failed_reason is not None and "cannot read job of trial 1" in trial.failed_reason
    assert summary["trials_by_status"] == {"COMPLETED": 2, "ABANDONED": 1}


def test_a_transient_bulk_poll_error_loses_nothing() -> None:
    queue = FakeJobQueue(polls_to_finish=2)
    runner = FlakyPollRunner(queue, bulk_failures=2, broken=None)
    scheduler = Scheduler(
        make_experiment(queue, runner=runner), sobol_only(), fast_options(max_pending_trials=3)
    )
    scheduler.run_n_trials(max_trials=3)
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 3


class NotYetMetric(QueueMetric):
    """Says "not yet" (a recoverable TimeoutError) on its first `misses` fetches."""

    recoverable_exceptions = (TimeoutError,)

    def __init__(self, name: str, queue: FakeJobQueue, misses: int) -> None:
        super().__init__(name, queue)
        self.misses = misses

    def fetch_trial_data(self, trial: Trial) -> Any:
        if self.misses > 0:
            self.misses -= 1
            return Err(MetricFetchE("results not flushed", TimeoutError("flush pending")))
        return super().fetch_trial_data(trial)


def test_a_recoverable_fetch_error_is_retried_on_the_next_poll() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    experiment = make_experiment(queue)
    assert experiment.optimization_config is not None
    experiment.optimization_config.objectives[0].metric = NotYetMetric("objective", queue, 2)
    scheduler = Scheduler(experiment, sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=1)
    assert statuses(scheduler) == [TrialStatus.COMPLETED]
    assert queue.num_polls == 3  # two polls said "not yet"


def test_validate_metrics_rejects_a_metric_without_fetch_logic() -> None:
    experiment = make_experiment(FakeJobQueue())
    experiment.tracking_metrics = [Metric("latency")]
    with pytest.raises(InvalidSchedulerOptionsError, match=r"'latency' .*fetch_trial_data"):
        Scheduler(experiment, sobol_only(), fast_options(validate_metrics=True))
    Scheduler(experiment, sobol_only(), fast_options())  # off by default


class FailingSaves:
    """A store whose trial saves always fail."""

    def __init__(self) -> None:
        self.attempts = 0

    def save_experiment(self, *args: Any) -> None: ...
    def save_new_trials(self, *args: Any) -> None: ...
    def save_data(self, *args: Any) -> None: ...
    def heartbeat(self, *args: Any) -> None: ...
    def release(self, *args: Any) -> None: ...

    def save_trials(self, *args: Any) -> None:
        self.attempts += 1
        raise OSError("database is gone")


def test_storage_errors_end_the_run_unless_suppressed_after_retries() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    with pytest.raises(OSError, match="database is gone"):
        Scheduler(
            make_experiment(queue), sobol_only(), fast_options(), store=FailingSaves()
        ).run_n_trials(max_trials=1)
    store = FailingSaves()
    scheduler = Scheduler(
        make_experiment(FakeJobQueue(polls_to_finish=1)),
        sobol_only(),
        fast_options(suppress_storage_errors_after_retries=True),
        store=store,
    )
    scheduler.run_n_trials(max_trials=2)
    assert statuses(scheduler) == [TrialStatus.COMPLETED] * 2
    assert store.attempts % 3 == 0 and store.attempts > 0  # each call tried 3 times


# -- logs and timing ------------------------------------------------------------
def test_logging_level_and_log_filepath_take_effect(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.log"
    logger = logging.getLogger("scheduler")
    before = logger.level
    try:
        options = fast_options(logging_level=logging.DEBUG, log_filepath=str(path))
        Scheduler(make_experiment(FakeJobQueue()), sobol_only(), options).run_n_trials(1)
        assert logger.level == logging.DEBUG
        assert "trial 0 deployed" in path.read_text(encoding="utf-8")
        Scheduler(make_experiment(FakeJobQueue()), sobol_only(), fast_options(logging_level=40))
        assert logger.level == logging.ERROR
    finally:
        for handler in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(before)


def test_running_takes_the_start_time_from_the_run_metadata() -> None:
    queue = FakeJobQueue(polls_to_finish=2, start_queued=True)
    runner = FakeRunner(
        queue, run_metadata=lambda job: {"job_id": job, "start_time": "2031-05-01T12:00:00+00:00"}
    )
    scheduler = Scheduler(make_experiment(queue, runner=runner), sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=1)
    started = scheduler.experiment.trials[0].time_run_started
    assert started is not None and started.isoformat() == "2031-05-01T12:00:00+00:00"
    epoch = Trial(index=0, arm=scheduler.experiment.trials[0].arm, run_metadata={"start_time": 0})
    assert epoch.reported_start_time is not None and epoch.reported_start_time.year == 1970


class CurveMetric(Metric):
    """A learning curve per trial: `curves[trial index]` is the list of values so far."""

    def __init__(self, name: str, curves: dict[int, list[float]]) -> None:
        super().__init__(name)
        self.curves = curves

    @property
    def reports_progress(self) -> bool:
        return True

    def fetch_trial_data(self, trial: Trial) -> Any:
        curve = self.curves.get(trial.index, [])
        if not curve:
            return Err(MetricFetchE("no progress yet"))
        rows = [
            {"trial_index": trial.index, "arm_name": trial.arm.name, "metric_name": self.name,
             "mean": v, "sem": 0.0, "step": float(s)}
            for s, v in enumerate(curve)
        ]  # fmt: skip
        return Ok(Data.from_rows(rows))


class CountingStopper:
    def __init__(self) -> None:
        self.calls = 0

    def progress_metric_names(self, experiment: Experiment) -> list[str]:
        return ["curve"]

    def should_stop_trials_early(
        self, trial_indices: set[int], experiment: Experiment
    ) -> dict[int, str | None]:
        self.calls += 1
        return {}


class RecordingStore(FailingSaves):
    def __init__(self) -> None:
        super().__init__()
        self.data: list[Data] = []

    def save_trials(self, *args: Any) -> None: ...

    def save_data(self, experiment: Experiment, data: Data) -> None:
        self.data.append(data)


def test_early_stopping_polls_at_a_steady_pace_and_asks_only_on_new_progress(
    clock: FakeClock,
) -> None:
    curves: dict[int, list[float]] = {}
    growth = {2: 1.0, 5: 0.5}  # poll number -> a new curve point
    queue = FakeJobQueue(polls_to_finish=None)

    def on_poll(q: FakeJobQueue, n: int) -> None:
        if n in growth:
            curves.setdefault(0, []).append(growth[n])
        if n == 9:
            q.complete(0, {"objective": 0.1})

    queue.on_poll = on_poll
    experiment = make_experiment(queue)
    experiment.tracking_metrics = [CurveMetric("curve", curves)]
    stopper = CountingStopper()
    store = RecordingStore()
    options = fast_options(init_seconds_between_polls=2.0, early_stopping_strategy=stopper)
    scheduler = Scheduler(experiment, sobol_only(), options, store=store)
    clock.attach(scheduler)
    scheduler.run_n_trials(max_trials=1)
    assert set(clock.sleeps) == {2.0}  # no back-off
    assert stopper.calls == 2  # once per poll that brought a new curve point
    # curve points saved while running, each row stored exactly once
    saved = Data.from_multiple(store.data).df
    curve_rows = saved[saved["metric_name"] == "curve"]
    assert list(curve_rows["mean"]) == [1.0, 0.5]
    assert len(store.data) >= 3  # two progress saves before the completion save
    assert not saved.duplicated(["trial_index", "metric_name", "step", "mean"]).any()


class StopAtTwoPoints(CountingStopper):
    def should_stop_trials_early(
        self, trial_indices: set[int], experiment: Experiment
    ) -> dict[int, str | None]:
        super().should_stop_trials_early(trial_indices, experiment)
        df = experiment.lookup_trial_data(0).df
        return {0: "flat"} if len(df[df["metric_name"] == "curve"]) >= 2 else {}


def test_an_early_stopped_curve_is_stored_once() -> None:
    curves: dict[int, list[float]] = {}
    queue = FakeJobQueue(polls_to_finish=None)

    def on_poll(q: FakeJobQueue, n: int) -> None:
        curves.setdefault(0, []).append(1.0 / n)
        q.job_of(0).result = {"objective": 1.0 / n}  # partial value, fetched when stopped

    queue.on_poll = on_poll
    experiment = make_experiment(queue)
    experiment.tracking_metrics = [CurveMetric("curve", curves)]
    store = RecordingStore()
    options = fast_options(early_stopping_strategy=StopAtTwoPoints())
    scheduler = Scheduler(experiment, sobol_only(), options, store=store)
    scheduler.run_n_trials(max_trials=1)
    assert scheduler.experiment.trials[0].status is TrialStatus.EARLY_STOPPED
    saved = Data.from_multiple(store.data).df
    # the poll that stopped it fetched the curve twice (progress, partial data)
    assert list(saved.loc[saved["metric_name"] == "curve", "step"]) == [0.0, 1.0]
