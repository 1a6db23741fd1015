"""Scenarios 1-5: a worker, Redis, the scheduler or PostgreSQL killed or restarted mid-run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from scheduler import DBSettings, Scheduler, TrialStatus
from scheduler.storage import SQLStore
from scheduler.storage.sql.engine import dispose_engines
from tests.faults.fault_objectives import executions, finished
from tests.faults.harness import (
    PYTHON,
    TERMINAL,
    FaultThread,
    ScenarioResult,
    branin_experiment,
    check_invariants,
    fast_options,
    fleet,
    kill_quietly,
    python_env,
    read_trials,
    run_logged,
    sobol,
    sqlite_settings,
    wait_for,
)
from tests.faults.postgres_server import postgres_server
from tests.faults.redis_server import redis_server
from tests.faults.scenarios.helpers import last_line, running_on
from tests.support.celery_workers import REPO_ROOT


def worker_sigkill(workdir: Path, budget: int = 10) -> ScenarioResult:
    """SIGKILL a pool child mid-task, then a whole worker (main process and pool) mid-task.

    Documented outcome: both trials run again and complete. The pool child's
    message is rejected with requeue at once (``task_reject_on_worker_lost``);
    the dead worker's message stays unacknowledged in Redis and is redelivered
    to a surviving worker after the visibility timeout (``task_acks_late``).
    """
    killed: dict[str, int] = {}
    with redis_server() as redis, fleet(redis.url(), workdir / "logs", count=3) as (app, workers):
        count_dir = workdir / "counts"
        experiment = branin_experiment("worker-kill", app, count_dir, runtime_seconds=1.0)
        settings = sqlite_settings(workdir)
        scheduler = Scheduler(experiment, sobol(), fast_options(max_pending_trials=3), settings)
        child_victim, whole_victim = workers[0], workers[1]

        def child_busy() -> bool:
            return bool(running_on(count_dir, child_victim))

        def kill_child() -> None:
            index, pid = running_on(count_dir, child_victim)[0]
            killed["pool child"] = index
            os.kill(pid, signal.SIGKILL)

        def worker_busy() -> bool:
            return "pool child" in killed and bool(running_on(count_dir, whole_victim))

        def kill_worker() -> None:
            index, _ = running_on(count_dir, whole_victim)[0]
            killed["whole worker"] = index
            os.killpg(whole_victim.pid, signal.SIGKILL)

        faults = [FaultThread(child_busy, kill_child), FaultThread(worker_busy, kill_worker)]
        for fault in faults:
            fault.start()
        scheduler.run_n_trials(max_trials=budget, timeout_hours=0.05)
        for fault in faults:
            fault.join(timeout=5)
        result = check_invariants(
            "1. worker SIGKILL (pool child, whole worker)",
            SQLStore(settings),
            experiment.name,
            budget,
            count_dir,
            documented_reruns=set(killed.values()),
        )
        for fault in faults:
            if fault.error:
                result.problems.append(f"fault not injected: {last_line(fault.error)}")
    for what, index in sorted(killed.items()):
        if result.executions.get(index) != 2 or result.reason(index):
            result.problems.append(
                f"trial {index} ({what} killed) ran {result.executions.get(index)} time(s), "
                f"expected a redelivered second run that completes"
            )
    result.notes.append(f"killed mid-task: {killed}; those trials re-ran and completed")
    return result


def _running_now(count_dir: Path) -> set[int]:
    done = finished(count_dir)
    return {i for i, n in executions(count_dir).items() if done.get(i, 0) < n}


def redis_restart_persistent(workdir: Path, budget: int = 10) -> ScenarioResult:
    """Restart an append-only Redis (``appendfsync always``) while trials run and queue.

    Documented outcome: nothing is lost. Queued trials survive in the
    append-only file and run once. A worker that sees its broker connection
    drop cancels the trials it was running (``worker_cancel_long_running_
    tasks_on_connection_loss``), and their unacknowledged messages, also
    persisted, are redelivered after the visibility timeout: those trials may
    run twice, and every trial completes. The scheduler's polls during the
    downtime are retried on the next poll.
    """
    at_restart: set[int] = set()
    with (
        redis_server(appendonly=True) as redis,
        fleet(redis.url(), workdir / "logs", count=2) as (app, _workers),
    ):
        count_dir = workdir / "counts"
        experiment = branin_experiment("redis-aof", app, count_dir, runtime_seconds=1.0)
        settings = sqlite_settings(workdir)
        scheduler = Scheduler(experiment, sobol(), fast_options(max_pending_trials=4), settings)

        def restart() -> None:
            done_before = finished(count_dir)
            redis.restart(downtime=1.0)
            # Out at the restart: started by the time Redis is back, unfinished before it went.
            started = executions(count_dir)
            at_restart.update(i for i, n in started.items() if done_before.get(i, 0) < n)

        fault = FaultThread(lambda: len(executions(count_dir)) >= 3, restart)
        fault.start()
        scheduler.run_n_trials(max_trials=budget, timeout_hours=0.05)
        fault.join(timeout=30)
        result = check_invariants(
            "2. Redis restart, append-only",
            SQLStore(settings),
            experiment.name,
            budget,
            count_dir,
            documented_reruns=at_restart,
        )
        if fault.error:
            result.problems.append(f"fault not injected: {last_line(fault.error)}")
    if result.statuses.get("COMPLETED") != budget:
        result.problems.append(f"with persistence every trial must complete: {result.statuses}")
    result.notes.append(f"running at restart: {sorted(at_restart)}; re-run: {result.duplicated}")
    return result


#: How long a vanished task (no result, no send record) is given before it is FAILED "lost".
LOST_AFTER_SECONDS = 2.0
#: Backstop for a trial whose task vanished while it was running (see docs/reliability.md).
DATA_LOSS_TTL_SECONDS = 20.0


def redis_data_loss(workdir: Path, mode: str = "restart", budget: int = 10) -> ScenarioResult:
    """Redis loses every key mid-run: restarted without persistence, or FLUSHALL.

    Documented outcome: trials whose message was still queued never run; with
    their result and send record gone they are FAILED "lost: ..." after
    ``lost_after_seconds``. Trials running at that moment finish and record
    their result if their worker kept its connection (FLUSHALL); after a
    restart their worker cancels them, and since the wiped Redis no longer
    holds their unacknowledged message they are never redelivered: they end
    FAILED, "lost" or past ``ttl_seconds_for_trials``. The scheduler carries
    on and the experiment reaches its budget, lost trials counting as failed.
    """
    what = "restart, no persistence" if mode == "restart" else "FLUSHALL"
    if mode not in ("restart", "flushall"):
        raise ValueError(f"mode must be 'restart' or 'flushall', got {mode!r}")
    out_at_loss: set[int] = set()
    running: set[int] = set()
    with redis_server() as redis, fleet(redis.url(), workdir / "logs", count=2) as (app, _):
        count_dir = workdir / "counts"
        experiment = branin_experiment(
            f"redis-loss-{mode}",
            app,
            count_dir,
            runtime_seconds=1.0,
            lost_after_seconds=LOST_AFTER_SECONDS,
        )
        settings = sqlite_settings(workdir)
        options = fast_options(max_pending_trials=4, ttl_seconds_for_trials=DATA_LOSS_TTL_SECONDS)
        scheduler = Scheduler(experiment, sobol(), options, settings)

        def lose_everything() -> None:
            out = {t.index for t in experiment.running_trials}
            ran = executions(count_dir)
            running.update(i for i in _running_now(count_dir) if i in ran)
            out_at_loss.update(out)
            if mode == "restart":
                redis.restart(downtime=0.5, wipe=True)
            else:
                redis.flushall()

        def some_queued() -> bool:
            out = {t.index for t in experiment.running_trials}
            # Both worker slots busy and two trials waiting in the queue behind them.
            return len(executions(count_dir)) >= 2 and len(out - set(executions(count_dir))) >= 2

        fault = FaultThread(some_queued, lose_everything)
        fault.start()
        scheduler.run_n_trials(max_trials=budget, timeout_hours=0.05)
        fault.join(timeout=30)
        result = check_invariants(
            f"3. Redis data loss ({what})",
            SQLStore(settings),
            experiment.name,
            budget,
            count_dir,
        )
        if fault.error:
            result.problems.append(f"fault not injected: {last_line(fault.error)}")
    never_ran = {i for i in out_at_loss if not result.executions.get(i)}
    for index in sorted(never_ran):
        if not result.reason(index).startswith("lost"):
            result.problems.append(
                f"trial {index} was queued when Redis lost its data and never ran, but ended "
                f"{result.reason(index) or 'without failing'!r}, not FAILED 'lost'"
            )
    if not result.lost:
        result.problems.append("no trial was detected as lost: the fault did not bite")
    result.notes.append(
        f"out at the loss: {sorted(out_at_loss)} (running {sorted(running)}); "
        f"FAILED lost: {result.lost}"
    )
    return result


LEASE_TIMEOUT = 3.0


def _trial_statuses(store: SQLStore, name: str) -> dict[int, str]:
    with contextlib.suppress(Exception):  # the experiment row may not exist yet
        trials, _ = read_trials(store, name)
        return {t.index: t.status for t in trials}
    return {}


def scheduler_sigkill(workdir: Path, budget: int = 12) -> ScenarioResult:
    """SIGKILL the scheduler process with several trials out; resume in a new process.

    Documented outcome: the workers carry on; the resumed scheduler
    (``Scheduler.from_stored_experiment``) collects the results that finished
    during the downtime in its first poll, re-attaches to any task sent but
    not yet recorded (send marker), and runs the experiment to its budget:
    every trial stored once, every task executed once.
    """
    name = "scheduler-crash"
    count_dir = workdir / "counts"
    count_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir}/bo.db"
    store = SQLStore(url)
    out_at_kill: set[int] = set()
    args = [url, name, str(count_dir), str(budget), str(LEASE_TIMEOUT)]
    with redis_server() as redis, fleet(redis.url(), workdir / "logs", count=2, concurrency=2):
        env = python_env(redis.url())
        log = workdir / "logs" / "scheduler.log"
        with log.open("ab") as out:
            child = subprocess.Popen(
                [PYTHON, "-m", "tests.faults.scheduler_process", "run", *args],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:

            def several_out() -> bool:
                if child.poll() is not None:
                    raise RuntimeError(f"scheduler exited early:\n{log.read_text()[-3000:]}")
                statuses = _trial_statuses(store, name)
                done = sum(1 for s in statuses.values() if s == "COMPLETED")
                return done >= 3 and len(_running_now(count_dir)) >= 2

            wait_for(several_out, 90, "several trials running with some completed")
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        finally:
            kill_quietly(child)
        statuses = _trial_statuses(store, name)
        out_at_kill = {i for i, s in statuses.items() if s not in TERMINAL}
        # The fleet finishes what it was given while no scheduler runs...
        wait_for(lambda: not _running_now(count_dir), 30, "the orphaned trials to finish")
        finished_in_downtime = {i for i in out_at_kill if finished(count_dir).get(i)}
        time.sleep(LEASE_TIMEOUT)  # ...and the dead scheduler's lease expires.
        after_load_path = workdir / "after-load.json"
        code = run_logged(
            [PYTHON, "-m", "tests.faults.scheduler_process", "resume", *args, str(after_load_path)],
            env,
            log,
        )
        result = check_invariants("4. scheduler SIGKILL, resume", store, name, budget, count_dir)
    if code != 0:
        result.problems.append(f"the resumed scheduler exited {code}: {log.read_text()[-2000:]}")
    after_load = {int(k): v for k, v in json.loads(after_load_path.read_text()).items()}
    for index in sorted(finished_in_downtime):
        if after_load.get(index) != "COMPLETED" or result.data_rows.get(index) != 1:
            result.problems.append(
                f"trial {index} finished while the scheduler was down but was "
                f"{after_load.get(index)} after resuming, with "
                f"{result.data_rows.get(index, 0)} data rows"
            )
    if not finished_in_downtime:
        result.problems.append("no trial finished during the downtime: the crash came too late")
    missing = [i for i in range(budget) if result.executions.get(i) != 1]
    if missing:
        result.problems.append(f"tasks not executed exactly once: {missing}")
    result.notes.append(
        f"out at the kill: {sorted(out_at_kill)}; finished while down and collected on "
        f"resume: {sorted(finished_in_downtime)}"
    )
    return result


def postgres_restart(workdir: Path, budget: int = 10, downtime: float = 2.0) -> ScenarioResult:
    """Restart the (private) PostgreSQL server holding the experiment, mid-run.

    Documented outcome: the scheduler's store writes fail while the server is
    down; each is retried with backoff (``SQLStore`` retries a transaction
    that failed on a lost or refused connection, ``pool_pre_ping`` drops dead
    pooled connections) and the loop carries on as soon as the server is back.
    Nothing is lost or written twice.
    """
    restarted: list[str] = []
    with (
        postgres_server() as pg,
        redis_server() as redis,
        fleet(redis.url(), workdir / "logs", count=2) as (app, _),
    ):
        count_dir = workdir / "counts"
        experiment = branin_experiment("pg-restart", app, count_dir, runtime_seconds=0.5)
        settings = DBSettings(url=pg.url)
        scheduler = Scheduler(experiment, sobol(), fast_options(max_pending_trials=3), settings)

        def restart() -> None:
            pg.stop("fast")
            time.sleep(downtime)
            pg.start()
            restarted.append("yes")

        fault = FaultThread(lambda: experiment.count_by_status(TrialStatus.COMPLETED) >= 3, restart)
        fault.start()
        error = None
        try:
            scheduler.run_n_trials(max_trials=budget, timeout_hours=0.05)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        fault.join(timeout=60)
        result = check_invariants(
            "5. PostgreSQL restart", SQLStore(settings), experiment.name, budget, count_dir
        )
        dispose_engines()
    if error:
        result.problems.append(f"the scheduler did not survive the restart: {error}")
    if fault.error or not restarted:
        result.problems.append(f"fault not injected: {fault.error}")
    if result.statuses.get("COMPLETED") != budget:
        result.problems.append(f"every trial must complete: {dict(result.statuses)}")
    result.notes.append(f"server down {downtime:g} s after 3 trials completed")
    return result
