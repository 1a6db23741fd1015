"""The objects a valid config describes: experiment, strategy, options, runner.

Each builder takes an `ExperimentConfig` (already validated, see `schema`)
and returns the library object. A model error raised while building (one the
schema could not foresee) becomes a `ConfigError` at the section it came
from, so `run` reports it like any other config problem.
`check_objective_function` is the one check that needs the objective
registry (this process's view of the workers), so it is here and not in the
schema.
"""

from __future__ import annotations

import difflib
import inspect
from typing import TYPE_CHECKING, Any

from scheduler.ops.config.derived import RUN_FIELDS
from scheduler.ops.config.errors import ConfigError, ConfigProblem, as_config_problem
from scheduler.ops.config.expressions import parse_outcome_constraint, parse_parameter_constraint
from scheduler.ops.config.schema import (
    ChoiceParameterConfig,
    ExperimentConfig,
    RangeParameterConfig,
    linear_ranges,
)
from scheduler.ops.env import ENV_OBJECTIVE_MODULES

if TYPE_CHECKING:
    from scheduler.celery import CeleryRunner
    from scheduler.core.experiment import Experiment
    from scheduler.core.optimization import OptimizationConfig
    from scheduler.core.search_space import SearchSpace
    from scheduler.generation.strategy import GenerationStrategy
    from scheduler.options import SchedulerOptions


