"""The contract between the Scheduler and its storage.

The scheduler calls these as things happen, in order: a trial is saved as
CANDIDATE before its task is sent, its run metadata right after, then each
status change and each batch of data. `NullStore` keeps nothing (no database).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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

    def save_data(self, experiment: Experiment, data: Data) -> None:
        """Append newly fetched data rows."""

    def save_generation_strategy(
        self, experiment: Experiment, generation_strategy: GenerationStrategy
    ) -> None:
        """Store the strategy's JSON state (generator positions)."""

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

    def save_data(self, experiment: Experiment, data: Data) -> None:
        return None

    def save_generation_strategy(
        self, experiment: Experiment, generation_strategy: GenerationStrategy
    ) -> None:
        return None

    def heartbeat(self, experiment: Experiment) -> None:
        return None

    def release(self, experiment: Experiment) -> None:
        return None
