"""`Scheduler`: the closed loop of generate -> deploy -> poll -> fetch -> repeat.

The scheduler itself is stateless beyond the experiment and the generation
strategy: everything it learns is written to the experiment (and the store,
when one is configured) as it happens, so a new scheduler can resume.
Beside it: `launching` (budget, candidates), `deploying` (sending trials),
`results` (reports and best points), `candidates` (deduplicated proposals,
STALE candidates), `poll_retries`, `progress_log` (curve points saved as they
arrive), `failure_rate` (the guard), `storage_guard` and `log_setup`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Self

from scheduler.analysis.best_finder import BestPointFinder
from scheduler.core.data import Data
from scheduler.core.errors import InvalidOptimizationConfigError, InvalidSchedulerOptionsError
from scheduler.core.experiment import Experiment
from scheduler.core.runner import Runner
from scheduler.core.trial import Trial, TrialStatus
from scheduler.deploying import DeployMixin
from scheduler.failure_rate import FailureRateGuard
from scheduler.fetching import (
    MAX_RECOVERABLE_FETCHES,
    check_fetch_logic,
    fetch_trial_data,
    validated_poll,
)
from scheduler.fleet_share import FleetShare
from scheduler.generation.strategy import GenerationStrategy
from scheduler.launching import LaunchMixin
from scheduler.listeners import SchedulerListener, notify
from scheduler.log_setup import configure_logger
from scheduler.options import SchedulerOptions
from scheduler.poll_retries import poll_with_retries
from scheduler.progress_log import StoredRows
from scheduler.results import ResultsMixin
from scheduler.stopping.progress import check_progress_metrics, fetch_progress
from scheduler.storage.store import ExperimentStore, store_for
from scheduler.storage_guard import guarded

logger = logging.getLogger("scheduler")

IdleCallback = Callable[["Scheduler"], Any]


class Scheduler(LaunchMixin, DeployMixin, ResultsMixin):
    """Runs an experiment's trials on its runner, using a generation strategy."""

    def __init__(
        self,
        experiment: Experiment,
        generation_strategy: GenerationStrategy,
        options: SchedulerOptions | None = None,
        db_settings: Any = None,
        store: ExperimentStore | None = None,
        listeners: Sequence[SchedulerListener] = (),
        fleet_share: FleetShare | None = None,
    ) -> None:
        """`listeners` are told what the loop does (see `scheduler.listeners`);
        `fleet_share` is a cap on trials out shared with other experiments'
        schedulers (see `scheduler.fleet_share`)."""
        if not isinstance(experiment.runner, Runner):
            raise InvalidSchedulerOptionsError(
                f"Experiment {experiment.name!r} has no runner; pass "
                "Experiment(..., runner=MyRunner()) so the scheduler can deploy trials."
            )
        if experiment.optimization_config is None:
            raise InvalidOptimizationConfigError(
                f"Experiment {experiment.name!r} has no optimization_config; the "
                "scheduler needs an objective to optimize."
            )
        self.experiment = experiment
        self.generation_strategy = generation_strategy
        self.options = options or SchedulerOptions()
        configure_logger(self.options)
        if self.options.validate_metrics:
            check_fetch_logic(experiment)
        # Early stopping: a strategy reading a metric without curves would never stop anything.
        check_progress_metrics(self.options.early_stopping_strategy, experiment)
        self.db_settings = db_settings
        self._store: ExperimentStore = guarded(
            store or store_for(db_settings), self.options.suppress_storage_errors_after_retries
        )
        self._stop_event = threading.Event()
        self._last_deploy = 0.0
        self._stop_reason: str | None = None
        self._complete_message: str | None = None  # why the strategy cannot go on
        self._fetched: list[Data] = []  # data fetched this poll, saved in one batch
        self._fetch_attempts: Counter[int] = Counter()  # recoverable fetch errors per trial
        self._best = BestPointFinder()
        self._guard = FailureRateGuard(self.options)
        self.listeners: list[SchedulerListener] = list(listeners)
        self.fleet_share = fleet_share
        self._store.save_experiment(experiment, generation_strategy)
        self._rows = StoredRows()  # what the store holds: every row saved once
        self._rows.seed(experiment.lookup_data())

    # -- views ---------------------------------------------------------------
    @property
    def store(self) -> ExperimentStore:
        """Where the loop saves what it learns (keeps nothing without `db_settings`)."""
        return self._store

    @property
    def running_trials(self) -> list[Trial]:
        """Trials out on the fleet (STAGED or RUNNING)."""
        return self.experiment.running_trials

    @property
    def pending_trials(self) -> list[Trial]:
        """Trials not yet finished: CANDIDATE, STAGED or RUNNING."""
        return self.experiment.pending_trials

    # -- running -------------------------------------------------------------
    def run_n_trials(
        self,
        max_trials: int,
        timeout_hours: float | None = None,
        idle_callback: IdleCallback | None = None,
        ignore_global_stopping_strategy: bool = False,
    ) -> dict[str, Any]:
        """Add up to `max_trials` trials, run them, and return the final summary."""
        for _ in self.run_trials_and_yield_results(
            max_trials=max_trials,
            timeout_hours=timeout_hours,
            idle_callback=idle_callback,
            ignore_global_stopping_strategy=ignore_global_stopping_strategy,
        ):
            pass
        return self.summarize_final_result()

    def run_all_trials(
        self,
        timeout_hours: float | None = None,
        idle_callback: IdleCallback | None = None,
    ) -> dict[str, Any]:
        """Run until `options.total_trials` trials exist in the experiment."""
        if self.options.total_trials is None:
            raise InvalidSchedulerOptionsError(
                "run_all_trials needs SchedulerOptions(total_trials=N); or call "
                "run_n_trials(max_trials=N)."
            )
        remaining = max(0, self.options.total_trials - self.experiment.num_trials)
        remaining += len(self.candidate_trials)  # already counted in num_trials
        return self.run_n_trials(remaining, timeout_hours, idle_callback)

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask a running loop to finish: no new trials, return after this iteration."""
        self._stop_reason = reason
        self._stop_event.set()

    def run_trials_and_yield_results(
        self,
        max_trials: int,
        ignore_global_stopping_strategy: bool = False,
        timeout_hours: float | None = None,
        idle_callback: IdleCallback | None = None,
    ) -> Iterator[Any]:
        """Run the loop; yield `report_results()` after each poll in which trials
        finished (any terminal state), and once when the run ends (unless the
        last yield already showed that state).

        CANDIDATE trials (attached, or left by a crash) are deployed first and
        count against `max_trials` and `max_pending_trials`, as in Ax. With
        `timeout_hours=0` the loop polls once, reports and returns.
        """
        if not isinstance(max_trials, int) or max_trials < 0:
            raise InvalidSchedulerOptionsError(
                f"max_trials={max_trials!r}; pass a non-negative whole number."
            )
        if timeout_hours is not None and not timeout_hours >= 0:
            raise InvalidSchedulerOptionsError(
                f"timeout_hours={timeout_hours!r}; pass a number >= 0 or None."
            )
        self._stop_event.clear()
        self._stop_reason = None  # a reason from an earlier run is not this run's
        self._complete_message = None
        deadline = None if timeout_hours is None else time.monotonic() + timeout_hours * 3600
        added = 0
        wait = self.options.init_seconds_between_polls
        # Early stopping decides on fresh curves: keep polling at the initial pace.
        backoff = (
            1.0
            if self.options.early_stopping_strategy is not None
            else self.options.seconds_between_polls_backoff_factor
        )
        stop_launching = False
        reported = False  # the last yield shows the current state
        self._store.heartbeat(self.experiment)  # take the lease: one scheduler per experiment
        try:
            while True:
                changed, finished = self.poll_and_process_results()
                self._guard.check(self.experiment)
                if finished:
                    yield self.report_results()
                    reported = True
                if deadline is not None and time.monotonic() >= deadline:
                    logger.info("run stopped: timeout of %s hours reached", timeout_hours)
                    break
                if self._stop_event.is_set():
                    logger.info("run stopped: %s", self._stop_reason)
                    break
                if not ignore_global_stopping_strategy and self._should_stop_globally():
                    stop_launching = True
                launched = 0
                if not stop_launching and not self._stop_event.is_set():  # no launch once asked
                    launched = self._launch(max_trials - added)
                    added += launched
                    if launched:
                        self._last_deploy = time.monotonic()
                    stop_launching = added >= max_trials or self._optimization_complete()
                if stop_launching:
                    self._launching_done()
                if launched or (changed and not finished):
                    reported = False
                if stop_launching and (
                    not self.running_trials or not self.options.wait_for_running_trials
                ):
                    break
                if changed or launched:
                    wait = self.options.init_seconds_between_polls
                if idle_callback is not None:
                    idle_callback(self)
                self._sleep(wait, deadline)
                if not (changed or launched):
                    wait = min(wait * backoff, self.options.max_seconds_between_polls)
            if idle_callback is not None:
                idle_callback(self)  # it sees the final state
            self._guard.check(self.experiment, final=True)
            if not reported:
                yield self.report_results()
        except KeyboardInterrupt:
            logger.warning(
                "Interrupted. Experiment %r is consistent: %d trial(s) still out will "
                "keep running. Resume with Scheduler.from_stored_experiment(%r, ...) "
                "(needs db_settings) or call run_n_trials again.",
                self.experiment.name,
                len(self.pending_trials),
                self.experiment.name,
            )
            raise
        finally:
            self._store.release(self.experiment)

    def _sleep(self, seconds: float, deadline: float | None) -> None:
        since_deploy = time.monotonic() - self._last_deploy
        seconds = max(seconds, self.options.min_seconds_before_poll - since_deploy)
        if deadline is not None:
            seconds = min(seconds, max(0.0, deadline - time.monotonic()))
        if seconds > 0:
            self._stop_event.wait(seconds)
        self._store.heartbeat(self.experiment)

    def should_consider_optimization_complete(self) -> tuple[bool, str]:
        """(True, why) when no more trials should be proposed, as Ax's method.

        Complete when the strategy proposed nothing (new) while nothing was
        pending, when `total_trials` trials exist, or when the strategy is
        exhausted and no CANDIDATE waits. The global-stopping strategy is asked
        separately by the loop, so `ignore_global_stopping_strategy` can skip it.
        """
        if self._complete_message is not None:
            return True, self._complete_message
        total = self.options.total_trials
        if total is not None and self.experiment.num_trials >= total:
            return True, f"total_trials={total} trials exist"
        if not self.candidate_trials and self.generation_strategy.is_exhausted(self.experiment):
            return True, "generation strategy exhausted: no more trials to propose"
        return False, ""

    def _optimization_complete(self) -> bool:
        complete, message = self.should_consider_optimization_complete()
        if complete:
            logger.info("optimization complete: %s", message)
            if self._complete_message is not None:
                self._stop_reason = self._stop_reason or message
        return complete

    # -- polling -------------------------------------------------------------
    def poll_and_process_results(self) -> tuple[bool, bool]:
        """Poll outstanding trials once; returns (anything changed, any trial finished).

        A runner whose poll raises is retried, then asked trial by trial; a
        trial whose own poll keeps failing is ABANDONED (`poll_retries`).
        """
        started = time.perf_counter()
        outstanding = self.running_trials
        before = {trial.index: trial.status for trial in outstanding}
        changed: list[Trial] = []
        self._fetched = []
        if outstanding:
            statuses, abandon = poll_with_retries(self.runner, outstanding)
            for index, reason in abandon.items():
                trial = self.experiment.trials[index]
                logger.warning("trial %d abandoned: %s", index, reason)
                trial.mark_abandoned(reason)
                changed.append(trial)
            for status, trial in validated_poll(statuses, self.experiment):
                if self._apply_status(trial, status):
                    changed.append(trial)
        changed.extend(self._fail_stale_trials())
        changed.extend(self._stop_trials_early(self._fetch_progress()))
        new_rows = self._rows.new_rows(Data.from_multiple(self._fetched))
        self._fetched = []
        if not new_rows.df.empty:  # data first: a stored COMPLETED trial always has its data
            self._store.save_data(self.experiment, new_rows)
        if changed:
            self._store.save_trials(self.experiment, changed)
        for trial in changed:
            notify(self.listeners, "on_trial_status", self, trial, before[trial.index])
        notify(self.listeners, "on_poll", self, time.perf_counter() - started)
        return bool(changed), any(t.status.is_terminal for t in changed)

    def _apply_status(self, trial: Trial, status: TrialStatus) -> bool:
        """Move `trial` to the polled `status`; fetch data first for finished ones."""
        if status is trial.status or trial.status.is_terminal:
            return False
        if status in (TrialStatus.CANDIDATE, TrialStatus.STAGED, TrialStatus.STALE):
            return False  # never move backwards
        if status is TrialStatus.RUNNING:
            trial.mark_running(trial.reported_start_time)
            return True
        if status in (TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED):
            problem, recoverable = self._collect_data(trial)
            if problem is not None and status is TrialStatus.COMPLETED:
                self._fetch_attempts[trial.index] += 1
                if recoverable and self._fetch_attempts[trial.index] < MAX_RECOVERABLE_FETCHES:
                    logger.info("trial %d: %s; fetching again next poll", trial.index, problem)
                    return False
                logger.warning("trial %d failed: %s", trial.index, problem)
                self._guard.fetch_failed(trial)
                trial.mark_failed(problem)
                return True
            trial.mark_as(status)
            return True
        reason = self.runner.failure_reason(trial)
        if status is TrialStatus.FAILED:
            reason = reason or "the runner reported the trial as failed"
            logger.warning("trial %d failed: %s", trial.index, reason)
        trial.mark_as(status, reason)
        return True

    def _collect_data(self, trial: Trial) -> tuple[str | None, bool]:
        """Fetch and attach `trial`'s data, queued for this poll's one batched save.

        Returns why the data are unusable (or None) and whether that may pass.
        """
        data, problem, recoverable = fetch_trial_data(self.experiment, trial)
        if not data.df.empty:
            self.experiment.attach_data(data)
            self._fetched.append(data)
        return problem, recoverable

    def _fetch_progress(self) -> bool:
        """Fetch, attach and queue for saving the curves of RUNNING trials, from the
        metrics that report progress; True when any curve point is new."""
        running = self.experiment.trials_by_status(TrialStatus.RUNNING)
        if not running or not any(m.reports_progress for m in self.experiment.metrics.values()):
            return False
        progress = fetch_progress(self.experiment, running)
        if progress.df.empty:
            return False
        self.experiment.attach_data(progress)
        self._fetched.append(progress)
        return self._rows.has_new(progress)

    def _fail_stale_trials(self) -> list[Trial]:
        stale = [t for t in self.running_trials if t.is_stale]
        for trial in stale:
            reason = f"exceeded TTL of {trial.ttl_seconds} s"
            self._stop_quietly(trial, reason)
            trial.mark_failed(reason)
            logger.warning("trial %d failed: %s", trial.index, reason)
        return stale

    def _stop_quietly(self, trial: Trial, reason: str) -> None:
        try:
            trial.stop_metadata.update(self.runner.stop(trial, reason=reason) or {})
        except Exception:
            logger.exception("runner could not stop trial %d", trial.index)

    def _stop_trials_early(self, new_progress: bool) -> list[Trial]:
        """Ask the early-stopping strategy about RUNNING trials and stop what it names.

        A strategy that names the curves it reads (`progress_metric_names`, as
        every `EarlyStoppingStrategy` does) is asked only when a curve point
        arrived: asking again on the same curves costs a fit and can only
        repeat the answer. Any other strategy may decide on other signals (a
        file, a clock) and is asked every poll.
        """
        strategy = self.options.early_stopping_strategy
        running = [t for t in self.running_trials if t.status is TrialStatus.RUNNING]
        if strategy is None or not running:
            return []
        reads_curves = callable(getattr(strategy, "progress_metric_names", None))
        if reads_curves and not new_progress:
            return []
        decisions: dict[int, str | None] = strategy.should_stop_trials_early(
            trial_indices={t.index for t in running}, experiment=self.experiment
        )
        stopped = []
        for index, reason in decisions.items():
            trial = self.experiment.trials.get(index)
            if trial is None or trial.status is not TrialStatus.RUNNING:
                continue  # unknown, or no longer running: nothing to stop
            self._collect_data(trial)  # partial curve first
            trial.stop_metadata["early_stop"] = True
            self._stop_quietly(trial, reason or "early stopped")
            trial.mark_early_stopped(reason)
            stopped.append(trial)
        return stopped

    def _should_stop_globally(self) -> bool:
        strategy = self.options.global_stopping_strategy
        if strategy is None:
            return False
        stop, message = strategy.should_stop_optimization(experiment=self.experiment)
        if stop:
            logger.info("global stopping: %s", message)
            self._stop_reason = message
        return bool(stop)

    # -- storage -------------------------------------------------------------
    @classmethod
    def from_stored_experiment(
        cls,
        experiment_name: str,
        options: SchedulerOptions | None = None,
        db_settings: Any = None,
        generation_strategy: GenerationStrategy | None = None,
        bind_runner: Callable[[Runner], object] | None = None,
        **kwargs: Any,
    ) -> Self:
        """Load a stored experiment and continue it (see `scheduler.resume`);
        `bind_runner` prepares the loaded runner (e.g. `scheduler.celery.bind_app`)."""
        from scheduler.resume import from_stored_experiment

        return from_stored_experiment(
            cls, experiment_name, options, db_settings, generation_strategy, bind_runner, **kwargs
        )
