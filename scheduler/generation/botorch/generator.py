"""The Bayesian-optimization step, registered as `Models.BOTORCH` ("BoTorch").

One call to `gen(n, context)`:

1. encode observed arms into the unit cube and fit one GP per modeled metric
   (`modeling`), warm-started from the previous call's hyperparameters; on
   large experiments only on a subset of the trials (`large_data`, `subset`);
2. build the acquisition function (`acquisition`) with the pending arms as
   `X_pending`;
3. propose `n` arms by sequential greedy optimization (`candidates`): each new
   arm joins `X_pending` before the next is optimized, so a batch spreads out;
   with `explore=`, every `explore_every`-th arm maximizes an exploring rule
   instead (`exploration`: Thompson sampling or qUCB), to leave a local basin;
   with `escape=`, while the incumbent stalls every `escape_every`-th arm
   avoids the incumbent's basin (`escape`: local penalization, or a second
   trust region around the best arm outside it).

With `refit_growth` (off by default), the GP's hyperparameters are refitted
only when the data have grown by that fraction since the last fit
(`gp.should_refit`).

Randomness (raw samples, MC base samples, fit restarts) is seeded from
`seed + number of observed trials`, on a forked torch RNG, so the same seed and
data give the same proposals and the caller's RNG is untouched.

When there is nothing to model (no optimization config, too few observations)
or fitting / optimizing fails, the step logs a WARNING with the reason and
proposes Sobol points instead of breaking the optimization loop. An exploring
or escaping arm whose rule fails is optimized by qLogNEI instead (a WARNING
too): the model is sound, so the batch keeps it.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction

from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.core.parameters import TParameterization
from scheduler.core.search_space import SearchSpace
from scheduler.generation.base import GenerationContext, Generator, register_generator
from scheduler.generation.botorch import large_data
from scheduler.generation.botorch.acquisition import build_acquisition, prune_once
from scheduler.generation.botorch.candidates import (
    ArmKey,
    OptimizerSettings,
    as_pending,
    propose_continuous,
    propose_discrete,
)
from scheduler.generation.botorch.copula import copula_transform
from scheduler.generation.botorch.encoding import UnitCubeEncoder
from scheduler.generation.botorch.escape import (
    EscapePlan,
    EscapeSettings,
    ExcludedBasin,
    is_escaping_turn,
    plan_escape,
)
from scheduler.generation.botorch.exploration import (
    EXPLORE_RULES,
    build_exploring_acquisition,
    is_exploring_turn,
)
from scheduler.generation.botorch.gp import (
    DEFAULT_KERNEL,
    DEFAULT_REFIT_GROWTH,
    KERNELS,
    MetricObservations,
    ModelFitError,
    WarmStart,
    collect_observations,
    fit_models,
    should_refit,
)
from scheduler.generation.botorch.outcomes import OutcomeSpec, infer_reference_point
from scheduler.generation.botorch.prior_mean import DEFAULT_PRIOR_MEAN, PRIOR_MEANS
from scheduler.generation.botorch.subset import restrict, select_trials
from scheduler.generation.botorch.torch_context import quiet, torch_threads
from scheduler.generation.sobol import SobolGenerator

logger = logging.getLogger(__name__)

#: Builds the acquisition function for given pending points (`m x d`, or None)
#: and whether this arm is an exploring one.
_AcqfFactory = Callable[[torch.Tensor | None, bool], AcquisitionFunction]


class FallBack(Exception):
    """Raised inside `gen` to switch to Sobol; the message is the logged reason."""


class BoTorchGenerator(Generator):
    """GP + qLogNEI / qLogNEHVI proposals (see the module docstring).

    Keyword arguments (`GenerationStep.model_kwargs`):

    - `num_restarts`, `raw_samples`, `maxiter`, `maxls`, `sample_around_best`:
      the acquisition optimizer's budget (see `candidates.OptimizerSettings`);
    - `mc_samples`: quasi-MC samples of the acquisition function;
    - `min_observations`: per modeled metric, below which Sobol is used;
    - `kernel`: the GP kernel, `"rbf"` (default), `"matern"` or `"dim-scaled-rbf"`
      (see `modeling`);
    - `num_threads`: torch threads while generating (small GPs run fastest on
      one; the previous count is restored), None to leave torch alone;
    - `warm_start`: start each fit from the previous fit's hyperparameters
      (kept in memory only: a resumed generator starts cold);
    - `refit_growth`: with `warm_start`, fit the hyperparameters again only
      once the observations have grown by this fraction since the last fit
      (default 0: on every call); in between the GP keeps them and conditions
      on all the data (see `gp.should_refit`): cheaper proposals on long runs;
    - `explore`: None (default: every arm by qLogNEI / qLogNEHVI), `"thompson"`
      or `"ucb"`: every `explore_every`-th arm (by its ordinal among the
      trials) maximizes that rule instead, qUCB with `beta = explore_beta`
      (see `exploration`);
    - `escape`: None (default), `"exclude"` or `"region"`: while the best
      value gained at most `escape_tolerance` of the observed range over the
      last `escape_window` observations, every `escape_every`-th arm keeps
      out of a ball of radius `escape_radius * sqrt(d)` around the incumbent
      (`"region"`: and searches a box of side `escape_region` around the best
      arm outside that ball); see `escape`;
    - `output_copula`: fit a single unconstrained objective's GP to the normal
      scores of its values (see `copula`; off by default);
    - `prior_mean`: `"fitted"` (default) fits each GP's constant prior mean
      by marginal likelihood as BoTorch does; `"worst"` fixes an objective's at
      the worst value observed so far, a more exploitative search (see
      `prior_mean`);
    - `input_warping`: fit a Kumaraswamy warp of the inputs with each GP
      (see `modeling`; off by default);
    - `large_data_threshold`, `large_data_fit_points`: beyond the threshold of
      observed trials (default 300; None: never) the GP is fitted on that many
      of them and the optimizer's budget is capped (see `large_data`).
    """

    def __init__(
        self,
        search_space: SearchSpace,
        seed: int | None = None,
        num_restarts: int = 8,
        raw_samples: int = 256,
        maxiter: int = 10,
        mc_samples: int = 128,
        min_observations: int = 2,
        num_threads: int | None = 1,
        warm_start: bool = True,
        refit_growth: float = DEFAULT_REFIT_GROWTH,
        sample_around_best: bool = False,
        maxls: int = 20,
        kernel: str = DEFAULT_KERNEL,
        prior_mean: str = DEFAULT_PRIOR_MEAN,
        explore: str | None = None,
        explore_every: int = 3,
        explore_beta: float = 4.0,
        input_warping: bool = False,
        escape: str | None = None,
        escape_every: int = 3,
        escape_radius: float = 0.2,
        escape_window: int = 5,
        escape_tolerance: float = 1e-3,
        escape_region: float = 0.4,
        output_copula: bool = False,
        large_data_threshold: int | None = large_data.DEFAULT_THRESHOLD,
        large_data_fit_points: int = large_data.DEFAULT_FIT_POINTS,
    ) -> None:
        super().__init__(search_space, seed)
        if explore is not None and explore not in EXPLORE_RULES:
            raise InvalidSchedulerOptionsError(
                f"BoTorch step explore={explore!r} is not known; set model_kwargs "
                f"explore to None or one of {', '.join(repr(r) for r in EXPLORE_RULES)}."
            )
        self.explore = explore
        self.explore_every = explore_every
        self.explore_beta = explore_beta
        self.input_warping = input_warping
        self.output_copula = output_copula
        try:
            self.escape = EscapeSettings(
                escape, escape_every, escape_radius, escape_window, escape_tolerance, escape_region
            )
        except ValueError as exc:
            raise InvalidSchedulerOptionsError(f"BoTorch step: {exc}.") from exc
        try:
            self.large_data = large_data.LargeData(large_data_threshold, large_data_fit_points)
        except ValueError as exc:
            raise InvalidSchedulerOptionsError(f"BoTorch step: {exc}.") from exc
        if kernel not in KERNELS:
            raise InvalidSchedulerOptionsError(
                f"BoTorch step kernel={kernel!r} is not known; set model_kwargs "
                f"kernel to one of {', '.join(repr(k) for k in KERNELS)}."
            )
        self.kernel = kernel
        if prior_mean not in PRIOR_MEANS:
            raise InvalidSchedulerOptionsError(
                f"BoTorch step prior_mean={prior_mean!r} is not known; set model_kwargs "
                f"prior_mean to one of {', '.join(repr(m) for m in PRIOR_MEANS)}."
            )
        self.prior_mean = prior_mean
        self._seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.encoder = UnitCubeEncoder(search_space)
        self.settings = OptimizerSettings(
            num_restarts, raw_samples, maxiter, sample_around_best, maxls
        )
        self.mc_samples = mc_samples
        self.min_observations = max(1, min_observations)
        self.num_threads = num_threads
        self.warm_start = warm_start
        self.refit_growth = _non_negative_fraction(refit_growth)
        self._fitted_at: int | None = None
        self._sobol = SobolGenerator(search_space, seed=self._seed)
        self._warm_start: WarmStart = {}
        self._lattice: list[TParameterization] | None = None
        count = self.encoder.num_discrete_points()
        if count is not None and count <= self.settings.max_discrete_points:
            self._lattice = self.encoder.enumerate()

    # -- state -------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"seed": self._seed, "sobol": self._sobol.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        self._seed = int(state.get("seed", self._seed))
        self._sobol = SobolGenerator(self.search_space, seed=self._seed)
        self._sobol.set_state(dict(state.get("sobol", {})))
        self._warm_start = {}
        self._fitted_at = None

    # -- generation --------------------------------------------------------------
    def gen(self, n: int, context: GenerationContext) -> list[TParameterization]:
        seed = self._seed + len(context.observed_trials)
        with quiet(), torch_threads(self.num_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            try:
                make_acqf, settings, plan = self._prepare(context, seed)
            except (FallBack, ModelFitError) as exc:
                return self._fallback(n, context, str(exc))
            except Exception as exc:  # whatever breaks modeling must not stop the loop
                return self._fallback(n, context, f"{type(exc).__name__}: {exc}")
            return self._propose(n, context, make_acqf, settings, plan)

    def _prepare(
        self, context: GenerationContext, seed: int
    ) -> tuple[_AcqfFactory, OptimizerSettings, EscapePlan | None]:
        """Fit the models; return a factory of acquisition functions given pending X,
        the optimizer's budget (capped in the large-data regime) and where an
        escaping arm goes (None: no arm escapes)."""
        config = context.optimization_config
        if config is None:
            raise FallBack("the experiment has no optimization config to model")
        spec = OutcomeSpec.from_config(config)
        observations = collect_observations(
            self.encoder, context.observed_trials, context.observed_data, spec.metric_names
        )
        for name in spec.metric_names:
            count = observations[name].n
            if count < self.min_observations:
                raise FallBack(
                    f"metric {name!r} has {count} observation(s); the GP needs at "
                    f"least {self.min_observations}"
                )
        means = _means_by_trial(observations)
        spec = spec.with_scales(
            {name: obs.Y.flatten().tolist() for name, obs in observations.items()}
        )
        feasible = [t for t, m in means.items() if spec.is_feasible(m)]
        arms = {t.index: t.arm.parameters for t in context.observed_trials}
        training = self._training_data(observations, means, spec, arms)
        if self.output_copula and spec.num_objectives == 1 and not spec.constraints:
            name = spec.metric_names[0]
            training = {**training, name: copula_transform(training[name])}
        settings, mc_samples = self.settings, self.mc_samples
        if self.large_data.applies(len(means)):
            settings = self.large_data.optimizer_settings(settings)
            mc_samples = self.large_data.capped_mc_samples(mc_samples)
        # A metric without warm-start hyperparameters is fitted whatever `refit` says.
        refit = should_refit(len(means), self._fitted_at, self.refit_growth)
        model, fitted = fit_models(
            [training[name] for name in spec.metric_names],
            self._warm_start,
            self.kernel,
            self.input_warping,
            refit,
            worst_sides=self._worst_sides(spec),
        )
        if refit:
            self._fitted_at = len(means)
        if self.warm_start:
            self._warm_start = fitted
        objectives = spec.metric_names[: spec.num_objectives]
        objective_trials = sorted({i for name in objectives for i in training[name].trial_indices})
        X_baseline = self.encoder.encode_many([arms[i] for i in objective_trials])
        prune_each = True
        if self.large_data.applies(len(means)) and feasible:
            pruned = prune_once(model, spec, X_baseline)
            if pruned is not None:
                X_baseline, prune_each = pruned, False
        ref_point = None
        if spec.num_objectives > 1:
            ref_point = _reference_point(spec, [means[t] for t in (feasible or list(means))])

        def make_acqf(X_pending: torch.Tensor | None, exploring: bool) -> AcquisitionFunction:
            if exploring and self.explore is not None:
                acqf = build_exploring_acquisition(
                    self.explore, model, spec, X_pending, self.explore_beta, mc_samples, seed
                )
                if acqf is not None:
                    return acqf
            return build_acquisition(
                model,
                spec,
                X_baseline,
                X_pending,
                bool(feasible),
                ref_point,
                mc_samples,
                seed,
                prune_baseline=prune_each,
            )

        return make_acqf, settings, self._escape_plan(spec, means, feasible, arms)

    def _worst_sides(self, spec: OutcomeSpec) -> list[float | None] | None:
        """Per model output, where its worst value lies (`prior_mean.WorstSides`):
        the largest for a minimized objective, the smallest for a maximized one,
        None for a constrained metric; None throughout for `prior_mean="fitted"`."""
        if self.prior_mean != "worst":
            return None
        sides: list[float | None] = [-sign for sign in spec.objective_signs]
        return sides + [None] * (len(spec.metric_names) - len(sides))

    def _escape_plan(
        self,
        spec: OutcomeSpec,
        means: dict[int, dict[str, float]],
        feasible: list[int],
        arms: dict[int, TParameterization],
    ) -> EscapePlan | None:
        """The escape plan from the feasible trials' objective, in trial order."""
        if self.escape.rule is None or spec.num_objectives != 1:
            return None
        order = sorted(feasible)
        values = [spec.signed_objectives(means[t]) for t in order]
        kept = [(t, v[0]) for t, v in zip(order, values, strict=True) if v is not None]
        if not kept:
            return None
        X = self.encoder.encode_many([arms[t] for t, _ in kept])
        plan = plan_escape(self.escape, X, [v for _, v in kept], self.encoder.bounds)
        if plan is not None:
            logger.debug("BoTorch step: the incumbent stalls; escaping arms avoid its basin.")
        return plan

    def _training_data(
        self,
        observations: dict[str, MetricObservations],
        means: dict[int, dict[str, float]],
        spec: OutcomeSpec,
        arms: dict[int, TParameterization],
    ) -> dict[str, MetricObservations]:
        """All observations, or in the large-data regime the subset of them that
        `subset.select_trials` keeps (the model and the baseline see only it)."""
        if not self.large_data.applies(len(means)):
            return observations
        indices = sorted(means)
        X = self.encoder.encode_many([arms[i] for i in indices])
        keep = select_trials(X, indices, means, spec, self.large_data.fit_points)
        return restrict(observations, keep)

    def _propose(
        self,
        n: int,
        context: GenerationContext,
        make_acqf: _AcqfFactory,
        settings: OptimizerSettings,
        plan: EscapePlan | None = None,
    ) -> list[TParameterization]:
        """Sequential greedy: each chosen arm becomes pending for the next."""
        known = [t.arm.parameters for t in context.observed_trials]
        known += list(context.pending) + list(context.tried)  # failed arms: never again
        taken: set[ArmKey] = {self.encoder.key(a) for a in known if self.encoder.can_encode(a)}
        pending = list(context.pending)
        proposals: list[TParameterization] = []
        for _ in range(n):
            ordinal = len(context.observed_trials) + len(pending)
            exploring = is_exploring_turn(ordinal, self.explore_every)
            escaping = plan is not None and is_escaping_turn(ordinal, self.escape.every)
            X_pending = as_pending(self.encoder, pending)
            try:
                if exploring or escaping:
                    arm = self._optimize_special_arm(
                        make_acqf, X_pending, settings, taken, plan if escaping else None
                    )
                else:
                    arm = self._optimize_arm(make_acqf(X_pending, False), settings, taken, None)
            except Exception as exc:  # a failed optimizer must not stop the loop
                reason = f"acquisition optimization failed: {type(exc).__name__}: {exc}"
                return proposals + self._fallback(n - len(proposals), context, reason)
            if arm is None:
                arm = self._fresh_sobol_arm(context, taken)
            proposals.append(arm)
            pending.append(arm)
            taken.add(self.encoder.key(arm))
        return proposals

    def _optimize_special_arm(
        self,
        make_acqf: _AcqfFactory,
        X_pending: torch.Tensor | None,
        settings: OptimizerSettings,
        taken: set[ArmKey],
        plan: EscapePlan | None,
    ) -> TParameterization | None:
        """An exploring arm (`plan` None) or an escaping one; if its rule fails,
        the arm is optimized by qLogNEI: a broken rule costs its own arm's
        exploration only, not the batch's model."""
        try:
            return self._optimize_arm(make_acqf(X_pending, plan is None), settings, taken, plan)
        except Exception as exc:
            logger.warning(
                "BoTorch step's %s arm failed (%s: %s); this arm uses qLogNEI.",
                "exploring" if plan is None else "escaping",
                type(exc).__name__,
                exc,
            )
            return self._optimize_arm(make_acqf(X_pending, False), settings, taken, None)

    def _optimize_arm(
        self,
        acqf: AcquisitionFunction,
        settings: OptimizerSettings,
        taken: set[ArmKey],
        plan: EscapePlan | None,
    ) -> TParameterization | None:
        """The arm maximizing `acqf` (outside the incumbent's basin with `plan`),
        or None when the optimizer found only arms in `taken`."""
        bounds = None
        if plan is not None:
            acqf, bounds = ExcludedBasin(acqf, plan), plan.bounds
        if self._lattice is not None:
            return propose_discrete(acqf, self.encoder, settings, self._lattice, taken)
        return propose_continuous(acqf, self.encoder, settings, taken, bounds)

    # -- fallback ----------------------------------------------------------------
    def _fallback(self, n: int, context: GenerationContext, reason: str) -> list[TParameterization]:
        logger.warning("BoTorch step proposes %d Sobol arm(s) instead: %s.", n, reason.rstrip("."))
        return self._sobol.gen(n, context)

    def _fresh_sobol_arm(self, context: GenerationContext, taken: set[ArmKey]) -> TParameterization:
        """A Sobol arm not yet taken, when the optimizer found only existing arms."""
        logger.info("BoTorch step found no new arm in the optimizer's restarts; using Sobol.")
        arm = self._sobol.gen(1, context)[0]
        for _ in range(99):
            if self.encoder.key(arm) not in taken:
                break
            arm = self._sobol.gen(1, context)[0]
        return arm


