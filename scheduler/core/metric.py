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

    #: Exception types a fetch may raise (or wrap in `MetricFetchE.exception`) that
    #: mean "not yet, try again" rather than "broken"; see `is_recoverable_fetch_e`.
    recoverable_exceptions: tuple[type[BaseException], ...] = ()

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

    @classmethod
    def is_recoverable_fetch_e(cls, metric_fetch_e: MetricFetchE) -> bool:
        """Whether this fetch error may go away by itself (as Ax's method of that name).

        A recoverable error leaves the trial as it is and the loop fetches again
        on the next poll; any other error of an objective or constraint metric
        fails the trial. Default: recoverable when the wrapped exception is one
        of `recoverable_exceptions`; override for finer rules.
        """
        exc = metric_fetch_e.exception
        return exc is not None and isinstance(exc, cls.recoverable_exceptions)

    @classmethod
    def has_fetch_logic(cls) -> bool:
        """True when the class overrides `fetch_trial_data` (the base only returns Err)."""
        return cls.fetch_trial_data is not Metric.fetch_trial_data

    def serialize_init_args(self) -> dict[str, Any]:
        """JSON-safe constructor arguments, used to store and reload the metric."""
        return {"name": self.name, "lower_is_better": self.lower_is_better}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
