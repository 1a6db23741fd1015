"""`initial_trials:` in a config: known configurations attached as CANDIDATE trials."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from scheduler.core import TrialStatus
from scheduler.ops.cli.main import main
from scheduler.ops.config import ConfigError, build_experiment, parse_config
from scheduler.storage import DBSettings, load_experiment
from tests.cli.conftest import config_data


def test_initial_trials_are_attached_as_candidates() -> None:
    data = config_data(initial_trials=[{"x1": 1.0, "x2": 2.0}, {"x1": -5, "x2": 15}])
    experiment = build_experiment(parse_config(data, "test.yaml"))
    assert [t.status for t in experiment.trials.values()] == [TrialStatus.CANDIDATE] * 2
    assert experiment.trials[0].arm.parameters == {"x1": 1.0, "x2": 2.0}


def test_an_initial_trial_outside_the_search_space_is_named() -> None:
    data = config_data(initial_trials=[{"x1": 1.0, "x2": 2.0}, {"x1": 99, "x2": 2.0}])
    with pytest.raises(ConfigError, match=r"initial_trials\[1\].*x1"):
        build_experiment(parse_config(data, "test.yaml"))


def test_no_initial_trials_by_default() -> None:
    assert build_experiment(parse_config(config_data(), "test.yaml")).num_trials == 0


def test_a_run_starts_with_the_initial_trials_and_still_reaches_its_budget(
    write_config: Callable[..., Path], db_url: str
) -> None:
    known = [{"x1": 1.0, "x2": 2.0}, {"x1": -5.0, "x2": 15.0}]
    path = write_config("seeded", initial_trials=known, scheduler={"total_trials": 6})
    result = CliRunner().invoke(main, ["run", str(path), "--db-url", db_url])
    assert result.exit_code == 0, result.output
    experiment = load_experiment("seeded", DBSettings(db_url))
    assert len(experiment.trials) == 6  # the two known points count toward the budget
    assert [experiment.trials[i].arm.parameters for i in (0, 1)] == known
    assert all(t.status is TrialStatus.COMPLETED for t in experiment.trials.values())
