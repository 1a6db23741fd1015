"""A deploy's sends are saved in one transaction when the runner can find its sent
trials, and a crash before that save loses no trial and sends none twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from scheduler import Scheduler, TrialStatus
from scheduler.storage import DBSettings, SQLStore
from tests.storage.storage_helpers import (
    FilesRunner,
    count_writes,
    fast_options,
    files_experiment,
    sobol_strategy,
)

ROOT = Path(__file__).resolve().parents[2]
LEASE_TIMEOUT = 1.0  # as crash_deploy.py


def _run_metadata_updates(db_url: str, folder: Path, tracked: bool) -> int:
    """UPDATE statements that wrote run metadata while 5 trials were deployed at once."""
    scheduler = Scheduler(
        files_experiment(str(folder), name=folder.name, tracked=tracked),
        sobol_strategy(),
        fast_options(max_pending_trials=5),
        db_settings=db_url,
    )
    engine = SQLStore(db_url).engine  # the process's engine for this URL, shared
    with count_writes(engine) as writes:
        scheduler.run_n_trials(max_trials=5)
    assert {t.status for t in scheduler.experiment.trials.values()} == {TrialStatus.COMPLETED}
    return sum("UPDATE bo_trials" in w and "run_metadata" in w for w in writes)


def test_sends_are_saved_once_per_deploy_only_when_the_runner_finds_sent_trials(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "tracked").mkdir()
    (tmp_path / "untracked").mkdir()
    assert _run_metadata_updates(db_url, tmp_path / "tracked", tracked=True) == 1
    # Without find_sent a resumed scheduler could not re-attach: each send is saved.
    assert _run_metadata_updates(db_url, tmp_path / "untracked", tracked=False) == 5


def test_crash_between_sends_and_their_save_loses_none_and_sends_none_twice(
    db_url: str, tmp_path: Path
) -> None:
    SQLStore(db_url)  # the schema exists before the child starts
    env = dict(
        os.environ,
        PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        BO_TEST_EXIT_AFTER_SEND="2",
    )
    child = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("crash_deploy.py")), db_url, str(tmp_path)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == 17, child.stderr.decode()[-2000:]
    stored, _ = SQLStore(db_url).load_experiment("deploy-crash")
    # Killed after sending trials 0, 1 and 2 and before the deploy's save.
    assert [t.status for t in stored.trials.values()] == [TrialStatus.CANDIDATE] * 5

    time.sleep(LEASE_TIMEOUT + 0.2)  # the dead process's lease expires
    settings = DBSettings(db_url, lease_timeout_seconds=LEASE_TIMEOUT)
    resumed = Scheduler.from_stored_experiment("deploy-crash", fast_options(), settings)
    experiment = resumed.experiment
    statuses = [experiment.trials[i].status for i in range(5)]
    assert statuses[:3] == [TrialStatus.COMPLETED] * 3  # re-attached and collected
    assert statuses[3:] == [TrialStatus.CANDIDATE] * 2  # never sent: the next run sends them
    assert all(experiment.trials[i].run_metadata.get("reattached") for i in range(3))
    resumed.run_n_trials(max_trials=2)
    runner = experiment.runner
    assert isinstance(runner, FilesRunner)
    assert {t.status for t in experiment.trials.values()} == {TrialStatus.COMPLETED}
    assert experiment.num_trials == 5
    assert [len(runner.sends_of(i)) for i in range(5)] == [1] * 5
    reloaded, _ = SQLStore(db_url).load_experiment("deploy-crash")
    assert {t.status for t in reloaded.trials.values()} == {TrialStatus.COMPLETED}
