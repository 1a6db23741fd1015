"""The large-experiment regime: what a proposal may cost beyond a number of trials.

Proposing 16 arms with 16 pending took 8.4 s at 500 observed trials and 25 s
at 1,000 (2-core machine, Hartmann6): the exact GP's fit and posteriors grow
with `n`, and the sequential greedy batch runs 16 multi-start L-BFGS-B
optimizations of qLogNEI whose every evaluation costs ~5-8 ms of BoTorch /
GPyTorch overhead whatever `n` (the pending arms join the baseline, so each
evaluation is a joint posterior over ~20-50 points). `bench/proposal_cost.py`
measures it.

Beyond `threshold` observed trials (`LargeData.applies`), the generator

- fits the GP on `fit_points` trials chosen by `subset.select_trials` (the
  best, the incumbent's neighbours, a space-filling rest) instead of all, so
  fitting and every posterior cost what they cost at `fit_points`;
- caps the acquisition optimizer's budget (`optimizer_settings`) and the
  quasi-MC samples (`mc_samples`): with hundreds of observations the GP is
  already sharp near the incumbent, and L-BFGS-B's first iterations make most
  of the progress, so half the restarts and iterations lose little (see
  `bench/README.md` for the quality at 1,000 trials against the exact GP).

At or below `threshold` nothing changes: the default 300 is three times the
largest experiment of `bench/bo_quality.py`, whose figures are therefore those
of the exact GP with the full budget.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from scheduler.generation.botorch.candidates import OptimizerSettings

#: Default of the generator's `large_data_threshold` and `large_data_fit_points`.
DEFAULT_THRESHOLD = 300
DEFAULT_FIT_POINTS = 256


@dataclass(frozen=True)
class LargeData:
    """The large-data policy: `threshold` None turns it off (always the exact GP).

    The optimizer caps apply as minima with the step's own settings: a step
    configured with a smaller budget keeps it.
    """

    threshold: int | None = DEFAULT_THRESHOLD
    fit_points: int = DEFAULT_FIT_POINTS
    num_restarts: int = 4
    raw_samples: int = 128
    maxiter: int = 5
    mc_samples: int = 64

    def __post_init__(self) -> None:
        if self.fit_points < 2:
            raise ValueError(f"large-data fit_points must be at least 2, not {self.fit_points}")
        if self.threshold is not None and self.threshold < self.fit_points:
            raise ValueError(
                f"large-data threshold ({self.threshold}) is below fit_points "
                f"({self.fit_points}): the model would see fewer points past it"
            )

    def applies(self, num_trials: int) -> bool:
        """Whether an experiment with this many observed trials is 'large'."""
        return self.threshold is not None and num_trials > self.threshold

    def optimizer_settings(self, settings: OptimizerSettings) -> OptimizerSettings:
        """`settings` with the restarts, raw samples and iterations capped."""
        return dataclasses.replace(
            settings,
            num_restarts=min(settings.num_restarts, self.num_restarts),
            raw_samples=min(settings.raw_samples, self.raw_samples),
            maxiter=min(settings.maxiter, self.maxiter),
        )

    def capped_mc_samples(self, mc_samples: int) -> int:
        return min(mc_samples, self.mc_samples)
