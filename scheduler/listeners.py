"""Listener hooks on the loop, in the style of Dramatiq's middleware.

A `SchedulerListener` is told what the loop does; every method is a no-op,
so a listener overrides only what it needs. Listeners observe and never
steer: the loop calls them after the fact and a listener that raises is
logged and ignored, so a display or an exporter can never stop a run.
The daemon's progress bar and its Prometheus exporter are listeners;
nothing patches the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from scheduler.core.trial import Trial, TrialStatus

if TYPE_CHECKING:
    from scheduler.scheduler import Scheduler

logger = logging.getLogger("scheduler")


class SchedulerListener:
    """Called by the loop; subclass and override the hooks you need."""

    def on_generate(self, scheduler: Scheduler, trials: Sequence[Trial], seconds: float) -> None:
        """The generation strategy proposed `trials` (new CANDIDATEs) in `seconds`."""

    def on_poll(self, scheduler: Scheduler, seconds: float) -> None:
        """One poll (runner states, data fetched and saved) ended after `seconds`."""

    def on_trial_status(self, scheduler: Scheduler, trial: Trial, previous: TrialStatus) -> None:
        """`trial` moved from `previous` to `trial.status` (deploys included)."""


def notify(listeners: Iterable[SchedulerListener], hook: str, *args: Any) -> None:
    """Call `hook(*args)` on every listener; a listener's exception is logged only."""
    for listener in listeners:
        try:
            getattr(listener, hook)(*args)
        except Exception:
            logger.warning("listener %r failed in %s", listener, hook, exc_info=True)
