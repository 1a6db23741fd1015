"""In-process runner and metric: evaluate a Python function, no fleet needed.

Useful for tests, benchmarks and notebooks. The function's result is kept in
the trial's run metadata, so it is stored and reloaded with the trial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from scheduler.core.data import Data
from scheduler.core.metric import Metric, MetricFetchResult
from scheduler.core.result import Err, MetricFetchE, Ok
from scheduler.core.runner import Runner
from scheduler.core.trial import Trial, TrialStatus

Evaluation = dict[str, Any]  # {metric: mean} or {metric: [mean, sem]}


class FunctionRunner(Runner):
    """Runs `function(parameters) -> {metric: value | [mean, sem]}` synchronously."""

    def __init__(self, function: Callable[[dict[str, Any]], Evaluation]) -> None:
        self.function = function

    def run(self, trial: Trial) -> dict[str, Any]:
        try:
            result = self.function(dict(trial.arm.parameters))
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {"result": {k: list(v) if isinstance(v, tuple) else v for k, v in result.items()}}

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        statuses: dict[TrialStatus, set[int]] = {}
        for trial in trials:
            status = TrialStatus.FAILED if "error" in trial.run_metadata else TrialStatus.COMPLETED
            statuses.setdefault(status, set()).add(trial.index)
        return statuses

    def failure_reason(self, trial: Trial) -> str | None:
        error = trial.run_metadata.get("error")
        return None if error is None else str(error)


class FunctionMetric(Metric):
    """Reads metric `name` from the result `FunctionRunner` stored on the trial."""

    def fetch_trial_data(self, trial: Trial) -> MetricFetchResult:
        result = trial.run_metadata.get("result", {})
        if self.name not in result:
            return Err(
                MetricFetchE(
                    f"Trial {trial.index} result has no metric {self.name!r}; it has "
                    f"{sorted(result)}."
                )
            )
        value = result[self.name]
        mean, sem = (value[0], value[1]) if isinstance(value, list) else (value, None)
        return Ok(Data.from_evaluations({self.name: (mean, sem)}, trial.index, trial.arm.name))
