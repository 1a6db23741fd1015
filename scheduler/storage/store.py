"""The contract between the Scheduler and its storage.

The scheduler calls these as things happen, in order: a trial is saved as
CANDIDATE, with the strategy state that generated it, before its task is
sent, its run metadata right after, then each status change and each batch
of data. `NullStore` keeps nothing (no database).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from scheduler.core.data import Data
from scheduler.core.experiment import Experiment
from scheduler.core.trial import Trial
from scheduler.generation.strategy import GenerationStrategy


class ExperimentStore(Protocol):
    def save_experiment(
        self, experiment: Experiment, generation_strategy: GenerationStrategy
    ) -> None:
        """Create the experiment's rows, or check they match a stored one."""

    def save_trials(self, experiment: Experiment, trials: Sequence[Trial]) -> None:
        """Insert new trials or update changed ones (status, metadata, times)."""

    def save_new_trials(
        self,
        experiment: Experiment,
        trials: Sequence[Trial],
        generation_strategy: GenerationStrategy,
    ) -> None:
        """Insert freshly generated trials and the strategy state after generating
        them, together: saved apart, a crash between the two would make the
        resumed strategy propose the same arms again."""

    def save_data(self, experiment: Experiment, data: Data) -> None:
        """Append newly fetched data rows."""

    def heartbeat(self, experiment: Experiment) -> None:
        """Renew this scheduler's lease on the experiment."""

    def release(self, experiment: Experiment) -> None:
        """Give up the lease (clean exit)."""


class NullStore:
    """Storage that keeps nothing: the scheduler runs purely in memory."""

    def save_experiment(
        self, experiment: Experiment, generation_strategy: GenerationStrategy
    ) -> None:
        return None

    def save_trials(self, experiment: Experiment, trials: Sequence[Trial]) -> None:
        return None

    def save_new_trials(
        self,
        experiment: Experiment,
        trials: Sequence[Trial],
        generation_strategy: GenerationStrategy,
    ) -> None:
        return None

    def save_data(self, experiment: Experiment, data: Data) -> None:
        return None

    def heartbeat(self, experiment: Experiment) -> None:
        return None

    def release(self, experiment: Experiment) -> None:
        return None


def store_for(db_settings: Any) -> ExperimentStore:
    """The store for `db_settings`: SQL when given, else nothing kept (`NullStore`)."""
    if db_settings is None:
        return NullStore()
    from scheduler.storage.sql.store import SQLStore

    store: ExperimentStore = SQLStore(db_settings)
    return store
