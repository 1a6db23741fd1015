"""Sending CANDIDATE trials to the runner and recording that they are out.

A mixin of `Scheduler`, kept beside the loop so `scheduler.py` stays the loop.
Each trial's run metadata is saved right after its send, so a resumed
scheduler polls (and collects) every trial that was out when this one died.
A runner that can find its sent trials (`FindsSentTrials`, e.g. `CeleryRunner`)
has them saved once per deploy instead, in one transaction: a crash between a
send and that save leaves a CANDIDATE trial the resumed scheduler re-attaches
(`scheduler.resume.reattach_sent_candidates`), so none is lost or sent twice,
and a deploy of 200 trials costs one commit instead of 200.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from scheduler.core.errors import InvalidRunMetadataError
from scheduler.core.experiment import Experiment
from scheduler.core.runner import FindsSentTrials, Runner
from scheduler.core.trial import Trial, TrialStatus
from scheduler.failure_rate import FailureRateGuard
from scheduler.listeners import SchedulerListener, notify
from scheduler.options import SchedulerOptions
from scheduler.storage.store import ExperimentStore

if TYPE_CHECKING:
    from scheduler.scheduler import Scheduler

logger = logging.getLogger("scheduler")


class DeployMixin:
    """`_deploy`, `record_deploy` and `_mark` of `Scheduler`."""

    experiment: Experiment
    options: SchedulerOptions
    listeners: list[SchedulerListener]
    _store: ExperimentStore
    _guard: FailureRateGuard

    @property
    def runner(self) -> Runner:
        assert self.experiment.runner is not None
        return self.experiment.runner

    def _as_scheduler(self) -> Scheduler:
        return self  # type: ignore[return-value]

    def _deploy(self, trials: Sequence[Trial]) -> int:
        """Send CANDIDATE `trials`; returns how many were sent (failed sends included)."""
        if not trials:
            return 0
        self._guard.track(trials)
        try:
            self._send(trials)
        finally:  # failed sends; with `FindsSentTrials`, every trial sent too (see above)
            if self._saves_per_deploy:
                done = [t for t in trials if t.status is not TrialStatus.CANDIDATE]
            else:
                done = [t for t in trials if t.status.is_terminal]
            if done:
                self._store.save_trials(self.experiment, done)
        return len(trials)

    @property
    def _saves_per_deploy(self) -> bool:
        return isinstance(self.runner, FindsSentTrials)

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
                if not self._saves_per_deploy:
                    self._store.save_trials(self.experiment, [trial])

    def record_deploy(self, trial: Trial, run_metadata: object) -> None:
        """Store `run_metadata` on `trial` and mark it STAGED (or RUNNING): it is out."""
        try:
            trial.update_run_metadata(run_metadata)
        except InvalidRunMetadataError as exc:
            trial.mark_failed(str(exc))
            raise
        if self.runner.staging_required:
            self._mark(trial, TrialStatus.STAGED)
        else:
            previous = trial.status
            trial.mark_running(trial.reported_start_time)
            notify(self.listeners, "on_trial_status", self._as_scheduler(), trial, previous)
        logger.info("trial %d deployed: %s", trial.index, trial.arm.parameters)

    def _mark(self, trial: Trial, status: TrialStatus, reason: str | None = None) -> None:
        """Move `trial` to `status` outside a poll and tell the listeners."""
        previous = trial.status
        trial.mark_as(status, reason)
        notify(self.listeners, "on_trial_status", self._as_scheduler(), trial, previous)
