"""The failure-rate guard: a run whose trials mostly fail stops with the reasons.

Without it a broken objective or a misconfigured fleet would burn the whole
budget on failures. The guard waits for `min_failed_trials_for_failure_rate_check`
failures, then compares failed / deployed trials to the tolerated rate.
"""

from __future__ import annotations

from collections import Counter

from scheduler.core.errors import FailureRateExceededError
from scheduler.core.experiment import Experiment
from scheduler.core.trial import TrialStatus
from scheduler.options import SchedulerOptions


def check_failure_rate(experiment: Experiment, options: SchedulerOptions) -> None:
    """Raise `FailureRateExceededError` naming the commonest reasons when too many failed."""
    num_failed = experiment.count_by_status(TrialStatus.FAILED)
    if num_failed < options.min_failed_trials_for_failure_rate_check:
        return
    num_deployed = experiment.num_trials - experiment.count_by_status(TrialStatus.CANDIDATE)
    rate = num_failed / num_deployed
    if rate <= options.tolerated_trial_failure_rate:
        return
    failed = experiment.trials_by_status(TrialStatus.FAILED)
    reasons = Counter(t.failed_reason or "unknown" for t in failed).most_common(3)
    listed = "; ".join(f"{count}x {reason}" for reason, count in reasons)
    raise FailureRateExceededError(
        f"{num_failed} of {num_deployed} deployed trials failed ({rate:.0%}), "
        f"more than the tolerated {options.tolerated_trial_failure_rate:.0%}. "
        f"Most common reasons: {listed}. Fix the cause, or raise "
        "SchedulerOptions.tolerated_trial_failure_rate."
    )
