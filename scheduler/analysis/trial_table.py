"""`TrialTable`: one row per trial, what every figure and the dashboard's table read.

Built once per change of the experiment (`trial_table`), from observed values
only: status, generation step, parameters, each metric's final mean, worker,
duration, failure reason, feasibility and the best feasible value so far, plus
the learning-curve rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scheduler.analysis.best_point import feasible_values
from scheduler.core.clock import utcnow
from scheduler.core.data import STEP_COLUMN
from scheduler.core.experiment import Experiment
from scheduler.core.parameters import ChoiceParameter, FixedParameter


@dataclass
class TrialTable:
    """One row per trial (`frame`) and what the figures need to read it.

    `frame` columns: trial_index, status, generation_step, each parameter,
    each metric (final observed mean), worker, duration_s, reason, and
    `feasible` (completed, objectives observed, constraints met); `best`
    is the best feasible first-objective value after each trial (NaN before
    the first); `curves` holds the progress rows (Data rows with a step).
    """

    name: str
    frame: pd.DataFrame
    parameters: list[str]
    objectives: list[str]
    minimize: list[bool]
    metrics: list[str]
    thresholds: dict[str, float] = field(default_factory=dict)
    categories: dict[str, list[Any]] = field(default_factory=dict)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def objective(self) -> str | None:
        return self.objectives[0] if self.objectives else None

    def completed(self) -> pd.DataFrame:
        """Feasible completed trials with every objective observed."""
        return self.frame[self.frame["feasible"]]


def trial_table(experiment: Experiment) -> TrialTable:
    """Build the `TrialTable` of `experiment` (one pass over trials and data)."""
    config = experiment.optimization_config
    objectives = [o.metric.name for o in config.objectives] if config else []
    minimize = [o.minimize for o in config.objectives] if config else []
    thresholds = {t.metric.name: t.bound for t in config.objective_thresholds} if config else {}
    metrics = list(experiment.metrics)
    parameters = [
        name
        for name, p in experiment.search_space.parameters.items()
        if not isinstance(p, FixedParameter)
    ]
    categories = {
        name: list(p.values)
        for name, p in experiment.search_space.parameters.items()
        if isinstance(p, ChoiceParameter)
    }
    data = experiment.lookup_data()
    final = data.final().df
    means: dict[tuple[int, str], float] = dict(
        zip(
            zip(final["trial_index"].tolist(), final["metric_name"].tolist(), strict=True),
            final["mean"].tolist(),
            strict=True,
        )
    )
    feasible = set(feasible_values(experiment, use_model=False))
    now = utcnow()
    rows = []
    for trial in experiment.trials.values():
        started = trial.time_run_started or trial.time_staged
        end = trial.time_completed or (now if trial.status.is_running else None)
        row: dict[str, Any] = {
            "trial_index": trial.index,
            "status": trial.status.name,
            "generation_step": trial.generation_step or "",
        }
        for name in parameters:
            row[name] = trial.arm.parameters.get(name)
        for name in metrics:
            row[name] = means.get((trial.index, name), math.nan)
        meta = trial.run_metadata
        row["worker"] = meta.get("worker") or meta.get("hostname") or ""
        row["duration_s"] = (
            round((end - started).total_seconds(), 3) if started and end else math.nan
        )
        row["reason"] = trial.failed_reason or ""
        row["feasible"] = trial.index in feasible
        rows.append(row)
    columns = ["trial_index", "status", "generation_step", *parameters, *metrics]
    frame = pd.DataFrame(rows, columns=[*columns, "worker", "duration_s", "reason", "feasible"])
    frame = frame.sort_values("trial_index", kind="stable").reset_index(drop=True)
    frame["feasible"] = frame["feasible"].astype(bool)
    curves = data.df
    curves = curves[curves[STEP_COLUMN].notna()] if STEP_COLUMN in curves else curves.iloc[0:0]
    table = TrialTable(
        experiment.name, frame, parameters, objectives, minimize, metrics, thresholds,
        categories, curves,
    )  # fmt: skip
    table.frame["best_so_far"] = _best_so_far(table)
    return table


def _best_so_far(table: TrialTable) -> np.ndarray:
    objective = table.objective
    if objective is None:
        return np.full(len(table.frame), np.nan)
    values = table.frame[objective].where(table.frame["feasible"])
    best = values.cummin() if table.minimize[0] else values.cummax()
    return best.ffill().to_numpy(dtype=float)  # cummin leaves NaN where a trial has no value
