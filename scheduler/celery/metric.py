"""`CeleryMetric`: one metric of a trial, read from its task's view.

The view (`CeleryRunner.view`) is what the runner's last poll learned: the
checked result of a completed task and the curve a task reported. The metric
turns it into `Data` rows: one per progress point (with its `step`) and one
final row (step None) once the task has completed.
"""

from __future__ import annotations

from typing import Any

from scheduler.celery.runner import CeleryRunner
from scheduler.core.data import Data
from scheduler.core.metric import Metric, MetricFetchResult
from scheduler.core.result import Err, MetricFetchE, Ok
from scheduler.core.trial import Trial, TrialStatus


class CeleryMetric(Metric):
    """Reads metric `name` from the trial's task, as its `CeleryRunner` last saw it.

    Args:
        sem: the SEM to report when the objective returns a bare value: None
            (unknown noise, inferred by the model) or e.g. 0.0 (noiseless).
    """

    def __init__(self, name: str, lower_is_better: bool | None = None, sem: float | None = None):
        super().__init__(name, lower_is_better)
        self.sem = sem

    @property
    def reports_progress(self) -> bool:
        return True

    def serialize_init_args(self) -> dict[str, Any]:
        return {**super().serialize_init_args(), "sem": self.sem}

    def fetch_trial_data(self, trial: Trial) -> MetricFetchResult:
        runner = getattr(trial.experiment, "runner", None)
        if not isinstance(runner, CeleryRunner):
            return Err(
                MetricFetchE(
                    f"trial {trial.index}: CeleryMetric {self.name!r} reads what a "
                    f"CeleryRunner polled; the experiment's runner is {type(runner).__name__}"
                )
            )
        view = runner.view(trial)
        rows = [
            self._row(trial, point[self.name], float(point["step"]))
            for point in view.progress or []
            if self.name in point
        ]
        if view.status is TrialStatus.COMPLETED:
            if self.name not in view.result:
                return Err(
                    MetricFetchE(
                        f"trial {trial.index}: result has no metric {self.name!r} (it has "
                        f"{sorted(view.result)}); return it from the objective or fix the "
                        "metric name"
                    )
                )
            rows.append(self._row(trial, view.result[self.name], None))
        if not rows:
            return Err(
                MetricFetchE(f"trial {trial.index}: no result or progress for {self.name!r} yet")
            )
        return Ok(Data.from_rows(rows))

    def _row(self, trial: Trial, value: Any, step: float | None) -> dict[str, Any]:
        """One Data row: `value` is a number or [mean, sem] (checked by the protocol)."""
        if isinstance(value, list):
            mean, sem = float(value[0]), None if value[1] is None else float(value[1])
        else:
            mean, sem = float(value), self.sem
        return {
            "trial_index": trial.index,
            "arm_name": trial.arm.name,
            "metric_name": self.name,
            "mean": mean,
            "sem": sem,
            "step": step,
        }
