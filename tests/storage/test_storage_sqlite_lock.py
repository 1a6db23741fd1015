"""A SQLite file locked by another process: the store waits it out, or names it in one line."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import scheduler.storage.sql.engine as engine_module
import scheduler.storage.sql.store as store_module
from scheduler.storage import DBSettings, SQLStore, StorageLockedError, load_experiment
from scheduler.storage.sql.engine import dispose_engines
from tests.storage.storage_helpers import function_experiment, sobol_strategy


@pytest.fixture
def quick_waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Waits of a fraction of a second instead of 30 s (the driver's and the store's)."""
    dispose_engines()  # engines built from here on take the short driver wait
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_SECONDS", 0.1)
    monkeypatch.setattr(store_module, "RETRY_SECONDS", 1.0)
    yield
    dispose_engines()


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's write transaction on the file (as a long job or a browser holds it)."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def stored_store(tmp_path: Path) -> tuple[SQLStore, object]:
    url = f"sqlite:///{tmp_path / 'bo.db'}"
    experiment = function_experiment("locked")
    store = SQLStore(DBSettings(url))
    store.save_experiment(experiment, sobol_strategy())
    return store, experiment


def test_a_lock_released_within_the_wait_is_waited_out_and_the_write_lands(
    tmp_path: Path, quick_waits: None
) -> None:
    store, experiment = stored_store(tmp_path)
    trial = experiment.new_trial({"x1": 1.0, "x2": 2.0})  # type: ignore[attr-defined]
    other = hold_write_lock(tmp_path / "bo.db")
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    store.save_new_trials(experiment, [trial], sobol_strategy())  # type: ignore[arg-type]
    other.close()
    reloaded = load_experiment("locked", DBSettings(f"sqlite:///{tmp_path / 'bo.db'}"))
    assert list(reloaded.trials) == [trial.index]


def test_a_lock_held_past_the_wait_is_one_named_error(tmp_path: Path, quick_waits: None) -> None:
    store, experiment = stored_store(tmp_path)
    trial = experiment.new_trial({"x1": 1.0, "x2": 2.0})  # type: ignore[attr-defined]
    other = hold_write_lock(tmp_path / "bo.db")
    try:
        with pytest.raises(StorageLockedError) as info:
            store.save_new_trials(experiment, [trial], sobol_strategy())  # type: ignore[arg-type]
    finally:
        other.execute("ROLLBACK")
        other.close()
    message = str(info.value)
    assert "\n" not in message and "locked by another process" in message
    assert "bo.db" in message and "bo-scheduler resume" in message