def _infer_type(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    return "string"


def build_search_space(config: ExperimentConfig) -> SearchSpace:
    """The `SearchSpace` of `parameters` and `parameter_constraints`."""
    from scheduler.core.parameters import (
        ChoiceParameter,
        FixedParameter,
        Parameter,
        ParameterConstraint,
        ParameterType,
        RangeParameter,
    )
    from scheduler.core.search_space import SearchSpace

    parameters: list[Parameter] = []
    for p in config.parameters:
        if isinstance(p, RangeParameterConfig):
            kind = ParameterType.INT if p.value_type == "int" else ParameterType.FLOAT
            lower, upper = p.bounds
            if kind is ParameterType.INT:
                lower, upper = int(lower), int(upper)
            parameters.append(RangeParameter(p.name, kind, lower, upper, p.log_scale))
        elif isinstance(p, ChoiceParameterConfig):
            kind = ParameterType(p.value_type or _infer_type(p.values))
            ordered = p.is_ordered
            if ordered is None:
                ordered = kind in (ParameterType.INT, ParameterType.FLOAT)
            parameters.append(ChoiceParameter(p.name, kind, list(p.values), ordered))
        else:
            kind = ParameterType(p.value_type or _infer_type([p.value]))
            parameters.append(FixedParameter(p.name, kind, p.value))
    ranges = linear_ranges(config.parameters)
    constraints = [
        ParameterConstraint(*parse_parameter_constraint(text, ranges))
        for text in config.parameter_constraints
    ]
    return SearchSpace(parameters, constraints)


def build_optimization_config(config: ExperimentConfig) -> OptimizationConfig:
    """Objectives (one, or a `MultiObjective`) and outcome constraints as `CeleryMetric`s."""
    from scheduler.celery import CeleryMetric
    from scheduler.core.optimization import (
        ComparisonOp,
        MultiObjective,
        Objective,
        ObjectiveThreshold,
        OptimizationConfig,
        OutcomeConstraint,
    )

    sem = config.objective_function.resolved_sem
    objectives = [
        Objective(
            CeleryMetric(name, lower_is_better=o.goal == "minimize", sem=sem),
            minimize=o.goal == "minimize",
        )
        for name, o in config.objectives.items()
    ]
    constraints = []
    for text in config.outcome_constraints:
        metric, op, bound = parse_outcome_constraint(text)
        constraints.append(
            OutcomeConstraint(
                CeleryMetric(metric, lower_is_better=op == "<=", sem=sem),
                ComparisonOp.LEQ if op == "<=" else ComparisonOp.GEQ,
                bound,
            )
        )
    thresholds = [
        ObjectiveThreshold(objective.metric, float(o.threshold))
        for objective, o in zip(objectives, config.objectives.values(), strict=True)
        if o.threshold is not None
    ]
    objective: Objective | MultiObjective = (
        objectives[0] if len(objectives) == 1 else MultiObjective(objectives)
    )
    return OptimizationConfig(objective, constraints, thresholds)


def build_runner(config: ExperimentConfig, app: Any = None) -> CeleryRunner:
    """The `CeleryRunner` sending this config's objective to the workers."""
    from scheduler.celery import CeleryRunner

    return CeleryRunner(
        objective=config.objective_function.name,
        objective_options=dict(config.objective_function.options),
        app=app,
        **config.runner.model_dump(),
    )


def build_experiment(config: ExperimentConfig, app: Any = None) -> Experiment:
    """The `Experiment` (CeleryRunner, one CeleryMetric per metric) `config` describes,
    with its `initial_trials` attached as CANDIDATE trials."""
    from scheduler.celery import CeleryMetric
    from scheduler.core.experiment import Experiment

    with as_config_problem("parameters"):
        space = build_search_space(config)
    with as_config_problem("objectives"):
        optimization = build_optimization_config(config)
    sem = config.objective_function.resolved_sem
    experiment = Experiment(
        name=config.name,
        search_space=space,
        optimization_config=optimization,
        runner=build_runner(config, app),
        tracking_metrics=[CeleryMetric(m, sem=sem) for m in config.tracking_metrics],
        description=config.description,
    )
    for i, parameters in enumerate(config.initial_trials):  # run first, counted in the budget
        with as_config_problem(f"initial_trials[{i}]"):
            experiment.attach_trial(dict(parameters))
    return experiment


def build_generation_strategy(
    config: ExperimentConfig, search_space: SearchSpace
) -> GenerationStrategy:
    """`choose_generation_strategy` (auto) or a Sobol-only strategy.

    The auto strategy is sized to the fleet: `scheduler.max_pending_trials` is
    the number of trials the user keeps out at once, so the initial design
    and the handover to the model keep that many workers busy
    (`choose_generation_strategy`'s `fleet_size`).
    """
    from scheduler.generation import (
        GenerationStep,
        GenerationStrategy,
        Models,
        choose_generation_strategy,
    )

    g = config.generation
    with as_config_problem("generation"):
        if g.strategy == "sobol":
            step = GenerationStep(Models.SOBOL, -1, max_parallelism=g.max_parallelism)
            return GenerationStrategy([step], seed=g.seed)
        return choose_generation_strategy(
            search_space,
            max_parallelism_cap=g.max_parallelism,
            num_trials=config.scheduler.total_trials,
            num_initialization_trials=g.num_initialization_trials,
            random_seed=g.seed,
            fleet_size=_fleet_size(config),
        )


def _fleet_size(config: ExperimentConfig) -> int:
    """`scheduler.max_pending_trials`, set or defaulted (a field `derived` adds from
    `SchedulerOptions` at import time, so read through `model_dump`)."""
    return int(config.scheduler.model_dump(include={"max_pending_trials"})["max_pending_trials"])


def build_options(config: ExperimentConfig) -> SchedulerOptions:
    """`SchedulerOptions` from the `scheduler:` section (the budget included) and the
    `early_stopping:` / `global_stopping:` sections' strategies."""
    from scheduler.options import SchedulerOptions

    values = config.scheduler.model_dump(exclude=set(RUN_FIELDS - {"total_trials"}))
    for section in ("early_stopping", "global_stopping"):
        chosen = getattr(config, section)
        if chosen is not None:
            with as_config_problem(section):
                values[f"{section}_strategy"] = chosen.build()
    with as_config_problem("scheduler"):
        return SchedulerOptions(**values)


def check_objective_function(config: ExperimentConfig, required: bool) -> None:
    """Check the objective is registered here, takes these options and returns our metrics.

    `required` (embedded mode: this process evaluates trials) makes an
    unknown objective an error; on a fleet, workers may register objectives
    this host does not have, so it is not checked then.
    """
    from workers.app import load_objective_modules
    from workers.objectives import registered_objectives

    try:
        load_objective_modules()
    except Exception as exc:  # an unimportable BO_OBJECTIVE_MODULES entry
        if required:
            raise ConfigError(
                [
                    ConfigProblem(
                        "objective_function.name",
                        str(exc),
                        f"fix {ENV_OBJECTIVE_MODULES} or install the module",
                    )
                ]
            ) from None
    known = registered_objectives()
    name = config.objective_function.name
    found = known.get(name)
    problems = []
    if found is None:
        if not required:
            return
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(
            ConfigProblem(
                "objective_function.name",
                f"no objective named {name!r} is registered",
                f"{hint}registered: {', '.join(sorted(known))} (add modules with "
                f"{ENV_OBJECTIVE_MODULES})",
            )
        )
    else:
        try:
            found.check_options(config.objective_function.options)
        except Exception as exc:
            problems.append(
                ConfigProblem("objective_function.options", str(exc), "remove or rename the option")
            )
        problems += _option_type_problems(found.function, config.objective_function.options)
        problems += _builtin_parameter_problems(name, [p.name for p in config.parameters])
        if found.metrics is not None:
            for metric in config.metric_names:
                if metric not in found.metrics:
                    problems.append(
                        ConfigProblem(
                            "objectives" if metric in config.objectives else "outcome_constraints",
                            f"objective {name!r} returns {', '.join(found.metrics)}, "
                            f"not {metric!r}",
                            f"use one of its metrics: {', '.join(found.metrics)}",
                        )
                    )
    if problems:
        raise ConfigError(problems)


def _option_type_problems(function: Any, options: dict[str, Any]) -> list[ConfigProblem]:
    """Options whose value is not of the kind the objective's default is (a number
    for `runtime_seconds: 0.0`, ...): caught here, not by every trial failing."""
    problems = []
    parameters = inspect.signature(function).parameters
    for option, value in options.items():
        default = parameters[option].default if option in parameters else inspect.Parameter.empty
        if default is inspect.Parameter.empty or default is None:
            continue
        wanted: tuple[type, ...] = (
            (bool,)
            if isinstance(default, bool)
            else (int, float)
            if isinstance(default, int | float)
            else (type(default),)
        )
        if isinstance(value, bool) != (bool in wanted) or not isinstance(value, wanted):
            kind = (
                "true or false"
                if bool in wanted
                else "a number"
                if float in wanted
                else f"a {type(default).__name__}"
            )
            problems.append(
                ConfigProblem(
                    f"objective_function.options.{option}",
                    f"{value!r} is not {kind} (the objective's default is {default!r})",
                    f"write {kind}, e.g. {option}: {default!r}",
                )
            )
    return problems


def _builtin_parameter_problems(objective: str, names: list[str]) -> list[ConfigProblem]:
    """A built-in test function takes x1..xd: other names would fail every trial."""
    from workers.objectives.builtin import PROBLEMS

    problem = PROBLEMS.get(objective.removesuffix("_noisy"))
    if problem is None:
        return []
    if problem.dimension is not None:
        expected = [f"x{i}" for i in range(1, problem.dimension + 1)]
        if sorted(names) == sorted(expected):
            return []
        takes = ", ".join(expected)
    else:
        dims = sorted(int(n[1:]) for n in names if n[:1] == "x" and n[1:].isdigit())
        consecutive = len(dims) == len(names) and dims == list(range(1, len(names) + 1))
        if consecutive and len(names) >= problem.min_dimension:
            return []
        takes = f"x1..xd with d >= {problem.min_dimension}"
    return [
        ConfigProblem(
            "parameters",
            f"objective {objective!r} takes parameters {takes}, not {', '.join(names)}",
            f"name the parameters {takes}, or use your own objective",
        )
    ]
