"""Launching trials within the budget: waiting candidates first, then new ones.

A mixin of `Scheduler`, kept beside the loop so `scheduler.py` stays the loop.
As in Ax, CANDIDATE trials already in the experiment when a run starts
(attached with `Experiment.attach_trial`, made by `generate_candidates`, or
left by a crash) are deployed first and count against the run's `max_trials`
and `max_pending_trials`; `total_trials` counts every trial of the experiment.
New arms are deduplicated against every existing arm (`candidates.propose`).
"""

from __future__ import annotations

import time

from scheduler.candidates import mark_stale_candidates, propose
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.core.trial import Trial, TrialStatus
from scheduler.deploying import DeployMixin
from scheduler.fleet_share import FleetShare
from scheduler.generation.strategy import GenerationStrategy
from scheduler.listeners import notify


class LaunchMixin(DeployMixin):
    """`_launch`, `generate_candidates` and their budget arithmetic."""

    generation_strategy: GenerationStrategy
    fleet_share: FleetShare | None
    _complete_message: str | None

    @property
    def candidate_trials(self) -> list[Trial]:
        return self.experiment.trials_by_status(TrialStatus.CANDIDATE)

    def _slots(self, remaining: int) -> int:
        """Trials that may go out now: budget, `max_pending_trials`, this experiment's
        share of a daemon-wide cap (`fleet_share`), fleet capacity."""
        out = len(self.experiment.running_trials)
        n = min(remaining, self.options.max_pending_trials - out)
        if self.fleet_share is not None:
            demand = min(self.options.max_pending_trials, out + remaining)
            n = min(n, self.fleet_share.allowance(self.experiment.name, out, demand))
        if n > 0 and self.options.run_trials_in_batches:
            fleet = self.runner.poll_available_capacity()
            if fleet >= 0:
                n = min(n, fleet)
        return max(0, n)

    def _launching_done(self) -> None:
        """This run launches no more: its share of a daemon-wide cap shrinks to the
        trials it still has out, so the other experiments get the rest at once."""
        if self.fleet_share is not None:
            out = len(self.experiment.running_trials)
            self.fleet_share.allowance(self.experiment.name, out, out)

    def _new_trial_room(self, slots: int) -> int:
        """New trials allowed in `slots`: `total_trials` and the strategy's own limits."""
        n = slots
        if self.options.total_trials is not None:
            n = min(n, self.options.total_trials - self.experiment.num_trials)
        allowed = self.generation_strategy.num_can_generate(self.experiment)
        if allowed is not None:
            n = min(n, allowed)
        return max(0, n)

    def _launch(self, remaining: int) -> int:
        """Deploy waiting CANDIDATE trials first, then new ones, within the budget."""
        self._expire_candidates()
        slots = self._slots(remaining)
        if slots <= 0:
            self._generate_ahead(remaining)
            return 0
        trials = self.candidate_trials[:slots]
        room = self._new_trial_room(slots - len(trials))
        if room > 0:
            trials += self._generate(room)
        elif (
            not trials
            and not self.experiment.pending_trials
            and not self.generation_strategy.is_exhausted(self.experiment)
            and self.generation_strategy.num_can_generate(self.experiment) == 0
        ):
            self._complete_message = (
                "the generation strategy may propose no trial now and none is pending, "
                "so it never will; check its steps (num_trials, min_trials_observed)"
            )
        deployed = self._deploy(trials)
        if deployed >= slots:
            self._generate_ahead(remaining - deployed)
        return deployed

    def _generate_ahead(self, remaining: int) -> None:
        """With `generate_ahead`, keep one CANDIDATE ready while every slot is busy.

        Generation takes a model tenths of a second per trial; made after a
        slot frees, that is time its worker idles. The spare is made while
        the workers are busy and deployed the moment one frees (candidates go
        first). Never the last trial of the run or the budget, so the run
        never ends with it undeployed.
        """
        total = self.options.total_trials
        if (
            self.options.generate_ahead
            and not self.candidate_trials
            and remaining > 1
            and (total is None or total - self.experiment.num_trials > 1)
            and self._new_trial_room(1) > 0
        ):
            self._generate(1)

    def _generate(self, n: int) -> list[Trial]:
        """Propose `n` new arms as CANDIDATE trials, saved and announced."""
        started = time.perf_counter()
        runs, duplicates = propose(self.experiment, self.generation_strategy, n)
        if not runs and not self.experiment.pending_trials:
            self._complete_message = (
                f"the generation strategy proposed nothing new ({duplicates} duplicate(s) "
                "of existing arms dropped) while no trial is pending"
            )
            return []
        trials = [
            self.experiment.new_trial(
                run.parameters,
                generation_step=run.generation_step,
                ttl_seconds=self.options.ttl_seconds_for_trials,
            )
            for run in runs
        ]
        self._store.save_new_trials(self.experiment, trials, self.generation_strategy)
        notify(
            self.listeners,
            "on_generate",
            self._as_scheduler(),
            trials,
            time.perf_counter() - started,
        )
        return trials

    def generate_candidates(self, num_trials: int = 1) -> list[Trial]:
        """Create `num_trials` CANDIDATE trials for review, without deploying them.

        The unreviewed candidates of an earlier call become STALE (replaced);
        the next run deploys the current ones first. As Ax's method of that name.
        """
        if isinstance(num_trials, bool) or not isinstance(num_trials, int) or num_trials < 1:
            raise InvalidSchedulerOptionsError(
                f"generate_candidates(num_trials={num_trials!r}); pass a positive whole number."
            )
        stale = mark_stale_candidates(self.candidate_trials, "replaced by newer candidates")
        if stale:
            self._store.save_trials(self.experiment, stale)
        self._complete_message = None
        return self._generate(num_trials)

    def _expire_candidates(self) -> None:
        """CANDIDATE trials older than their TTL become STALE instead of being deployed."""
        ttl = self.options.ttl_seconds_for_trials
        stale = mark_stale_candidates(
            self.candidate_trials, f"candidate older than its TTL of {ttl} s", ttl, ttl_only=True
        )
        if stale:
            self._store.save_trials(self.experiment, stale)
