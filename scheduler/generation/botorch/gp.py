"""Observations per metric and the Gaussian processes fitted to them.

Each metric gets its own GP on the unit-cube inputs: BoTorch's `SingleTaskGP`
with outcomes standardized (`Standardize`): `y' = (y - mean(y)) / std(y)`.
The kernel (`KERNELS`, chosen per generation step with `kernel=`):

- `"rbf"` (default): an ARD RBF kernel with a `Gamma(3, 6)` lengthscale prior
  (mode 1/3 of the unit cube) times an outputscale with a `Gamma(2, 0.15)`
  prior, BoTorch's default before 0.12 with RBF in place of Matern;
- `"matern"`: the same with a Matern-5/2 kernel (BoTorch's old default);
- `"dim-scaled-rbf"`: BoTorch's current default, an RBF kernel whose
  lengthscale prior grows with the dimension (`LogNormal(sqrt(2) + log(d) / 2,
  sqrt(3))`, Hvarfner et al. 2024), made for many dimensions.

A space with unordered choices (their one-hot columns, or a two-value
choice's single column: `MetricObservations.categorical`) gets, under `"rbf"`
or `"matern"`, the sum of three kernels, each with its own outputscale: one
on the other columns (the shape all values share), one on the choices'
columns (an offset per value) and their product (what differs per value):
the structure of BoTorch's `MixedSingleTaskGP` (Ru et al. 2020, CoCaBO). A
value seen at a few poor points then borrows the shape the other values have
shown, where a single kernel over all columns treats each value as its own
function. Mean final gap (`bench/README.md`, issue 16, ninth round): the
mixed Hartmann6 (a 4-value choice) 0.327 -> 0.082 over seeds 0-59, the
Hartmann6 with two flags (a bool and a 2-value choice) 0.457 -> 0.141 over
seeds 0-39, at about 1.7x the CPU per proposal. Spaces without an unordered
choice keep the single kernel.

`bench/bo_quality.py` chose the default (20 seeds of Hartmann6 at 40 trials,
10 of Branin at 30): the dimension-scaled prior's long lengthscales sent
early proposals to corners and refined slowly (Hartmann6 mean final gap
0.22), the Gamma prior's shorter ones refine the optimum (0.066), and RBF
beats Matern on Branin (median gap 0.0015 vs 0.0043). See `bench/README.md`.

The noise model follows what the metric reports:

- every observation has a finite `sem`: a fixed-noise GP with
  `Var[y_i] = max(sem_i^2, MIN_NOISE_RATIO * Var[y])` (the floor keeps the
  Cholesky factorization of exactly noiseless data well-conditioned);
- any `sem` is unknown (None/NaN): a homoskedastic GP whose noise level is a
  hyperparameter fitted with the others.

Optionally (`input_warping=True`, off by default) every input goes through a
learned Kumaraswamy CDF `u' = 1 - (1 - u^a)^b` before the kernel (BoTorch's
`Warp`, Snoek et al. 2014; HEBO uses it), `a, b ~ LogNormal(0, 0.75)` fitted
with the other hyperparameters: it lets a stationary kernel bend to a
function whose length scale varies across the space.

The constant prior mean is fitted with the other hyperparameters, except for
the outputs the caller gives a side in `worst_sides`: their mean is fixed at the
worst value observed so far (the BoTorch step's `prior_mean="worst"`, off by
default: see `prior_mean`).

Hyperparameters maximize the exact marginal log likelihood
(`fit_gpytorch_mll`). A previous fit's hyperparameters may seed the optimizer
(warm start); a warm single-output fit stops at a looser tolerance, which
halves its time for the same likelihood. Once there are tens of observations
one more moves the fitted hyperparameters little, so a caller may also keep
them without refitting (`refit=False`, see `should_refit`): the GP is still
conditioned on every observation, only the kernel's settings are reused.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from botorch.exceptions.warnings import InputDataWarning, OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.input import Warp
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import Kernel, MaternKernel, RBFKernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior, LogNormalPrior
from linear_operator.utils.warnings import NumericalWarning
from torch import Tensor

from scheduler.core.data import Data
from scheduler.core.trial import Trial
from scheduler.generation.botorch.encoding import DTYPE, UnitCubeEncoder
from scheduler.generation.botorch.prior_mean import WorstSides, worst_observed_mean

#: Fixed noise variances are floored at this fraction of the outcome variance.
MIN_NOISE_RATIO = 1e-6
#: Warm-started fits begin near the optimum: L-BFGS-B stops at this relative
#: tolerance on the MLL, or after this many iterations (a cold fit takes ~30).
WARM_FTOL = 1e-6
WARM_MAXITER = 20

WarmStart = dict[str, dict[str, Tensor]]

#: Refit when the observations have grown by this fraction since the last fit
#: (`should_refit`); 0, the default, refits on every call. 0.1 (every 2nd call
#: at 20 observations, every 4th at 40) saves 12-16 % of a proposal's CPU from
#: 40 to 280 observations but refines less tightly on Branin@30 (median gap
#: 0.0015 against 0.0009 over 20 seeds; `bench/README.md`, issue 16, fourth round).
DEFAULT_REFIT_GROWTH = 0.0

#: Kernel names a generation step may ask for (see the module docstring).
KERNELS = ("rbf", "matern", "dim-scaled-rbf")
DEFAULT_KERNEL = KERNELS[0]


class ModelFitError(RuntimeError):
    """A metric's GP could not be fitted (the caller falls back to Sobol)."""


