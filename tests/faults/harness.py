"""What every fault scenario shares: workers, the experiment, the fault thread, the checks.

A scenario starts real ``celery worker`` processes (:func:`fleet`, the test fleet
factory with the scenarios' settings; :func:`start_worker` for one, also inside a
network namespace), runs a real experiment (CeleryRunner on Redis,
SQL storage through DBSettings), injects its fault from a background thread
(:class:`FaultThread`) while the scheduler loop runs, then reads the database
and the workers' execution records and checks the guarantees
(:func:`check_invariants`):

- the experiment reached its budget: trial indices 0..budget-1, each stored once;
- no trial is left CANDIDATE, STAGED or RUNNING;
- each COMPLETED trial has exactly one final data row per metric (results
  recorded exactly once);
- no task body ran more than once, except the trials the scenario names as
  documented re-runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from scheduler import (
    DBSettings,
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Models,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    SchedulerOptions,
    SearchSpace,
)
from scheduler.celery import CeleryMetric, CeleryRunner
from scheduler.storage import SQLStore
from scheduler.storage.sql.engine import connect
from scheduler.storage.sql.models import DataRow, ExperimentRow, TrialRow
from tests.faults.fault_objectives import TRANSPORT_OPTIONS_ENV, executions
from tests.support.celery_workers import (
    REPO_ROOT,
    Worker,
    celery_workers,
    spawn_worker,
    worker_env,
)
from tests.support.celery_workers import wait_until_ready as wait_until_ready
from workers.settings import (
    ENV_BROKER_URL,
    ENV_OBJECTIVE_MODULES,
    ENV_RESULT_BACKEND,
    ENV_TRIAL_SOFT_TIME_LIMIT,
    ENV_VISIBILITY_TIMEOUT,
)

OBJECTIVES_MODULE = "tests.faults.fault_objectives"
#: Soft limit 4 s -> hard limit 9 s -> visibility timeout 10 s: an unacked trial
#: whose worker vanished is redelivered ~10 s later (trials here run ~1 s).
SOFT_TIME_LIMIT = 4
VISIBILITY_TIMEOUT = 10
#: kombu sweeps unacked messages every interval x throttle s (default 10 x 10).
TRANSPORT_OPTIONS = {
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
    "health_check_interval": 2,
}
TERMINAL = {"COMPLETED", "FAILED", "ABANDONED", "EARLY_STOPPED"}
#: kombu's Redis hash of delivered, unacknowledged messages.
UNACKED_KEY = "unacked"


def fault_env(
    soft_time_limit: int = SOFT_TIME_LIMIT, visibility_timeout: int = VISIBILITY_TIMEOUT
) -> dict[str, str]:
    """Worker environment of the scenarios (objectives, limits, fast redelivery)."""
    return {
        ENV_OBJECTIVE_MODULES: OBJECTIVES_MODULE,
        ENV_TRIAL_SOFT_TIME_LIMIT: str(soft_time_limit),
        ENV_VISIBILITY_TIMEOUT: str(visibility_timeout),
        TRANSPORT_OPTIONS_ENV: json.dumps(TRANSPORT_OPTIONS),
    }


def fast_options(**overrides: Any) -> SchedulerOptions:
    """A scheduler that polls often, so scenarios take seconds."""
    values: dict[str, Any] = {
        "init_seconds_between_polls": 0.05,
        "min_seconds_before_poll": 0.0,
        "max_seconds_between_polls": 0.25,
        "max_pending_trials": 4,
        "tolerated_trial_failure_rate": 0.9,
        "min_failed_trials_for_failure_rate_check": 100,
    }
    values.update(overrides)
    return SchedulerOptions(**values)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 20 ms; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


# ------------------------------------------------------------------ workers


def start_worker(
    broker_url: str,
    log_dir: Path,
    name: str,
    extra_env: Mapping[str, str] | None = None,
    concurrency: int = 1,
    prefix: Sequence[str] = (),
) -> Worker:
    """Start ``celery -A workers.app worker`` (``prefix``: e.g. ``ip netns exec NS``)."""
    env = worker_env(broker_url, broker_url, {**fault_env(), **(extra_env or {})})
    hostname = f"{name}-{uuid.uuid4().hex[:6]}@bo-faults"
    return spawn_worker(
        hostname, log_dir / f"{name}.log", env, concurrency=concurrency, prefix=prefix
    )


@contextmanager
def fleet(
    broker_url: str,
    log_dir: Path,
    count: int = 2,
    concurrency: int = 1,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[tuple[Any, list[Worker]]]:
    """``count`` workers plus a client app; every worker process group killed afterwards."""
    with celery_workers(
        broker_url,
        count=count,
        concurrency=concurrency,
        extra_env={**fault_env(), **(extra_env or {})},
        log_dir=log_dir,
        shutdown_timeout=5,
        name="w",
    ) as running:
        yield running.app, running.workers


# --------------------------------------------------------------- experiment


def branin_experiment(
    name: str,
    app: Any,
    count_dir: Path,
    runtime_seconds: float = 1.0,
    objective: str = "counted",
    namespace: str | None = None,
    **runner_options: Any,
) -> Experiment:
    """Branin on the fleet, every execution of a trial counted in ``count_dir``."""
    count_dir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"count_dir": str(count_dir)}
    if objective == "counted":
        options["runtime_seconds"] = runtime_seconds
    return Experiment(
        name=name,
        search_space=SearchSpace(
            [
                RangeParameter("x1", ParameterType.FLOAT, -5, 10),
                RangeParameter("x2", ParameterType.FLOAT, 0, 15),
            ]
        ),
        optimization_config=OptimizationConfig(
            Objective(CeleryMetric("branin", sem=0.0), minimize=True)
        ),
        runner=CeleryRunner(
            objective,
            objective_options=options,
            app=app,
            namespace=namespace or uuid.uuid4().hex,
            **runner_options,
        ),
    )


def sobol(seed: int = 3) -> GenerationStrategy:
    return GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=-1)], seed=seed)


def sqlite_settings(directory: Path, lease_timeout: float = 60.0) -> DBSettings:
    return DBSettings(url=f"sqlite:///{directory}/bo.db", lease_timeout_seconds=lease_timeout)


# ------------------------------------------------------------------- faults


class FaultThread(threading.Thread):
    """Runs ``inject`` in the background once ``when`` holds; keeps any exception."""

    def __init__(
        self,
        when: Callable[[], bool],
        inject: Callable[[], None],
        timeout: float = 60.0,
    ) -> None:
        super().__init__(name="bo-fault", daemon=True)
        self.when, self.inject, self.timeout = when, inject, timeout
        self.error: str | None = None
        self.injected = threading.Event()

    def run(self) -> None:
        try:
            wait_for(self.when, self.timeout, "the moment to inject the fault")
            self.inject()
            self.injected.set()
        except Exception:
            self.error = traceback.format_exc()


def started(count_dir: Path) -> set[int]:
    """Trial indices whose task body started at least once."""
    return set(executions(count_dir))


# ------------------------------------------------------------------- checks


@dataclass
class StoredTrial:
    index: int
    status: str
    failed_reason: str | None


@dataclass
class ScenarioResult:
    """What a scenario ended with, and which guarantee (if any) broke."""

    name: str
    budget: int
    trials: list[StoredTrial]
    executions: dict[int, int]
    data_rows: dict[int, int]
    documented_reruns: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def statuses(self) -> Counter[str]:
        return Counter(t.status for t in self.trials)

    @property
    def lost(self) -> list[int]:
        """Trials FAILED because their task vanished (result and send record gone)."""
        return [t.index for t in self.trials if (t.failed_reason or "").startswith("lost")]

    @property
    def duplicated(self) -> list[int]:
        """Trials whose task body ran more than once (worker-side count)."""
        return sorted(i for i, n in self.executions.items() if n > 1)

    def reason(self, index: int) -> str:
        return next((t.failed_reason or "" for t in self.trials if t.index == index), "")

    @property
    def outcome(self) -> str:
        if self.problems:
            return "FAIL: " + "; ".join(self.problems)
        counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(self.statuses.items()))
        return f"ok ({counts})" + (f"; {'; '.join(self.notes)}" if self.notes else "")


def read_trials(store: SQLStore, name: str) -> tuple[list[StoredTrial], dict[int, int]]:
    """Every trial row of experiment ``name`` and the final data rows per trial."""
    with connect(store.engine) as conn:
        experiment_id = conn.execute(
            select(ExperimentRow.id).where(ExperimentRow.name == name)
        ).scalar_one()
        rows = conn.execute(
            select(TrialRow.trial_index, TrialRow.status, TrialRow.failed_reason)
            .where(TrialRow.experiment_id == experiment_id)
            .order_by(TrialRow.trial_index)
        ).all()
        data = conn.execute(
            select(DataRow.trial_index, func.count())
            .where(DataRow.experiment_id == experiment_id, DataRow.step.is_(None))
            .group_by(DataRow.trial_index)
        ).all()
    trials = [StoredTrial(int(r[0]), str(r[1]), r[2]) for r in rows]
    return trials, {int(i): int(n) for i, n in data}


def check_invariants(
    name: str,
    store: SQLStore,
    experiment_name: str,
    budget: int,
    count_dir: Path,
    documented_reruns: set[int] | None = None,
    metrics: int = 1,
) -> ScenarioResult:
    """Read back the experiment and list every broken guarantee in ``problems``."""
    trials, data_rows = read_trials(store, experiment_name)
    result = ScenarioResult(
        name=name,
        budget=budget,
        trials=trials,
        executions=executions(count_dir),
        data_rows=data_rows,
        documented_reruns=set(documented_reruns or ()),
    )
    indices = [t.index for t in trials]
    if indices != list(range(budget)):
        duplicates = sorted(i for i, n in Counter(indices).items() if n > 1)
        result.problems.append(
            f"stored trial indices are not 0..{budget - 1} once each "
            f"({len(indices)} rows, duplicates {duplicates})"
        )
    stuck = [t.index for t in trials if t.status not in TERMINAL]
    if stuck:
        result.problems.append(f"trials left non-terminal: {stuck}")
    for trial in trials:
        rows = data_rows.get(trial.index, 0)
        if trial.status == "COMPLETED" and rows != metrics:
            result.problems.append(f"trial {trial.index} is COMPLETED with {rows} data rows")
    unexpected = [i for i in result.duplicated if i not in result.documented_reruns]
    if unexpected:
        result.problems.append(f"task bodies ran more than once: trials {unexpected}")
    return result


def run_logged(command: Sequence[str], env: Mapping[str, str], log: Path) -> int:
    """Run a helper process to completion, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.call(
            list(command), env=dict(env), stdout=out, stderr=subprocess.STDOUT, timeout=300
        )


def python_env(broker_url: str, **extra: str) -> dict[str, str]:
    """Environment of a scheduler subprocess: the repo importable, the broker set."""
    env = dict(os.environ)
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    env[ENV_BROKER_URL] = broker_url
    env[ENV_RESULT_BACKEND] = broker_url
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def kill_quietly(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        process.kill()
    with suppress(Exception):
        process.wait(timeout=10)


PYTHON = sys.executable
