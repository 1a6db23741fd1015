"""Sobol initialization and the generation strategy walking its steps."""

from __future__ import annotations

import json
import math

import pytest

import scheduler.generation.sobol as sobol_module
from scheduler import (
    ChoiceParameter,
    Data,
    Experiment,
    FixedParameter,
    GenerationStep,
    GenerationStrategy,
    Metric,
    Models,
    Objective,
    OptimizationConfig,
    ParameterConstraint,
    ParameterType,
    RangeParameter,
    SearchSpace,
    TrialStatus,
    choose_generation_strategy,
)
from scheduler.core import GenerationError, InvalidSchedulerOptionsError
from scheduler.generation import GenerationContext, SobolGenerator, registered_generators
from tests.generation.fake_fleet import unit_space
from tests.support.values import number


def mixed_space(**constraint: float) -> SearchSpace:
    constraints = [ParameterConstraint(constraint, bound=1.0)] if constraint else []
    return SearchSpace(
        parameters=[
            RangeParameter("x1", ParameterType.FLOAT, lower=0.0, upper=1.0),
            RangeParameter("x2", ParameterType.FLOAT, lower=0.0, upper=1.0),
            RangeParameter("lr", ParameterType.FLOAT, lower=1e-4, upper=1.0, log_scale=True),
            RangeParameter("layers", ParameterType.INT, lower=1, upper=4),
            RangeParameter("width", ParameterType.INT, lower=1, upper=1024, log_scale=True),
            ChoiceParameter("optimizer", ParameterType.STRING, values=["adam", "sgd", "rmsprop"]),
            FixedParameter("batch", ParameterType.INT, value=32),
        ],
        parameter_constraints=constraints,
    )


def context(space: SearchSpace) -> GenerationContext:
    return GenerationContext(
        search_space=space, optimization_config=None, observed_trials=[], observed_data=Data()
    )


def sobol_points(space: SearchSpace, n: int, seed: int | None = 0) -> list[dict]:
    return SobolGenerator(space, seed=seed).gen(n, context(space))


# -- SobolGenerator --------------------------------------------------------------
def test_same_seed_gives_the_same_points_and_another_seed_does_not() -> None:
    space = mixed_space()
    assert sobol_points(space, 8, seed=3) == sobol_points(space, 8, seed=3)
    assert sobol_points(space, 8, seed=3) != sobol_points(space, 8, seed=4)


def test_every_point_is_inside_the_space_with_the_right_types() -> None:
    space = mixed_space()
    for point in sobol_points(space, 64):
        assert space.check_membership(point, raise_error=True)
        assert list(point) == list(space.parameters)  # search-space order
        assert isinstance(point["x1"], float) and isinstance(point["lr"], float)
        assert type(point["layers"]) is int and type(point["width"]) is int
        assert point["batch"] == 32


def test_int_and_choice_values_are_all_reached() -> None:
    points = sobol_points(mixed_space(), 64)
    assert {p["layers"] for p in points} == {1, 2, 3, 4}
    assert {p["optimizer"] for p in points} == {"adam", "sgd", "rmsprop"}


def test_log_scale_spreads_points_evenly_in_log_space() -> None:
    points = sobol_points(mixed_space(), 64)
    # the geometric midpoint of [1e-4, 1] is 1e-2; a linear spread puts ~1% below it
    below = sum(p["lr"] < 1e-2 for p in points)
    assert 24 <= below <= 40
    assert min(p["lr"] for p in points) < 1e-3
    small_widths = sum(p["width"] <= 32 for p in points)  # sqrt(1024) = 32
    assert 24 <= small_widths <= 40


def test_linear_constraints_hold_for_every_point() -> None:
    space = mixed_space(x1=1.0, x2=1.0)  # x1 + x2 <= 1 cuts the square in half
    points = sobol_points(space, 32)
    assert len(points) == 32
    assert all(p["x1"] + p["x2"] <= 1.0 + 1e-9 for p in points)


def test_an_infeasible_constraint_is_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sobol_module, "MAX_DRAWS_PER_ARM", 20)
    space = SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, lower=0.0, upper=1.0),
            RangeParameter("x2", ParameterType.FLOAT, lower=0.0, upper=1.0),
        ],
        parameter_constraints=[ParameterConstraint({"x1": 1.0, "x2": 1.0}, bound=-1.0)],
    )
    with pytest.raises(GenerationError, match="loosen the constraints"):
        sobol_points(space, 2)


def test_only_fixed_parameters_still_generate() -> None:
    space = SearchSpace([FixedParameter("mode", ParameterType.STRING, value="fast")])
    assert sobol_points(space, 2) == [{"mode": "fast"}, {"mode": "fast"}]


def test_state_restores_the_same_sequence() -> None:
    space = mixed_space(x1=1.0, x2=1.0)  # rejections count as draws too
    first = SobolGenerator(space, seed=11)
    first.gen(5, context(space))
    state = json.loads(json.dumps(first.get_state()))  # it is JSON-safe
    expected = first.gen(5, context(space))

    resumed = SobolGenerator(space, seed=11)
    resumed.set_state(state)
    assert resumed.gen(5, context(space)) == expected