@dataclass
class MetricObservations:
    """Training data of one metric: `X` is `n x d`, `Y` and `Yvar` are `n x 1`.

    (`n x m` when `stack` has joined `m` metrics observed at the same trials.)
    """

    name: str
    X: Tensor
    Y: Tensor
    Yvar: Tensor | None
    trial_indices: list[int]
    #: Columns of `X` that encode unordered choices (`covariance_module`).
    categorical: tuple[int, ...] = ()

    @property
    def n(self) -> int:
        return int(self.Y.shape[0])


def collect_observations(
    encoder: UnitCubeEncoder,
    trials: Iterable[Trial],
    data: Data,
    metric_names: Iterable[str],
) -> dict[str, MetricObservations]:
    """One `MetricObservations` per metric, from each trial's last finite mean.

    Trials whose arm cannot be placed in the search space (e.g. a choice value
    that no longer exists) are left out.
    """
    arms = {t.index: t.arm.parameters for t in trials if encoder.can_encode(t.arm.parameters)}
    categorical = encoder.categorical_columns()
    df = data.df
    result = {}
    for name in metric_names:
        rows = df[(df["metric_name"] == name) & df["trial_index"].isin(list(arms))]
        last = rows.groupby("trial_index", sort=True).tail(1)
        last = last[last["mean"].map(math.isfinite)]
        indices = [int(i) for i in last["trial_index"]]
        X = encoder.encode_many([arms[i] for i in indices])
        Y = torch.tensor(last["mean"].to_list(), dtype=DTYPE).reshape(-1, 1)
        sems = last["sem"].to_list()
        known = bool(sems) and all(math.isfinite(s) for s in sems)
        Yvar = torch.tensor(sems, dtype=DTYPE).reshape(-1, 1) ** 2 if known else None
        result[name] = MetricObservations(name, X, Y, Yvar, indices, categorical)
    return result


def covariance_module(
    kernel: str, dims: int, batch_outputs: int, categorical: Sequence[int] = ()
) -> Kernel | None:
    """The kernel named `kernel` for `dims` inputs (None: BoTorch's default).

    With `categorical` columns (those of unordered choices) beside other
    columns, the kernel is the mixed sum of the module docstring: one kernel
    on the other columns, one on the categorical ones, and their product,
    each with its own outputscale and lengthscales.
    """
    if kernel == "dim-scaled-rbf":
        return None
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; use one of {', '.join(KERNELS)}")
    batch = torch.Size([batch_outputs]) if batch_outputs > 1 else torch.Size()
    chosen = sorted(set(categorical) & set(range(dims)))
    others = [c for c in range(dims) if c not in chosen]
    if not chosen or not others:
        return _scaled(_stationary(kernel, dims, batch), batch)
    shared = _stationary(kernel, dims, batch, others)
    offsets = _stationary(kernel, dims, batch, chosen)
    interaction = _stationary(kernel, dims, batch, others) * _stationary(
        kernel, dims, batch, chosen
    )
    return _scaled(shared, batch) + _scaled(offsets, batch) + _scaled(interaction, batch)


