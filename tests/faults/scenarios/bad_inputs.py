"""Scenarios 7-8: objectives that misbehave, and malformed or hostile task messages."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from scheduler import Scheduler
from scheduler.storage import SQLStore
from tests.faults.fault_objectives import MODES, executions
from tests.faults.harness import (
    FaultThread,
    ScenarioResult,
    branin_experiment,
    check_invariants,
    fast_options,
    fleet,
    sobol,
    sqlite_settings,
)
from tests.faults.redis_server import redis_server
from tests.faults.scenarios.helpers import last_line
from workers.protocol import DEFAULT_QUEUE, TASK_NAME

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
        result.problems.append(f"fault not injected: {last_line(fault.error)}")
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
