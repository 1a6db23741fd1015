"""`SchedulerOptions(suppress_storage_errors_after_retries=True)`: storage errors
are retried, then logged, and the run goes on.

Saving is a record of what the loop already did; an experiment whose trials
keep running is worth more than a complete record, for some users. So with the
option on, each store call is retried `STORAGE_RETRIES` times and a final
failure is logged; the next save of the same trials writes their current state
(the SQL store writes whole-trial snapshots), so the record catches up. The
lease (`heartbeat`) is never suppressed: losing it means another scheduler
runs the experiment. Off by default, as in Ax.
"""

from __future__ import annotations

import logging
from typing import Any

from scheduler.storage.store import ExperimentStore

logger = logging.getLogger("scheduler")

STORAGE_RETRIES = 3
_NEVER_SUPPRESSED = frozenset({"heartbeat"})


class SuppressingStore:
    """Wraps a store: each `save_*`/`release` call retried, then its error logged."""

    def __init__(self, store: ExperimentStore) -> None:
        self.inner = store

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute) or name in _NEVER_SUPPRESSED:
            return attribute
        if not (name.startswith("save_") or name == "release"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            error: Exception | None = None
            for _ in range(STORAGE_RETRIES):
                try:
                    return attribute(*args, **kwargs)
                except Exception as exc:
                    error = exc
            logger.error(
                "storage call %s failed %d times (%s: %s); suppressed, the run goes on",
                name,
                STORAGE_RETRIES,
                type(error).__name__,
                error,
            )
            return None

        return call


def guarded(store: ExperimentStore, suppress: bool) -> ExperimentStore:
    """`store` itself, or wrapped so its errors are suppressed after retries."""
    if not suppress:
        return store
    wrapped: ExperimentStore = SuppressingStore(store)
    return wrapped
