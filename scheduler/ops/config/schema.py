"""Experiment config files: YAML (or TOML) validated with pydantic, built into objects.

A config names everything a daemon needs to run an experiment to its budget:
the search space, what to optimize, which registered objective the workers
evaluate, the generation strategy, the scheduler options and, optionally,
where the database and the broker are. Environment variables override those
last two sections (twelve-factor): ``BO_DATABASE_URL``, ``BO_BROKER_URL``,
``BO_RESULT_BACKEND``.

Every validation problem is reported at once in one `ConfigError`, one line
per problem, as ``field: problem — fix``. See ``examples/configs/``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from scheduler.core.errors import BoSchedulerError

if TYPE_CHECKING:
    from scheduler.core.experiment import Experiment
    from scheduler.core.optimization import OptimizationConfig
    from scheduler.core.search_space import SearchSpace
    from scheduler.generation.strategy import GenerationStrategy
    from scheduler.options import SchedulerOptions

#: Database used when neither the config nor the environment names one.
DEFAULT_DATABASE_URL = "sqlite:///bo-scheduler.db"
ENV_DATABASE_URL = "BO_DATABASE_URL"
ENV_BROKER_URL = "BO_BROKER_URL"
ENV_RESULT_BACKEND = "BO_RESULT_BACKEND"
# Celery's own names, which the Celery app also honours.
ENV_CELERY_BROKER_URL = "CELERY_BROKER_URL"
ENV_CELERY_RESULT_BACKEND = "CELERY_RESULT_BACKEND"

EXAMPLE_CONFIG = "examples/configs/branin.yaml"


# ------------------------------------------------------------------ errors


@dataclass(frozen=True)
class ConfigProblem:
    """One problem of a config: where, what, and how to fix it."""

    field: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem} — {self.fix}"


class ConfigError(BoSchedulerError, ValueError):
    """An experiment config is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {p}" for p in problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"Invalid experiment config {source} ({count}):\n{lines}")


def _custom(problem: str, fix: str, **extra: Any) -> PydanticCustomError:
    """A validation error carrying its own fix (read back by `_problems_from`)."""
    # Braces would be read as template fields by pydantic.
    safe = problem.replace("{", "(").replace("}", ")")
    return PydanticCustomError("bo_config", safe, {"fix": fix, **extra})


# ------------------------------------------------------------------ models