def test_center_first_starts_at_the_center_of_every_kind_of_parameter() -> None:
    space = mixed_space()
    generator = SobolGenerator(space, seed=3, center_first=True)
    center, *rest = generator.gen(3, context(space))
    assert center["x1"] == center["x2"] == 0.5
    assert math.isclose(number(center["lr"]), 1e-2)  # the midpoint in log space
    assert center["layers"] == 3  # the middle of 1..4, equally likely ints
    assert center["optimizer"] == "sgd" and center["batch"] == 32
    assert len(rest) == 2 and center not in rest
    assert center not in generator.gen(5, context(space))  # only once

    plain = SobolGenerator(space, seed=3).gen(3, context(space))
    assert center not in plain  # without center_first, Sobol as before


def test_the_center_is_remembered_across_resume_and_skipped_when_it_breaks_a_constraint() -> None:
    space = mixed_space()
    first = SobolGenerator(space, seed=3, center_first=True)
    [center] = first.gen(1, context(space))
    resumed = SobolGenerator(space, seed=3, center_first=True)
    resumed.set_state(json.loads(json.dumps(first.get_state())))
    assert center not in resumed.gen(4, context(space))

    tight = mixed_space(x1=2.0, x2=2.0)  # 2 x1 + 2 x2 <= 1: the center's 2.0 breaks it
    points = SobolGenerator(tight, seed=3, center_first=True).gen(3, context(tight))
    assert len(points) == 3
    assert all(2 * number(p["x1"]) + 2 * number(p["x2"]) <= 1.0 for p in points)


def test_without_restored_state_a_new_generator_repeats_itself() -> None:
    space = mixed_space()
    first = SobolGenerator(space, seed=11)
    head = first.gen(3, context(space))
    assert SobolGenerator(space, seed=11).gen(3, context(space)) == head


# -- GenerationStep / GenerationStrategy validation ------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_trials": 0}, "positive count, or -1"),
        ({"num_trials": -2}, "positive count, or -1"),
        ({"num_trials": 3, "max_parallelism": 0}, "max_parallelism=0"),
        ({"num_trials": 3, "min_trials_observed": -1}, "min_trials_observed must be >= 0"),
        ({"num_trials": 3, "min_trials_observed": 4}, "lower min_trials_observed"),
    ],
)
def test_bad_generation_steps_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidSchedulerOptionsError, match=message):
        GenerationStep(model=Models.SOBOL, **kwargs)


def test_only_the_last_step_may_be_unlimited() -> None:
    with pytest.raises(InvalidSchedulerOptionsError, match="Only the last GenerationStep"):
        GenerationStrategy(
            [GenerationStep(Models.SOBOL, num_trials=-1), GenerationStep(Models.SOBOL, 3)]
        )
    with pytest.raises(InvalidSchedulerOptionsError, match="at least one step"):
        GenerationStrategy([])


def test_repeated_step_names_are_made_unique() -> None:
    strategy = GenerationStrategy(
        [GenerationStep(Models.SOBOL, num_trials=2), GenerationStep("Sobol", num_trials=-1)]
    )
    assert [s.name for s in strategy.steps] == ["Sobol", "Sobol#2"]
    assert strategy.name == "Sobol+Sobol"


def test_an_unknown_model_lists_the_registered_ones() -> None:
    strategy = GenerationStrategy([GenerationStep("NoSuchModel", num_trials=-1)])
    with pytest.raises(GenerationError, match="registered models are") as err:
        strategy.gen(new_experiment(), 1)
    assert "sobol" in str(err.value)
    assert "sobol" in registered_generators()


# -- the strategy's position comes from the trials -------------------------------
def new_experiment() -> Experiment:
    return Experiment(
        name="strategy",
        search_space=SearchSpace(
            [
                RangeParameter("x1", ParameterType.FLOAT, lower=0.0, upper=1.0),
                RangeParameter("x2", ParameterType.FLOAT, lower=0.0, upper=1.0),
            ]
        ),
        optimization_config=OptimizationConfig(Objective(Metric("loss"), minimize=True)),
    )


def add_trials(
    experiment: Experiment, strategy: GenerationStrategy, n: int, status: TrialStatus
) -> None:
    for run in strategy.gen(experiment, n):
        trial = experiment.new_trial(run.parameters, generation_step=run.generation_step)
        if status is not TrialStatus.CANDIDATE:
            trial.mark_running()
        if status.is_terminal:
            experiment.attach_data(Data.from_evaluations({"loss": 1.0}, trial.index))
            trial.mark_as(status, reason="test")


def two_sobol_steps(min_trials_observed: int = 0, seed: int = 0) -> GenerationStrategy:
    return GenerationStrategy(
        [
            GenerationStep(Models.SOBOL, num_trials=3, min_trials_observed=min_trials_observed),
            GenerationStep(Models.SOBOL, num_trials=-1),
        ],
        seed=seed,
    )