def _stationary(
    kernel: str, dims: int, batch: torch.Size, columns: list[int] | None = None
) -> Kernel:
    """An ARD RBF (or Matern-5/2) kernel on `columns` of `dims` (None: all), with
    a `Gamma(3, 6)` lengthscale prior."""
    prior = GammaPrior(3.0, 6.0)
    ard = dims if columns is None else len(columns)
    if kernel == "matern":
        return MaternKernel(
            nu=2.5,
            ard_num_dims=ard,
            active_dims=columns,
            batch_shape=batch,
            lengthscale_prior=prior,
        )
    return RBFKernel(
        ard_num_dims=ard, active_dims=columns, batch_shape=batch, lengthscale_prior=prior
    )


def _scaled(base: Kernel, batch: torch.Size) -> ScaleKernel:
    return ScaleKernel(base, batch_shape=batch, outputscale_prior=GammaPrior(2.0, 0.15))


def input_warp(dims: int, batch_outputs: int) -> Warp:
    """A learned Kumaraswamy-CDF warp of every unit-cube input (Snoek et al. 2014):
    `u' = 1 - (1 - u^a)^b` with `a, b ~ LogNormal(0, 0.75)`, fitted with the GP."""
    batch = torch.Size([batch_outputs]) if batch_outputs > 1 else torch.Size()
    prior = LogNormalPrior(0.0, 0.75**0.5)
    bounds = torch.stack([torch.zeros(dims, dtype=DTYPE), torch.ones(dims, dtype=DTYPE)])
    return Warp(
        d=dims,
        indices=list(range(dims)),
        concentration1_prior=prior,
        concentration0_prior=prior,
        batch_shape=batch,
        bounds=bounds,
    )


def fit_metric_model(
    observations: MetricObservations,
    warm_start: Mapping[str, Tensor] | None = None,
    kernel: str = DEFAULT_KERNEL,
    input_warping: bool = False,
    refit: bool = True,
    worst_sides: WorstSides | None = None,
) -> SingleTaskGP:
    """Fit one metric's GP (independent GPs of `m` stacked metrics); raises
    `ModelFitError` with the reason on failure.

    With `refit=False` and a `warm_start`, the GP takes those hyperparameters
    as they are, without optimizing them (it still conditions on all data).
    `worst_sides` (one entry per output, see `prior_mean.WorstSides`) fixes
    the prior mean of the outputs that have a side at their worst value.
    """
    Y = observations.Y
    Yvar = observations.Yvar
    if Yvar is not None:
        variance = Y.var(dim=0) if observations.n > 1 else torch.zeros(Y.shape[-1], dtype=DTYPE)
        Yvar = torch.maximum(Yvar, MIN_NOISE_RATIO * variance.clamp_min(1e-12))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputDataWarning)
            model = SingleTaskGP(
                observations.X,
                Y,
                Yvar,
                covar_module=covariance_module(
                    kernel, observations.X.shape[-1], Y.shape[-1], observations.categorical
                ),
                outcome_transform=Standardize(m=Y.shape[-1]),
                input_transform=(
                    input_warp(observations.X.shape[-1], Y.shape[-1]) if input_warping else None
                ),
            )
        mean = worst_observed_mean(model, worst_sides) if worst_sides else None
        if mean is not None:
            model.mean_module = mean
        if warm_start:
            _load_hyperparameters(model, warm_start)
            if not refit:
                return model
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        # Warm-started: a few iterations from the last optimum are enough. Batched
        # outputs go through BoTorch's batched L-BFGS-B, where `ftol` replaces `factr`.
        loose: dict[str, Any] = {"ftol": WARM_FTOL, "maxiter": WARM_MAXITER}
        if Y.shape[-1] > 1:
            loose["factr"] = None
        options = {"options": loose} if warm_start else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumericalWarning)
            warnings.simplefilter("ignore", OptimizationWarning)
            fit_gpytorch_mll(mll, optimizer_kwargs=options)
    except Exception as exc:  # any failure means "no model": the caller falls back
        raise ModelFitError(
            f"fitting the GP of metric {observations.name!r} on {observations.n} "
            f"observations failed: {type(exc).__name__}: {exc}"
        ) from exc
    for name, value in model.named_parameters():
        if not torch.isfinite(value).all():
            raise ModelFitError(
                f"the GP of metric {observations.name!r} has a non-finite "
                f"hyperparameter {name} after fitting"
            )
    return model


