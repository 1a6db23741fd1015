"""The BoTorch generation step: valid, distinct, reproducible proposals, and fallbacks."""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd
import pytest
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
from gpytorch.priors import GammaPrior

import scheduler.generation.botorch.generator as botorch_step
import scheduler.generation.botorch.gp as modeling
from scheduler import (
    ChoiceParameter,
    ComparisonOp,
    Data,
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Metric,
    Models,
    MultiObjective,
    Objective,
    ObjectiveThreshold,
    OptimizationConfig,
    OutcomeConstraint,
    ParameterType,
    RangeParameter,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
    choose_generation_strategy,
)
from scheduler.analysis.best_point import best_trial
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.generation import GenerationContext
from scheduler.generation.botorch.encoding import UnitCubeEncoder
from scheduler.local.runner import FunctionMetric, FunctionRunner
from tests.generation.helpers import (
    FAST,
    branin,
    branin_space,
    fallback_messages,
    gen,
    generator,
    minimize,
    mixed_objective,
    mixed_space,
    observe,
    sobol_arms,
)
from tests.support.values import number

FALLBACK = "proposes"  # part of the fallback WARNING: "BoTorch step proposes n Sobol arm(s)"


def branin_experiment(n: int = 8, sem: float | None = 0.0) -> Experiment:
    experiment = Experiment("branin", branin_space(), minimize())
    observe(experiment, lambda p: {"f": (branin(p), sem)}, sobol_arms(branin_space(), n))
    return experiment


def test_proposals_respect_constraints_integers_choices_and_log_scale(
    caplog: pytest.LogCaptureFixture,
) -> None:
    space = mixed_space()
    experiment = Experiment("mixed", space, minimize())
    observe(experiment, lambda p: {"f": mixed_objective(p)}, sobol_arms(space, 10))
    with caplog.at_level(logging.WARNING):
        proposals = gen(experiment, 3)
    assert not fallback_messages(caplog)
    assert len(proposals) == 3
    for arm in proposals:
        assert space.check_membership(arm), space.membership_error(arm)
        assert number(arm["x1"]) + number(arm["x2"]) <= 1.5 + 1e-9
        assert isinstance(arm["layers"], int) and isinstance(arm["width"], int)
        assert 1e-4 <= number(arm["lr"]) <= 1e-1
        assert arm["optimizer"] in ("adam", "sgd", "rmsprop")
        assert arm["batch"] in (16, 32, 64, 128) and isinstance(arm["nesterov"], bool)
        assert arm["epochs"] == 3


def test_parallel_proposals_differ_from_each_other_and_from_pending_arms() -> None:
    experiment = branin_experiment()
    first = gen(experiment, 3)
    keys = {tuple(sorted(arm.items())) for arm in first}
    assert len(keys) == 3

    for arm in first:  # they are now running: the next proposal must avoid them
        experiment.new_trial(arm, generation_step="BoTorch").mark_running()
    context = GenerationContext.from_experiment(experiment)
    assert len(context.pending) == 3
    encoder = UnitCubeEncoder(experiment.search_space)
    [nxt] = generator(experiment.search_space).gen(1, context)
    distances = [math.dist(encoder.encode(nxt), encoder.encode(arm)) for arm in first]
    assert min(distances) > 1e-3


def test_same_seed_same_proposals_and_other_seed_other_proposals() -> None:
    experiment = branin_experiment()
    assert gen(experiment, 2, seed=7) == gen(experiment, 2, seed=7)
    assert gen(experiment, 2, seed=7) != gen(experiment, 2, seed=8)


def test_too_few_observations_fall_back_to_sobol_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    experiment = branin_experiment(n=1)
    with caplog.at_level(logging.WARNING):
        proposals = gen(experiment, 2)
    assert len(proposals) == 2
    assert all(experiment.search_space.check_membership(p) for p in proposals)
    [message] = fallback_messages(caplog)
    assert "has 1 observation(s)" in message


