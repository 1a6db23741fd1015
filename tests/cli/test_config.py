"""Experiment config files: every invalid value is reported with its field and a fix."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scheduler.core import ChoiceParameter, FixedParameter, ParameterType, RangeParameter
from scheduler.ops.cli.main import main
from scheduler.ops.config import (
    ConfigError,
    build_experiment,
    build_generation_strategy,
    build_options,
    build_search_space,
    check_objective_function,
    load_config,
    parse_config,
    parse_parameter_constraint,
)
from tests.cli.conftest import config_data

#: "field: problem — fix", the shape of every problem line.
LINE = re.compile(r"^  (?P<field>\S[^:]*): (?P<problem>.+) — (?P<fix>.+)$")


def problems_of(data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """{field: (problem, fix)} of the ConfigError `data` raises."""
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "test.yaml")
    lines = str(caught.value).splitlines()[1:]
    parsed = {}
    for line in lines:
        match = LINE.match(line)
        assert match, f"not 'field: problem — fix': {line!r}"
        parsed[match["field"]] = (match["problem"], match["fix"])
    assert len(parsed) == len(caught.value.problems)
    return parsed


def test_the_example_configs_are_valid() -> None:
    examples = sorted(Path(__file__).resolve().parents[2].glob("examples/configs/*"))
    assert len(examples) >= 3
    for path in examples:
        config = load_config(path)
        experiment_space = build_search_space(config)
        assert experiment_space.parameters
        build_options(config)


@pytest.mark.parametrize(
    ("change", "field", "problem", "fix"),
    [
        ({"name": "has spaces"}, "name", "characters other than", "use a name like"),
        ({"parameters": []}, "parameters", "at least 1 item", "give more entries"),
        (
            {"parameters": [{"name": "x1", "type": "range", "bounds": [10, -5]}]},
            "parameters[0].bounds",
            "not below upper bound",
            "lower < upper",
        ),
        (
            {"parameters": [{"name": "x1", "type": "range", "bounds": [0, 1], "log_scale": True}]},
            "parameters[0].bounds",
            "log_scale needs a positive lower bound",
            "raise the lower bound above 0",
        ),
        (
            {
                "parameters": [
                    {"name": "n", "type": "range", "bounds": [0.5, 3], "value_type": "int"}
                ]
            },
            "parameters[0].bounds",
            "whole-number bounds",
            "use whole numbers",
        ),
        (
            {"parameters": [{"name": "x1", "type": "rnage", "bounds": [0, 1]}]},
            "parameters[0]",
            "rnage",
            "use type: range, choice or fixed",
        ),
        (
            {"parameters": [{"name": "x1", "bounds": [0, 1]}]},
            "parameters[0]",
            "discriminator 'type'",
            "add type: range, choice or fixed",
        ),
        (
            {"parameters": [{"name": "x1", "type": "range", "bound": [0, 1]}]},
            "parameters[0].bound",
            "unknown key 'bound'",
            "did you mean 'bounds'?",
        ),
        (
            {"parameters": [{"name": "x1", "type": "range", "bounds": [0, "a"]}]},
            "parameters[0].bounds[1]",
            "valid number",
            "write a number",
        ),
        (
            {"parameters": [{"name": "opt", "type": "choice", "values": ["adam"]}]},
            "parameters[0].values",
            "at least 2 items",
            "give more entries",
        ),
        (
            {
                "parameters": [
                    {"name": "x1", "type": "range", "bounds": [0, 1]},
                    {"name": "x1", "type": "fixed", "value": 2},
                ]
            },
            "parameters",
            "appear more than once",
            "own name",
        ),
        (
            {"parameter_constraints": ["x1 + x3 <= 2"]},
            "parameter_constraints[0]",
            "'x3' is not a linear-scale range parameter",
            "constraints may use: x1, x2",
        ),
        (
            {"parameter_constraints": ["x1 + x2 < 2"]},
            "parameter_constraints[0]",
            "needs exactly one '<=' or '>='",
            "write a linear inequality",
        ),
        ({"objectives": {}}, "objectives", "at least 1 item", "give more entries"),
        (
            {"objectives": {"branin": "minimise"}},
            "objectives.branin.goal",
            "'minimize' or 'maximize'",
            "use one of the values listed",
        ),
        (
            {"objectives": {"branin": {"goal": "minimize", "threshold": 3}}},
            "objectives.branin.threshold",
            "only one objective",
            "remove threshold",
        ),
        (
            {"outcome_constraints": ["cost < 3"]},
            "outcome_constraints[0]",
            "cannot read 'cost < 3'",
            "'metric <= number'",
        ),
        (
            {"outcome_constraints": ["cost <= 3%"]},
            "outcome_constraints[0]",
            "relative",
            "absolute bound",
        ),
        (
            {"outcome_constraints": ["branin <= 3"]},
            "outcome_constraints[0]",
            "also an objective",
            "constrain a different metric",
        ),
        (
            {"objective_function": {"nmae": "branin"}},
            "objective_function.nmae",
            "unknown key",
            "did you mean 'name'?",
        ),
        (
            {"objective_function": {"name": "branin", "sem": -1}},
            "objective_function.sem",
            "greater than or equal to 0",
            "raise the value",
        ),
        (
            {"generation": {"strategy": "gpei"}},
            "generation.strategy",
            "'auto' or 'sobol'",
            "use one of the values listed",
        ),
        (
            {"scheduler": {"total_trials": 0}},
            "scheduler.total_trials",
            "greater than or equal to 1",
            "raise the value",
        ),
        # Bounds of SchedulerOptions fields are SchedulerOptions' own, with its wording.
        (
            {"scheduler": {"tolerated_trial_failure_rate": 1.5}},
            "scheduler.tolerated_trial_failure_rate",
            "1.5 is not valid",
            "use a fraction in [0, 1)",
        ),
        (
            {"scheduler": {"init_seconds_between_polls": 10, "max_seconds_between_polls": 1}},
            "scheduler.max_seconds_between_polls",
            "1.0 is not valid",
            "use at least init_seconds_between_polls",
        ),
        (
            {"runner": {"lost_after_seconds": -1}},
            "runner.lost_after_seconds",
            "-1.0 is not valid",
            "lost_after_seconds must be >= 0",
        ),
        (
            {"runner": {"embedded_concurrency": 0}},
            "runner.embedded_concurrency",
            "greater than or equal to 1",
            "raise the value",
        ),
        (
            {"broker": {"broker_url": "localhost:6379"}},
            "broker.broker_url",
            "is not a URL",
            "redis://",
        ),
        (
            {"databse": {"url": "sqlite:///x.db"}},
            "databse",
            "unknown key",
            "did you mean 'database'?",
        ),
    ],
)
def test_each_invalid_value_names_its_field_and_a_fix(
    change: dict[str, Any], field: str, problem: str, fix: str
) -> None:
    found = problems_of(config_data(**change))
    assert field in found, f"{field} not among {found}"
    assert problem in found[field][0]
    assert fix in found[field][1]


def test_a_missing_section_says_what_to_add() -> None:
    data = config_data()
    del data["scheduler"]
    del data["objective_function"]
    found = problems_of(data)
    assert "add `scheduler: ...`" in found["scheduler"][1]
    assert "add `objective_function: ...`" in found["objective_function"][1]


def test_all_problems_are_reported_at_once() -> None:
    data = config_data(
        parameters=[{"name": "x1", "type": "range", "bounds": [3, 1]}],
        objectives={"branin": "up"},
        scheduler={"total_trials": -1},
    )
    assert set(problems_of(data)) >= {
        "parameters[0].bounds",
        "objectives.branin.goal",
        "scheduler.total_trials",
    }


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nparameters:\n  - {name: x1, type: range\nobjectives: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "line 4" in message and "fix indentation or quoting" in message


def test_a_config_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="not a mapping of sections — start from"):
        load_config(path)


def test_toml_configs_are_read_too(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(
        """