class _Section(BaseModel):
    """A config section: unknown keys are errors that suggest the key meant."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        allowed = list(cls.model_fields)
        unknown = [k for k in data if k not in allowed]
        if unknown:
            key = str(unknown[0])
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            others = f" (also unknown: {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else ""
            raise _custom(
                f"unknown key {key!r}{others}",
                f"{hint}allowed keys here: {', '.join(allowed)}",
                key=key,
            )
        return data


Scalar = str | bool | int | float


class RangeParameterConfig(_Section):
    """A numeric interval; `value_type: int` for integers, `log_scale` for e.g. rates."""

    name: str = Field(min_length=1)
    type: Literal["range"]
    bounds: tuple[float, float]
    value_type: Literal["float", "int"] = "float"
    log_scale: bool = False

    @model_validator(mode="after")
    def _check_bounds(self) -> RangeParameterConfig:
        lower, upper = self.bounds
        if not (math.isfinite(lower) and math.isfinite(upper)):
            raise _custom("bounds must be finite numbers", "give e.g. bounds: [0, 1]", key="bounds")
        if lower >= upper:
            raise _custom(
                f"lower bound {lower:g} is not below upper bound {upper:g}",
                "write bounds as [lower, upper] with lower < upper, or use type: fixed",
                key="bounds",
            )
        if self.log_scale and lower <= 0:
            raise _custom(
                f"log_scale needs a positive lower bound, got {lower:g}",
                "raise the lower bound above 0 (e.g. 1e-5) or set log_scale: false",
                key="bounds",
            )
        if self.value_type == "int" and (int(lower) != lower or int(upper) != upper):
            raise _custom(
                f"value_type int needs whole-number bounds, got [{lower:g}, {upper:g}]",
                "use whole numbers, or value_type: float",
                key="bounds",
            )
        return self


class ChoiceParameterConfig(_Section):
    """A finite set of values; ordered (numbers, by default) or not (strings)."""

    name: str = Field(min_length=1)
    type: Literal["choice"]
    values: list[Scalar] = Field(min_length=2)
    value_type: Literal["float", "int", "string", "bool"] | None = None
    is_ordered: bool | None = None

    @field_validator("values")
    @classmethod
    def _distinct(cls, values: list[Scalar]) -> list[Scalar]:
        seen = [(type(v) is bool, v) for v in values]
        if len(set(seen)) != len(seen):
            raise _custom(f"a value is listed twice in {values}", "list each value once")
        return values


class FixedParameterConfig(_Section):
    """A parameter held at one value and sent to every trial."""

    name: str = Field(min_length=1)
    type: Literal["fixed"]
    value: Scalar
    value_type: Literal["float", "int", "string", "bool"] | None = None


ParameterConfig = Annotated[
    RangeParameterConfig | ChoiceParameterConfig | FixedParameterConfig,
    Field(discriminator="type"),
]


class ObjectiveConfig(_Section):
    """Minimize or maximize one metric; `threshold` is a multi-objective reference point."""

    goal: Literal["minimize", "maximize"]
    threshold: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"goal": data}
        if isinstance(data, Mapping) and "minimize" in data and "goal" not in data:
            data = dict(data)
            data["goal"] = "minimize" if data.pop("minimize") else "maximize"
        return data


class ObjectiveFunctionConfig(_Section):
    """The registered objective the workers evaluate, and its options."""

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    sem: float | None = Field(default=0.0, ge=0)


class RunnerConfig(_Section):
    """How trials are sent as Celery tasks (see `CeleryRunner`)."""

    queue: str = Field(default="bo-trials", min_length=1)
    lost_after_seconds: float = Field(default=30.0, ge=0)
    max_queued_seconds: float | None = Field(default=None, gt=0)
    embedded_concurrency: int = Field(default=2, ge=1)


class GenerationConfig(_Section):
    """`strategy: auto` (Sobol, then BoTorch) or `sobol` (quasi-random only)."""

    strategy: Literal["auto", "sobol"] = "auto"
    seed: int | None = None
    max_parallelism: int | None = Field(default=None, ge=1)
    num_initialization_trials: int | None = Field(default=None, ge=1)


class SchedulerConfig(_Section):
    """`SchedulerOptions` plus the run's budget and timeout."""

    total_trials: int = Field(ge=1)
    max_pending_trials: int = Field(default=4, ge=1)
    timeout_hours: float | None = Field(default=None, gt=0)
    tolerated_trial_failure_rate: float = Field(default=0.5, ge=0, lt=1)
    min_failed_trials_for_failure_rate_check: int = Field(default=5, ge=1)
    ttl_seconds_for_trials: float | None = Field(default=None, gt=0)
    init_seconds_between_polls: float = Field(default=1.0, ge=0)
    min_seconds_before_poll: float = Field(default=1.0, ge=0)
    seconds_between_polls_backoff_factor: float = Field(default=1.5, ge=1)
    max_seconds_between_polls: float = Field(default=30.0, ge=0)
    run_trials_in_batches: bool = False

    @model_validator(mode="after")
    def _poll_bounds(self) -> SchedulerConfig:
        if self.max_seconds_between_polls < self.init_seconds_between_polls:
            raise _custom(
                f"max_seconds_between_polls ({self.max_seconds_between_polls:g}) is below "
                f"init_seconds_between_polls ({self.init_seconds_between_polls:g})",
                "raise max_seconds_between_polls or lower init_seconds_between_polls",
                key="max_seconds_between_polls",
            )
        return self


class DatabaseConfig(_Section):
    """Where experiments are stored; `$BO_DATABASE_URL` overrides `url`."""

    url: str | None = None


class BrokerConfig(_Section):
    """Celery broker and result backend; `$BO_BROKER_URL` / `$BO_RESULT_BACKEND` override."""

    broker_url: str | None = None
    result_backend: str | None = None

    @field_validator("broker_url", "result_backend")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise _custom(
                f"{value!r} is not a URL",
                "write e.g. redis://:password@redis-host:6379/0",
            )
        return value


