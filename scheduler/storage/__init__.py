"""Storage of experiments, trials, data and generation-strategy state."""

from scheduler.storage.store import ExperimentStore, NullStore

__all__ = ["ExperimentStore", "NullStore"]
