"""The Scheduler with storage: incremental saves, resume, one scheduler per experiment."""

from __future__ import annotations

import time
from typing import TypedDict

import pandas as pd
import pytest
from sqlalchemy import event, func, select

from scheduler import Scheduler, TrialStatus, exp_to_df
from scheduler.storage import (
    DBSettings,
    ExperimentLockedError,
    SQLStore,
    StaleExperimentError,
    load_experiment,
)
from scheduler.storage.sql.engine import connect
from scheduler.storage.sql.models import TrialRow
from tests.storage.storage_helpers import (
    count_writes,
    fast_options,
    function_experiment,
    sobol_strategy,
    timed_experiment,
)


def stored_trial_indices(store: SQLStore) -> list[int]:
    with connect(store.engine) as conn:
        return list(
            conn.execute(select(TrialRow.trial_index).order_by(TrialRow.trial_index)).scalars()
        )


def test_scheduler_saves_everything_it_learns(db_url: str) -> None:
    experiment = function_experiment()
    scheduler = Scheduler(
        experiment, sobol_strategy(), fast_options(), db_settings=DBSettings(db_url)
    )
    scheduler.run_n_trials(max_trials=6)
    loaded = load_experiment("exp", db_url)
    pd.testing.assert_frame_equal(exp_to_df(loaded), exp_to_df(experiment))
    assert all(t.status is TrialStatus.COMPLETED for t in loaded.trials.values())
    assert loaded.trials[5].run_metadata == experiment.trials[5].run_metadata


def _writes_for_three_more_trials(db_url: str, name: str, existing: int) -> list[str]:
    """Statements written while a resumed scheduler runs 3 trials, one at a time."""
    settings = DBSettings(db_url)
    experiment = function_experiment(name)
    options = fast_options(max_pending_trials=1)
    Scheduler(experiment, sobol_strategy(), options, db_settings=settings).run_n_trials(existing)
    resumed = Scheduler.from_stored_experiment(name, options, settings)
    store = resumed._store
    assert isinstance(store, SQLStore)
    with count_writes(store.engine) as writes:
        resumed.run_n_trials(max_trials=3)
    assert resumed.experiment.num_trials == existing + 3
    return writes