class ExperimentConfig(_Section):
    """A whole experiment config file."""

    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    parameters: list[ParameterConfig] = Field(min_length=1)
    parameter_constraints: list[str] = Field(default_factory=list)
    objectives: dict[str, ObjectiveConfig] = Field(min_length=1)
    outcome_constraints: list[str] = Field(default_factory=list)
    tracking_metrics: list[str] = Field(default_factory=list)
    objective_function: ObjectiveFunctionConfig
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    scheduler: SchedulerConfig
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value != value.strip() or not re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
            raise _custom(
                f"{value!r} has characters other than letters, digits and _ . : -",
                "use a name like branin_2024-06 (it names the experiment in the database "
                "and on the command line)",
            )
        return value

    @field_validator("parameters")
    @classmethod
    def _unique_parameters(cls, parameters: list[Any]) -> list[Any]:
        names = [p.name for p in parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise _custom(
                f"parameter name(s) {', '.join(duplicates)} appear more than once",
                "give every parameter its own name",
            )
        return parameters

    @field_validator("parameter_constraints")
    @classmethod
    def _parameter_constraints(cls, value: list[str], info: ValidationInfo) -> list[str]:
        parameters = info.data.get("parameters")
        ranges = None
        if parameters is not None:
            ranges = {
                p.name: p
                for p in parameters
                if isinstance(p, RangeParameterConfig) and not p.log_scale
            }
        problems = []
        for i, text in enumerate(value):
            try:
                parse_parameter_constraint(text, ranges)
            except ConfigProblemError as exc:
                problems.append(ConfigProblem(f"parameter_constraints[{i}]", exc.problem, exc.fix))
        if problems:
            raise _Problems(problems)
        return value

    @field_validator("outcome_constraints")
    @classmethod
    def _outcome_constraints(cls, value: list[str], info: ValidationInfo) -> list[str]:
        objectives = info.data.get("objectives") or {}
        problems = []
        for i, text in enumerate(value):
            try:
                metric, _, _ = parse_outcome_constraint(text)
            except ConfigProblemError as exc:
                problems.append(ConfigProblem(f"outcome_constraints[{i}]", exc.problem, exc.fix))
                continue
            if metric in objectives:
                problems.append(
                    ConfigProblem(
                        f"outcome_constraints[{i}]",
                        f"metric {metric!r} is also an objective",
                        "constrain a different metric, or remove it from objectives",
                    )
                )
        if problems:
            raise _Problems(problems)
        return value

    @field_validator("objectives")
    @classmethod
    def _single_objective_threshold(
        cls, value: dict[str, ObjectiveConfig]
    ) -> dict[str, ObjectiveConfig]:
        if len(value) == 1:
            ((only, objective),) = value.items()
            if objective.threshold is not None:
                raise _Problems(
                    [
                        ConfigProblem(
                            f"objectives.{only}.threshold",
                            "a threshold is a multi-objective reference point, but there is "
                            "only one objective",
                            "remove threshold, or make it an outcome constraint "
                            f"('{only} <= value') on another metric",
                        )
                    ]
                )
        return value

    @field_validator("tracking_metrics")
    @classmethod
    def _tracking(cls, value: list[str], info: ValidationInfo) -> list[str]:
        used = set(info.data.get("objectives") or {})
        for text in info.data.get("outcome_constraints") or []:
            used.add(parse_outcome_constraint(text)[0])
        problems = [
            ConfigProblem(
                f"tracking_metrics[{i}]",
                f"metric {metric!r} is already an objective or constraint",
                "remove it from tracking_metrics",
            )
            for i, metric in enumerate(value)
            if metric in used
        ]
        if problems:
            raise _Problems(problems)
        return value

    # -- building ----------------------------------------------------------
    @property
    def metric_names(self) -> list[str]:
        """Objective, constraint and tracking metrics, in that order."""
        names = list(self.objectives)
        names += [parse_outcome_constraint(c)[0] for c in self.outcome_constraints]
        return names + [m for m in self.tracking_metrics if m not in names]

    def build_search_space(self) -> SearchSpace:
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
        for p in self.parameters:
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
        ranges = {
            p.name: p
            for p in self.parameters
            if isinstance(p, RangeParameterConfig) and not p.log_scale
        }
        constraints = [
            ParameterConstraint(*parse_parameter_constraint(text, ranges))
            for text in self.parameter_constraints
        ]
        return SearchSpace(parameters, constraints)

    def build_optimization_config(self) -> OptimizationConfig:
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

        sem = self.objective_function.sem
        objectives = [
            Objective(
                CeleryMetric(name, lower_is_better=o.goal == "minimize", sem=sem),
                minimize=o.goal == "minimize",
            )
            for name, o in self.objectives.items()
        ]
        constraints = []
        for text in self.outcome_constraints:
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
            for objective, o in zip(objectives, self.objectives.values(), strict=True)
            if o.threshold is not None
        ]
        objective: Objective | MultiObjective = (
            objectives[0] if len(objectives) == 1 else MultiObjective(objectives)
        )
        return OptimizationConfig(objective, constraints, thresholds)

    def build_runner(self, app: Any = None) -> Any:
        """The `CeleryRunner` sending this config's objective to the workers."""
        from scheduler.celery import CeleryRunner

        return CeleryRunner(
            objective=self.objective_function.name,
            objective_options=dict(self.objective_function.options),
            queue=self.runner.queue,
            lost_after_seconds=self.runner.lost_after_seconds,
            max_queued_seconds=self.runner.max_queued_seconds,
            embedded_concurrency=self.runner.embedded_concurrency,
            app=app,
        )

    def build_experiment(self, app: Any = None) -> Experiment:
        """The `Experiment` (CeleryRunner, one CeleryMetric per metric) this config describes."""
        from scheduler.celery import CeleryMetric
        from scheduler.core.experiment import Experiment

        with _as_config_problem("parameters"):
            space = self.build_search_space()
        with _as_config_problem("objectives"):
            optimization = self.build_optimization_config()
        tracking = [CeleryMetric(m, sem=self.objective_function.sem) for m in self.tracking_metrics]
        return Experiment(
            name=self.name,
            search_space=space,
            optimization_config=optimization,
            runner=self.build_runner(app),
            tracking_metrics=tracking,
            description=self.description,
        )

    def build_generation_strategy(self, search_space: SearchSpace) -> GenerationStrategy:
        """`choose_generation_strategy` (auto) or a Sobol-only strategy."""
        from scheduler.generation import (
            GenerationStep,
            GenerationStrategy,
            Models,
            choose_generation_strategy,
        )

        g = self.generation
        with _as_config_problem("generation"):
            if g.strategy == "sobol":
                step = GenerationStep(Models.SOBOL, -1, max_parallelism=g.max_parallelism)
                return GenerationStrategy([step], seed=g.seed)
            return choose_generation_strategy(
                search_space,
                max_parallelism_cap=g.max_parallelism,
                num_trials=self.scheduler.total_trials,
                num_initialization_trials=g.num_initialization_trials,
                random_seed=g.seed,
            )

    def build_options(self) -> SchedulerOptions:
        """`SchedulerOptions` from the `scheduler:` section."""
        from scheduler.options import SchedulerOptions

        values = self.scheduler.model_dump(exclude={"timeout_hours"})
        with _as_config_problem("scheduler"):
            return SchedulerOptions(**values)

    def check_objective_function(self, required: bool) -> None:
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
                            "fix BO_OBJECTIVE_MODULES or install the module",
                        )
                    ]
                ) from None
        known = registered_objectives()
        name = self.objective_function.name
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
                    "BO_OBJECTIVE_MODULES)",
                )
            )
        else:
            try:
                found.check_options(self.objective_function.options)
            except Exception as exc:
                problems.append(
                    ConfigProblem(
                        "objective_function.options", str(exc), "remove or rename the option"
                    )
                )
            if found.metrics is not None:
                for metric in self.metric_names:
                    if metric not in found.metrics:
                        problems.append(
                            ConfigProblem(
                                "objectives"
                                if metric in self.objectives
                                else "outcome_constraints",
                                f"objective {name!r} returns {', '.join(found.metrics)}, "
                                f"not {metric!r}",
                                f"use one of its metrics: {', '.join(found.metrics)}",
                            )
                        )
        if problems:
            raise ConfigError(problems)