def test_a_failing_fit_falls_back_to_sobol_with_the_reason(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Cholesky exploded")

    # the real wrapper around fit_gpytorch_mll turns the exception into a reason
    monkeypatch.setattr(modeling, "fit_gpytorch_mll", broken_fit)
    experiment = branin_experiment()
    with caplog.at_level(logging.WARNING):
        proposals = gen(experiment, 3)
    assert len(proposals) == 3
    assert all(experiment.search_space.check_membership(p) for p in proposals)
    [message] = fallback_messages(caplog)
    assert "Cholesky exploded" in message and "'f'" in message


def test_a_failing_acquisition_optimizer_falls_back_for_the_rest(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_optimizer(*args: object, **kwargs: object) -> None:
        raise ValueError("no feasible starting point")

    monkeypatch.setattr(botorch_step, "propose_continuous", broken_optimizer)
    experiment = branin_experiment()
    with caplog.at_level(logging.WARNING):
        proposals = gen(experiment, 2)
    assert len(proposals) == 2
    [message] = fallback_messages(caplog)
    assert "no feasible starting point" in message


def test_no_optimization_config_falls_back_to_sobol(caplog: pytest.LogCaptureFixture) -> None:
    experiment = Experiment("no-config", branin_space())
    with caplog.at_level(logging.WARNING):
        assert len(gen(experiment, 1)) == 1
    assert "no optimization config" in fallback_messages(caplog)[0]


def test_unknown_noise_is_inferred_and_noisy_data_still_propose(
    caplog: pytest.LogCaptureFixture,
) -> None:
    experiment = branin_experiment(sem=None)
    with caplog.at_level(logging.WARNING):
        assert len(gen(experiment, 1)) == 1
    assert not fallback_messages(caplog)


def constrained_experiment(bound: float) -> Experiment:
    config = OptimizationConfig(
        Objective(Metric("f"), minimize=True),
        outcome_constraints=[OutcomeConstraint(Metric("c"), ComparisonOp.LEQ, bound)],
    )
    experiment = Experiment("constrained", branin_space(), config)

    def evaluate(p: dict) -> dict:
        return {"f": branin(p), "c": float(p["x1"]) + float(p["x2"])}

    observe(experiment, evaluate, sobol_arms(branin_space(), 8))
    return experiment


def test_outcome_constraints_propose(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        proposals = gen(constrained_experiment(bound=10.0), 2)
    assert len(proposals) == 2 and not fallback_messages(caplog)


def test_all_infeasible_observations_still_propose(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    used = []
    original = botorch_step.build_acquisition

    def spy(*args: object, **kwargs: object) -> object:
        acqf = original(*args, **kwargs)  # type: ignore[arg-type]
        used.append(type(acqf).__name__)
        return acqf

    monkeypatch.setattr(botorch_step, "build_acquisition", spy)
    experiment = constrained_experiment(bound=-100.0)  # x1 + x2 >= -5: never feasible
    with caplog.at_level(logging.WARNING):
        proposals = gen(experiment, 2)
    assert len(proposals) == 2 and not fallback_messages(caplog)
    assert used == ["qLogProbabilityOfFeasibility"] * 2


@pytest.mark.parametrize("thresholds", [False, True])
def test_multi_objective_proposes(thresholds: bool, caplog: pytest.LogCaptureFixture) -> None:
    objectives = [Objective(Metric("a"), minimize=True), Objective(Metric("b"), minimize=False)]
    config = OptimizationConfig(
        MultiObjective(objectives),
        objective_thresholds=(
            [ObjectiveThreshold(Metric("a"), 100.0), ObjectiveThreshold(Metric("b"), -5.0)]
            if thresholds
            else []
        ),
    )
    experiment = Experiment("mo", branin_space(), config)

    def evaluate(p: dict) -> dict:
        return {"a": (branin(p), 0.0), "b": (-((float(p["x1"]) - 2.0) ** 2) / 10, 0.0)}

    observe(experiment, evaluate, sobol_arms(branin_space(), 8))
    with caplog.at_level(logging.WARNING):
        proposals = gen(experiment, 2)
    assert len(proposals) == 2 and proposals[0] != proposals[1]
    assert not fallback_messages(caplog)


def test_a_small_discrete_space_is_searched_without_repeating_arms() -> None:
    space = SearchSpace(
        [
            RangeParameter("i", ParameterType.INT, 0, 3),
            ChoiceParameter("c", ParameterType.STRING, values=["x", "y", "z"]),
        ]
    )
    experiment = Experiment("discrete", space, minimize())
    everything = UnitCubeEncoder(space).enumerate()
    observe(experiment, lambda p: {"f": float(number(p["i"])) + (p["c"] == "y")}, everything[:9])
    proposals = gen(experiment, 3)
    assert sorted(map(str, proposals)) == sorted(map(str, everything[9:]))


def test_early_stopped_trials_count_as_observations() -> None:
    experiment = branin_experiment(n=1)
    trial = experiment.new_trial({"x1": 1.0, "x2": 2.0})
    trial.mark_running()
    rows = [
        {"trial_index": trial.index, "metric_name": "f", "mean": m, "sem": 0.0, "step": s}
        for s, m in ((1, 80.0), (2, 40.0))
    ]
    experiment.attach_data(Data(pd.DataFrame(rows)))
    trial.mark_early_stopped()
    context = GenerationContext.from_experiment(experiment)
    encoder = UnitCubeEncoder(experiment.search_space)
    observations = modeling.collect_observations(
        encoder, context.observed_trials, context.observed_data, ["f"]
    )
    assert observations["f"].n == 2
    assert 40.0 in observations["f"].Y.flatten().tolist()


def test_strategy_moves_from_sobol_to_botorch_and_resumes_its_state() -> None:
    experiment = Experiment("loop", branin_space(), minimize())
    strategy = GenerationStrategy(
        [
            GenerationStep(Models.SOBOL, num_trials=4, min_trials_observed=4),
            GenerationStep(Models.BOTORCH, num_trials=-1, max_parallelism=2, model_kwargs=FAST),
        ],
        seed=3,
    )
    for _ in range(3):
        for run in strategy.gen(experiment, 4):
            trial = experiment.new_trial(run.parameters, generation_step=run.generation_step)
            trial.mark_running()
            experiment.attach_data(
                Data.from_evaluations({"f": (branin(trial.arm.parameters), 0.0)}, trial.index)
            )
            trial.mark_completed()
    steps = [t.generation_step for t in experiment.trials.values()]
    assert steps == ["Sobol"] * 4 + ["BoTorch"] * 4
    state = strategy.get_state()
    assert state["generators"]["BoTorch"]["seed"] == 4  # strategy seed + step index
    resumed = GenerationStrategy(strategy.steps, seed=3)
    resumed.set_state(state)
    runs = resumed.gen(experiment, 2)
    assert [r.generation_step for r in runs] == ["BoTorch"] * 2
    assert resumed._generators[1].get_state() == state["generators"]["BoTorch"]


def test_the_scheduler_runs_sobol_then_botorch_and_finds_the_best_trial() -> None:
    experiment = Experiment(
        "closed-loop",
        branin_space(),
        OptimizationConfig(Objective(FunctionMetric("f"), minimize=True)),
        runner=FunctionRunner(lambda p: {"f": (branin(p), 0.0)}),
    )
    strategy = choose_generation_strategy(
        experiment.search_space, max_parallelism_cap=3, num_trials=9, random_seed=0
    )
    options = SchedulerOptions(
        total_trials=9,
        max_pending_trials=3,
        init_seconds_between_polls=0.0,
        min_seconds_before_poll=0.0,
    )
    Scheduler(experiment, strategy, options).run_all_trials()
    steps = [t.generation_step for t in experiment.trials.values()]
    assert steps.count("Sobol") == 5 and steps.count("BoTorch") == 4
    best = best_trial(experiment, use_model=True)
    assert best is not None
    assert best[2]["f"] == min(branin(t.arm.parameters) for t in experiment.trials.values())


def test_repeated_calls_warm_start_every_kind_of_model(caplog: pytest.LogCaptureFixture) -> None:
    """The second call of a generator fits from the first call's hyperparameters."""
    for experiment in (branin_experiment(sem=None), constrained_experiment(bound=10.0)):
        bo = generator(experiment.search_space)
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                arm = bo.gen(1, GenerationContext.from_experiment(experiment))[0]
                observe(
                    experiment,
                    lambda p: {"f": branin(p), "c": number(p["x1"]) + number(p["x2"])},
                    [arm],
                )
        assert bo._warm_start  # filled by the first call, used by the second
        assert not fallback_messages(caplog)


def test_the_matern_kernel_fits_its_priors_and_proposes_for_single_and_stacked_metrics(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kernel="matern"` reaches every fitted GP, one output or several stacked."""
    kernels: list[object] = []
    real_fit = modeling.fit_metric_model

    def spy(*args: Any, **kwargs: Any) -> Any:
        model = real_fit(*args, **kwargs)
        kernels.append(model.covar_module)
        return model

    monkeypatch.setattr(modeling, "fit_metric_model", spy)
    for experiment in (branin_experiment(), constrained_experiment(bound=10.0)):
        with caplog.at_level(logging.WARNING):
            proposals = gen(experiment, 2, kernel="matern")
        assert not fallback_messages(caplog)
        assert len({tuple(sorted(a.items())) for a in proposals}) == 2
        assert all(experiment.search_space.check_membership(a) for a in proposals)
    assert len(kernels) == 2
    for kernel in kernels:
        assert isinstance(kernel, ScaleKernel) and isinstance(kernel.base_kernel, MaternKernel)
        assert kernel.base_kernel.nu == 2.5
        assert isinstance(kernel.base_kernel.lengthscale_prior, GammaPrior)


def test_the_default_kernel_is_rbf_with_gamma_priors_and_botorchs_own_is_an_option() -> None:
    experiment = branin_experiment()
    observations = modeling.collect_observations(
        UnitCubeEncoder(branin_space()), experiment.trials.values(), experiment.lookup_data(), ["f"]
    )["f"]
    default = modeling.fit_metric_model(observations).covar_module
    assert isinstance(default, ScaleKernel) and isinstance(default.base_kernel, RBFKernel)
    assert isinstance(default.base_kernel.lengthscale_prior, GammaPrior)
    assert isinstance(default.outputscale_prior, GammaPrior)
    botorchs = modeling.fit_metric_model(observations, kernel="dim-scaled-rbf").covar_module
    assert isinstance(botorchs, RBFKernel)
    assert not isinstance(botorchs.lengthscale_prior, GammaPrior)


def test_an_unknown_kernel_is_a_named_error_that_lists_the_choices() -> None:
    with pytest.raises(InvalidSchedulerOptionsError, match="'rbf', 'matern', 'dim-scaled-rbf'"):
        generator(branin_space(), kernel="periodic")
