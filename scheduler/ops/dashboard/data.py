"""What the dashboard's API returns, read from the database through the public storage API.

Experiments are loaded with `service.load_for_reading` (a `ReadingRegistry`,
as `bo-scheduler status` does: classes this process lacks get stand-ins), so
the dashboard never writes and runs beside any daemon. One page refresh asks
several endpoints about one experiment; `ExperimentCache` keeps each loaded
experiment and its `TrialTable` for `ttl` seconds so they share one load,
while a daemon's new trials still show within a refresh or two.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.analysis.plots import TrialTable, all_figures, pareto_front, trial_table
from scheduler.core.experiment import Experiment
from scheduler.ops.service import experiment_names, load_for_reading, open_control


@dataclass
class Loaded:
    experiment: Experiment
    table: TrialTable
    at: float


class ExperimentCache:
    """Loaded experiments of database `url`, each reused for `ttl` seconds."""

    def __init__(self, url: str, ttl: float = 1.0) -> None:
        self.url = url
        self.ttl = ttl
        self._loaded: dict[str, Loaded] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return experiment_names(self.url)

    def get(self, name: str) -> Loaded:
        """The experiment `name` (raises `ExperimentNotFoundError` if it is not stored)."""
        with self._lock:
            found = self._loaded.get(name)
            if found is not None and time.monotonic() - found.at < self.ttl:
                return found
            experiment = load_for_reading(name, self.url)
            found = Loaded(experiment, trial_table(experiment), time.monotonic())
            self._loaded[name] = found
            return found


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _json_value(value.item())
    return value


def last_activity(experiment: Experiment) -> str | None:
    """ISO time of the latest trial event (created, staged, started, finished)."""
    times: list[datetime] = []
    for trial in experiment.trials.values():
        for when in (trial.time_completed, trial.time_run_started, trial.time_staged):
            if when is not None:
                times.append(when)
                break
        else:
            times.append(trial.time_created)
    return max(times).isoformat() if times else None


def best(table: TrialTable) -> dict[str, Any] | None:
    """The best feasible trial on the first objective, with its objective values."""
    done = table.completed()
    if done.empty or table.objective is None:
        return None
    column = done[table.objective].to_numpy(dtype=float)
    row = done.iloc[int(column.argmin() if table.minimize[0] else column.argmax())]
    return {
        "trial_index": int(row["trial_index"]),
        "values": {name: _json_value(row[name]) for name in table.objectives},
    }


def summary(cache: ExperimentCache, name: str) -> dict[str, Any]:
    """`/api/experiments/{name}`: definition, counts, best (or Pareto set), daemon."""
    loaded = cache.get(name)
    experiment, table = loaded.experiment, loaded.table
    counts = {status: n for status, n in experiment.status_counts().items() if n}
    thresholds = table.thresholds
    front = pareto_front(table) if len(table.objectives) > 1 else None
    return {
        "experiment": name,
        "trials": len(experiment.trials),
        "trials_by_status": counts,
        "trials_out": len(experiment.running_trials),
        "last_activity": last_activity(experiment),
        "daemon": open_control(cache.url).lease(name).describe(),
        "parameters": table.parameters,
        "numeric_parameters": [p for p in table.parameters if p not in table.categories],
        "metrics": table.metrics,
        "objectives": [
            {"metric": m, "minimize": mn, "threshold": thresholds.get(m)}
            for m, mn in zip(table.objectives, table.minimize, strict=True)
        ],
        "best": best(table),
        "pareto": None if front is None else [int(i) for i in front["trial_index"]],
    }


def experiments(cache: ExperimentCache) -> list[dict[str, Any]]:
    """`/api/experiments`: one summary row per stored experiment."""
    rows = []
    for name in cache.names():
        full = summary(cache, name)
        rows.append(
            {
                key: full[key]
                for key in (
                    "experiment",
                    "trials",
                    "trials_by_status",
                    "trials_out",
                    "best",
                    "last_activity",
                    "daemon",
                )
            }
        )
    return rows


TABLE_COLUMNS_HIDDEN = ("feasible", "best_so_far")


def trials(cache: ExperimentCache, name: str, status: str | None = None) -> dict[str, Any]:
    """`/api/experiments/{name}/trials`: `columns` and one list of values per trial.

    Rows rather than objects keep 10,000 trials small; `status` (comma-separated
    names) keeps only trials in those statuses.
    """
    frame = cache.get(name).table.frame
    if status:
        frame = frame[frame["status"].isin([s.strip().upper() for s in status.split(",")])]
    columns = [c for c in frame.columns if c not in TABLE_COLUMNS_HIDDEN]
    values = frame[columns].astype(object).where(frame[columns].notna(), None)
    return {"columns": columns, "rows": values.to_numpy().tolist()}


def figures(
    cache: ExperimentCache, name: str, log_y: bool, x: str | None, y: str | None
) -> dict[str, Any]:
    """`/api/experiments/{name}/plots`: every figure by name (plotly JSON)."""
    return all_figures(cache.get(name).table, log_y, x, y)
