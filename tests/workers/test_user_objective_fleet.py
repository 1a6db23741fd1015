"""A user's own objective on a real fleet: `bo-scheduler worker`, routing, preflight, listing.

One worker is started exactly as the README says (`bo-scheduler worker
--objectives my_objectives` in examples/, the module found in the current
directory); a second one, started with plain `celery -A workers.app worker`,
lacks the module. Trials of the user's objective must all run on the first,
a misspelt objective must be refused before any trial exists, and
`bo-scheduler workers` must show both with their objectives and trials.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.celery import CeleryMetric, CeleryRunner
from scheduler.celery.fleet import (
    UnknownFleetObjectiveError,
    check_fleet_objective,
    fleet_workers,
    free_slots,
)
from tests.support.celery_workers import (
    REPO_ROOT,
    Worker,
    WorkerFleet,
    celery_workers,
    stop_workers,
    wait_until_ready,
    worker_env,
)
from tests.support.services import PrivateRedis

EXAMPLES = REPO_ROOT / "examples"
CLI = [sys.executable, "-m", "scheduler.ops.cli.main"]


@pytest.fixture(scope="module")
def bare(redis_db: PrivateRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerFleet]:
    """One plain `celery -A workers.app worker` without the user's module."""
    with celery_workers(
        redis_db.url, count=1, log_dir=tmp_path_factory.mktemp("bare"), name="bare"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def user_worker(bare: WorkerFleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """`bo-scheduler worker --objectives my_objectives`, run from examples/."""
    hostname = f"user-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    log_path = tmp_path_factory.mktemp("user") / "worker.log"
    env = worker_env(bare.broker_url, bare.result_backend)
    env.pop("BO_OBJECTIVE_MODULES", None)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                *CLI,
                "worker",
                "--objectives",
                "my_objectives",
                "--concurrency",
                "2",
                "-n",
                hostname,
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=EXAMPLES,  # the module is found in the current directory
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(hostname, process, log_path)
    try:
        wait_until_ready(bare.app, [worker])
        yield worker
    finally:
        stop_workers([process])


def test_the_worker_logs_the_objectives_it_loaded(user_worker: Worker) -> None:
    log = user_worker.log()
    assert "loaded objective modules: my_objectives" in log
    assert "objectives available:" in log and "ridge" in log and "train_model" in log
    assert "bo-trials.ridge" in log  # and it consumes the objective's queue


def test_each_worker_answers_with_its_own_objectives(
    bare: WorkerFleet, user_worker: Worker
) -> None:
    (bare_host,) = bare.hostnames
    by_host = {w.hostname: w for w in fleet_workers(bare.app, timeout=1.0)}
    assert "ridge" in (by_host[user_worker.hostname].objectives or [])
    assert "ridge" not in (by_host[bare_host].objectives or [])
    assert "bo-trials.ridge" in by_host[user_worker.hostname].queues
    assert "bo-trials.ridge" not in by_host[bare_host].queues
    # Capacity counts only the workers that can take the objective's trials.
    assert free_slots(bare.app, "bo-trials.ridge") == 2
    assert free_slots(bare.app, "bo-trials.branin") == 4


def test_a_misspelt_objective_is_refused_with_a_suggestion(
    bare: WorkerFleet, user_worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(UnknownFleetObjectiveError) as error:
        check_fleet_objective(bare.app, "rigde")
    message = str(error.value)
    assert "no worker has objective 'rigde'" in message
    assert "did you mean 'ridge'" in message
    assert "\n" not in message
    (bare_host,) = bare.hostnames
    with caplog.at_level("WARNING"):
        assert check_fleet_objective(bare.app, "ridge") == [user_worker.hostname]
    assert bare_host in caplog.text and "lack objective 'ridge'" in caplog.text


def _cli(
    args: list[str], env: dict[str, str], cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_a_typo_in_the_config_is_refused_before_any_trial_exists(
    bare: WorkerFleet, user_worker: Worker, tmp_path: Path
) -> None:
    config = (EXAMPLES / "configs" / "my_objective.yaml").read_text()
    typo = tmp_path / "typo.yaml"
    typo.write_text(config.replace("name: ridge", "name: rigde").replace("my_ridge", "misspelt"))
    db_url = f"sqlite:///{tmp_path / 'bo.db'}"
    env = worker_env(bare.broker_url, bare.result_backend)
    result = _cli(["run", str(typo), "--db-url", db_url, "--no-progress"], env)
    assert result.returncode == 2  # a config problem, like every other
    assert "no worker has objective 'rigde'" in result.stderr
    assert "did you mean 'ridge'?" in result.stderr
    assert "Traceback" not in result.stderr
    # Refused before anything was created: no experiment, so no trial, is stored.
    listed = _cli(["list", "--db-url", db_url], env)
    assert listed.returncode == 0
    assert "misspelt" not in listed.stdout
    assert not list(bare.app.backend.client.scan_iter("celery-task-meta-*"))


def test_trials_of_a_user_objective_never_reach_a_worker_without_it(
    bare: WorkerFleet, user_worker: Worker, tmp_path: Path
) -> None:
    """The README's fleet path: the example config on the two workers."""
    (bare_host,) = bare.hostnames
    db_url = f"sqlite:///{tmp_path / 'bo.db'}"
    env = worker_env(bare.broker_url, bare.result_backend)
    config = EXAMPLES / "configs" / "my_objective.yaml"
    result = _cli(["run", str(config), "--db-url", db_url, "--no-progress"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trials: COMPLETED 12" in result.stdout  # none failed
    assert f"worker(s) {bare_host} lack objective 'ridge'" in result.stderr
    client = bare.app.backend.client
    workers = {
        json.loads(client.get(key))["worker"] for key in client.scan_iter("celery-task-meta-*")
    }
    assert workers == {user_worker.hostname}
    assert "unknown objective" not in bare.workers[0].log()


def test_bo_scheduler_workers_lists_objectives_concurrency_and_trials(
    bare: WorkerFleet, user_worker: Worker
) -> None:
    from scheduler import (
        Experiment,
        Objective,
        OptimizationConfig,
        ParameterType,
        RangeParameter,
        SearchSpace,
    )

    runner = CeleryRunner("branin", objective_options={"runtime_seconds": 60}, app=bare.app)
    experiment = Experiment(
        name="listed",
        search_space=SearchSpace(
            [
                RangeParameter("x1", ParameterType.FLOAT, -5, 10),
                RangeParameter("x2", ParameterType.FLOAT, 0, 15),
            ]
        ),
        optimization_config=OptimizationConfig(Objective(CeleryMetric("branin"), minimize=True)),
        runner=runner,
    )
    trials = [experiment.new_trial({"x1": 1.0, "x2": float(i)}) for i in range(3)]
    runner.run(trials[2])
    (bare_host,) = bare.hostnames
    env = worker_env(bare.broker_url, bare.result_backend)
    try:
        for _ in range(60):  # until a worker has taken the trial (asked in-process: fast)
            if any(w.trials for w in fleet_workers(bare.app, 1.0)):
                break
        listed = _cli(["workers", "--json", "--timeout", "3"], env)
        assert listed.returncode == 0, listed.stderr
        found = {w["hostname"]: w for w in json.loads(listed.stdout)}
        assert set(found) >= {bare_host, user_worker.hostname}
        assert found[user_worker.hostname]["concurrency"] == 2
        assert "ridge" in found[user_worker.hostname]["objectives"]
        assert "ridge" not in found[bare_host]["objectives"]
        # Both workers have branin: the trial is on one of them, with its index.
        (trial,) = [t for w in found.values() for t in w["trials"]]
        assert trial["trial_index"] == 2 and trial["objective"] == "branin"
        assert trial["state"] == "active"
        table = _cli(["workers", "--timeout", "3"], env)
        assert table.returncode == 0
        assert f"running  trial 2 (branin)  task {runner.task_id(trials[2])}" in table.stdout
        assert f"{user_worker.hostname}  concurrency 2" in table.stdout
    finally:
        runner.stop(trials[2])
