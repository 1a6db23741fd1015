"""Config sections for the library's stopping rules, and the default noise of an objective."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from scheduler.celery import CeleryMetric
from scheduler.ops.cli.main import EXIT_CONFIG, main
from scheduler.ops.config import ConfigError, build_experiment, build_options, parse_config
from scheduler.stopping import (
    ImprovementGlobalStoppingStrategy,
    PercentileEarlyStoppingStrategy,
    ThresholdEarlyStoppingStrategy,
)
from scheduler.storage import DBSettings, load_experiment
from tests.cli.conftest import config_data


def test_early_and_global_stopping_sections_build_the_library_strategies() -> None:
    config = parse_config(
        config_data(
            early_stopping={"strategy": "percentile", "percentile_threshold": 40, "min_curves": 3},
            global_stopping={"min_trials": 8, "window_size": 3, "improvement_bar": 0.05},
        )
    )
    options = build_options(config)
    early, done = options.early_stopping_strategy, options.global_stopping_strategy
    assert isinstance(early, PercentileEarlyStoppingStrategy)
    assert (early.percentile_threshold, early.min_curves) == (40.0, 3)
    assert isinstance(done, ImprovementGlobalStoppingStrategy)
    assert (done.min_trials, done.window_size, done.improvement_bar) == (8, 3, 0.05)

    threshold = parse_config(
        config_data(
            early_stopping={"strategy": "threshold", "metric_threshold": 5, "min_progression": 2}
        )
    )
    assert isinstance(
        build_options(threshold).early_stopping_strategy, ThresholdEarlyStoppingStrategy
    )
    assert build_options(parse_config(config_data())).early_stopping_strategy is None


@pytest.mark.parametrize(
    ("section", "field", "words"),
    [
        ({"early_stopping": {"strategy": "median"}}, "early_stopping", "percentile or threshold"),
        (
            {"early_stopping": {"strategy": "percentile", "percentile_threshold": 150}},
            "early_stopping",
            "(0, 100)",
        ),
        ({"global_stopping": {"min_trials": 0}}, "global_stopping", ">= 1"),
        ({"early_stoping": {"strategy": "percentile"}}, "early_stoping", "early_stopping"),
    ],
)
def test_a_bad_stopping_section_is_one_named_problem(
    section: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config_data(**section))  # type: ignore[arg-type]
    (problem,) = info.value.problems
    assert problem.field == field and words in str(problem)


def test_a_run_ends_when_the_global_stopping_rule_says_so(
    write_config: Callable[..., Path], db_url: str
) -> None:
    # An improvement bar no run can clear: stop as soon as min_trials have finished.
    path = write_config(
        "globally_stopped",
        scheduler={"total_trials": 30, "max_pending_trials": 1},
        global_stopping={"min_trials": 4, "window_size": 2, "improvement_bar": 1000.0},
    )
    result = CliRunner().invoke(main, ["run", str(path), "--db-url", db_url])
    assert result.exit_code == 0, result.output
    experiment = load_experiment("globally_stopped", DBSettings(db_url))
    assert 4 <= len(experiment.trials) < 30


def test_a_bad_stopping_section_stops_run_before_any_trial(
    write_config: Callable[..., Path], db_url: str
) -> None:
    path = write_config("bad_stopping", global_stopping={"min_trials": -3})
    result = CliRunner().invoke(main, ["run", str(path), "--db-url", db_url])
    assert result.exit_code == EXIT_CONFIG
    assert "global_stopping" in result.output
    assert not Path(db_url.removeprefix("sqlite:///")).exists()  # refused before storing


@pytest.mark.parametrize(
    ("objective", "sem", "expected"),
    [
        ("branin", "auto", 0.0),  # a built-in noiseless test function
        ("my_training_run", "auto", None),  # a user's objective: noise unknown, inferred
        ("my_training_run", 0.0, 0.0),  # said to be exact
        ("branin", None, None),  # said to be noisy
    ],
)
def test_the_default_noise_is_known_only_for_the_noiseless_built_ins(
    objective: str, sem: object, expected: float | None
) -> None:
    section = {"name": objective} if sem == "auto" else {"name": objective, "sem": sem}
    config = parse_config(config_data(objective_function=section))
    experiment = build_experiment(config)
    assert experiment.optimization_config is not None
    metric = experiment.optimization_config.objectives[0].metric
    assert isinstance(metric, CeleryMetric)  # what the config builds
    assert metric.sem == expected
