"""Stopping a daemon mid-experiment and resuming it: nothing lost, nothing sent twice.

- On a fleet (real Redis, two `celery worker` processes): SIGTERM to
  `bo-scheduler run`, then `bo-scheduler resume NAME`; every trial's task is
  received by a worker exactly once.
- Embedded: `bo-scheduler stop` (a request in the database); the daemon
  waits for its in-process trials, and resume finishes the budget.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from scheduler.core.trial import TrialStatus
from scheduler.ops.cli.main import main
from scheduler.storage import load_experiment
from scheduler.storage.sql.control import ControlStore
from tests.cli.conftest import config_data
from tests.support.celery_workers import celery_workers
from tests.support.cli_process import BIN, run_cli, statuses, wait_for
from tests.support.services import private_redis
from workers.objectives import objective, unregister

RECEIVED = re.compile(r"Task bo_scheduler\.evaluate\[([0-9a-f-]+)\] received")


@pytest.mark.slow
def test_sigterm_then_resume_on_a_fleet_loses_and_repeats_no_trial(tmp_path: Path) -> None:
    name, total = "fleet_stop", 10
    config = tmp_path / "fleet.yaml"
    config.write_text(
        yaml.safe_dump(
            config_data(
                name,
                objective_function={"name": "branin", "options": {"runtime_seconds": 1.0}},
                scheduler={
                    "total_trials": total,
                    "max_pending_trials": 4,
                    "init_seconds_between_polls": 0.1,
                    "max_seconds_between_polls": 0.5,
                },
            )
        )
    )
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    log = tmp_path / "daemon.log"
    with (
        private_redis() as redis,
        celery_workers(redis.url, count=2, concurrency=2, log_dir=tmp_path) as fleet,
    ):
        # The broker comes from the config file here (resume and status read
        # the stored config), not from the environment.
        data = yaml.safe_load(config.read_text())
        data["broker"] = {"broker_url": redis.url, "result_backend": redis.url}
        config.write_text(yaml.safe_dump(data))
        env = {
            k: v for k, v in fleet.env.items() if k not in ("BO_BROKER_URL", "BO_RESULT_BACKEND")
        }
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        daemon = run_cli(["run", str(config), "--db-url", url, "--no-progress"], env, log)
        try:
            wait_for(
                lambda: (
                    statuses(name, url)["COMPLETED"] >= 3 and statuses(name, url)["RUNNING"] >= 1
                ),
                120,
                "3 completed trials and one running",
                log,
            )
            # status, while the daemon runs: the trials out, with their workers.
            shown = CliRunner().invoke(main, ["status", name, "--json", "--db-url", url])
            assert shown.exit_code == 0, shown.output
            data = json.loads(shown.output)
            assert data["daemon"].startswith("running")
            workers = {row["worker"] for row in data["running"]} - {None}
            assert workers and workers <= set(fleet.hostnames), data["running"]
            assert all(row["task_id"] for row in data["running"])

            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=60) == 0, log.read_text()
        finally:
            if daemon.poll() is None:
                daemon.kill()
        text = log.read_text()
        assert "stopping: received SIGTERM" in text
        assert f"broker: {redis.url} (from the config file)" in text
        stopped = load_experiment(name, url)
        out = [t for t in stopped.trials.values() if not t.status.is_terminal]
        assert out, "expected trials still out on the workers after the stop"
        assert len(stopped.trials) < total
        assert ControlStore(url).lease(name).owner is None  # released on the way out
        assert f"bo-scheduler resume {name}" in text

        resumed = run_cli(["resume", name, "--db-url", url, "--no-progress"], env, log)
        assert resumed.wait(timeout=180) == 0, log.read_text()[-4000:]
        assert f"experiment {name}: finished" in log.read_text()
        worker_logs = fleet.logs()

    experiment = load_experiment(name, url)
    assert len(experiment.trials) == total
    assert all(t.status is TrialStatus.COMPLETED for t in experiment.trials.values())
    task_ids = [t.run_metadata["task_id"] for t in experiment.trials.values()]
    assert len(set(task_ids)) == total
    received = Counter(RECEIVED.findall(worker_logs))
    assert set(received) == set(task_ids), "a trial's task was lost, or an unknown task ran"
    assert max(received.values()) == 1, f"tasks received twice: {received.most_common(3)}"
    # Trials out at the stop were collected by resume, not sent again.
    for trial in out:
        assert received[trial.run_metadata["task_id"]] == 1


@pytest.fixture
def counted_objective() -> Any:
    """A registered objective recording each evaluation (embedded workers run in-process)."""
    calls: list[tuple[float, float]] = []

    @objective("cli_counted_branin", metrics=["branin"])
    def counted(parameters: dict[str, Any]) -> dict[str, float]:
        calls.append((parameters["x1"], parameters["x2"]))
        time.sleep(0.3)
        return {"branin": (parameters["x2"] - 5) ** 2 + (parameters["x1"] - 2) ** 2}

    yield calls
    unregister("cli_counted_branin")


def test_stop_request_then_resume_in_embedded_mode(
    tmp_path: Path, counted_objective: list[tuple[float, float]]
) -> None:
    name, total = "embedded_stop", 12
    config = tmp_path / "embedded.yaml"
    config.write_text(
        yaml.safe_dump(
            config_data(
                name,
                objective_function={"name": "cli_counted_branin"},
                scheduler={"total_trials": total, "max_pending_trials": 3},
            )
        )
    )
    url = f"sqlite:///{tmp_path / 'embedded.db'}"

    def completed() -> int:
        """Read with sqlite3 itself: opening a store here could race the daemon's schema setup."""
        try:
            with sqlite3.connect(tmp_path / "embedded.db") as connection:
                row = connection.execute(
                    "SELECT count(*) FROM bo_trials WHERE status = 'COMPLETED'"
                ).fetchone()
            return int(row[0])
        except sqlite3.Error:
            return 0

    def stop_after_three() -> None:
        wait_for(lambda: completed() >= 3, 60, "3 completed trials")
        ControlStore(url).request_stop(name, "test asks to stop")

    stopper = threading.Thread(target=stop_after_three, daemon=True)
    stopper.start()
    first = CliRunner().invoke(
        main, ["run", str(config), "--db-url", url, "--stop-check-seconds", "0.1"]
    )
    stopper.join(timeout=5)
    assert first.exit_code == 0, first.output
    assert "stopping: test asks to stop" in first.output
    assert "waiting up to" in first.output  # the drain of in-process trials
    after_stop = load_experiment(name, url)
    assert 3 <= len(after_stop.trials) < total
    assert all(t.status is TrialStatus.COMPLETED for t in after_stop.trials.values())

    second = CliRunner().invoke(main, ["resume", name, "--db-url", url])
    assert second.exit_code == 0, second.output
    assert f"experiment {name}: finished; trials: COMPLETED {total}" in second.output
    assert len(counted_objective) == total
    assert len(set(counted_objective)) == total  # every trial evaluated once
