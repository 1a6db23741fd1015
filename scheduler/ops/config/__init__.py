"""Experiment config files: YAML (or TOML) validated with pydantic, built into objects.

One job per module:

- `errors`: `ConfigProblem`, `ConfigError` and pydantic errors as problems;
- `section`: the base of every section model (unknown keys are problems);
- `expressions`: the parameter- and outcome-constraint parsers;
- `derived`: the `scheduler:` and `runner:` sections, from `SchedulerOptions`
  and `CeleryRunner` (their defaults and bounds live there, once);
- `schema`: the other section models and the whole `ExperimentConfig`;
- `build`: experiment, search space, strategy, options, runner from a config;
- `load`: reading and validating a file;
- `services`: database, broker and backend from environment, config, defaults.

Every validation problem is reported at once in one `ConfigError`, one line
per problem, as ``field: problem — fix``. See ``examples/configs/``.
"""

from scheduler.ops.config.build import (
    build_experiment,
    build_generation_strategy,
    build_optimization_config,
    build_options,
    build_runner,
    build_search_space,
    check_objective_function,
)
from scheduler.ops.config.derived import RunnerConfig, SchedulerConfig
from scheduler.ops.config.errors import (
    EXAMPLE_CONFIG,
    ConfigError,
    ConfigProblem,
    ConfigProblemError,
)
from scheduler.ops.config.expressions import parse_outcome_constraint, parse_parameter_constraint
from scheduler.ops.config.load import load_config, parse_config, read_config_data
from scheduler.ops.config.schema import ExperimentConfig
from scheduler.ops.config.services import (
    BrokerSettingsError,
    Services,
    celery_app_for,
    resolve_services,
)

__all__ = [
    "EXAMPLE_CONFIG",
    "BrokerSettingsError",
    "ConfigError",
    "ConfigProblem",
    "ConfigProblemError",
    "ExperimentConfig",
    "RunnerConfig",
    "SchedulerConfig",
    "Services",
    "build_experiment",
    "build_generation_strategy",
    "build_optimization_config",
    "build_options",
    "build_runner",
    "build_search_space",
    "celery_app_for",
    "check_objective_function",
    "load_config",
    "parse_config",
    "parse_outcome_constraint",
    "parse_parameter_constraint",
    "read_config_data",
    "resolve_services",
]
