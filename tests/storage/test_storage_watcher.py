"""ExperimentWatcher: a reader kept current by reading only what a scheduler changed."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from scheduler import Scheduler, TrialStatus
from scheduler.storage import (
    DBSettings,
    ExperimentNotFoundError,
    delete_experiment,
    load_experiment,
)
from scheduler.storage.registry import DEFAULT_REGISTRY
from scheduler.storage.sql.watcher import ExperimentWatcher
from tests.storage.storage_helpers import (
    fast_options,
    function_experiment,
    sobol_strategy,
    timed_experiment,
)


def same_as_a_fresh_load(watched: object, url: str, name: str) -> None:
    fresh = load_experiment(name, DBSettings(url))
    assert {i: t.status for i, t in watched.trials.items()} == {  # type: ignore[attr-defined]
        i: t.status for i, t in fresh.trials.items()
    }
    columns = ["trial_index", "metric_name", "mean"]
    got = watched.lookup_data().df[columns].sort_values(columns).reset_index(drop=True)  # type: ignore[attr-defined]
    want = fresh.lookup_data().df[columns].sort_values(columns).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def test_new_trials_status_changes_and_data_are_read_and_nothing_else(db_url: str) -> None:
    experiment = timed_experiment("watched", duration=0.05)
    scheduler = Scheduler(
        experiment,
        sobol_strategy(),
        fast_options(max_pending_trials=2),
        db_settings=DBSettings(db_url),
    )
    scheduler.run_n_trials(max_trials=2)
    watcher = ExperimentWatcher(db_url, "watched", DEFAULT_REGISTRY)
    assert len(watcher.experiment.trials) == 2
    assert watcher.refresh() is False  # nothing written since

    scheduler.run_n_trials(max_trials=3)
    assert watcher.refresh() is True
    assert len(watcher.experiment.trials) == 5
    assert all(t.status is TrialStatus.COMPLETED for t in watcher.experiment.trials.values())
    same_as_a_fresh_load(watcher.experiment, db_url, "watched")
    assert watcher.refresh() is False


def test_a_trial_still_out_is_followed_until_it_ends(db_url: str) -> None:
    experiment = timed_experiment("followed", duration=0.3)
    options = fast_options(max_pending_trials=1, wait_for_running_trials=False)
    scheduler = Scheduler(experiment, sobol_strategy(), options, db_settings=DBSettings(db_url))
    scheduler.run_n_trials(max_trials=1)  # returns with the trial still running
    watcher = ExperimentWatcher(db_url, "followed", DEFAULT_REGISTRY)
    assert not watcher.experiment.trials[0].status.is_terminal
    time.sleep(0.4)
    scheduler.poll_and_process_results()  # stores its end and its data
    assert watcher.refresh() is True
    assert watcher.experiment.trials[0].status is TrialStatus.COMPLETED
    same_as_a_fresh_load(watcher.experiment, db_url, "followed")


def test_an_experiment_stored_again_under_its_name_is_loaded_whole(db_url: str) -> None:
    first = function_experiment("again")
    Scheduler(first, sobol_strategy(), fast_options(), db_settings=DBSettings(db_url)).run_n_trials(
        4
    )
    watcher = ExperimentWatcher(db_url, "again", DEFAULT_REGISTRY)
    delete_experiment("again", DBSettings(db_url))
    with pytest.raises(ExperimentNotFoundError):
        watcher.refresh()
    second = function_experiment("again")
    Scheduler(
        second, sobol_strategy(1), fast_options(), db_settings=DBSettings(db_url)
    ).run_n_trials(2)
    assert watcher.refresh() is True
    assert len(watcher.experiment.trials) == 2
    same_as_a_fresh_load(watcher.experiment, db_url, "again")
