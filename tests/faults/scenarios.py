"""The fault scenarios, as functions the tests and ``python -m bench.faults`` both run.

Each takes a scratch directory, runs a real experiment on real Redis and real
``celery worker`` processes with SQL storage, injects its fault mid-run and
returns a :class:`~tests.faults.harness.ScenarioResult` whose ``problems``
list every broken guarantee (see :func:`~tests.faults.harness.check_invariants`).
The documented outcome of each is in ``docs/reliability.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scheduler import DBSettings, Scheduler, TrialStatus
from scheduler.storage import SQLStore
from scheduler.storage.sql.engine import dispose_engines
from tests.faults.fault_objectives import MODES, executions, finished, start_pids
from tests.faults.harness import (
    PYTHON,
    TERMINAL,
    FaultThread,
    ScenarioResult,
    Worker,
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
    start_worker,
    wait_for,
    wait_until_ready,
)
from tests.faults.postgres_server import postgres_server
from tests.faults.redis_server import redis_server
from tests.support.celery_workers import REPO_ROOT, stop_workers
from workers.protocol import DEFAULT_QUEUE, TASK_NAME


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def parent_pid(pid: int) -> int | None:
    """The parent of ``pid`` (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def running_on(count_dir: Path, worker: Worker) -> list[tuple[int, int]]:
    """(trial index, pool pid) of unfinished task bodies running in ``worker``'s pool."""
    done = finished(count_dir)
    found = []
    for index, runs in executions(count_dir).items():
        if done.get(index, 0) >= runs:
            continue
        pid = start_pids(count_dir, index)[-1]
        if parent_pid(pid) == worker.pid:
            found.append((index, pid))
    return found


# ------------------------------------------------------------ 1. worker kill


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
                result.problems.append(f"fault not injected: {_last_line(fault.error)}")
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


# ------------------------------------------------- 2. Redis restart with AOF


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
            result.problems.append(f"fault not injected: {_last_line(fault.error)}")
    if result.statuses.get("COMPLETED") != budget:
        result.problems.append(f"with persistence every trial must complete: {result.statuses}")
    result.notes.append(f"running at restart: {sorted(at_restart)}; re-run: {result.duplicated}")
    return result


# ---------------------------------------------------------- 3. Redis data loss

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
            result.problems.append(f"fault not injected: {_last_line(fault.error)}")
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


# ------------------------------------------------------- 4. scheduler SIGKILL

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


# ------------------------------------------------------ 5. PostgreSQL restart


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


# ------------------------------------------------- 7. misbehaving objectives

#: The soft time limit of scenario 7's workers: the hanging objective is stopped here.
MISBEHAVING_SOFT_LIMIT = 2

#: What each mode of ``misbehaving`` must leave as the trial's failure reason.
EXPECTED_REASONS = {
    "raise": "ObjectiveFailed: trial {i} (objective 'misbehaving') raised RuntimeError",
    "nan": "InvalidObjectiveResult: trial {i} (objective 'misbehaving'): metric 'branin' is nan",
    "inf": "InvalidObjectiveResult: trial {i} (objective 'misbehaving'): metric 'branin' is inf",
    "string": "metric 'branin' is 'not a number'",
    "missing_metric": "result has no metric 'branin'",
    "hang": "TrialTimeLimitExceeded: trial {i} (objective 'misbehaving') exceeded the soft "
    "time limit of 2 s",
}


def misbehaving_objectives(workdir: Path, budget: int = 14) -> ScenarioResult:
    """Objectives that raise, return NaN/inf/a string/no such metric, or hang.

    Documented outcome: each such trial is FAILED with a reason naming the
    problem (the worker rejects non-finite or non-numeric values; the
    scheduler rejects a result lacking the metric; the soft time limit stops a
    hanging objective and its pool process lives on). Each runs once; the
    well-behaved trials complete; the scheduler is unaffected.
    """
    env = {"BO_TRIAL_SOFT_TIME_LIMIT": str(MISBEHAVING_SOFT_LIMIT), "BO_VISIBILITY_TIMEOUT": "10"}
    with (
        redis_server() as redis,
        fleet(redis.url(), workdir / "logs", count=2, concurrency=2, extra_env=env) as (app, _),
    ):
        count_dir = workdir / "counts"
        experiment = branin_experiment("misbehaving", app, count_dir, objective="misbehaving")
        settings = sqlite_settings(workdir)
        scheduler = Scheduler(experiment, sobol(), fast_options(max_pending_trials=4), settings)
        scheduler.run_n_trials(max_trials=budget, timeout_hours=0.05)
        result = check_invariants(
            "7. misbehaving objectives", SQLStore(settings), experiment.name, budget, count_dir
        )
    for trial in result.trials:
        mode = MODES[trial.index % len(MODES)]
        if mode == "ok":
            if trial.status != "COMPLETED":
                result.problems.append(f"well-behaved trial {trial.index} ended {trial.status}")
            continue
        expected = EXPECTED_REASONS[mode].format(i=trial.index)
        if trial.status != "FAILED" or expected not in (trial.failed_reason or ""):
            result.problems.append(
                f"trial {trial.index} ({mode}) ended {trial.status} with reason "
                f"{trial.failed_reason!r}; expected FAILED with {expected!r}"
            )
    missing = [i for i in range(budget) if result.executions.get(i) != 1]
    if missing:
        result.problems.append(f"objectives not run exactly once: trials {missing}")
    result.notes.append("modes: " + ", ".join(MODES))
    return result


# ---------------------------------------------- 8. malformed/pickle messages


class OpensAFileWhenUnpickled:
    """Pickled, it becomes ``open(path, "w")``: a worker that unpickles it creates ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


def inject_bad_messages(app: Any, redis_url: str, scratch: Path) -> list[str]:
    """Put five hostile or broken messages on the trial queue; return their task ids."""
    import redis as redis_py

    sent = []
    pickled = {
        "trial_index": 900,
        "objective": "counted",
        "parameters": {"x1": OpensAFileWhenUnpickled(scratch / "unpickled"), "x2": 0.0},
        "options": {"count_dir": str(scratch)},
    }
    sent.append(
        app.send_task(TASK_NAME, args=[pickled], serializer="pickle", queue=DEFAULT_QUEUE).id
    )
    # Not registered: the worker must not look a task name up anywhere else.
    sent.append(app.send_task("os.system", args=["touch " + str(scratch / "os-system")]).id)
    # Our task, naming an objective that is not registered (an import path).
    unknown = {"trial_index": 901, "objective": "os.system", "parameters": {"x1": 1.0}}
    sent.append(app.send_task(TASK_NAME, args=[unknown], queue=DEFAULT_QUEUE).id)
    # Our task with a malformed request (parameters not an object).
    broken = {"trial_index": 902, "objective": "counted", "parameters": "rm -rf /"}
    broken_options = {**broken, "options": {"count_dir": str(scratch)}}
    sent.append(app.send_task(TASK_NAME, args=[broken_options], queue=DEFAULT_QUEUE).id)
    # Bytes that are no message at all.
    client = redis_py.Redis.from_url(redis_url)
    client.lpush(DEFAULT_QUEUE, b"\x80\x04not json {{{")
    client.close()
    return sent


def malformed_messages(workdir: Path, budget: int = 8) -> ScenarioResult:
    """Inject pickle, unregistered-task, unknown-objective, malformed and garbage messages.

    Documented outcome: nothing they carry executes. Workers accept JSON only
    and refuse the pickle message unread; an unregistered task name is
    discarded; our task refuses an unknown objective or a malformed request
    with a named error before running anything; undecodable bytes are dropped.
    The workers keep serving and the experiment completes, each trial once.
    """
    scratch = workdir / "injected"
    scratch.mkdir(parents=True)
    injected: list[str] = []
    with redis_server() as redis, fleet(redis.url(), workdir / "logs", count=2) as (app, workers):
        count_dir = workdir / "counts"
        experiment = branin_experiment("malformed", app, count_dir, runtime_seconds=0.5)
        settings = sqlite_settings(workdir)
        scheduler = Scheduler(experiment, sobol(), fast_options(max_pending_trials=2), settings)
        fault = FaultThread(
            lambda: len(executions(count_dir)) >= 2,
            lambda: injected.extend(inject_bad_messages(app, redis.url(), scratch)),
        )
        fault.start()
        scheduler.run_n_trials(max_trials=budget, timeout_hours=0.05)
        fault.join(timeout=10)
        alive = sorted(w.hostname for w in workers if w.process.poll() is None)
        answered = set()
        with contextlib.suppress(Exception):
            replies = app.control.ping(destination=alive, timeout=1.0) or []
            answered = {name for reply in replies for name in reply}
        logs = "\n".join(w.log() for w in workers)
        result = check_invariants(
            "8. malformed / pickle messages", SQLStore(settings), experiment.name, budget, count_dir
        )
    if fault.error:
        result.problems.append(f"fault not injected: {_last_line(fault.error)}")
    for leftover in ("unpickled", "os-system", "trial-900", "trial-901", "trial-902"):
        if (scratch / leftover).exists():
            result.problems.append(f"an injected message executed something: {leftover} exists")
    if set(alive) != {w.hostname for w in workers} or answered != set(alive):
        result.problems.append(f"workers did not all survive: alive {alive}, answering {answered}")
    if "Refusing to deserialize untrusted content of type pickle" not in logs:
        result.problems.append("no worker logged refusing the pickle message")
    if "dropped a queue entry that is not a valid message" not in logs:
        result.problems.append("no worker logged dropping the undecodable queue entry")
    if result.statuses.get("COMPLETED") != budget:
        result.problems.append(f"every trial must complete: {dict(result.statuses)}")
    result.notes.append(f"{len(injected) + 1} hostile messages injected, none executed")
    return result


# --------------------------------------------------- 6. worker host cut off


class NetnsUnavailable(RuntimeError):
    """This sandbox does not let us create network namespaces and veth pairs."""


@contextlib.contextmanager
def isolated_host() -> Iterator[tuple[str, str, str]]:
    """A network namespace joined to this host by a veth pair on 10.200.N.0/30.

    Yields (namespace, host address, host-side interface). Traffic stays on
    this machine: the addresses exist only on the veth pair.
    """
    token = uuid.uuid4().hex[:6]
    namespace, host_if, ns_if = f"bofault-{token}", f"bfh{token}", f"bfn{token}"
    subnet = 200 + int(token[:2], 16) % 50
    host_ip, ns_ip = f"10.200.{subnet}.1", f"10.200.{subnet}.2"
    setup = [
        ["ip", "netns", "add", namespace],
        ["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
        ["ip", "link", "set", ns_if, "netns", namespace],
        ["ip", "addr", "add", f"{host_ip}/30", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "netns", "exec", namespace, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", ns_if, "up"],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for command in setup:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise NetnsUnavailable(
                    f"`{' '.join(command)}` failed: {done.stderr.strip() or done.returncode} "
                    "(needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN, and iproute2)"
                )
        yield namespace, host_ip, host_if
    except FileNotFoundError as exc:
        raise NetnsUnavailable(f"iproute2 is not installed: {exc}") from None
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def worker_cut_off(workdir: Path, budget: int = 8) -> ScenarioResult:
    """A worker in its own network namespace loses its link to Redis mid-trial.

    Documented outcome: the trial is re-run on another worker. Redis still
    holds its message as unacknowledged; once the visibility timeout passes,
    a worker on this side of the cut redelivers it and the re-run completes
    the trial: its task body ran twice, its result is recorded once. The
    cut-off worker does not notice the dead link while its only slot is busy
    (no BRPOP is pending, so kombu's health check has nothing to time out),
    lets its copy finish and then waits on the dead socket with the result;
    were the link to return, that late duplicate result would be ignored by
    the scheduler, the trial being terminal. ``ttl_seconds_for_trials`` is
    the backstop if no worker is left to redeliver it.
    """
    cut: dict[str, int] = {}
    with (
        isolated_host() as (namespace, host_ip, host_if),
        redis_server(bind=("127.0.0.1", host_ip)) as redis,
    ):
        isolated = start_worker(
            redis.url(host=host_ip),
            workdir / "logs",
            "isolated",
            prefix=["ip", "netns", "exec", namespace],
        )
        try:
            with fleet(redis.url(), workdir / "logs", count=1) as (app, _):
                wait_until_ready(app, [isolated])
                count_dir = workdir / "counts"
                experiment = branin_experiment("cut-off", app, count_dir, runtime_seconds=2.0)
                settings = sqlite_settings(workdir)
                options = fast_options(max_pending_trials=2, ttl_seconds_for_trials=60.0)
                scheduler = Scheduler(experiment, sobol(), options, settings)

                def pull_the_cable() -> None:
                    cut["trial"] = running_on(count_dir, isolated)[0][0]
                    subprocess.run(["ip", "link", "set", host_if, "down"], check=True)

                fault = FaultThread(lambda: bool(running_on(count_dir, isolated)), pull_the_cable)
                fault.start()
                scheduler.run_n_trials(max_trials=budget, timeout_hours=0.05)
                fault.join(timeout=10)
                result = check_invariants(
                    "6. worker host cut off (netns, link down)",
                    SQLStore(settings),
                    experiment.name,
                    budget,
                    count_dir,
                    documented_reruns=set(cut.values()),
                )
        finally:
            stop_workers([isolated.process], timeout=2)
    if fault.error:
        result.problems.append(f"fault not injected: {_last_line(fault.error)}")
    index = cut.get("trial")
    if index is not None:
        runs = result.executions.get(index, 0)
        if result.reason(index) or runs != 2:
            result.problems.append(
                f"trial {index} (cut off mid-run) ended {result.reason(index) or 'COMPLETED'} "
                f"after {runs} run(s); expected a re-run on the other worker that completes"
            )
    result.notes.append(
        f"trial {index} cut off mid-run, re-run on the other worker after the visibility timeout"
    )
    return result
