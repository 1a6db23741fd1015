"""`choose_generation_strategy`: Sobol then BoTorch, or Sobol alone for tiny discrete spaces."""

from __future__ import annotations

from scheduler import (
    ChoiceParameter,
    Experiment,
    ParameterType,
    RangeParameter,
    SearchSpace,
    choose_generation_strategy,
)
from tests.generation.helpers import branin_space, mixed_space


def tiny_discrete_space() -> SearchSpace:
    return SearchSpace(
        [
            ChoiceParameter("optimizer", ParameterType.STRING, values=["adam", "sgd", "rmsprop"]),
            ChoiceParameter("nesterov", ParameterType.BOOL, values=[True, False]),
        ]
    )


def test_a_space_that_fits_in_the_budget_gets_sobol_alone_with_the_cap() -> None:
    strategy = choose_generation_strategy(
        tiny_discrete_space(), max_parallelism_cap=2, num_trials=10, random_seed=1
    )
    [only] = strategy.steps
    assert only.model_name == "Sobol" and only.num_trials == -1
    assert only.max_parallelism == 2
    assert strategy.seed == 1


def test_without_a_budget_only_a_very_small_discrete_space_skips_the_model() -> None:
    assert len(choose_generation_strategy(tiny_discrete_space()).steps) == 1
    larger = SearchSpace(
        [
            RangeParameter("layers", ParameterType.INT, 1, 10),
            ChoiceParameter("optimizer", ParameterType.STRING, values=["adam", "sgd"]),
        ]
    )
    assert [s.model_name for s in choose_generation_strategy(larger).steps] == [
        "Sobol",
        "BoTorch",
    ]
    # ...but a budget covering all 20 points makes trying them all the better plan
    assert len(choose_generation_strategy(larger, num_trials=25).steps) == 1


def test_continuous_spaces_get_sobol_initialization_then_botorch_with_the_cap() -> None:
    strategy = choose_generation_strategy(branin_space(), max_parallelism_cap=3, num_trials=30)
    sobol, bo = strategy.steps
    assert (sobol.model_name, sobol.num_trials) == ("Sobol", 5)  # max(5, 2 + 2)
    assert (bo.model_name, bo.num_trials) == ("BoTorch", -1)
    assert sobol.max_parallelism == bo.max_parallelism == 3

    space = mixed_space()
    sobol, _ = choose_generation_strategy(space).steps
    assert sobol.num_trials == 5  # max(5, ceil((d + 2) / 2)), d = 8
    assert len(space.tunable_parameters) == 8
    assert sobol.max_parallelism is None
    sobol, _ = choose_generation_strategy(space, num_initialization_trials=4).steps
    assert sobol.num_trials == 4 and sobol.min_trials_observed == 2
    sobol, _ = choose_generation_strategy(space, num_trials=3).steps
    assert sobol.num_trials == 3


def test_the_default_strategy_tries_the_center_of_the_space_first() -> None:
    strategy = choose_generation_strategy(branin_space(), random_seed=0)
    experiment = Experiment("center", branin_space())
    [first, second] = strategy.gen(experiment, 2)
    assert first.parameters == {"x1": 2.5, "x2": 7.5}  # the middle of [-5, 10] x [0, 15]
    assert first.generation_step == second.generation_step == "Sobol"
    assert second.parameters != first.parameters
