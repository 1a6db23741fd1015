"""`Scheduler`: the closed loop of generate -> deploy -> poll -> fetch -> repeat.

The scheduler itself is stateless beyond the experiment and the generation
strategy: everything it learns is written to the experiment (and the store,
when one is configured) as it happens, so a new scheduler can resume.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Self

from scheduler.analysis.best_finder import BestPointFinder, BestTrial
from scheduler.core.data import Data
from scheduler.core.errors import (
    InvalidOptimizationConfigError,
    InvalidRunMetadataError,
    InvalidSchedulerOptionsError,
)
from scheduler.core.experiment import Experiment
from scheduler.core.parameters import TParameterization
from scheduler.core.runner import Runner
from scheduler.core.trial import Trial, TrialStatus
from scheduler.failure_rate import check_failure_rate
from scheduler.fetching import fetch_trial_data, validated_poll
from scheduler.generation.strategy import GenerationStrategy
from scheduler.listeners import SchedulerListener, notify
from scheduler.options import SchedulerOptions
from scheduler.stopping.progress import check_progress_metrics, fetch_progress
from scheduler.storage.store import ExperimentStore, store_for

logger = logging.getLogger("scheduler")

IdleCallback = Callable[["Scheduler"], Any]


class Scheduler:
    """Runs an experiment's trials on its runner, using a generation strategy."""

    def __init__(
        self,
        experiment: Experiment,
        generation_strategy: GenerationStrategy,
        options: SchedulerOptions | None = None,
        db_settings: Any = None,
        store: ExperimentStore | None = None,
        listeners: Sequence[SchedulerListener] = (),
    ) -> None:
        """`listeners` are told what the loop does (see `scheduler.listeners`)."""
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
        # Early stopping: a strategy reading a metric without curves would never stop anything.
        check_progress_metrics(self.options.early_stopping_strategy, experiment)
        self.db_settings = db_settings
        self._store: ExperimentStore = store or store_for(db_settings)
        self._stop_event = threading.Event()
        self._last_deploy = 0.0
        self._stop_reason: str | None = None
        self._fetched: list[Data] = []  # data fetched this poll, saved in one batch
        self._best = BestPointFinder()
        self.listeners: list[SchedulerListener] = list(listeners)
        self._store.save_experiment(experiment, generation_strategy)

    # -- views ---------------------------------------------------------------
    @property
    def runner(self) -> Runner:
        assert self.experiment.runner is not None
        return self.experiment.runner

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

    @property
    def candidate_trials(self) -> list[Trial]:
        return self.experiment.trials_by_status(TrialStatus.CANDIDATE)

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
        """Run the loop; yield `report_results()` each time trials complete."""
        if not isinstance(max_trials, int) or max_trials < 0:
            raise InvalidSchedulerOptionsError(
                f"max_trials={max_trials!r}; pass a non-negative whole number."
            )
        if timeout_hours is not None and timeout_hours <= 0:
            raise InvalidSchedulerOptionsError(
                f"timeout_hours={timeout_hours!r}; pass a positive number or None."
            )
        self._stop_event.clear()
        self._stop_reason = None  # a reason from an earlier run is not this run's
        deadline = None if timeout_hours is None else time.monotonic() + timeout_hours * 3600
        added = 0
        wait = self.options.init_seconds_between_polls
        stop_launching = False
        self._store.heartbeat(self.experiment)  # take the lease: one scheduler per experiment
        try:
            # Left over from a crash or interrupt: counted by the run that created them.
            self._deploy(self.candidate_trials)
            while True:
                if deadline is not None and time.monotonic() >= deadline:
                    logger.info("run stopped: timeout of %s hours reached", timeout_hours)
                    return
                if self._stop_event.is_set():
                    logger.info("run stopped: %s", self._stop_reason)
                    return
                changed, completed = self.poll_and_process_results()
                check_failure_rate(self.experiment, self.options)
                if completed:
                    yield self.report_results()
                if not ignore_global_stopping_strategy and self._should_stop_globally():
                    stop_launching = True
                launched = 0
                if not stop_launching and not self._stop_event.is_set():  # no launch once asked
                    launched = self._launch(max_trials - added)
                    added += launched
                    if self._nothing_more_to_launch(max_trials - added):
                        stop_launching = True
                if stop_launching and (
                    not self.pending_trials or not self.options.wait_for_running_trials
                ):
                    return
                if changed or launched:
                    wait = self.options.init_seconds_between_polls
                else:
                    if idle_callback is not None:
                        idle_callback(self)
                self._sleep(wait, deadline)
                if not (changed or launched):
                    wait = min(
                        wait * self.options.seconds_between_polls_backoff_factor,
                        self.options.max_seconds_between_polls,
                    )
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

    def _nothing_more_to_launch(self, remaining: int) -> bool:
        if remaining <= 0:
            return True
        total = self.options.total_trials
        if total is not None and self.experiment.num_trials >= total:
            return True
        if self.generation_strategy.is_exhausted(self.experiment):
            logger.info("generation strategy exhausted: no more trials to propose")
            return True
        return False

    # -- launching -----------------------------------------------------------
    def _capacity(self, remaining: int) -> int:
        n = min(remaining, self.options.max_pending_trials - len(self.pending_trials))
        if self.options.total_trials is not None:
            n = min(n, self.options.total_trials - self.experiment.num_trials)
        allowed = self.generation_strategy.num_can_generate(self.experiment)
        if allowed is not None:
            n = min(n, allowed)
        if n > 0 and self.options.run_trials_in_batches:
            fleet = self.runner.poll_available_capacity()
            if fleet >= 0:
                n = min(n, fleet)
        return max(0, n)

    def _launch(self, remaining: int) -> int:
        n = self._capacity(remaining)
        if n <= 0:
            return 0
        started = time.perf_counter()
        runs = self.generation_strategy.gen(self.experiment, n)
        trials = [
            self.experiment.new_trial(
                run.parameters,
                generation_step=run.generation_step,
                ttl_seconds=self.options.ttl_seconds_for_trials,
            )
            for run in runs
        ]
        self._store.save_new_trials(self.experiment, trials, self.generation_strategy)
        notify(self.listeners, "on_generate", self, trials, time.perf_counter() - started)
        return self._deploy(trials)

    def _deploy(self, trials: Sequence[Trial]) -> int:
        """Send CANDIDATE trials to the runner, saving each one's run metadata right
        after its send, so a resumed scheduler polls (and collects) every trial
        that was out when this one died."""
        if not trials:
            return 0
        try:
            self._send(trials)
        finally:
            self._store.save_trials(self.experiment, [t for t in trials if t.status.is_terminal])
        self._last_deploy = time.monotonic()
        return len(trials)

    def _send(self, trials: Sequence[Trial]) -> None:
        if self.options.run_trials_in_batches:
            try:
                metadata = self.runner.run_multiple(trials)
            except Exception as exc:
                for trial in trials:
                    self._mark(trial, TrialStatus.FAILED, f"deploy failed: {exc}")
                logger.exception("run_multiple failed for %d trials", len(trials))
                return
            for trial in trials:
                self.record_deploy(trial, metadata.get(trial.index, {}))
            self._store.save_trials(self.experiment, trials)
        else:
            for trial in trials:
                try:
                    run_metadata = self.runner.run(trial)
                except Exception as exc:
                    self._mark(trial, TrialStatus.FAILED, f"deploy failed: {exc}")
                    logger.exception("run failed for trial %d", trial.index)
                    continue
                self.record_deploy(trial, run_metadata)
                self._store.save_trials(self.experiment, [trial])

    def record_deploy(self, trial: Trial, run_metadata: object) -> None:
        """Store `run_metadata` on `trial` and mark it STAGED (or RUNNING): it is out."""
        try:
            trial.update_run_metadata(run_metadata)
        except InvalidRunMetadataError as exc:
            trial.mark_failed(str(exc))
            raise
        self._mark(
            trial, TrialStatus.STAGED if self.runner.staging_required else TrialStatus.RUNNING
        )
        logger.info("trial %d deployed: %s", trial.index, trial.arm.parameters)

    def _mark(self, trial: Trial, status: TrialStatus, reason: str | None = None) -> None:
        """Move `trial` to `status` outside a poll and tell the listeners."""
        previous = trial.status
        trial.mark_as(status, reason)
        notify(self.listeners, "on_trial_status", self, trial, previous)

    # -- polling -------------------------------------------------------------
    def poll_and_process_results(self) -> tuple[bool, bool]:
        """Poll outstanding trials once; returns (anything changed, any completed)."""
        started = time.perf_counter()
        outstanding = self.running_trials
        before = {trial.index: trial.status for trial in outstanding}
        changed: list[Trial] = []
        self._fetched = []
        completed = False
        if outstanding:
            statuses = self.runner.poll_trial_status(outstanding)
            for status, trial in validated_poll(statuses, self.experiment):
                if self._apply_status(trial, status):
                    changed.append(trial)
                    completed = completed or trial.status is TrialStatus.COMPLETED
        changed.extend(self._fail_stale_trials())
        changed.extend(self._stop_trials_early())
        if self._fetched:  # data first: a stored COMPLETED trial always has its data
            self._store.save_data(self.experiment, Data.from_multiple(self._fetched))
            self._fetched = []
        if changed:
            self._store.save_trials(self.experiment, changed)
        for trial in changed:
            notify(self.listeners, "on_trial_status", self, trial, before[trial.index])
        notify(self.listeners, "on_poll", self, time.perf_counter() - started)
        return bool(changed), completed

    def _apply_status(self, trial: Trial, status: TrialStatus) -> bool:
        """Move `trial` to the polled `status`; fetch data first for finished ones."""
        if status is trial.status or trial.status.is_terminal:
            return False
        if status in (TrialStatus.CANDIDATE, TrialStatus.STAGED):
            return False  # never move backwards
        if status is TrialStatus.RUNNING:
            trial.mark_running()
            return True
        if status in (TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED):
            problem = self._collect_data(trial)
            if problem is not None and status is TrialStatus.COMPLETED:
                logger.warning("trial %d failed: %s", trial.index, problem)
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

    def _collect_data(self, trial: Trial) -> str | None:
        """Fetch and attach `trial`'s data, queued for this poll's one batched save.

        Returns why the data are unusable, or None.
        """
        data, problem = fetch_trial_data(self.experiment, trial)
        if not data.df.empty:
            self.experiment.attach_data(data)
            self._fetched.append(data)
        return problem

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

    def _stop_trials_early(self) -> list[Trial]:
        strategy = self.options.early_stopping_strategy
        running = [t for t in self.running_trials if t.status is TrialStatus.RUNNING]
        if strategy is None or not running:
            return []
        # Early stopping decides on learning curves: attach the progress rows of the
        # running trials (metrics with reports_progress only) before asking. They are
        # saved to the store with the trial's data when it finishes or is stopped.
        self.experiment.attach_data(fetch_progress(self.experiment, running))
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

    # -- results -------------------------------------------------------------
    def report_results(self, force_refit: bool = False) -> Any:
        """Hook called whenever new trials complete; override to report elsewhere."""
        return {
            "trials": self.experiment.num_trials,
            "completed": len(self.experiment.trials_by_status(TrialStatus.COMPLETED)),
        }

    def get_best_trial(self, use_model_predictions: bool = True) -> BestTrial | None:
        """(index, parameters, metric means) of the best feasible trial so far.

        With noisy data the means are the GP's predictions, for up to a few
        hundred completed trials (see `scheduler.analysis.best_finder`); the
        answer is kept until data arrive or a trial completes.
        """
        kernel = self.generation_strategy.model_kernel
        return self._best.best_trial(self.experiment, kernel, use_model_predictions)

    def get_pareto_optimal_parameters(
        self, use_model_predictions: bool = True
    ) -> dict[int, tuple[TParameterization, dict[str, float]]]:
        """{trial index: (parameters, metric means)} of the feasible Pareto set."""
        kernel = self.generation_strategy.model_kernel
        return self._best.pareto(self.experiment, kernel, use_model_predictions)

    def get_best_parameters(self) -> TParameterization | None:
        best = self.get_best_trial()
        return None if best is None else best[1]

    def summarize_final_result(self) -> dict[str, Any]:
        """Trials by status and the best trial: what a run ends with.

        The best trial is chosen as `get_best_trial` does; its values are the
        ones observed (what the trial measured), not model predictions.
        """
        counts = Counter(t.status.name for t in self.experiment.trials.values())
        best = self.get_best_trial()
        observed = None
        if best is not None:
            df = self.experiment.lookup_trial_data(best[0]).final().df
            observed = dict(zip(df["metric_name"], df["mean"].astype(float), strict=True))
        return {
            "experiment": self.experiment.name,
            "trials_by_status": dict(counts),
            "best_trial_index": None if best is None else best[0],
            "best_parameters": None if best is None else best[1],
            "best_values": observed,
            "stop_reason": self._stop_reason,
        }

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