name = "toml_exp"
objectives = { branin = "minimize" }
[[parameters]]
name = "x1"
type = "range"
bounds = [-5, 10]
[[parameters]]
name = "x2"
type = "range"
bounds = [0, 15]
[objective_function]
name = "branin"
[scheduler]
total_trials = 5
"""
    )
    config = load_config(path)
    assert config.name == "toml_exp" and config.scheduler.total_trials == 5


def test_objects_built_from_a_config() -> None:
    data = config_data(
        parameters=[
            {"name": "x1", "type": "range", "bounds": [-5, 10]},
            {"name": "x2", "type": "range", "bounds": [0, 15]},
            {"name": "lr", "type": "range", "bounds": [1e-5, 1e-1], "log_scale": True},
            {"name": "layers", "type": "range", "bounds": [1, 8], "value_type": "int"},
            {"name": "width", "type": "choice", "values": [32, 64, 128]},
            {"name": "opt", "type": "choice", "values": ["adam", "sgd"]},
            {"name": "seed", "type": "fixed", "value": 7},
        ],
        parameter_constraints=["x1 + 2*x2 <= 20", "x1 >= x2 - 10"],
        objectives={"a": {"goal": "minimize", "threshold": 10}, "b": {"minimize": False}},
        outcome_constraints=["c <= 3.5", "d >= -1"],
        tracking_metrics=["e"],
        objective_function={"name": "my_objective", "options": {"epochs": 3}, "sem": None},
        generation={"strategy": "auto", "seed": 5, "max_parallelism": 2},
        scheduler={"total_trials": 20, "ttl_seconds_for_trials": 60},
    )
    config = parse_config(data)
    space = build_search_space(config)
    params = space.parameters
    assert isinstance(params["lr"], RangeParameter) and params["lr"].log_scale
    assert params["layers"].parameter_type is ParameterType.INT
    width = params["width"]
    assert isinstance(width, ChoiceParameter) and width.is_ordered
    assert width.parameter_type is ParameterType.INT
    opt = params["opt"]
    assert isinstance(opt, ChoiceParameter) and not opt.is_ordered
    assert isinstance(params["seed"], FixedParameter) and params["seed"].value == 7
    constraints = [(c.constraint_dict, c.bound) for c in space.parameter_constraints]
    assert constraints == [({"x1": 1.0, "x2": 2.0}, 20.0), ({"x1": -1.0, "x2": 1.0}, 10.0)]

    experiment = build_experiment(config)
    optimization = experiment.optimization_config
    assert optimization is not None and optimization.is_multi_objective
    assert [o.minimize for o in optimization.objectives] == [True, False]
    assert [(t.metric.name, t.bound) for t in optimization.objective_thresholds] == [("a", 10.0)]
    assert [(c.metric.name, c.op.value, c.bound) for c in optimization.outcome_constraints] == [
        ("c", "<=", 3.5),
        ("d", ">=", -1.0),
    ]
    assert [m.name for m in experiment.tracking_metrics] == ["e"]
    runner = experiment.runner
    assert runner is not None
    assert runner.serialize_init_args()["objective"] == "my_objective"
    assert runner.serialize_init_args()["objective_options"] == {"epochs": 3}

    options = build_options(config)
    assert options.total_trials == 20 and options.ttl_seconds_for_trials == 60
    strategy = build_generation_strategy(config, space)
    assert strategy.seed == 5


def test_sobol_only_strategy() -> None:
    config = parse_config(config_data(generation={"strategy": "sobol"}))
    strategy = build_generation_strategy(config, build_search_space(config))
    assert [s.model_name for s in strategy.steps] == ["Sobol"]


def test_unknown_objective_function_in_embedded_mode() -> None:
    config = parse_config(config_data(objective_function={"name": "brannin"}))
    with pytest.raises(ConfigError) as caught:
        check_objective_function(config, required=True)
    (problem,) = caught.value.problems
    assert problem.field == "objective_function.name"
    assert "did you mean 'branin'?" in problem.fix
    check_objective_function(config, required=False)  # a fleet may know it


def test_objective_function_options_and_metrics_are_checked() -> None:
    config = parse_config(
        config_data(
            objectives={"loss": "minimize"},
            objective_function={"name": "branin", "options": {"epochs": 2}},
        )
    )
    with pytest.raises(ConfigError) as caught:
        check_objective_function(config, required=False)
    fields = {p.field: p for p in caught.value.problems}
    assert "epochs" in fields["objective_function.options"].problem
    assert "use one of its metrics: branin" in fields["objectives"].fix


def test_scheduler_and_runner_defaults_are_the_codes_own() -> None:
    """One default per setting: the config's are SchedulerOptions' and CeleryRunner's."""
    import inspect
    from dataclasses import fields

    from scheduler.celery.runner import CeleryRunner
    from scheduler.ops.config import RunnerConfig, SchedulerConfig
    from scheduler.ops.config.derived import RUN_FIELDS
    from scheduler.options import SchedulerOptions

    data = config_data()
    data["scheduler"] = {"total_trials": 3}  # nothing else set: every default applies
    config = parse_config(data)
    defaults = {f.name: f.default for f in fields(SchedulerOptions)}
    section = SchedulerConfig.model_fields
    assert set(section) > RUN_FIELDS
    for name in set(section) - RUN_FIELDS:
        assert section[name].default == defaults[name], name
    assert build_options(config).max_pending_trials == SchedulerOptions().max_pending_trials
    signature = inspect.signature(CeleryRunner.__init__).parameters
    for name, field in RunnerConfig.model_fields.items():
        assert field.default == signature[name].default, name


