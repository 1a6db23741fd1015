"""`initial_trials:` in a config: known configurations attached as CANDIDATE trials."""

from __future__ import annotations

import pytest

from scheduler.core import TrialStatus
from scheduler.ops.config import ConfigError, build_experiment, parse_config
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