def test_writes_per_trial_do_not_grow_with_the_experiment(db_url: str) -> None:
    small = _writes_for_three_more_trials(db_url, "small", existing=2)
    large = _writes_for_three_more_trials(db_url, "large", existing=25)
    assert len(small) == len(large)
    assert [s.split()[0:3] for s in small] == [s.split()[0:3] for s in large]
    # Per trial: INSERT trial + arm, strategy state, run metadata, status, data.
    inserts = [s for s in small if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 3 * 3  # trial, arm, data rows of each of the 3 trials
    assert not any(s.lstrip().upper().startswith("DELETE") for s in small)


def test_resume_continues_to_budget_without_duplicates(db_url: str) -> None:
    settings = DBSettings(db_url)
    options = fast_options(total_trials=9)
    first = Scheduler(function_experiment(), sobol_strategy(seed=3), options, db_settings=settings)
    first.run_n_trials(max_trials=4)
    del first

    resumed = Scheduler.from_stored_experiment("exp", options, settings)
    assert resumed.experiment.num_trials == 4
    resumed.run_all_trials()
    experiment = resumed.experiment
    assert sorted(experiment.trials) == list(range(9))
    store = resumed._store
    assert isinstance(store, SQLStore)
    assert stored_trial_indices(store) == list(range(9))
    points = {tuple(sorted(t.arm.parameters.items())) for t in experiment.trials.values()}
    assert len(points) == 9  # Sobol continued its sequence instead of restarting it
    # Same points as an uninterrupted run with the same seed.
    straight = Scheduler(function_experiment("straight"), sobol_strategy(seed=3), options)
    straight.run_all_trials()
    assert [t.arm.parameters for t in straight.experiment.trials.values()] == [
        t.arm.parameters for t in experiment.trials.values()
    ]


def test_resume_polls_trials_that_finished_while_down(db_url: str) -> None:
    settings = DBSettings(db_url)
    experiment = timed_experiment(duration=0.3)
    options = fast_options(wait_for_running_trials=False, max_pending_trials=3)
    Scheduler(experiment, sobol_strategy(), options, db_settings=settings).run_n_trials(3)
    assert {t.status for t in experiment.trials.values()} == {TrialStatus.RUNNING}
    time.sleep(0.4)  # the "fleet" finishes them while no scheduler runs

    resumed = Scheduler.from_stored_experiment("exp", fast_options(), settings)
    statuses = {t.status for t in resumed.experiment.trials.values()}
    assert statuses == {TrialStatus.COMPLETED}
    stored = load_experiment("exp", settings)
    assert {t.status for t in stored.trials.values()} == {TrialStatus.COMPLETED}
    assert len(stored.lookup_data().df) == 3


def test_second_scheduler_refused_while_first_runs(db_url: str) -> None:
    settings = DBSettings(db_url)
    experiment = timed_experiment(duration=0.2)
    first = Scheduler(experiment, sobol_strategy(), fast_options(), db_settings=settings)
    refusals: list[Exception] = []

    def try_second(_: Scheduler) -> None:
        if not refusals:
            with pytest.raises(ExperimentLockedError) as info:
                Scheduler.from_stored_experiment("exp", fast_options(), settings)
            refusals.append(info.value)

    first.run_n_trials(max_trials=3, idle_callback=try_second)
    assert refusals and "being run by another scheduler" in str(refusals[0])
    # After a clean exit the lease is free: resuming works at once.
    resumed = Scheduler.from_stored_experiment("exp", fast_options(), settings)
    resumed.run_n_trials(max_trials=1)
    assert resumed.experiment.num_trials == 4


class _ShortLease(TypedDict):
    """The `DBSettings` arguments of a scheduler with a short lease."""

    url: str
    lease_timeout_seconds: float


def test_expired_lease_is_taken_over(db_url: str) -> None:
    short: _ShortLease = {"url": db_url, "lease_timeout_seconds": 0.3}
    crashed = SQLStore(DBSettings(**short, owner_id="crashed-host:1"))
    experiment = function_experiment()
    crashed.save_experiment(experiment, sobol_strategy())
    crashed.heartbeat(experiment)  # holds the lease, then "dies"

    with pytest.raises(ExperimentLockedError, match="crashed-host:1"):
        Scheduler.from_stored_experiment("exp", fast_options(), DBSettings(**short))
    time.sleep(0.35)
    resumed = Scheduler.from_stored_experiment("exp", fast_options(), DBSettings(**short))
    resumed.run_n_trials(max_trials=2)

    # The old holder notices it lost the lease, and may not write a stale copy.
    with pytest.raises(ExperimentLockedError, match="lost its lease"):
        crashed.heartbeat(experiment)
    with pytest.raises(StaleExperimentError):
        crashed.heartbeat(experiment)


def test_scheduler_holds_lease_only_while_running(db_url: str) -> None:
    settings = DBSettings(db_url)
    first = Scheduler(function_experiment(), sobol_strategy(), fast_options(), db_settings=settings)
    first.run_n_trials(max_trials=2)
    # An idle scheduler does not block another one (the tutorial resumes in-process).
    second = Scheduler.from_stored_experiment("exp", fast_options(), settings)
    second.run_n_trials(max_trials=1)
    # ...but the first one's copy is now stale: it must not run on.
    with pytest.raises(StaleExperimentError, match="from_stored_experiment"):
        first.run_n_trials(max_trials=1)
    with connect(second._store.engine) as conn:  # type: ignore[attr-defined]
        assert conn.execute(select(func.count()).select_from(TrialRow)).scalar_one() == 3


def test_changes_made_between_load_and_scheduler_are_saved(db_url: str) -> None:
    settings = DBSettings(db_url)
    Scheduler(
        function_experiment(), sobol_strategy(), fast_options(), db_settings=settings
    ).run_n_trials(2)
    store = SQLStore(settings)
    experiment, strategy = store.load_experiment("exp")
    assert strategy is not None
    experiment.new_trial({"x1": 0.5, "x2": 0.5}).mark_abandoned("operator: bad point")
    Scheduler(experiment, strategy, fast_options(), db_settings=settings, store=store)
    stored = load_experiment("exp", settings)
    assert stored.trials[2].status is TrialStatus.ABANDONED
    assert stored.trials[2].failed_reason == "operator: bad point"


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs (no `except Exception` stops it)."""


def test_new_trials_are_saved_only_with_the_strategy_state_that_generated_them(
    db_url: str,
) -> None:
    """Saved apart, a crash between the two made the resumed strategy repeat arms."""
    settings = DBSettings(db_url, lease_timeout_seconds=1.0)
    scheduler = Scheduler(
        function_experiment("atomic"), sobol_strategy(), fast_options(), db_settings=settings
    )
    scheduler.run_n_trials(max_trials=3)
    store = scheduler._store
    assert isinstance(store, SQLStore)

    def die_on_strategy_update(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE BO_GENERATION_STRATEGIES"):
            raise Killed

    event.listen(store.engine, "before_cursor_execute", die_on_strategy_update)
    try:
        with pytest.raises(Killed):
            scheduler.run_n_trials(max_trials=3)
    finally:
        event.remove(store.engine, "before_cursor_execute", die_on_strategy_update)
    assert stored_trial_indices(store) == [0, 1, 2]  # the new trials went with the state

    time.sleep(1.1)  # the dead scheduler's lease expires
    resumed = Scheduler.from_stored_experiment("atomic", fast_options(), settings)
    resumed.run_n_trials(max_trials=3)
    arms = [tuple(sorted(t.arm.parameters.items())) for t in resumed.experiment.trials.values()]
    assert sorted(resumed.experiment.trials) == list(range(6))
    assert len(set(arms)) == 6  # no arm proposed twice
