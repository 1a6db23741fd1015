"""The best trial (one objective) and the Pareto set (several) of an experiment.

Only COMPLETED trials are candidates: an early-stopped trial's last value is a
partial result. With noisy data (any `sem` of a modeled metric unknown or
positive) and `use_model=True`, each metric's value at a trial is the posterior
mean of its GP, `E[f(x_t) | data]`, rather than the observation `y_t = f(x_t) +
eps`: picking the best of many noisy observations favours lucky noise (the
winner's curse), the model's mean shrinks it. Noiseless data are used as
observed. Outcome constraints are checked on the same values: a trial whose
constraint metric is missing counts as infeasible.

Torch is imported only to fit a model or find a Pareto set: reports of
observed values (`use_model=False`) run without it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from scheduler.core.data import Data
from scheduler.core.experiment import Experiment
from scheduler.core.parameters import TParameterization
from scheduler.core.trial import Trial, TrialStatus
from scheduler.generation.botorch.outcomes import OutcomeSpec, pareto_mask

logger = logging.getLogger(__name__)

Values = dict[str, float]
BestTrial = tuple[int, TParameterization, Values]


@dataclass
class BestPointModel:
    """How best points are predicted: the GP kernel (None: the default; pass the
    one the strategy's BoTorch step uses) and the hyperparameters of the last
    fit, which warm-start the next (a caller asking again after each completed
    trial refits in a few iterations instead of from scratch)."""

    kernel: str | None = None
    warm_start: dict[Any, Any] = field(default_factory=dict)


def best_trial(
    experiment: Experiment, use_model: bool = True, model: BestPointModel | None = None
) -> BestTrial | None:
    """`(trial index, parameters, {metric: mean})` of the best feasible trial.

    None when nothing qualifies: no optimization config, no completed trial
    with the objective observed, no feasible trial, or a multi-objective
    experiment (use `pareto_optimal_parameters` there). `model` says how to
    predict (see `BestPointModel`; None: the default kernel, a cold fit).
    """
    config = experiment.optimization_config
    if config is None:
        return None
    if config.is_multi_objective:
        logger.info(
            "Experiment %r has several objectives; it has a Pareto set, not one best "
            "trial: use get_pareto_optimal_parameters.",
            experiment.name,
        )
        return None
    return best_on_first_objective(experiment, use_model, model)


def best_on_first_objective(
    experiment: Experiment, use_model: bool = True, model: BestPointModel | None = None
) -> BestTrial | None:
    """The feasible trial best on the first objective, whatever the other objectives
    (reports use it as a one-line summary of a multi-objective experiment too)."""
    config = experiment.optimization_config
    values = feasible_values(experiment, use_model, model)
    if config is None or not values:
        return None
    objective = config.objectives[0]
    sign = -1.0 if objective.minimize else 1.0
    index = max(values, key=lambda i: sign * values[i][objective.metric.name])
    return index, dict(experiment.trials[index].arm.parameters), values[index]


def feasible_values(
    experiment: Experiment, use_model: bool = True, model: BestPointModel | None = None
) -> dict[int, Values]:
    """`{trial index: {metric: mean}}` of completed trials with every objective
    observed and every outcome constraint met ({} without an optimization config)."""
    config = experiment.optimization_config
    if config is None:
        return {}
    spec = OutcomeSpec.from_config(config)
    return {
        index: means
        for index, means in _trial_values(experiment, spec, use_model, model).items()
        if spec.signed_objectives(means) is not None and spec.is_feasible(means)
    }


def pareto_optimal_parameters(
    experiment: Experiment, use_model: bool = True, model: BestPointModel | None = None
) -> dict[int, tuple[TParameterization, Values]]:
    """`{trial index: (parameters, {metric: mean})}` of the feasible Pareto set.

    A trial is kept when no other feasible trial is at least as good in every
    objective and better in one. With a single objective this is the best
    trial; with no data it is empty.
    """
    config = experiment.optimization_config
    if config is None:
        return {}
    if not config.is_multi_objective:
        best = best_trial(experiment, use_model, model)
        return {} if best is None else {best[0]: (best[1], best[2])}
    import torch

    spec = OutcomeSpec.from_config(config)
    values = feasible_values(experiment, use_model, model)
    rows = [(index, spec.signed_objectives(means) or []) for index, means in values.items()]
    if not rows:
        return {}
    mask = pareto_mask(torch.tensor([r[1] for r in rows], dtype=torch.double))
    return {
        index: (dict(experiment.trials[index].arm.parameters), values[index])
        for (index, _), keep in zip(rows, mask.tolist(), strict=True)
        if keep
    }


def _trial_values(
    experiment: Experiment, spec: OutcomeSpec, use_model: bool, model: BestPointModel | None
) -> dict[int, Values]:
    """Each completed trial's metric means, model-predicted where that is wiser."""
    trials = experiment.trials_by_status(TrialStatus.COMPLETED)
    data = experiment.lookup_data([t.index for t in trials]).final()
    values = _observed_means(data)
    values = {t.index: values[t.index] for t in trials if t.index in values}
    if use_model and values and _is_noisy(data, spec.metric_names):
        predicted = _predicted_means(
            experiment, trials, data, spec.metric_names, model or BestPointModel()
        )
        for index, means in predicted.items():
            if index in values:
                values[index].update(means)
    return values


def _observed_means(data: Data) -> dict[int, Values]:
    result: dict[int, Values] = {}
    df = data.df
    columns = (df["trial_index"].tolist(), df["metric_name"].tolist(), df["mean"].tolist())
    for index, name, mean in zip(*columns, strict=True):
        if math.isfinite(mean):
            result.setdefault(int(index), {})[str(name)] = float(mean)
    return result


def _is_noisy(data: Data, metric_names: list[str]) -> bool:
    sems = data.df.loc[data.df["metric_name"].isin(metric_names), "sem"]
    return bool(sems.isna().any() or (sems > 0).any())


def _predicted_means(
    experiment: Experiment,
    trials: list[Trial],
    data: Data,
    metric_names: list[str],
    settings: BestPointModel,
) -> dict[int, Values]:
    """Posterior means of every modeled metric at the trials' arms ({} if no model)."""
    import torch

    from scheduler.generation.botorch.encoding import UnitCubeEncoder
    from scheduler.generation.botorch.gp import (
        DEFAULT_KERNEL,
        ModelFitError,
        collect_observations,
        fit_models,
    )

    encoder = UnitCubeEncoder(experiment.search_space)
    observations = collect_observations(encoder, trials, data, metric_names)
    if any(observations[name].n < 2 for name in metric_names):
        return {}
    try:
        model, fitted = fit_models(
            [observations[name] for name in metric_names],
            settings.warm_start,
            settings.kernel or DEFAULT_KERNEL,
        )
    except ModelFitError as exc:
        logger.warning("Best point uses observed values: %s.", exc)
        settings.warm_start = {}  # the next fit starts afresh
        return {}
    settings.warm_start = fitted
    usable = [t for t in trials if encoder.can_encode(t.arm.parameters)]
    if not usable:
        return {}
    X = encoder.encode_many([t.arm.parameters for t in usable])
    with torch.no_grad():
        posterior = model.posterior(X)
        mean = posterior.mean.reshape(len(usable), len(metric_names))  # type: ignore[attr-defined]
    return {
        t.index: {name: float(mean[i, j]) for j, name in enumerate(metric_names)}
        for i, t in enumerate(usable)
    }
