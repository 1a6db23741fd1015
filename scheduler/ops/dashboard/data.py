"""What the dashboard's API returns, read from the database through the public storage API.

Experiments are read with a `ReadingRegistry`, as `bo-scheduler status`
does (classes this process lacks get stand-ins), so the dashboard never
writes and runs beside any daemon. One page refresh asks several endpoints
about one experiment; `ExperimentCache` looks at the database at most once
per `ttl` seconds for them all, and then reads only what changed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scheduler.analysis.plots import TrialTable, all_figures, pareto_front, trial_table
from scheduler.core.experiment import Experiment
from scheduler.ops.service import experiment_names, open_control, require_database
from scheduler.storage.errors import ExperimentNotFoundError
from scheduler.storage.registry import DEFAULT_REGISTRY, ReadingRegistry
from scheduler.storage.sql.watcher import ExperimentWatcher


@dataclass
class Loaded:
    """One experiment as the dashboard holds it: kept current by its watcher."""

    watcher: ExperimentWatcher
    table: TrialTable
    at: float
    #: Answers computed from this `table` (figures, rows), dropped when it is rebuilt.
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def remember(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    @property
    def experiment(self) -> Experiment:
        return self.watcher.experiment


class ExperimentCache:
    """Experiments of database `url`, each looked at again after `ttl` seconds.

    The first look loads an experiment whole; later ones read only what
    changed since (`ExperimentWatcher`), and the `TrialTable` is rebuilt only
    when something did, so a page refresh at 10,000 trials costs a few small
    queries, not a reload.
    """

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
            now = time.monotonic()
            if found is not None and now - found.at < self.ttl:
                return found
            if found is None:
                require_database(name, self.url)  # looking never creates a database
                registry = ReadingRegistry(DEFAULT_REGISTRY)
                watcher = ExperimentWatcher(self.url, name, registry)
                found = self._loaded[name] = Loaded(watcher, trial_table(watcher.experiment), now)
                return found
            try:
                changed = found.watcher.refresh()
            except ExperimentNotFoundError:
                del self._loaded[name]
                raise
            if changed:
                found.table = trial_table(found.experiment)
                found.memo.clear()
            found.at = now
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
    loaded = cache.get(name)
    return loaded.remember(("trials", status), lambda: _rows(loaded.table, status))


def _rows(table: TrialTable, status: str | None) -> dict[str, Any]:
    frame = table.frame
    if status:
        frame = frame[frame["status"].isin([s.strip().upper() for s in status.split(",")])]
    columns = [c for c in frame.columns if c not in TABLE_COLUMNS_HIDDEN]
    values = frame[columns].astype(object).where(frame[columns].notna(), None)
    return {"columns": columns, "rows": values.to_numpy().tolist()}


def figures(
    cache: ExperimentCache, name: str, log_y: bool, x: str | None, y: str | None
) -> dict[str, Any]:
    """`/api/experiments/{name}/plots`: every figure by name (plotly JSON)."""
    loaded = cache.get(name)
    known = loaded.table.parameters  # other names fall back to the defaults: one memo entry
    x, y = (x if x in known else None), (y if y in known else None)
    key = ("plots", log_y, x, y)
    return loaded.remember(key, lambda: all_figures(loaded.table, log_y, x, y))