# ------------------------------------------------------------ constraints


class ConfigProblemError(ValueError):
    """A problem in one value, before it is placed at a field."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem} — {fix}")
        self.problem = problem
        self.fix = fix


class _Problems(ValueError):
    """Several problems found by one validator, each with its own field."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_TERM = re.compile(rf"\s*([-+])?\s*(?:({_NUMBER})\s*\*?\s*)?([A-Za-z_][A-Za-z0-9_.]*)?\s*")
_PARAMETER_EXAMPLE = "write a linear inequality such as 'x1 + 2*x2 <= 10' or 'x1 <= x2'"


def _linear(side: str, text: str) -> tuple[dict[str, float], float]:
    """`{name: coefficient}` and the constant of a linear expression like '2*x1 - x2 + 3'."""
    weights: dict[str, float] = {}
    constant = 0.0
    position, first = 0, True
    side = side.strip()
    if not side:
        raise ConfigProblemError(f"{text!r} has an empty side", _PARAMETER_EXAMPLE)
    while position < len(side):
        match = _TERM.match(side, position)
        if match is None or match.end() == position:
            raise ConfigProblemError(
                f"cannot read {side[position:]!r} in {text!r}", _PARAMETER_EXAMPLE
            )
        sign_text, number, name = match.groups()
        if sign_text is None and not first:
            raise ConfigProblemError(
                f"missing + or - before {side[position:].strip()!r} in {text!r}",
                _PARAMETER_EXAMPLE,
            )
        if number is None and name is None:
            raise ConfigProblemError(f"dangling sign in {text!r}", _PARAMETER_EXAMPLE)
        sign = -1.0 if sign_text == "-" else 1.0
        coefficient = sign * (float(number) if number is not None else 1.0)
        if name is None:
            constant += coefficient
        else:
            weights[name] = weights.get(name, 0.0) + coefficient
        position, first = match.end(), False
    return weights, constant


