"""An in-process job queue, runner and metric for Scheduler tests.

`FakeJobQueue` holds one job per deployed trial. Two ways to drive it:

- automatic: `polls_to_finish=N` finishes each job on the N-th poll after it was
  submitted (COMPLETED, or FAILED when its trial index is in `fail_reasons`);
- manual: `polls_to_finish=None` leaves every job RUNNING until the test calls
  `complete`, `fail` or `start` (from an `idle_callback`, an `on_poll` hook or
  between two `run_n_trials` calls).

The queue records what a test needs to check the scheduler's behaviour: how
many jobs were out at each submit and poll, which jobs finished together, and
every `stop` request. Nothing here sleeps or reads the real clock: `FakeClock`
stands in for it where a test needs time to pass (TTL, timeouts, poll waits).
`make_experiment`, `sobol_only` and `fast_options` build the usual setup.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler import (
    Data,
    Err,
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Metric,
    MetricFetchE,
    Models,
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

Evaluation = dict[str, float]


def sum_of_parameters(parameters: dict[str, Any]) -> Evaluation:
    """Default objective: the sum of the numeric parameter values."""
    total = sum(
        float(v)
        for v in parameters.values()
        if isinstance(v, int | float) and not isinstance(v, bool)
    )
    return {"objective": total}


@dataclass
class FakeJob:
    job_id: int
    trial_index: int
    parameters: dict[str, Any]
    status: TrialStatus
    polls: int = 0
    result: Evaluation | None = None
    reason: str | None = None


@dataclass
class FakeJobQueue:
    """Jobs keyed by id; the test decides (or a poll count decides) how they end."""

    polls_to_finish: int | None = 1
    evaluate: Callable[[dict[str, Any]], Evaluation] = sum_of_parameters
    fail_reasons: dict[int, str] = field(default_factory=dict)
    capacity: int | None = None
    start_queued: bool = False
    max_polls: int = 5_000
    on_poll: Callable[[FakeJobQueue, int], None] | None = None

    jobs: dict[int, FakeJob] = field(default_factory=dict)
    num_polls: int = 0
    outstanding_seen: list[int] = field(default_factory=list)
    completion_batches: list[set[int]] = field(default_factory=list)
    stopped: list[tuple[int, str | None]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(100))
    _reported_completed: set[int] = field(default_factory=set)

    # -- what the test looks at ----------------------------------------------
    @property
    def active(self) -> list[FakeJob]:
        return [j for j in self.jobs.values() if not j.status.is_terminal]

    @property
    def max_outstanding(self) -> int:
        return max(self.outstanding_seen, default=0)

    def job_of(self, trial_index: int) -> FakeJob:
        return next(j for j in self.jobs.values() if j.trial_index == trial_index)

    # -- what the test does --------------------------------------------------
    def start(self, trial_index: int) -> None:
        self.job_of(trial_index).status = TrialStatus.RUNNING

    def complete(self, trial_index: int, result: Evaluation | None = None) -> None:
        job = self.job_of(trial_index)
        job.result = result if result is not None else self.evaluate(job.parameters)
        job.status = TrialStatus.COMPLETED

    def fail(self, trial_index: int, reason: str = "job crashed") -> None:
        job = self.job_of(trial_index)
        job.reason = reason
        job.status = TrialStatus.FAILED

    # -- what the runner does ------------------------------------------------
    def submit(self, trial: Trial) -> int:
        job_id = next(self._ids)
        status = TrialStatus.STAGED if self.start_queued else TrialStatus.RUNNING
        self.jobs[job_id] = FakeJob(job_id, trial.index, dict(trial.arm.parameters), status)
        self.outstanding_seen.append(len(self.active))
        return job_id

    def poll(self) -> None:
        """One poll: record what is out, then let automatic jobs progress."""
        self.num_polls += 1
        if self.num_polls > self.max_polls:
            raise AssertionError(f"runaway loop: more than {self.max_polls} polls")
        if self.on_poll is not None:
            self.on_poll(self, self.num_polls)
        self.outstanding_seen.append(len(self.active))
        for job in self.active:
            job.polls += 1
            if self.polls_to_finish is None:
                continue
            if job.status is TrialStatus.STAGED:
                job.status = TrialStatus.RUNNING
            if job.polls >= self.polls_to_finish:
                if job.trial_index in self.fail_reasons:
                    self.fail(job.trial_index, self.fail_reasons[job.trial_index])
                else:
                    self.complete(job.trial_index)
        finished = {
            j.trial_index for j in self.jobs.values() if j.status is TrialStatus.COMPLETED
        } - self._reported_completed
        if finished:
            self._reported_completed |= finished
            self.completion_batches.append(finished)

    def free_slots(self) -> int:
        if self.capacity is None:
            return -1
        return max(0, self.capacity - len(self.active))


class FakeRunner(Runner):
    """Deploys trials to a `FakeJobQueue` and reports job states as trial statuses."""

    def __init__(
        self,
        queue: FakeJobQueue,
        run_metadata: Callable[[int], object] | None = None,
        on_run: Callable[[Trial], None] | None = None,
    ) -> None:
        self.queue = queue
        self.staging_required = queue.start_queued
        self._run_metadata = run_metadata
        self.on_run = on_run
        self.run_calls: list[int] = []
        self.batches: list[list[int]] = []
        self.poll_calls: list[set[int]] = []

    def run(self, trial: Trial) -> dict[str, Any]:
        if self.on_run is not None:
            self.on_run(trial)
        self.run_calls.append(trial.index)
        job_id = self.queue.submit(trial)
        if self._run_metadata is not None:
            return self._run_metadata(job_id)  # type: ignore[return-value]
        return {"job_id": job_id}

    def run_multiple(self, trials: Iterable[Trial]) -> dict[int, dict[str, Any]]:
        trials = list(trials)
        self.batches.append([t.index for t in trials])
        return {t.index: {"job_id": self.queue.submit(t)} for t in trials}

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        trials = list(trials)
        self.poll_calls.append({t.index for t in trials})
        self.queue.poll()
        statuses: dict[TrialStatus, set[int]] = {}
        for trial in trials:
            job = self.queue.jobs[trial.run_metadata["job_id"]]
            statuses.setdefault(job.status, set()).add(trial.index)
        return statuses

    def poll_available_capacity(self) -> int:
        return self.queue.free_slots()

    def failure_reason(self, trial: Trial) -> str | None:
        return self.queue.jobs[trial.run_metadata["job_id"]].reason

    def stop(self, trial: Trial, reason: str | None = None) -> dict[str, Any]:
        job = self.queue.jobs[trial.run_metadata["job_id"]]
        job.status = TrialStatus.ABANDONED
        self.queue.stopped.append((trial.index, reason))
        return {"stopped_job": job.job_id}


class QueueMetric(Metric):
    """Reads a finished (or stopped) job's result: every metric it reported."""

    def __init__(self, name: str, queue: FakeJobQueue, lower_is_better: bool | None = None):
        super().__init__(name, lower_is_better)
        self.queue = queue

    def fetch_trial_data(self, trial: Trial) -> Ok[Data] | Err[MetricFetchE]:
        job = self.queue.jobs.get(trial.run_metadata.get("job_id", -1))
        if job is None or job.result is None:
            return Err(MetricFetchE(f"no result for trial {trial.index} yet"))
        return Ok(Data.from_evaluations(dict(job.result), trial.index, trial.arm.name))


