"""SIGKILL a scheduler process mid-run, then resume it from the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scheduler import Scheduler, TrialStatus
from scheduler.storage import DBSettings, SQLStore
from scheduler.storage.sql.engine import connect
from scheduler.storage.sql.models import LeaseRow, TrialRow
from tests.storage.storage_helpers import fast_options

LEASE_TIMEOUT = 3.0
ROOT = Path(__file__).resolve().parents[2]


def _trial_counts(store: SQLStore) -> dict[str, int]:
    with connect(store.engine) as conn:
        rows = conn.execute(select(TrialRow.status, func.count()).group_by(TrialRow.status))
        return {status: int(count) for status, count in rows}


def test_killed_scheduler_resumes_without_losing_or_duplicating_trials(db_url: str) -> None:
    store = SQLStore(db_url)  # creates the schema before the child starts
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    child = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("crash_scheduler.py")),
            db_url,
            str(LEASE_TIMEOUT),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            counts = _trial_counts(store)
            if counts.get("COMPLETED", 0) >= 4 and counts.get("RUNNING", 0) >= 1:
                break
            if child.poll() is not None:
                assert child.stderr is not None  # stderr=PIPE
                pytest.fail(
                    f"scheduler process exited early: {child.stderr.read().decode()[-2000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"scheduler process made no progress; trials: {counts}")
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    killed_at = time.monotonic()

    with connect(store.engine) as conn:  # the dead process still holds the lease...
        owner = conn.execute(select(LeaseRow.owner_id)).scalar_one()
    assert owner is not None and f":{child.pid}:" in owner
    settings = DBSettings(db_url, lease_timeout_seconds=LEASE_TIMEOUT)
    time.sleep(max(0.0, LEASE_TIMEOUT - (time.monotonic() - killed_at)) + 0.1)  # ...until expiry

    resumed = Scheduler.from_stored_experiment("crash", fast_options(), settings)
    experiment = resumed.experiment
    before = experiment.num_trials
    # Trials that were out when the process died finished meanwhile: collected at once.
    assert not experiment.trials_by_status(TrialStatus.STAGED, TrialStatus.RUNNING)
    # A kill between saving a trial and sending it leaves it CANDIDATE: the next run
    # deploys it first and counts it as one of its own (Ax's rule, issue 13).
    left = len(experiment.trials_by_status(TrialStatus.CANDIDATE))
    resumed.run_n_trials(max_trials=3)
    total = before + 3 - left
    assert sorted(experiment.trials) == list(range(total))
    assert {t.status for t in experiment.trials.values()} == {TrialStatus.COMPLETED}
    counts = _trial_counts(store)
    assert counts == {"COMPLETED": total}
    data = experiment.lookup_data().df
    assert sorted(data["trial_index"]) == list(range(total))  # one row each, none twice
    points = {tuple(sorted(t.arm.parameters.items())) for t in experiment.trials.values()}
    assert len(points) == total  # every arm proposed once (a left CANDIDATE is one of them)