def parse_parameter_constraint(
    text: str, ranges: Mapping[str, Any] | None
) -> tuple[dict[str, float], float]:
    """`'x1 + 2*x2 <= 10'` -> `({'x1': 1, 'x2': 2}, 10)`; `>=` is turned around.

    `ranges` maps the linear-scale range parameters' names (the only ones a
    linear constraint may use) to anything; None skips the name check.
    """
    parts = re.split(r"(<=|>=)", text)
    if len(parts) != 3:
        raise ConfigProblemError(f"{text!r} needs exactly one '<=' or '>='", _PARAMETER_EXAMPLE)
    left, op, right = parts
    lw, lc = _linear(left, text)
    rw, rc = _linear(right, text)
    weights = dict(lw)
    for name, w in rw.items():
        weights[name] = weights.get(name, 0.0) - w
    bound = rc - lc
    if op == ">=":
        weights = {k: -v for k, v in weights.items()}
        bound = -bound
    weights = {k: v for k, v in weights.items() if v != 0.0}
    if not weights:
        raise ConfigProblemError(f"{text!r} names no parameter", _PARAMETER_EXAMPLE)
    for name in weights:
        if ranges is not None and name not in ranges:
            close = difflib.get_close_matches(name, list(ranges), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigProblemError(
                f"{name!r} is not a linear-scale range parameter",
                f"{hint}constraints may use: {', '.join(ranges) or 'no parameter'}",
            )
    return weights, bound


_OUTCOME = re.compile(rf"^\s*([A-Za-z_][A-Za-z0-9_.:-]*)\s*(<=|>=)\s*([-+]?{_NUMBER})\s*(%?)\s*$")


def parse_outcome_constraint(text: str) -> tuple[str, str, float]:
    """`'cost <= 3.5'` -> `('cost', '<=', 3.5)`."""
    match = _OUTCOME.match(text)
    if match is None:
        raise ConfigProblemError(
            f"cannot read {text!r}",
            "write 'metric <= number' or 'metric >= number', e.g. 'cost <= 3.5'",
        )
    metric, op, number, percent = match.groups()
    if percent:
        raise ConfigProblemError(
            f"{text!r} is relative (%), which needs a status-quo arm bo-scheduler does not have",
            "give an absolute bound, e.g. 'cost <= 3.5'",
        )
    return metric, op, float(number)


def _infer_type(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    return "string"


@contextmanager
def _as_config_problem(field: str) -> Iterator[None]:
    """Turn a model error raised while building (e.g. an invalid option) into a ConfigError."""
    try:
        yield
    except ConfigError:
        raise
    except BoSchedulerError as exc:
        raise ConfigError(
            [ConfigProblem(field, str(exc), f"change {field} as the message says")]
        ) from exc


# ------------------------------------------------------------------ loading

#: Fixes for pydantic's own error types; `{expected}` comes from the error context.
_FIXES: dict[str, str] = {
    "missing": "add it (see " + EXAMPLE_CONFIG + ")",
    "extra_forbidden": "remove it",
    "union_tag_not_found": "add type: range, choice or fixed",
    "union_tag_invalid": "use type: range, choice or fixed",
    "literal_error": "use one of the values listed",
    "too_short": "give more entries",
    "too_long": "give fewer entries",
    "tuple_type": "write a list of two numbers, e.g. [0, 1]",
    "list_type": "write a list, e.g. [a, b]",
    "dict_type": "write a mapping of key: value lines",
    "model_type": "write a mapping of key: value lines",
    "model_attributes_type": "write a mapping of key: value lines",
    "string_type": "write a string (quote it if needed)",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number",
    "float_parsing": "write a number",
    "greater_than": "raise the value",
    "greater_than_equal": "raise the value",
    "less_than": "lower the value",
    "less_than_equal": "lower the value",
    "string_too_short": "write a non-empty value",
    "string_too_long": "shorten it",
}

_TAGS = {"range", "choice", "fixed"}


def _field_path(loc: tuple[Any, ...], key: str | None) -> str:
    parts: list[str] = []
    previous: Any = None
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif isinstance(item, str) and (
            "[" in item or (item in _TAGS and isinstance(previous, int))
        ):
            pass  # pydantic's own markers: union tags, validator names
        else:
            parts.append(f".{item}" if parts else str(item))
        previous = item
    if key is not None:
        parts.append(f".{key}" if parts else key)
    return "".join(parts) or "(top level)"


def _problems_from(error: ValidationError) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for item in error.errors(include_url=False):
        ctx = item.get("ctx") or {}
        if item["type"] == "value_error" and isinstance(ctx.get("error"), _Problems):
            problems.extend(ctx["error"].problems)
            continue
        key = ctx.get("key") if item["type"] == "bo_config" else None
        path = _field_path(tuple(item["loc"]), key)
        if item["type"] == "bo_config":
            problems.append(ConfigProblem(path, item["msg"], str(ctx["fix"])))
            continue
        message = item["msg"]
        fix = _FIXES.get(item["type"], "see " + EXAMPLE_CONFIG + " for a valid example")
        if item["type"] == "missing":
            fix = f"add `{path.rsplit('.', 1)[-1]}: ...` (see {EXAMPLE_CONFIG})"
        problems.append(ConfigProblem(path, message[0].lower() + message[1:], fix))
    return problems


def parse_config(data: Any, source: str = "config") -> ExperimentConfig:
    """Validate already-loaded config data; raise `ConfigError` listing every problem."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            [
                ConfigProblem(
                    "(top level)",
                    f"the file holds a {type(data).__name__}, not a mapping of sections",
                    f"start from {EXAMPLE_CONFIG}",
                )
            ],
            source,
        )
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems_from(exc), source) from None


def read_config_data(path: str | Path) -> dict[str, Any]:
    """The raw mapping in a YAML (`.yaml`, `.yml`) or TOML (`.toml`) file."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem("(file)", f"cannot read {source}: {exc.strerror}", "check the path")],
            source,
        ) from None
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                [ConfigProblem("(file)", f"invalid TOML: {exc}", "fix the TOML syntax there")],
                source,
            ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [
                ConfigProblem(
                    f"(YAML at {where})",
                    f"invalid YAML: {problem}",
                    "fix indentation or quoting there (quote strings containing ': ' or '#')",
                )
            ],
            source,
        ) from None
    return data if isinstance(data, dict) else {"__not_a_mapping__": data}


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a config file; raise `ConfigError` listing every problem."""
    data = read_config_data(path)
    if "__not_a_mapping__" in data and len(data) == 1:
        return parse_config(data["__not_a_mapping__"], str(path))
    return parse_config(data, str(path))


# ---------------------------------------------------------------- services


_PASSWORD = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]+)@"
)


def mask_url(url: str | None) -> str:
    """`url` with any password replaced by `***` (for logs and status output)."""
    if url is None:
        return "-"
    try:
        parts = urlsplit(url)
    except ValueError:
        return _PASSWORD.sub(r"\g<scheme>\g<user>:***@", url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def mask_secrets(text: str) -> str:
    """Every `scheme://user:password@` in `text` with the password masked."""
    return _PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)


@dataclass(frozen=True)
class Services:
    """Where the database, broker and result backend are, and where each setting came from."""

    database_url: str
    broker_url: str | None
    result_backend: str | None
    sources: dict[str, str]

    @property
    def embedded(self) -> bool:
        """No broker: trials run on an in-process worker."""
        return self.broker_url is None or self.broker_url.startswith("memory://")

    def describe(self) -> dict[str, str]:
        """Masked settings with their source, for logs and `status`."""
        backend = self.result_backend or ("(the broker)" if self.broker_url else None)
        return {
            "database": f"{mask_url(self.database_url)} ({self.sources['database']})",
            "broker": (
                "embedded (in-process worker)"
                if self.embedded
                else f"{mask_url(self.broker_url)} ({self.sources['broker']})"
            ),
            "result_backend": "embedded"
            if self.embedded
            else f"{mask_url(backend)} ({self.sources['result_backend']})",
        }

    def apply_to_environ(self, environ: MutableMapping[str, str] | None = None) -> None:
        """Export the broker settings for the Celery app (which reads the environment)."""
        environ = os.environ if environ is None else environ
        for variable, celery_variable, value in (
            (ENV_BROKER_URL, ENV_CELERY_BROKER_URL, self.broker_url),
            (ENV_RESULT_BACKEND, ENV_CELERY_RESULT_BACKEND, self.result_backend),
        ):
            if value and not environ.get(variable) and not environ.get(celery_variable):
                environ[variable] = value


def resolve_services(
    config: ExperimentConfig | None,
    environ: Mapping[str, str] | None = None,
    database_url: str | None = None,
) -> Services:
    """Environment over config over defaults; `database_url` (a CLI flag) over all."""
    environ = os.environ if environ is None else environ
    sources: dict[str, str] = {}

    def pick(name: str, env_names: tuple[str, ...], configured: str | None) -> str | None:
        for variable in env_names:
            if environ.get(variable, "").strip():
                sources[name] = f"from ${variable}"
                return environ[variable].strip()
        if configured:
            sources[name] = "from the config file"
            return configured
        sources[name] = "default"
        return None

    db = pick("database", (ENV_DATABASE_URL,), config.database.url if config else None)
    if database_url and database_url != environ.get(ENV_DATABASE_URL, "").strip():
        db, sources["database"] = database_url, "from --db-url"
    broker = pick(
        "broker",
        (ENV_BROKER_URL, ENV_CELERY_BROKER_URL),
        config.broker.broker_url if config else None,
    )
    backend = pick(
        "result_backend",
        (ENV_RESULT_BACKEND, ENV_CELERY_RESULT_BACKEND),
        config.broker.result_backend if config else None,
    )
    return Services(db or DEFAULT_DATABASE_URL, broker, backend, sources)


def celery_app_for(services: Services) -> Any:
    """The Celery app for these services: `workers.app.app` when it matches, else a new one.

    Call `services.apply_to_environ()` first so a later `import workers.app`
    (by a resumed runner, for instance) builds the same app.
    """
    import workers.app as app_module
    from workers.settings import EMBEDDED_BROKER_URL

    wanted = services.broker_url or EMBEDDED_BROKER_URL
    current = str(app_module.app.conf.broker_url)
    if current == wanted and (
        services.result_backend is None
        or str(app_module.app.conf.result_backend) == services.result_backend
    ):
        return app_module.app
    environ = {k: v for k, v in os.environ.items()}
    environ.pop(ENV_CELERY_BROKER_URL, None)
    environ.pop(ENV_CELERY_RESULT_BACKEND, None)
    environ[ENV_BROKER_URL] = wanted
    if services.result_backend:
        environ[ENV_RESULT_BACKEND] = services.result_backend
    else:
        environ.pop(ENV_RESULT_BACKEND, None)
    return app_module.make_app(environ)
