"""The `early_stopping:` and `global_stopping:` sections: the library's stopping rules.

```yaml
early_stopping: {strategy: percentile, percentile_threshold: 50, min_progression: 3}
# or: {strategy: threshold, metric_threshold: 0.5, min_progression: 3}
global_stopping: {min_trials: 20, window_size: 5, improvement_bar: 0.1}
```

The bounds live in the strategies (`scheduler.stopping`): a section is valid
when its strategy accepts it, checked when the config is read, and the
strategy's own message becomes the problem at the section.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from scheduler.core.errors import BoSchedulerError
from scheduler.ops.config.errors import custom
from scheduler.ops.config.section import Section


class _StoppingSection(Section):
    """A section whose strategy judges its values when the config is read."""

    def build(self) -> Any:
        raise NotImplementedError

    @model_validator(mode="after")
    def _accepted_by_the_strategy(self) -> _StoppingSection:
        try:
            self.build()
        except BoSchedulerError as exc:
            raise custom(str(exc), "change the value the message names") from None
        return self


class PercentileEarlyStoppingConfig(_StoppingSection):
    """Stop a trial whose curve is below the given percentile of the others at its step."""

    strategy: Literal["percentile"]
    metric_names: list[str] | None = None
    percentile_threshold: float = 50.0
    min_progression: float = 0.0
    min_curves: int = 5
    max_progression: float | None = None

    def build(self) -> Any:
        from scheduler.stopping import PercentileEarlyStoppingStrategy

        return PercentileEarlyStoppingStrategy(**self.model_dump(exclude={"strategy"}))


class ThresholdEarlyStoppingConfig(_StoppingSection):
    """Stop a trial whose value is worse than `metric_threshold` after `min_progression`."""

    strategy: Literal["threshold"]
    metric_threshold: float
    min_progression: float
    metric_names: list[str] | None = None

    def build(self) -> Any:
        from scheduler.stopping import ThresholdEarlyStoppingStrategy

        return ThresholdEarlyStoppingStrategy(**self.model_dump(exclude={"strategy"}))


EarlyStoppingConfig = Annotated[
    PercentileEarlyStoppingConfig | ThresholdEarlyStoppingConfig,
    Field(discriminator="strategy"),
]


class GlobalStoppingConfig(_StoppingSection):
    """End the run when the best has improved by less than `improvement_bar` (relative)
    over the last `window_size` trials, once `min_trials` have finished."""

    min_trials: int
    window_size: int = 5
    improvement_bar: float = 0.1

    def build(self) -> Any:
        from scheduler.stopping import ImprovementGlobalStoppingStrategy

        return ImprovementGlobalStoppingStrategy(**self.model_dump())
