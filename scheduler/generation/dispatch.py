"""`choose_generation_strategy`: a sensible default strategy for a search space."""

from __future__ import annotations

import math

from scheduler.core.search_space import SearchSpace
from scheduler.generation.base import registered_generators
from scheduler.generation.strategy import GenerationStep, GenerationStrategy, Models


def choose_generation_strategy(
    search_space: SearchSpace,
    max_parallelism_cap: int | None = None,
    num_trials: int | None = None,
    num_initialization_trials: int | None = None,
    random_seed: int | None = None,
) -> GenerationStrategy:
    """Sobol for `max(5, 2 * d)` trials, then Bayesian optimization."""
    dims = len(search_space.tunable_parameters)
    num_init = num_initialization_trials or max(5, 2 * dims)
    if num_trials is not None:
        num_init = min(num_init, num_trials)
    sobol = GenerationStep(
        model=Models.SOBOL,
        num_trials=num_init,
        min_trials_observed=math.ceil(num_init / 2),
        max_parallelism=max_parallelism_cap,
    )
    model = Models.BOTORCH if "botorch" in registered_generators() else Models.SOBOL
    rest = GenerationStep(model=model, num_trials=-1, max_parallelism=max_parallelism_cap)
    return GenerationStrategy(steps=[sobol, rest], seed=random_seed)