def fit_models(
    observations: list[MetricObservations],
    warm_start: WarmStart | None = None,
    kernel: str = DEFAULT_KERNEL,
    input_warping: bool = False,
    refit: bool = True,
    worst_sides: WorstSides | None = None,
) -> tuple[Model, WarmStart]:
    """Fit one GP per metric, in the given order (output `i` models metric `i`).

    Metrics observed at the same trials with the same noise model share one
    multi-output `SingleTaskGP` (independent GPs batched together: one fit,
    and cheaper posteriors inside the acquisition function); otherwise each
    gets its own and they are joined in a `ModelListGP`. Returns the model and
    the fitted hyperparameters, to warm-start the next fit. `refit=False`
    reuses the warm-start hyperparameters without optimizing them, for every
    group that has some (a group without is fitted). `worst_sides[i]`, if
    given, is metric `i`'s side for `fit_metric_model`.
    """
    warm_start = warm_start or {}
    sides = list(worst_sides) if worst_sides is not None else [None] * len(observations)
    if _can_stack(observations):
        groups, group_sides = [stack(observations)], [sides]
    else:
        groups, group_sides = observations, [[side] for side in sides]
    models = []
    fitted: WarmStart = {}
    for obs, obs_sides in zip(groups, group_sides, strict=True):
        key = _warm_key(obs)
        model = fit_metric_model(obs, warm_start.get(key), kernel, input_warping, refit, obs_sides)
        models.append(model)
        fitted[key] = hyperparameters(model)
    combined: Model = models[0] if len(models) == 1 else ModelListGP(*models)
    return combined, fitted


def should_refit(observed: int, fitted_at: int | None, growth: float) -> bool:
    """Whether the GP's hyperparameters are fitted again with `observed` observations.

    Yes without a previous fit (`fitted_at` None), when the data shrank, or when
    they have grown by at least `growth` (a fraction) since the fit at
    `fitted_at`; `growth=0` refits every time. In between, the last fit's
    hyperparameters are reused: a fit is ~25 % of a proposal's CPU at 40
    observations, and one more observation barely moves it.
    """
    if fitted_at is None or observed < fitted_at:
        return True
    return observed >= fitted_at * (1 + growth)


def stack(observations: list[MetricObservations]) -> MetricObservations:
    """Join metrics observed at the same trials into one `n x m` training set."""
    first = observations[0]
    Yvars = [o.Yvar for o in observations]
    return MetricObservations(
        name="+".join(o.name for o in observations),
        X=first.X,
        Y=torch.cat([o.Y for o in observations], dim=-1),
        Yvar=None if any(v is None for v in Yvars) else torch.cat(Yvars, dim=-1),  # type: ignore[arg-type]
        trial_indices=first.trial_indices,
        categorical=first.categorical,
    )


def _can_stack(observations: list[MetricObservations]) -> bool:
    if len(observations) < 2:
        return False
    first = observations[0]
    return all(
        o.trial_indices == first.trial_indices and (o.Yvar is None) == (first.Yvar is None)
        for o in observations
    )


def hyperparameters(model: SingleTaskGP) -> dict[str, Tensor]:
    """The trainable raw hyperparameters (not the data-dependent buffers)."""
    return {name: value.detach().clone() for name, value in model.named_parameters()}


def _load_hyperparameters(model: SingleTaskGP, state: Mapping[str, Tensor]) -> None:
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            value = state.get(name)
            if value is not None and value.shape == parameter.shape:
                parameter.copy_(value)


def _warm_key(observations: MetricObservations) -> str:
    noise = "fixed" if observations.Yvar is not None else "inferred"
    return f"{observations.name}/{noise}"
