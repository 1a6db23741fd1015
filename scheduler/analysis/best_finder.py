"""`BestPointFinder`: the scheduler's best-point answers, refitted only when needed.

A progress display may ask for the best trial after every poll. With noisy
data that answer comes from a GP fit (`scheduler.analysis.best_point`), so
the finder keeps it until data arrive or a trial completes, and warm-starts
each fit from the last one. Beyond `max_observations_for_model` completed
trials a fit costs more than it is worth and the observed values are used.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from scheduler.core.experiment import Experiment
from scheduler.core.parameters import TParameterization
from scheduler.core.trial import TrialStatus

if TYPE_CHECKING:
    from scheduler.analysis.best_point import BestPointModel

BestTrial = tuple[int, TParameterization, dict[str, float]]

#: Above this many completed trials the best point uses observed values, not a GP.
MAX_OBSERVATIONS_FOR_MODEL_BEST = 300


class BestPointFinder:
    """Best trial and Pareto set of one experiment, cached per data version."""

    def __init__(self, max_observations_for_model: int = MAX_OBSERVATIONS_FOR_MODEL_BEST) -> None:
        self.max_observations_for_model = max_observations_for_model
        #: The last answer with and without the model: {use_model: (key, answer)}, so a
        #: progress bar (model) and a trial log (observed) do not evict each other.
        self._answers: dict[bool, tuple[tuple[Any, ...], BestTrial | None]] = {}
        self._model: BestPointModel | None = None  # warm-starts the next fit

    def _uses_model(self, experiment: Experiment, use_model_predictions: bool) -> bool:
        completed = experiment.count_by_status(TrialStatus.COMPLETED)
        return use_model_predictions and 0 < completed <= self.max_observations_for_model

    def best_trial(
        self, experiment: Experiment, kernel: str | None, use_model_predictions: bool = True
    ) -> BestTrial | None:
        """(index, parameters, metric means) of the best feasible trial (a copy)."""
        use_model = self._uses_model(experiment, use_model_predictions)
        completed = experiment.count_by_status(TrialStatus.COMPLETED)
        key = (kernel, completed, experiment.data_version)
        cached = self._answers.get(use_model)
        if cached is None or cached[0] != key:
            cached = self._answers[use_model] = (key, self._find(experiment, use_model, kernel))
        return copy.deepcopy(cached[1])

    def _find(
        self, experiment: Experiment, use_model: bool, kernel: str | None
    ) -> BestTrial | None:
        if not use_model:
            from scheduler.analysis.report import best_observed_trial

            return best_observed_trial(experiment)
        from scheduler.analysis.best_point import best_trial

        return best_trial(experiment, use_model=True, model=self._model_for(kernel))

    def _model_for(self, kernel: str | None) -> BestPointModel:
        from scheduler.analysis.best_point import BestPointModel

        if self._model is None or self._model.kernel != kernel:
            self._model = BestPointModel(kernel)
        return self._model

    def pareto(
        self, experiment: Experiment, kernel: str | None, use_model_predictions: bool = True
    ) -> dict[int, tuple[TParameterization, dict[str, float]]]:
        """{trial index: (parameters, metric means)} of the feasible Pareto set."""
        from scheduler.analysis.best_point import BestPointModel, pareto_optimal_parameters

        completed = experiment.count_by_status(TrialStatus.COMPLETED)
        use_model = use_model_predictions and completed <= self.max_observations_for_model
        return pareto_optimal_parameters(
            experiment, use_model=use_model, model=BestPointModel(kernel)
        )