# -- building blocks for tests ----------------------------------------------------
def make_experiment(
    queue: FakeJobQueue,
    *,
    parameters: list[Any] | None = None,
    minimize: bool = True,
    outcome_constraints: Callable[[FakeJobQueue], list[OutcomeConstraint]] | None = None,
    runner: Runner | None = None,
    name: str = "fake_experiment",
) -> Experiment:
    """Two float parameters in [0, 1]; minimize (or maximize) metric "objective"."""
    parameters = parameters or [
        RangeParameter("x1", ParameterType.FLOAT, lower=0.0, upper=1.0),
        RangeParameter("x2", ParameterType.FLOAT, lower=0.0, upper=1.0),
    ]
    objective = Objective(metric=QueueMetric("objective", queue), minimize=minimize)
    constraints = outcome_constraints(queue) if outcome_constraints else []
    return Experiment(
        name=name,
        search_space=SearchSpace(parameters=parameters),
        optimization_config=OptimizationConfig(objective, outcome_constraints=constraints),
        runner=runner if runner is not None else FakeRunner(queue),
        is_test=True,
    )


def sobol_only(
    num_trials: int = -1, max_parallelism: int | None = None, seed: int = 0
) -> GenerationStrategy:
    """A one-step Sobol strategy (num_trials=-1: never exhausted)."""
    step = GenerationStep(
        model=Models.SOBOL, num_trials=num_trials, max_parallelism=max_parallelism
    )
    return GenerationStrategy(steps=[step], seed=seed)


def fast_options(**overrides: Any) -> SchedulerOptions:
    """Options that never sleep: poll again at once, no wait after deploying."""
    values: dict[str, Any] = {"init_seconds_between_polls": 0.0, "min_seconds_before_poll": 0.0}
    values.update(overrides)
    return SchedulerOptions(**values)


class FakeClock:
    """Stands in for `time.monotonic`, `time.perf_counter`, `utcnow` and the sleeps.

    `attach(scheduler)` makes every sleep record its length and advance the
    clock by it instead of waiting, so tests can check poll intervals exactly.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now

    def utcnow(self) -> datetime:
        return datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def attach(self, scheduler: Scheduler) -> None:
        event = scheduler._stop_event

        def wait(timeout: float | None = None) -> bool:
            self.sleeps.append(float(timeout or 0.0))
            self.advance(timeout or 0.0)
            return event.is_set()

        event.wait = wait  # type: ignore[method-assign]
