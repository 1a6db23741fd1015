"""A config is checked against the objective it names before any trial is spent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scheduler.ops.cli.main import EXIT_CONFIG, main
from scheduler.storage import list_experiments

RANGE = {"type": "range", "bounds": [0, 1]}


@pytest.mark.parametrize(
    ("sections", "field", "words"),
    [
        (
            {"objective_function": {"name": "branin", "options": {"runtime_seconds": "slow"}}},
            "objective_function.options.runtime_seconds",
            "'slow' is not a number",
        ),
        (
            {"objective_function": {"name": "branin_noisy", "options": {"noise_sd": True}}},
            "objective_function.options.noise_sd",
            "True is not a number",
        ),
        (
            {"parameters": [{"name": "a", **RANGE}, {"name": "x2", **RANGE}]},
            "parameters",
            "takes parameters x1, x2, not a, x2",
        ),
        (
            {
                "objective_function": {"name": "ackley"},
                "objectives": {"ackley": "minimize"},
                "parameters": [{"name": "x1", **RANGE}, {"name": "x3", **RANGE}],
            },
            "parameters",
            "x1..xd",
        ),
    ],
)
def test_run_refuses_options_and_parameters_the_objective_does_not_take(
    write_config: Callable[..., Path],
    db_url: str,
    sections: dict[str, Any],
    field: str,
    words: str,
) -> None:
    path = write_config("mismatched", **sections)
    result = CliRunner().invoke(main, ["run", str(path), "--db-url", db_url])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert f"{field}: " in result.output and words in result.output
    database = Path(db_url.removeprefix("sqlite:///"))
    assert not database.exists() or "mismatched" not in list_experiments(db_url)


def test_options_of_the_right_kind_and_any_dimension_names_pass(
    write_config: Callable[..., Path], db_url: str
) -> None:
    path = write_config(
        "ackley3",
        objective_function={"name": "ackley", "options": {"runtime_seconds": 0}},
        objectives={"ackley": "minimize"},
        parameters=[{"name": f"x{i}", **RANGE} for i in (1, 2, 3)],
        scheduler={"total_trials": 2},
    )
    result = CliRunner().invoke(main, ["run", str(path), "--db-url", db_url])
    assert result.exit_code == 0, result.output
