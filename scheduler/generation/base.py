"""The contract every generation step plugs into.

A `Generator` sees the experiment's observed data and the arms still pending
(candidate, staged or running) and returns new parameterizations. It keeps
only JSON-safe state (`get_state`/`set_state`) so a resumed scheduler can
continue where it stopped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scheduler.core.data import Data
from scheduler.core.errors import GenerationError
from scheduler.core.experiment import Experiment
from scheduler.core.optimization import OptimizationConfig
from scheduler.core.parameters import TParameterization
from scheduler.core.search_space import SearchSpace
from scheduler.core.trial import Trial, TrialStatus
from scheduler.generation.partial import project_early_stopped

#: Trials whose data a model may learn from (early-stopped ones: projected partial data).
OBSERVED_STATUSES = (TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED)


@dataclass
class GenerationContext:
    """Everything a generator may look at; it must not modify any of it."""

    search_space: SearchSpace
    optimization_config: OptimizationConfig | None
    observed_trials: list[Trial]
    observed_data: Data
    pending: list[TParameterization] = field(default_factory=list)
    #: Arms tried without data (FAILED, ABANDONED): never to be proposed again
    #: (Ax's `should_deduplicate`), yet no observation for a model to learn from.
    tried: list[TParameterization] = field(default_factory=list)

    @staticmethod
    def from_experiment(experiment: Experiment, with_data: bool = True) -> GenerationContext:
        """Build the context; `with_data=False` skips the data lookup (Sobol needs none)."""
        observed = [t for t in experiment.trials.values() if t.status in OBSERVED_STATUSES]
        pending = [
            dict(t.arm.parameters) for t in experiment.trials.values() if not t.status.is_terminal
        ]
        tried = [
            dict(t.arm.parameters)
            for t in experiment.trials_by_status(TrialStatus.FAILED, TrialStatus.ABANDONED)
        ]
        data = _observed_data(observed, experiment) if with_data else Data()
        return GenerationContext(
            search_space=experiment.search_space,
            optimization_config=experiment.optimization_config,
            observed_trials=observed,
            observed_data=data,
            pending=pending,
            tried=tried,
        )


def _observed_data(observed: list[Trial], experiment: Experiment) -> Data:
    """One row per observed trial and metric; early-stopped trials' partial values
    projected to the final scale (`scheduler.generation.partial`)."""
    data = experiment.lookup_data([t.index for t in observed])
    stopped = {t.index for t in observed if t.status is TrialStatus.EARLY_STOPPED}
    completed = {t.index for t in observed if t.status is TrialStatus.COMPLETED}
    return project_early_stopped(data, data.final(), stopped, completed)


class Generator(ABC):
    """Proposes parameterizations for one generation step."""

    #: False for generators that ignore observations (skips an O(trials) data lookup).
    uses_data: bool = True

    def __init__(self, search_space: SearchSpace, seed: int | None = None) -> None:
        self.search_space = search_space
        self.seed = seed

    @abstractmethod
    def gen(self, n: int, context: GenerationContext) -> list[TParameterization]:
        """Return `n` parameterizations inside the search space."""

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what `get_state` returned (for resume)."""
        return None


GeneratorFactory = Callable[..., Generator]
_REGISTRY: dict[str, GeneratorFactory] = {}


def register_generator(name: str, factory: GeneratorFactory) -> None:
    """Make `GenerationStep(model=name)` build generators with `factory`.

    `factory(search_space, seed=..., **model_kwargs)` returns a `Generator`.
    """
    _REGISTRY[name.lower()] = factory


def make_generator(
    name: str, search_space: SearchSpace, seed: int | None, kwargs: dict[str, Any]
) -> Generator:
    factory = _REGISTRY.get(name.lower())
    if factory is None:
        raise GenerationError(
            f"Unknown generation model {name!r}; registered models are {sorted(_REGISTRY)}."
        )
    return factory(search_space, seed=seed, **kwargs)


def registered_generators() -> list[str]:
    return sorted(_REGISTRY)
