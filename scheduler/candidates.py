"""Proposing new trials: deduplicated proposals, and candidates left for review.

- `propose`: ask the strategy for `n` arms no trial of the experiment has yet
  (Ax's `should_deduplicate`). The generators already skip every known arm,
  failed ones included (`GenerationContext.tried`); this is the safety net for
  a generator that does not: a duplicate is dropped and the strategy asked
  again, at most `MAX_DEDUP_ATTEMPTS` times, so a strategy that can only repeat
  itself ends the run with a message instead of spending the budget on
  evaluations it already has.
- `mark_stale_candidates`: CANDIDATE trials a human never deployed become
  STALE when replaced by `generate_candidates` or older than their TTL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from scheduler.core.experiment import Experiment, arm_key
from scheduler.core.trial import Trial, TrialStatus
from scheduler.generation.strategy import GenerationStrategy, GeneratorRun

logger = logging.getLogger("scheduler")

#: Calls to the strategy per `propose` before giving up on duplicates.
MAX_DEDUP_ATTEMPTS = 5


def propose(
    experiment: Experiment, strategy: GenerationStrategy, n: int
) -> tuple[list[GeneratorRun], int]:
    """Up to `n` runs whose arms are new to `experiment`, and how many duplicates were dropped."""
    keys = {arm_key(t.arm.parameters) for t in experiment.trials.values()}
    keys -= {arm_key(t.arm.parameters) for t in experiment.trials_by_status(TrialStatus.STALE)}
    accepted: list[GeneratorRun] = []
    duplicates = 0
    for _ in range(MAX_DEDUP_ATTEMPTS):
        runs = strategy.gen(experiment, n - len(accepted))
        if not runs:
            break
        for run in runs:
            key = arm_key(experiment.search_space.cast_parameterization(run.parameters))
            if key in keys:
                duplicates += 1
                logger.info("dropped a duplicate proposal %s", run.parameters)
                continue
            keys.add(key)
            accepted.append(run)
        if len(accepted) >= n:
            break
    return accepted[:n], duplicates


def mark_stale_candidates(
    trials: Iterable[Trial], reason: str, ttl_seconds: float | None = None, ttl_only: bool = False
) -> list[Trial]:
    """Mark CANDIDATE `trials` STALE; with `ttl_only`, only those older than their
    TTL (`trial.ttl_seconds`, else `ttl_seconds`; neither: never stale)."""
    stale = []
    for trial in trials:
        if trial.status is not TrialStatus.CANDIDATE:
            continue
        ttl = trial.ttl_seconds if trial.ttl_seconds is not None else ttl_seconds
        if ttl_only and (ttl is None or not trial.is_candidate_older_than(ttl)):
            continue
        trial.mark_stale(reason)
        logger.info("trial %d is STALE: %s", trial.index, reason)
        stale.append(trial)
    return stale
