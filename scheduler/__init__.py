"""bo-scheduler: Bayesian optimization with trials run as Celery tasks.

The public API mirrors Ax's Scheduler tutorial; see README.md.
"""

from scheduler import local as _local  # noqa: F401  (registers FunctionRunner for storage)
from scheduler.analysis.report import exp_to_df
from scheduler.celery import CeleryMetric, CeleryRunner
from scheduler.core import (
    Arm,
    ChoiceParameter,
    ComparisonOp,
    Data,
    Err,
    Experiment,
    FailureRateExceededError,
    FixedParameter,
    Metric,
    MetricFetchE,
    MetricFetchResult,
    MultiObjective,
    MultiObjectiveOptimizationConfig,
    Objective,
    ObjectiveThreshold,
    Ok,
    OptimizationConfig,
    OutcomeConstraint,
    ParameterConstraint,
    ParameterType,
    RangeParameter,
    Runner,
    SearchSpace,
    Trial,
    TrialStatus,
)
from scheduler.generation import (
    GenerationStep,
    GenerationStrategy,
    Models,
    choose_generation_strategy,
)
from scheduler.options import SchedulerOptions
from scheduler.scheduler import Scheduler
from scheduler.storage import (
    DBSettings,
    RegistryBundle,
    delete_experiment,
    list_experiments,
    register_metric,
    register_runner,
)

__all__ = [
    "Arm",
    "CeleryMetric",
    "CeleryRunner",
    "ChoiceParameter",
    "ComparisonOp",
    "DBSettings",
    "Data",
    "Err",
    "Experiment",
    "FailureRateExceededError",
    "FixedParameter",
    "GenerationStep",
    "GenerationStrategy",
    "Metric",
    "MetricFetchE",
    "MetricFetchResult",
    "Models",
    "MultiObjective",
    "MultiObjectiveOptimizationConfig",
    "Objective",
    "ObjectiveThreshold",
    "Ok",
    "OptimizationConfig",
    "OutcomeConstraint",
    "ParameterConstraint",
    "ParameterType",
    "RangeParameter",
    "RegistryBundle",
    "Runner",
    "Scheduler",
    "SchedulerOptions",
    "SearchSpace",
    "Trial",
    "TrialStatus",
    "choose_generation_strategy",
    "delete_experiment",
    "exp_to_df",
    "list_experiments",
    "register_metric",
    "register_runner",
]
