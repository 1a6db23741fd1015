"""Several experiments in one daemon on a real fleet: none lost, none run twice.

Private Redis, two `celery worker` processes (concurrency 2), the real
`bo-scheduler` console script:

- three experiments with different objectives and budgets share a cap of 3
  trials out: two reach their budgets while the third aborts on its failure
  rate; the cap held at every moment, the Prometheus endpoint labels every
  series with its experiment, and every trial's task ran exactly once;
- `bo-scheduler stop A` stops one experiment and leaves the other running;
  SIGKILL of the daemon, then `bo-scheduler resume A B` finishes both, again
  with every task received exactly once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from scheduler.core.experiment import Experiment
from scheduler.ops.cli.main import main
from scheduler.storage import load_experiment
from scheduler.storage.sql.control import ControlStore
from tests.cli.conftest import config_data
from tests.support.celery_workers import REPO_ROOT, WorkerFleet, celery_workers
from tests.support.cli_process import BIN, run_cli, statuses, wait_for
from tests.support.services import private_redis

RECEIVED = re.compile(r"Task bo_scheduler\.evaluate\[([0-9a-f-]+)\] received")
HARTMANN6_SPACE = [{"name": f"x{i}", "type": "range", "bounds": [0, 1]} for i in range(1, 7)]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerFleet]:
    with (
        private_redis() as redis,
        celery_workers(
            redis.url,
            count=2,
            concurrency=2,
            objective_modules=["tests.ops.shared_objectives"],
            pythonpath=[REPO_ROOT],
            log_dir=tmp_path_factory.mktemp("shared-worker-logs"),
        ) as running,
    ):
        yield running


#: Poll fast: these trials take a fraction of a second.
POLLING = {"init_seconds_between_polls": 0.1, "max_seconds_between_polls": 0.3}


def _branin(runtime_seconds: float) -> dict[str, Any]:
    return {"name": "branin", "options": {"runtime_seconds": runtime_seconds}}


def _config(folder: Path, fleet: WorkerFleet, name: str, **sections: Any) -> Path:
    """A config on the fleet's broker, fast polling, a 2 s lease: `config_data` else."""
    sections["scheduler"] = {**POLLING, **sections.get("scheduler", {})}
    data = config_data(name, **sections)
    data["broker"] = {"broker_url": fleet.broker_url, "result_backend": fleet.result_backend}
    data["database"] = {"lease_timeout_seconds": 2}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _env(fleet: WorkerFleet) -> dict[str, str]:
    env = {k: v for k, v in fleet.env.items() if k not in ("BO_BROKER_URL", "BO_RESULT_BACKEND")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _most_out_at_once(experiments: list[Experiment]) -> tuple[int, int]:
    """From the stored times: the most trials out at once across `experiments`, and
    the most experiments that had trials out at once."""
    events: list[tuple[datetime, int, str]] = []
    for experiment in experiments:
        for trial in experiment.trials.values():
            start = trial.time_staged or trial.time_run_started
            assert start is not None and trial.time_completed is not None
            events.append((start, 1, experiment.name))
            events.append((trial.time_completed, -1, experiment.name))
    out: Counter[str] = Counter()
    most = most_experiments = 0
    for _, step, name in sorted(events, key=lambda e: (e[0], e[1])):  # ends first on ties
        out[name] += step
        most = max(most, sum(out.values()))
        most_experiments = max(most_experiments, sum(1 for v in out.values() if v > 0))
    return most, most_experiments


def _received_once(fleet: WorkerFleet, experiments: list[Experiment]) -> None:
    task_ids = [t.run_metadata["task_id"] for e in experiments for t in e.trials.values()]
    assert len(set(task_ids)) == len(task_ids)
    received = Counter(RECEIVED.findall(fleet.logs()))
    assert set(task_ids) <= set(received), "a trial's task never reached a worker"
    assert max(received[t] for t in task_ids) == 1, "a task was received twice"


def _daemon_status(name: str, url: str) -> str:
    """What `bo-scheduler status NAME --json` says of the daemon running `name`."""
    shown = CliRunner().invoke(main, ["status", name, "--json", "--db-url", url])
    assert shown.exit_code == 0, shown.output
    return str(json.loads(shown.output)["daemon"])


@pytest.mark.slow
def test_three_experiments_share_the_fleet_and_one_failing_leaves_the_others(
    fleet: WorkerFleet, tmp_path: Path
) -> None:
    a = _config(
        tmp_path,
        fleet,
        "share_branin",
        objective_function=_branin(0.4),
        scheduler={"total_trials": 8, "max_pending_trials": 3},
    )
    b = _config(
        tmp_path,
        fleet,
        "share_hartmann6",
        parameters=HARTMANN6_SPACE,
        objectives={"hartmann6": "minimize"},
        objective_function={"name": "hartmann6", "options": {"runtime_seconds": 0.4}},
        scheduler={"total_trials": 6, "max_pending_trials": 3},
    )
    c = _config(
        tmp_path,
        fleet,
        "share_failing",
        objectives={"loss": "minimize"},
        objective_function={"name": "shared_always_fails", "sem": None},
        scheduler={
            "total_trials": 30,
            "max_pending_trials": 3,
            "tolerated_trial_failure_rate": 0.5,
            "min_failed_trials_for_failure_rate_check": 2,
        },
    )
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    log = tmp_path / "daemon.log"
    port = _free_port()
    args = ["run", str(a), str(b), str(c), "--db-url", url, "--max-trials-out", "3"]
    daemon = run_cli([*args, "--metrics-port", str(port), "--no-progress"], _env(fleet), log)
    try:
        wait_for(
            lambda: (
                statuses("share_branin", url)["COMPLETED"] >= 1
                and statuses("share_hartmann6", url)["COMPLETED"] >= 1
            ),
            120,
            "a completed trial of both healthy experiments",
            log,
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            metrics = reply.read().decode()
        for name in ("share_branin", "share_hartmann6", "share_failing"):
            assert f'bo_trial_budget{{experiment="{name}"}}' in metrics, metrics[:2000]
            assert f'bo_trials{{experiment="{name}",status="COMPLETED"}}' in metrics
        code = daemon.wait(timeout=240)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    text = log.read_text()
    assert code == 3, text[-4000:]  # the failing experiment's exit code: its failure rate
    assert "experiment share_branin: finished; trials: COMPLETED 8" in text
    assert "experiment share_hartmann6: finished; trials: COMPLETED 6" in text
    aborted = r"experiment share_failing: .*failed \(100%\), more than the tolerated 50%"
    assert re.search(aborted, text), text[-3000:]
    assert "Traceback" not in text
    experiments = [load_experiment(n, url) for n in ("share_branin", "share_hartmann6")]
    failing = load_experiment("share_failing", url)
    assert 2 <= len(failing.trials) < 30  # aborted early, not run to its budget
    assert all(t.status.name == "FAILED" for t in failing.trials.values())
    most, together = _most_out_at_once([*experiments, failing])
    assert most <= 3, f"{most} trials out at once; the cap is 3"
    assert together >= 2  # the experiments really ran side by side
    _received_once(fleet, [*experiments, failing])


@pytest.mark.slow
def test_stop_one_then_kill_the_daemon_and_resume_both(fleet: WorkerFleet, tmp_path: Path) -> None:
    a = _config(
        tmp_path,
        fleet,
        "kill_a",
        objective_function=_branin(0.8),
        scheduler={"total_trials": 10, "max_pending_trials": 2},
    )
    b = _config(
        tmp_path,
        fleet,
        "kill_b",
        objective_function=_branin(0.8),
        generation={"strategy": "sobol", "seed": 11},
        scheduler={"total_trials": 14, "max_pending_trials": 2},
    )
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    log = tmp_path / "daemon.log"
    env = _env(fleet)
    args = ["--db-url", url, "--no-progress", "--stop-check-seconds", "0.2"]
    daemon = run_cli(["run", str(a), str(b), *args], env, log)
    try:
        wait_for(lambda: statuses("kill_a", url)["COMPLETED"] >= 2, 120, "2 trials of kill_a", log)
        ControlStore(url).request_stop("kill_a", "test stops one experiment")
        wait_for(lambda: ControlStore(url).lease("kill_a").owner is None, 60, "kill_a to stop", log)
        b_then = statuses("kill_b", url)["COMPLETED"]
        wait_for(
            lambda: statuses("kill_b", url)["COMPLETED"] >= b_then + 2,
            120,
            "kill_b to go on after kill_a stopped",
            log,
        )
        assert daemon.poll() is None  # kill_b still running in the same daemon
        assert _daemon_status("kill_b", url).startswith("running")
        assert not _daemon_status("kill_a", url).startswith("running")
        assert len(load_experiment("kill_a", url).trials) < 10
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert "stopping: test stops one experiment" in log.read_text()
    at_kill = load_experiment("kill_b", url).trials.values()
    out_at_kill = {
        t.index: t.run_metadata["task_id"]
        for t in at_kill
        if t.status.name in ("STAGED", "RUNNING")
    }

    time.sleep(2.5)  # the killed daemon's leases (lease_timeout_seconds: 2) expire
    resumed = run_cli(["resume", "kill_a", "kill_b", *args], env, log)
    try:
        assert resumed.wait(timeout=240) == 0, log.read_text()[-4000:]
    finally:
        if resumed.poll() is None:
            resumed.kill()
    text = log.read_text()
    assert "experiment kill_a: finished; trials: COMPLETED 10" in text
    assert "experiment kill_b: finished; trials: COMPLETED 14" in text
    experiments = [load_experiment(n, url) for n in ("kill_a", "kill_b")]
    _received_once(fleet, experiments)
    # Trials out at the kill were collected by resume under their own task, not sent again.
    final_b = experiments[1].trials
    for index, task_id in out_at_kill.items():
        assert final_b[index].run_metadata["task_id"] == task_id
        assert final_b[index].status.name == "COMPLETED"


@pytest.mark.slow
def test_experiments_of_one_daemon_go_to_their_own_queues(
    fleet: WorkerFleet, tmp_path: Path
) -> None:
    """A GPU-like worker serving only queue bo-gpu gets every trial of the experiment
    routed there; the other experiment's trials stay on the default fleet."""
    gpu = _config(
        tmp_path,
        fleet,
        "queue_gpu",
        objective_function=_branin(0.2),
        runner={"queue": "bo-gpu"},
        scheduler={"total_trials": 5},
    )
    cpu = _config(
        tmp_path,
        fleet,
        "queue_cpu",
        objective_function=_branin(0.2),
        generation={"strategy": "sobol", "seed": 5},
        scheduler={"total_trials": 5},
    )
    url = f"sqlite:///{tmp_path / 'queues.db'}"
    log = tmp_path / "daemon.log"
    with celery_workers(
        fleet.broker_url, count=1, concurrency=1, queue="bo-gpu", name="gpu", log_dir=tmp_path
    ) as gpu_worker:
        daemon = run_cli(
            ["run", str(gpu), str(cpu), "--db-url", url, "--no-progress"], _env(fleet), log
        )
        try:
            assert daemon.wait(timeout=180) == 0, log.read_text()[-4000:]
        finally:
            if daemon.poll() is None:
                daemon.kill()
        gpu_log = gpu_worker.logs()
    routed = load_experiment("queue_gpu", url)
    assert len(routed.trials) == 5
    for trial in routed.trials.values():
        task_id = trial.run_metadata["task_id"]
        assert f"[{task_id}] received" in gpu_log
        assert f"[{task_id}] received" not in fleet.logs()
    assert statuses("queue_cpu", url)["COMPLETED"] == 5
