"""The experiment model: parameters, search space, trials, metrics, runners, data."""

from scheduler.core.data import Data
from scheduler.core.errors import (
    BoSchedulerError,
    FailureRateExceededError,
    GenerationError,
    InvalidDataError,
    InvalidOptimizationConfigError,
    InvalidParameterError,
    InvalidRunMetadataError,
    InvalidSchedulerOptionsError,
    InvalidSearchSpaceError,
    InvalidTrialTransitionError,
    MissingMetricError,
    NoBaselineError,
    NoBestPointError,
    OutOfSearchSpaceError,
)
from scheduler.core.experiment import Experiment
from scheduler.core.metric import Metric, MetricFetchResult
from scheduler.core.optimization import (
    ComparisonOp,
    MultiObjective,
    MultiObjectiveOptimizationConfig,
    Objective,
    ObjectiveThreshold,
    OptimizationConfig,
    OutcomeConstraint,
)
from scheduler.core.parameters import (
    ChoiceParameter,
    FixedParameter,
    Parameter,
    ParameterConstraint,
    ParameterType,
    RangeParameter,
    TParameterization,
    TParamValue,
)
from scheduler.core.result import Err, MetricFetchE, Ok
from scheduler.core.runner import Runner
from scheduler.core.search_space import SearchSpace
from scheduler.core.trial import Arm, Trial, TrialStatus

__all__ = [
    "Arm",
    "BoSchedulerError",
    "ChoiceParameter",
    "ComparisonOp",
    "Data",
    "Err",
    "Experiment",
    "FailureRateExceededError",
    "FixedParameter",
    "GenerationError",
    "InvalidDataError",
    "InvalidOptimizationConfigError",
    "InvalidParameterError",
    "InvalidRunMetadataError",
    "InvalidSchedulerOptionsError",
    "InvalidSearchSpaceError",
    "InvalidTrialTransitionError",
    "Metric",
    "MetricFetchE",
    "MetricFetchResult",
    "MissingMetricError",
    "MultiObjective",
    "MultiObjectiveOptimizationConfig",
    "NoBaselineError",
    "NoBestPointError",
    "Objective",
    "ObjectiveThreshold",
    "Ok",
    "OptimizationConfig",
    "OutOfSearchSpaceError",
    "OutcomeConstraint",
    "Parameter",
    "ParameterConstraint",
    "ParameterType",
    "RangeParameter",
    "Runner",
    "SearchSpace",
    "TParamValue",
    "TParameterization",
    "Trial",
    "TrialStatus",
]