def _reference_point(spec: OutcomeSpec, means: list[dict[str, float]]) -> torch.Tensor:
    """The hypervolume reference point from these trials' objective values."""
    rows = [spec.signed_objectives(m) for m in means]
    Y = torch.tensor([r for r in rows if r is not None], dtype=torch.double)
    if Y.shape[0] == 0:
        raise FallBack("no trial has observed values of every objective")
    return infer_reference_point(Y.reshape(-1, spec.num_objectives), spec.thresholds)


def _means_by_trial(observations: dict[str, MetricObservations]) -> dict[int, dict[str, float]]:
    means: dict[int, dict[str, float]] = {}
    for name, obs in observations.items():
        for index, value in zip(obs.trial_indices, obs.Y.flatten().tolist(), strict=True):
            means.setdefault(index, {})[name] = value
    return means


def _non_negative_fraction(value: Any) -> float:
    """`refit_growth` as a float, or a one-line error saying what to set."""
    try:
        growth = float(value)
    except (TypeError, ValueError):
        growth = math.nan
    if not growth >= 0:  # also NaN
        raise InvalidSchedulerOptionsError(
            f"BoTorch step refit_growth={value!r} is not a fraction >= 0; set model_kwargs "
            "refit_growth to 0 (refit on every call) or a fraction such as 0.1."
        )
    return growth


register_generator("BoTorch", BoTorchGenerator)
