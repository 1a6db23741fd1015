"""The failure-rate guard: a run whose trials mostly fail stops with the reasons.

Without it a broken objective or a misconfigured fleet would burn the whole
budget on failures. As Ax's Orchestrator does, the guard counts the trials
*this scheduler* deployed, and both FAILED and ABANDONED ones are bad (a trial
abandoned because its poll kept failing is as lost as a crashed one). During
the run it waits for `min_failed_trials_for_failure_rate_check` bad trials;
when the run ends it checks once more with any number of them, so a run whose
every trial failed raises instead of returning a normal summary.

Difference from Ax: Ax stops scheduling and raises only after the pending
trials finish; here the error is raised at once, as this loop always did,
because the trials still out keep running on their own (nothing is lost) and
an operator learns of a broken objective minutes earlier.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from scheduler.core.errors import FailureRateExceededError
from scheduler.core.experiment import Experiment
from scheduler.core.trial import Trial, TrialStatus
from scheduler.options import SchedulerOptions

BAD_STATUSES = (TrialStatus.FAILED, TrialStatus.ABANDONED)


class FailureRateGuard:
    """Remembers which trials this scheduler deployed and which of those failed to fetch."""

    def __init__(self, options: SchedulerOptions) -> None:
        self.options = options
        self.deployed: set[int] = set()
        self.failed_by_fetch: set[int] = set()

    def track(self, trials: Iterable[Trial]) -> None:
        """Count `trials` as this scheduler's (called when they are sent)."""
        self.deployed.update(t.index for t in trials)

    def fetch_failed(self, trial: Trial) -> None:
        """`trial` failed because a required metric could not be fetched."""
        self.failed_by_fetch.add(trial.index)

    def check(self, experiment: Experiment, final: bool = False) -> None:
        """Raise `FailureRateExceededError` naming the commonest reasons when too many failed.

        `final=True` (the run is ending) checks whenever any trial is bad.
        """
        ours = [experiment.trials[i] for i in sorted(self.deployed) if i in experiment.trials]
        bad = [t for t in ours if t.status in BAD_STATUSES]
        if not bad:
            return
        if not final and len(bad) < self.options.min_failed_trials_for_failure_rate_check:
            return
        ran = [t for t in ours if t.status is not TrialStatus.CANDIDATE]
        rate = len(bad) / len(ran)
        if rate <= self.options.tolerated_trial_failure_rate:
            return
        reasons = Counter(t.failed_reason or "unknown" for t in bad).most_common(3)
        listed = "; ".join(f"{count}x {reason}" for reason, count in reasons)
        by_fetch = len(self.failed_by_fetch & {t.index for t in bad})
        hint = ""
        if by_fetch > len(bad) / 2:
            hint = (
                f" Most failures ({by_fetch} of {len(bad)}) came from metric fetches: check "
                "that the metrics can read the results (flaky or broken fetch_trial_data)."
            )
        abandoned = sum(t.status is TrialStatus.ABANDONED for t in bad)
        some_abandoned = f", {abandoned} of them abandoned" if abandoned else ""
        raise FailureRateExceededError(
            f"{len(bad)} of {len(ran)} deployed trials failed ({rate:.0%}{some_abandoned}), "
            "more than the tolerated "
            f"{self.options.tolerated_trial_failure_rate:.0%}. Most common reasons: "
            f"{listed}.{hint} Fix the cause, or raise "
            "SchedulerOptions.tolerated_trial_failure_rate."
        )
