"""`Metric`: how the scheduler reads a trial's outcome from the outside world."""

from __future__ import annotations

from typing import Any

from scheduler.core.data import Data
from scheduler.core.result import Err, MetricFetchE, Ok
from scheduler.core.trial import Trial

MetricFetchResult = Ok[Data] | Err[MetricFetchE]


class Metric:
    """Subclass and implement `fetch_trial_data`; return `Ok(Data)` or `Err(...)`.

    `fetch_trial_data` must not raise for expected failures (job gone, value
    missing): return `Err(MetricFetchE(...))` so the scheduler can record why.
    """

    def __init__(self, name: str, lower_is_better: bool | None = None) -> None:
        self.name = name
        self.lower_is_better = lower_is_better

    @property
    def reports_progress(self) -> bool:
        """True when the metric returns `step` rows while a trial runs."""
        return False

    def fetch_trial_data(self, trial: Trial) -> MetricFetchResult:
        return Err(
            MetricFetchE(
                f"Metric {self.name!r} ({type(self).__name__}) does not implement "
                "fetch_trial_data; subclass Metric and override it."
            )
        )

    def serialize_init_args(self) -> dict[str, Any]:
        """JSON-safe constructor arguments, used to store and reload the metric."""
        return {"name": self.name, "lower_is_better": self.lower_is_better}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