def test_every_scheduler_option_problem_is_reported_at_once() -> None:
    found = problems_of(
        config_data(
            scheduler={
                "max_pending_trials": 0,
                "tolerated_trial_failure_rate": 1.5,
                "init_seconds_between_polls": 10,
                "max_seconds_between_polls": 1,
            }
        )
    )
    assert set(found) == {
        "scheduler.max_pending_trials",
        "scheduler.tolerated_trial_failure_rate",
        "scheduler.max_seconds_between_polls",
    }
    assert "use a positive number of trials" in found["scheduler.max_pending_trials"][1]


def test_parameter_constraint_parser() -> None:
    names = {"x1": 1, "x2": 1, "x3": 1}
    assert parse_parameter_constraint("x1 + x2 <= 1", names) == ({"x1": 1.0, "x2": 1.0}, 1.0)
    assert parse_parameter_constraint("-2.5*x1 + 1e-1 x3 >= -4", names) == (
        {"x1": 2.5, "x3": -0.1},
        4.0,
    )
    assert parse_parameter_constraint("x1 <= x2", names) == ({"x1": 1.0, "x2": -1.0}, 0.0)


def test_run_with_an_invalid_config_exits_2_and_lists_the_problems(
    write_config: Callable[..., Path],
) -> None:
    path = write_config(scheduler={"total_trials": 0}, generation={"strategy": "x"})
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2, result.output
    assert "scheduler.total_trials:" in result.output
    assert "generation.strategy:" in result.output
    assert " — " in result.output
