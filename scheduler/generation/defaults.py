"""`choose_generation_strategy`: a sensible default strategy for a search space."""

from __future__ import annotations

import math

from scheduler.core.search_space import SearchSpace
from scheduler.generation.base import registered_generators
from scheduler.generation.strategy import GenerationStep, GenerationStrategy, Models

#: Without a trial budget, a discrete space this small is enumerated by Sobol alone.
SMALL_DISCRETE_SPACE = 16


def choose_generation_strategy(
    search_space: SearchSpace,
    max_parallelism_cap: int | None = None,
    num_trials: int | None = None,
    num_initialization_trials: int | None = None,
    random_seed: int | None = None,
) -> GenerationStrategy:
    """Sobol for `max(5, 2 * d)` trials, the first at the center of the space,
    then Bayesian optimization.

    A model cannot beat trying everything: when every parameter is discrete and
    the space has no more points than the budget (`num_trials`, or
    `SMALL_DISCRETE_SPACE` without one), the strategy is Sobol alone.
    `max_parallelism_cap` bounds the trials out at once in every step.
    """
    from scheduler.generation.botorch.encoding import (
        UnitCubeEncoder,  # imports torch: only when asked
    )

    size = UnitCubeEncoder(search_space).num_discrete_points()
    budget = num_trials if num_trials is not None else SMALL_DISCRETE_SPACE
    if (size is not None and size <= budget) or "botorch" not in registered_generators():
        only = GenerationStep(
            model=Models.SOBOL, num_trials=-1, max_parallelism=max_parallelism_cap
        )
        return GenerationStrategy(steps=[only], seed=random_seed)
    dims = len(search_space.tunable_parameters)
    num_init = num_initialization_trials or max(5, 2 * dims)
    if num_trials is not None:
        num_init = max(1, min(num_init, num_trials))
    sobol = GenerationStep(
        model=Models.SOBOL,
        num_trials=num_init,
        min_trials_observed=math.ceil(num_init / 2),
        max_parallelism=max_parallelism_cap,
        model_kwargs={"center_first": True},
    )
    bo = GenerationStep(model=Models.BOTORCH, num_trials=-1, max_parallelism=max_parallelism_cap)
    return GenerationStrategy(steps=[sobol, bo], seed=random_seed)