def test_position_is_derived_from_the_experiments_trials() -> None:
    experiment = new_experiment()
    add_trials(experiment, two_sobol_steps(), 3, TrialStatus.COMPLETED)
    fresh = two_sobol_steps()  # e.g. after a restart: no state at all
    assert fresh.current_step(experiment).name == "Sobol#2"
    assert fresh.current_step_index == 1
    assert fresh.gen(experiment, 1)[0].generation_step == "Sobol#2"


def test_failed_trials_do_not_count_towards_a_step() -> None:
    experiment = new_experiment()
    strategy = two_sobol_steps()
    add_trials(experiment, strategy, 3, TrialStatus.FAILED)
    assert strategy.current_step(experiment).name == "Sobol"
    assert strategy.num_can_generate(experiment) == 3  # they get replaced


def test_moving_on_waits_for_min_trials_observed() -> None:
    experiment = new_experiment()
    strategy = two_sobol_steps(min_trials_observed=2)
    add_trials(experiment, strategy, 3, TrialStatus.RUNNING)
    assert strategy.num_can_generate(experiment) == 0
    assert strategy.gen(experiment, 2) == []

    for index in (0, 1):
        experiment.trials[index].mark_completed()
    assert strategy.current_step(experiment).name == "Sobol#2"
    assert strategy.num_can_generate(experiment) is None  # unlimited last step


def test_max_parallelism_counts_every_unfinished_trial() -> None:
    experiment = new_experiment()
    strategy = GenerationStrategy([GenerationStep(Models.SOBOL, -1, max_parallelism=3)])
    add_trials(experiment, strategy, 1, TrialStatus.CANDIDATE)
    add_trials(experiment, strategy, 1, TrialStatus.RUNNING)
    assert strategy.num_can_generate(experiment) == 1
    assert len(strategy.gen(experiment, 5)) == 1


def test_a_finite_last_step_is_exhausted_once_its_trials_exist() -> None:
    experiment = new_experiment()
    strategy = GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=2)])
    add_trials(experiment, strategy, 5, TrialStatus.COMPLETED)
    assert experiment.num_trials == 2
    assert strategy.is_exhausted(experiment)
    assert strategy.gen(experiment, 1) == []


def test_strategy_state_resumes_the_same_sequence() -> None:
    experiment = new_experiment()
    first = two_sobol_steps(seed=5)
    add_trials(experiment, first, 2, TrialStatus.COMPLETED)
    state = json.loads(json.dumps(first.get_state()))
    expected = [run.parameters for run in first.gen(experiment, 1)]

    resumed = two_sobol_steps(seed=5)
    resumed.set_state(state)
    assert [run.parameters for run in resumed.gen(experiment, 1)] == expected


def test_generated_runs_are_inside_the_space_and_tagged_with_their_step() -> None:
    experiment = new_experiment()
    runs = two_sobol_steps().gen(experiment, 3)
    assert [run.generation_step for run in runs] == ["Sobol"] * 3
    assert all(experiment.search_space.check_membership(run.parameters) for run in runs)


# -- choose_generation_strategy ------------------------------------------------------
def test_default_strategy_is_sobol_then_a_model_with_the_parallelism_cap() -> None:
    space = mixed_space()
    strategy = choose_generation_strategy(space, max_parallelism_cap=3)
    sobol, model = strategy.steps
    assert sobol.model_name == "Sobol"
    assert sobol.num_trials == 5  # max(5, ceil((d + 2) / 2)), d = 6
    assert len(space.tunable_parameters) == 6
    assert sobol.min_trials_observed == math.ceil(sobol.num_trials / 2)
    assert model.num_trials == -1
    assert sobol.max_parallelism == model.max_parallelism == 3


@pytest.mark.parametrize(
    ("dims", "design", "observed"),
    [(1, 5, 3), (2, 5, 3), (6, 5, 3), (8, 5, 3), (10, 6, 3), (20, 11, 6)],
)
def test_the_default_design_is_five_trials_or_half_of_dims_plus_two(
    dims: int, design: int, observed: int
) -> None:
    # max(5, ceil((d + 2) / 2)); the model waits for half of it, rounded up.
    sobol, _ = choose_generation_strategy(unit_space(dims)).steps
    assert (sobol.num_trials, sobol.min_trials_observed) == (design, observed)


def test_sobol_tries_every_point_of_a_small_discrete_space_before_repeating() -> None:
    space = SearchSpace(
        [
            ChoiceParameter("optimizer", ParameterType.STRING, ["adam", "sgd", "rmsprop"]),
            ChoiceParameter("layers", ParameterType.INT, [1, 2]),
        ]
    )
    experiment = Experiment(name="discrete", search_space=space)
    strategy = GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=6)], seed=0)
    for _ in range(3):  # two at a time, the earlier ones still pending
        for run in strategy.gen(experiment, n=2):
            experiment.new_trial(run.parameters, generation_step=run.generation_step)
    arms = {
        (t.arm.parameters["optimizer"], t.arm.parameters["layers"])
        for t in experiment.trials.values()
    }
    assert len(arms) == 6
