"""`choose_generation_strategy`: a sensible default strategy for a search space.

On a fleet (`fleet_size`, the scheduler's `max_pending_trials`) the initial
design is sized so that no worker waits for the model: a model needs data, so
every trial of the first round and every trial started before the model step
may begin is a Sobol trial. The sizes are in `initial_design_size`,
`min_observed_to_model` and `fill_trials`, each bounded by the default design
or by `MAX_FLEET_DESIGN_SHARE` of the trial budget.
"""

from __future__ import annotations

import math

from scheduler.core.search_space import SearchSpace
from scheduler.generation.base import registered_generators
from scheduler.generation.strategy import GenerationStep, GenerationStrategy, Models

#: Without a trial budget, a discrete space this small is enumerated by Sobol alone.
SMALL_DISCRETE_SPACE = 16
#: A fleet larger than the default design grows it, and the Sobol step fills
#: freed workers while the model waits for data, but the Sobol trials stay
#: within this share of the trial budget (or the default design, if larger):
#: past it, random trials cost the model more budget than idle workers cost time.
MAX_FLEET_DESIGN_SHARE = 1 / 4


def default_design_size(dims: int) -> int:
    """`max(5, ceil((dims + 2) / 2))`: the initial design without a fleet to fill.

    Much smaller than Ax's `2 * dims`, by measurement (`bench/README.md`,
    issue 16): the trials it saves go to the model, and a small design's best
    point lies in a local basin less often (Hartmann6: the best of the center
    and 7 Sobol points lies in the second basin on 22 % of seeds, of the
    center and 4 on 14 %; `python -m bench.design_basins --design-size N`),
    and a run nearly always refines the basin of its design's best point.
    Hartmann6 at 40 trials, seeds 0-119: mean final gap 0.039 with 8 initial
    trials (`dims + 2`, 26 of 120 seeds in the second basin), 0.027 with 5
    (20 of 120), median 0.0016; with 12 (`2 * dims`) seeds 40-79 gave 0.093.
    Ackley10 at 100: 3.4 with 6, 3.7 with 12, 5.0 with 20. The noisy and the
    mixed Hartmann6 stayed within their standard errors. Spaces of up to
    8 dimensions get 5, so an unordered choice still shows the model a few of
    its values before the model picks the rest.
    """
    return max(5, math.ceil((dims + 2) / 2))


def sobol_budget(dims: int, num_trials: int | None) -> int | None:
    """Most Sobol trials a fleet may ask for (None: no budget, no bound): the larger
    of the default design and `MAX_FLEET_DESIGN_SHARE` of `num_trials`."""
    if num_trials is None:
        return None
    return max(default_design_size(dims), int(num_trials * MAX_FLEET_DESIGN_SHARE))


def initial_design_size(
    dims: int, fleet_size: int | None = None, num_trials: int | None = None
) -> int:
    """Sobol trials before the model: the default design, or the fleet when larger.

    The first round can only be filled by the initial design (no data yet),
    so a fleet of `fleet_size` workers larger than `default_design_size` gets one
    Sobol trial per worker, within `sobol_budget`. A fleet no larger than the
    default design changes nothing. The result is at most `num_trials`.
    """
    size = default_design_size(dims)
    if fleet_size is not None and fleet_size > size:
        bound = sobol_budget(dims, num_trials)
        size = fleet_size if bound is None else max(size, min(fleet_size, bound))
    if num_trials is not None:
        size = max(1, min(size, num_trials))
    return size


def min_observed_to_model(dims: int, num_init: int) -> int:
    """Observed initial trials the model step waits for: half the default design.

    Half of `default_design_size` (as before), not of a fleet-sized design: the
    model's first fit needs that much data whatever the fleet, and the rest
    of a larger design joins it as pending points (`X_pending`), so a large
    fleet does not drain to half its size before the model may propose. A
    design cut short by the budget waits for half of itself (as before).
    """
    return math.ceil(min(num_init, default_design_size(dims)) / 2)


def fill_trials(dims: int, num_init: int, num_trials: int | None) -> int:
    """Sobol trials beyond the design while the model waits for data (the step's
    `fill_while_waiting`): one per worker freed before the handover, at most
    `min_trials_observed - 1`, within `sobol_budget`."""
    wanted = min_observed_to_model(dims, num_init) - 1
    bound = sobol_budget(dims, num_trials)
    room = wanted if bound is None else bound - num_init
    if num_trials is not None:
        room = min(room, num_trials - num_init)
    return max(0, min(wanted, room))


def choose_generation_strategy(
    search_space: SearchSpace,
    max_parallelism_cap: int | None = None,
    num_trials: int | None = None,
    num_initialization_trials: int | None = None,
    random_seed: int | None = None,
    fleet_size: int | None = None,
) -> GenerationStrategy:
    """Sobol for `max(5, ceil((d + 2) / 2))` trials, the first at the center of the space,
    then Bayesian optimization.

    `fleet_size` (trials the loop keeps out at once: the scheduler's
    `max_pending_trials`) keeps that many workers busy from the first deploy:
    the design grows to the fleet when it is larger (`initial_design_size`),
    the model step starts once half the default design is observed
    (`min_observed_to_model`) with the other initial trials as pending
    points, and until then the Sobol step replaces each initial trial that
    finishes (`fill_trials`). Sobol trials stay within `sobol_budget`. A
    fleet no larger than half the default design sees no change, and without
    `fleet_size` the strategy is as it always was. An explicit
    `num_initialization_trials` is used as given (the model then waits for
    half of it). A `max_parallelism_cap` below `fleet_size` is the fleet the
    strategy sizes for, since no more trials can be out at once.

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
    if fleet_size is not None and max_parallelism_cap is not None:
        fleet_size = min(fleet_size, max_parallelism_cap)  # no more can be out at once
    fill = 0
    if num_initialization_trials:
        num_init = num_initialization_trials
        if num_trials is not None:
            num_init = max(1, min(num_init, num_trials))
        min_observed = math.ceil(num_init / 2)
    else:
        num_init = initial_design_size(dims, fleet_size, num_trials)
        min_observed = min_observed_to_model(dims, num_init)
        if fleet_size is not None:
            fill = fill_trials(dims, num_init, num_trials)
    sobol = GenerationStep(
        model=Models.SOBOL,
        num_trials=num_init,
        min_trials_observed=min_observed,
        max_parallelism=max_parallelism_cap,
        fill_while_waiting=fill,
        model_kwargs={"center_first": True},
    )
    bo = GenerationStep(model=Models.BOTORCH, num_trials=-1, max_parallelism=max_parallelism_cap)
    return GenerationStrategy(steps=[sobol, bo], seed=random_seed)
