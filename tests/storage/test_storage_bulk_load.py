"""The bulk loader (`scheduler.storage.sql.bulk`): what a load builds is what was
saved, down to the snapshots that keep later saves incremental."""

from __future__ import annotations

import gc
import math
from datetime import UTC

import pytest
from sqlalchemy import text

from scheduler import Data, TrialStatus
from scheduler.storage import ExperimentNotFoundError, SQLStore
from scheduler.storage.sql.bulk import stored_data
from scheduler.storage.sql.engine import connect
from tests.storage.storage_helpers import count_writes, sobol_strategy, timed_experiment


def _stored_experiment(db_url: str) -> SQLStore:
    experiment = timed_experiment("bulk")
    trials = [experiment.new_trial({"x1": float(i), "x2": 2.0}, "Sobol") for i in range(6)]
    trials[0].update_run_metadata({"task_id": "é-0", "nested": {"a": [1, 2.5, None]}})
    trials[0].mark_running()
    trials[0].mark_completed()
    trials[1].mark_staged()
    trials[2].mark_running()
    trials[2].mark_failed("worker died")
    trials[3].mark_running()
    trials[3].stop_metadata["early_stop"] = True
    trials[3].mark_early_stopped("poor curve")
    trials[4].mark_stale("replaced")
    store = SQLStore(db_url)
    store.save_experiment(experiment, sobol_strategy())
    store.save_data(experiment, Data.from_evaluations({"branin": 3.5}, 0))
    return store


def test_a_loaded_experiment_saved_again_writes_no_trial_row(db_url: str) -> None:
    _stored_experiment(db_url)
    store = SQLStore(db_url)
    experiment, strategy = store.load_experiment("bulk")
    assert strategy is not None
    assert [t.status for t in experiment.trials.values()] == [
        TrialStatus.COMPLETED,
        TrialStatus.STAGED,
        TrialStatus.FAILED,
        TrialStatus.EARLY_STOPPED,
        TrialStatus.STALE,
        TrialStatus.CANDIDATE,
    ]
    assert experiment.trials[0].run_metadata == {"task_id": "é-0", "nested": {"a": [1, 2.5, None]}}
    assert all(t.time_created.tzinfo is UTC for t in experiment.trials.values())
    assert experiment.count_by_status(TrialStatus.CANDIDATE, step="Sobol") == 1
    assert [t.index for t in experiment.running_trials] == [1]
    with count_writes(store.engine) as writes:
        store.save_experiment(experiment, strategy)
    assert not [w for w in writes if "bo_trials" in w or "bo_arms" in w or "bo_data" in w]
    # A change after the load is still noticed and written alone.
    experiment.trials[1].run_metadata["task_id"] = "changed"
    with count_writes(store.engine) as writes:
        store.save_trials(experiment, list(experiment.trials.values()))
    assert len([w for w in writes if w.startswith("UPDATE bo_trials")]) == 1
    assert SQLStore(db_url).load_experiment("bulk")[0].trials[1].run_metadata == {
        "task_id": "changed"
    }


def test_metadata_text_orjson_refuses_is_read_by_the_standard_library(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/nan.db"
    store = _stored_experiment(url)
    with connect(store.engine) as conn:  # as older code could write it
        conn.execute(
            text("UPDATE bo_trials SET run_metadata = '{\"loss\": NaN}' WHERE trial_index = 0")
        )
    experiment, _ = SQLStore(url).load_experiment("bulk")
    assert math.isnan(experiment.trials[0].run_metadata["loss"])


def test_the_collector_runs_again_after_a_load_that_worked_or_failed(db_url: str) -> None:
    _stored_experiment(db_url)
    store = SQLStore(db_url)
    store.load_experiment("bulk")
    assert gc.isenabled()
    with pytest.raises(ExperimentNotFoundError):
        store.load_experiment("missing")
    assert gc.isenabled()
    gc.disable()  # paused by someone else: left paused
    try:
        store.load_experiment("bulk")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_per_trial_metric_and_step_the_latest_batch_wins() -> None:
    nan = None
    rows = [  # trial, arm, metric, mean, sem, step, batch (insertion order)
        (0, "0_0", "loss", 5.0, nan, 1.0, 1),
        (0, "0_0", "loss", 4.0, nan, 2.0, 1),
        (0, "0_0", "loss", 3.9, nan, 2.0, 2),  # step 2 fetched again: replaces
        (0, "0_0", "loss", 3.0, nan, 3.0, 2),
        (0, "0_0", "loss", 2.5, nan, nan, 3),  # final value
        (0, "0_0", "loss", 2.4, 0.1, nan, 4),  # final re-fetched: replaces
        (1, "1_0", "loss", 7.0, nan, nan, 4),
    ]
    data = stored_data(rows)
    assert data is not None
    df = data.df
    assert df["mean"].tolist() == [5.0, 3.9, 3.0, 2.4, 7.0]
    assert df["trial_index"].dtype.kind == "i" and df["sem"].dtype.kind == "f"
    assert stored_data([]) is None
    same_batch = stored_data([(0, "0_0", "loss", 1.0, 0.0, nan, 1)])
    assert same_batch is not None and "step" not in same_batch.df
