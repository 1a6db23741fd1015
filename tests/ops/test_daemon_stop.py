"""Stopping a daemon: nothing is deployed after a stop request, and Ctrl-C exits 130."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from scheduler import (
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Models,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
)
from scheduler.listeners import SchedulerListener
from scheduler.local.runner import FunctionMetric, FunctionRunner
from scheduler.ops.daemon import run_daemon
from scheduler.storage import DBSettings
from scheduler.storage.sql.control import ControlStore
from tests.cli.conftest import config_data
from tests.support.celery_workers import REPO_ROOT

BIN = Path(sys.executable).parent


def square(parameters: dict[str, float]) -> dict[str, float]:
    return {"loss": (parameters["x"] - 0.3) ** 2}


class StopFromAnotherHost(SchedulerListener):
    """Writes a `bo-scheduler stop` request to the database at the second poll."""

    def __init__(self, control: ControlStore, name: str) -> None:
        self.control, self.name, self.polls = control, name, 0
        self.trials_at_request: int | None = None

    def on_poll(self, scheduler: Scheduler, seconds: float) -> None:
        self.polls += 1
        if self.polls == 2:
            self.trials_at_request = scheduler.experiment.num_trials
            self.control.request_stop(self.name, "operator")


def test_no_trial_is_deployed_after_a_stop_request_is_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bo.db'}"
    experiment = Experiment(
        "stop_is_final",
        SearchSpace([RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0)]),
        OptimizationConfig(Objective(FunctionMetric("loss"), minimize=True)),
        runner=FunctionRunner(square),
    )
    control = ControlStore(url)
    request = StopFromAnotherHost(control, experiment.name)
    options = SchedulerOptions(
        max_pending_trials=2, init_seconds_between_polls=0.0, min_seconds_before_poll=0.0
    )
    scheduler = Scheduler(
        experiment,
        GenerationStrategy([GenerationStep(Models.SOBOL, -1)], seed=0),
        options,
        db_settings=DBSettings(url),
        listeners=[request],
    )
    # The watcher thread looks only once a minute: the poll's own check must catch it.
    result = run_daemon(scheduler, 50, control=control, stop_check_seconds=60.0)
    assert result.stopped and (result.stop_reason or "").startswith("operator (by ")
    assert request.trials_at_request is not None
    assert experiment.num_trials == request.trials_at_request < 50


def test_ctrl_c_stops_a_run_cleanly_with_exit_status_130(tmp_path: Path) -> None:
    config = tmp_path / "slow.yaml"
    branin = {"name": "branin", "options": {"runtime_seconds": 0.5}}
    config.write_text(
        yaml.safe_dump(
            config_data("interrupted", objective_function=branin, scheduler={"total_trials": 40})
        )
    )
    database = tmp_path / "bo.db"
    log = tmp_path / "daemon.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BO_", "CELERY_"))}
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(BIN / "bo-scheduler"), "run", str(config), "--db-url", f"sqlite:///{database}"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _completed(database):
            time.sleep(0.1)
        assert _completed(database), log.read_text()
        daemon.send_signal(signal.SIGINT)
        assert daemon.wait(timeout=60) == 130, log.read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
    text = log.read_text()
    assert "stopping: received SIGINT" in text and "Traceback" not in text
    assert "bo-scheduler resume interrupted" in text


def _completed(database: Path) -> int:
    try:
        with sqlite3.connect(database) as connection:
            row = connection.execute(
                "SELECT count(*) FROM bo_trials WHERE status = 'COMPLETED'"
            ).fetchone()
        return int(row[0])
    except sqlite3.Error:
        return 0
