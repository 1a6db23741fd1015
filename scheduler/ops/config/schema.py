"""The pydantic models of an experiment config file, section by section.

A config names everything a daemon needs to run an experiment to its budget:
the search space, what to optimize, which registered objective the workers
evaluate, the generation strategy, the scheduler options and, optionally,
where the database and the broker are (environment variables override those
last two: see `services`). The `scheduler:` and `runner:` sections are
derived from the code they configure (`derived`). Validation only: building
objects from a valid config is `build`'s job, reading files `load`'s.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from scheduler.ops.config.derived import RunnerConfig, SchedulerConfig
from scheduler.ops.config.errors import ConfigProblem, ConfigProblemError, Problems, custom
from scheduler.ops.config.expressions import parse_outcome_constraint, parse_parameter_constraint
from scheduler.ops.config.section import Section
from scheduler.ops.config.stopping import EarlyStoppingConfig, GlobalStoppingConfig

Scalar = str | bool | int | float


class RangeParameterConfig(Section):
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
            raise custom("bounds must be finite numbers", "give e.g. bounds: [0, 1]", key="bounds")
        if lower >= upper:
            raise custom(
                f"lower bound {lower:g} is not below upper bound {upper:g}",
                "write bounds as [lower, upper] with lower < upper, or use type: fixed",
                key="bounds",
            )
        if self.log_scale and lower <= 0:
            raise custom(
                f"log_scale needs a positive lower bound, got {lower:g}",
                "raise the lower bound above 0 (e.g. 1e-5) or set log_scale: false",
                key="bounds",
            )
        if self.value_type == "int" and (int(lower) != lower or int(upper) != upper):
            raise custom(
                f"value_type int needs whole-number bounds, got [{lower:g}, {upper:g}]",
                "use whole numbers, or value_type: float",
                key="bounds",
            )
        return self


class ChoiceParameterConfig(Section):
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
            raise custom(f"a value is listed twice in {values}", "list each value once")
        return values


class FixedParameterConfig(Section):
    """A parameter held at one value and sent to every trial."""

    name: str = Field(min_length=1)
    type: Literal["fixed"]
    value: Scalar
    value_type: Literal["float", "int", "string", "bool"] | None = None


ParameterConfig = Annotated[
    RangeParameterConfig | ChoiceParameterConfig | FixedParameterConfig,
    Field(discriminator="type"),
]


def linear_ranges(parameters: list[Any]) -> dict[str, RangeParameterConfig]:
    """The parameters a linear constraint may use: range parameters on a linear scale."""
    return {
        p.name: p for p in parameters if isinstance(p, RangeParameterConfig) and not p.log_scale
    }


class ObjectiveConfig(Section):
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


class ObjectiveFunctionConfig(Section):
    """The registered objective the workers evaluate, and its options.

    `sem` is the noise of a bare value the objective returns: a number (0 for a
    deterministic function), or null for unknown noise that the model infers.
    Left out, it is 0 for the built-in noiseless test functions (branin,
    hartmann6, ...) and null for everything else: a user's training run is noisy
    until said otherwise, and treating it as exact would make the model chase noise.
    """

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    sem: float | Literal["auto"] | None = "auto"

    @field_validator("sem", mode="before")
    @classmethod
    def _sem(cls, value: Any) -> Any:
        if value is None or value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise custom(f"{value!r} is not a number", "write a standard error >= 0, null or auto")
        if not value >= 0:
            raise custom("input should be greater than or equal to 0", "raise the value")
        return float(value)

    @property
    def resolved_sem(self) -> float | None:
        """The SEM reported with bare values (see the class docstring)."""
        if self.sem != "auto":
            return None if self.sem is None else float(self.sem)
        from workers.objectives.builtin import PROBLEMS

        return 0.0 if self.name in PROBLEMS else None


class GenerationConfig(Section):
    """`strategy: auto` (Sobol, then BoTorch) or `sobol` (quasi-random only)."""

    strategy: Literal["auto", "sobol"] = "auto"
    seed: int | None = None
    max_parallelism: int | None = Field(default=None, ge=1)
    num_initialization_trials: int | None = Field(default=None, ge=1)


class DatabaseConfig(Section):
    """Where experiments are stored; `$BO_DATABASE_URL` overrides `url`.

    `lease_timeout_seconds`: how long a daemon that stopped renewing its lease
    (killed, or its host lost) holds the experiment before `resume` may take
    it over (`DBSettings.lease_timeout_seconds`); keep it above the longest
    poll interval and model fit.
    """

    url: str | None = None
    lease_timeout_seconds: float = Field(default=60.0, ge=1)


class BrokerConfig(Section):
    """Celery broker and result backend; `$BO_BROKER_URL` / `$BO_RESULT_BACKEND` override."""

    broker_url: str | None = None
    result_backend: str | None = None

    @field_validator("broker_url", "result_backend")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise custom(
                f"{value!r} is not a URL",
                "write e.g. redis://:password@redis-host:6379/0",
            )
        return value


class ExperimentConfig(Section):
    """A whole experiment config file."""

    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    parameters: list[ParameterConfig] = Field(min_length=1)
    parameter_constraints: list[str] = Field(default_factory=list)
    objectives: dict[str, ObjectiveConfig] = Field(min_length=1)
    outcome_constraints: list[str] = Field(default_factory=list)
    tracking_metrics: list[str] = Field(default_factory=list)
    #: Known configurations to evaluate first ({parameter: value} each); they are
    #: attached as CANDIDATE trials, deployed before any proposal and counted
    #: toward the budget. Checked against the search space when built.
    initial_trials: list[dict[str, Scalar]] = Field(default_factory=list)
    objective_function: ObjectiveFunctionConfig
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    scheduler: SchedulerConfig
    early_stopping: EarlyStoppingConfig | None = None
    global_stopping: GlobalStoppingConfig | None = None
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value != value.strip() or not re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
            raise custom(
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
            raise custom(
                f"parameter name(s) {', '.join(duplicates)} appear more than once",
                "give every parameter its own name",
            )
        return parameters

    @field_validator("parameter_constraints")
    @classmethod
    def _parameter_constraints(cls, value: list[str], info: ValidationInfo) -> list[str]:
        parameters = info.data.get("parameters")
        ranges = None if parameters is None else linear_ranges(parameters)
        problems = []
        for i, text in enumerate(value):
            try:
                parse_parameter_constraint(text, ranges)
            except ConfigProblemError as exc:
                problems.append(ConfigProblem(f"parameter_constraints[{i}]", exc.problem, exc.fix))
        if problems:
            raise Problems(problems)
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
            raise Problems(problems)
        return value

    @field_validator("objectives")
    @classmethod
    def _single_objective_threshold(
        cls, value: dict[str, ObjectiveConfig]
    ) -> dict[str, ObjectiveConfig]:
        if len(value) == 1:
            ((only, objective),) = value.items()
            if objective.threshold is not None:
                raise Problems(
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
            raise Problems(problems)
        return value

    @property
    def metric_names(self) -> list[str]:
        """Objective, constraint and tracking metrics, in that order."""
        names = list(self.objectives)
        names += [parse_outcome_constraint(c)[0] for c in self.outcome_constraints]
        return names + [m for m in self.tracking_metrics if m not in names]
