"""Experiments, runners and metrics the storage tests share (also used by subprocesses)."""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from scheduler import (
    Data,
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Metric,
    Models,
    Objective,
    Ok,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    Runner,
    SchedulerOptions,
    SearchSpace,
    Trial,
    TrialStatus,
)
from scheduler.core.metric import MetricFetchResult
from scheduler.local.runner import FunctionMetric, FunctionRunner
from scheduler.storage import register_function, register_metric, register_runner


def branin(p: dict[str, Any]) -> dict[str, float]:
    x1, x2 = float(p["x1"]), float(p["x2"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return {"branin": (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10}


register_function(branin, name="tests.branin")


class TimedRunner(Runner):
    """A trial "runs" for `duration` seconds of wall time, outside the scheduler.

    Like a real fleet it keeps going while the scheduler is down: its state
    is only the start time in the run metadata.
    """

    def __init__(self, duration: float = 0.0) -> None:
        self.duration = duration

    def run(self, trial: Trial) -> dict[str, Any]:
        return {"started_at": time.time()}

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        now = time.time()
        statuses: dict[TrialStatus, set[int]] = {}
        for trial in trials:
            done = now >= float(trial.run_metadata["started_at"]) + self.duration
            status = TrialStatus.COMPLETED if done else TrialStatus.RUNNING
            statuses.setdefault(status, set()).add(trial.index)
        return statuses

    def serialize_init_args(self) -> dict[str, Any]:
        return {"duration": self.duration}


class BraninMetric(Metric):
    """Branin of the trial's arm, computed when fetched."""

    def fetch_trial_data(self, trial: Trial) -> MetricFetchResult:
        value = branin(trial.arm.parameters)["branin"]
        return Ok(Data.from_evaluations({self.name: (value, 0.0)}, trial.index, trial.arm.name))


register_runner(TimedRunner)
register_metric(BraninMetric)


def branin_space() -> SearchSpace:
    return SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, -5, 10),
            RangeParameter("x2", ParameterType.FLOAT, 0, 15),
        ]
    )


def function_experiment(name: str = "exp") -> Experiment:
    """Branin evaluated in-process by `FunctionRunner` (synchronous trials)."""
    return Experiment(
        name=name,
        search_space=branin_space(),
        optimization_config=OptimizationConfig(Objective(FunctionMetric("branin"), minimize=True)),
        runner=FunctionRunner(branin),
    )


def timed_experiment(name: str = "exp", duration: float = 0.0) -> Experiment:
    """Branin on `TimedRunner`: trials finish `duration` s after they start."""
    return Experiment(
        name=name,
        search_space=branin_space(),
        optimization_config=OptimizationConfig(Objective(BraninMetric("branin"), minimize=True)),
        runner=TimedRunner(duration),
    )


def sobol_strategy(seed: int = 0) -> GenerationStrategy:
    return GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=-1)], seed=seed)


def fast_options(**overrides: Any) -> SchedulerOptions:
    values: dict[str, Any] = {
        "init_seconds_between_polls": 0.0,
        "min_seconds_before_poll": 0.0,
        "max_seconds_between_polls": 0.05,
        "max_pending_trials": 3,
    }
    values.update(overrides)
    return SchedulerOptions(**values)


@contextmanager
def count_writes(engine: Engine) -> Iterator[list[str]]:
    """Collect the INSERT/UPDATE/DELETE statements run on `engine` meanwhile."""
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


class FilesRunner(Runner):
    """A fleet outside the scheduler: each send leaves one file `<trial index>.<send id>`
    in `folder` (a second send of a trial would leave a second file), and every
    trial polled is COMPLETED. With `BO_TEST_EXIT_AFTER_SEND=<index>` in the
    environment, the process exits right after sending that trial: a kill
    between a send and the save of its run metadata. No `find_sent`: each send
    must be saved on its own."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def run(self, trial: Trial) -> dict[str, Any]:
        (Path(self.folder) / f"{trial.index}.{uuid.uuid4().hex}").write_text("sent")
        if os.environ.get("BO_TEST_EXIT_AFTER_SEND") == str(trial.index):
            os._exit(17)
        return {"sent_to": self.folder}

    def sends_of(self, index: int) -> list[Path]:
        return sorted(Path(self.folder).glob(f"{index}.*"))

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        return {TrialStatus.COMPLETED: {t.index for t in trials}}

    def serialize_init_args(self) -> dict[str, Any]:
        return {"folder": self.folder}


class SentFilesRunner(FilesRunner):
    """`FilesRunner` that tells which trials it was sent (`FindsSentTrials`), as
    `CeleryRunner` does from its send markers."""

    def find_sent(self, trial: Trial) -> dict[str, Any] | None:
        if not self.sends_of(trial.index):
            return None
        return {"sent_to": self.folder, "reattached": True}


register_runner(FilesRunner)
register_runner(SentFilesRunner)


def files_experiment(folder: str, name: str = "exp", tracked: bool = True) -> Experiment:
    """Branin on `SentFilesRunner` (or, `tracked=False`, `FilesRunner`)."""
    runner = SentFilesRunner(folder) if tracked else FilesRunner(folder)
    return Experiment(
        name=name,
        search_space=branin_space(),
        optimization_config=OptimizationConfig(Objective(BraninMetric("branin"), minimize=True)),
        runner=runner,
    )
