"""What a run reports: `report_results`, best points and the final summary.

A mixin of `Scheduler`, kept beside the loop so `scheduler.py` stays the loop.
Best points come from `scheduler.analysis` (GP-predicted for noisy data,
cached per data version by `BestPointFinder`).
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from typing import Any

from scheduler.analysis.best_finder import BestPointFinder, BestTrial
from scheduler.core.errors import NoBaselineError, NoBestPointError
from scheduler.core.experiment import Experiment
from scheduler.core.optimization import OptimizationConfig
from scheduler.core.parameters import TParameterization
from scheduler.core.trial import TrialStatus
from scheduler.generation.strategy import GenerationStrategy


class ResultsMixin:
    """Reports and best points of `self.experiment`."""

    experiment: Experiment
    generation_strategy: GenerationStrategy
    _best: BestPointFinder
    _stop_reason: str | None

    def report_results(self, force_refit: bool = False) -> Any:
        """Hook called after each poll in which trials finished, and when a run
        ends; override to report elsewhere."""
        return {
            "trials": self.experiment.num_trials,
            "completed": len(self.experiment.trials_by_status(TrialStatus.COMPLETED)),
        }

    def get_best_trial(
        self,
        optimization_config: OptimizationConfig | None = None,
        use_model_predictions: bool = True,
    ) -> BestTrial | None:
        """(index, parameters, metric means) of the best feasible trial so far.

        With noisy data the means are the GP's predictions, for up to a few
        hundred completed trials (see `scheduler.analysis.best_finder`); the
        answer is kept until data arrive or a trial completes.
        `optimization_config` asks about another objective or other constraints
        than the experiment's (as Ax's argument of that name); every metric it
        names must have data, else `NoBestPointError`.
        """
        kernel = self.generation_strategy.model_kernel
        if optimization_config is None:
            return self._best.best_trial(self.experiment, kernel, use_model_predictions)
        observed = self.experiment.lookup_data().metric_names
        missing = sorted(set(optimization_config.metrics) - set(observed))
        if missing:
            raise NoBestPointError(
                f"optimization_config names metric(s) {missing} that no trial of "
                f"{self.experiment.name!r} has data for; use metrics among {sorted(observed)}."
            )
        view = copy.copy(self.experiment)  # shares trials and data; only the config differs
        view.optimization_config = optimization_config
        return BestPointFinder().best_trial(view, kernel, use_model_predictions)

    def get_pareto_optimal_parameters(
        self, use_model_predictions: bool = True
    ) -> dict[int, tuple[TParameterization, dict[str, float]]]:
        """{trial index: (parameters, metric means)} of the feasible Pareto set."""
        kernel = self.generation_strategy.model_kernel
        return self._best.pareto(self.experiment, kernel, use_model_predictions)

    def get_best_parameters(
        self,
        optimization_config: OptimizationConfig | None = None,
        use_model_predictions: bool = True,
    ) -> TParameterization | None:
        """Parameters of `get_best_trial` (observed values with `use_model_predictions=False`)."""
        best = self.get_best_trial(optimization_config, use_model_predictions)
        return None if best is None else best[1]

    def get_improvement_over_baseline(self, baseline_arm_name: str | None = None) -> float:
        """Percent by which the best trial beats the baseline on the objective (> 0: better).

        The baseline is the arm named `baseline_arm_name`, or, as in Ax without a
        status quo, the first trial's arm. Raises `NoBaselineError` for a
        multi-objective experiment, an unknown arm, a baseline without data or
        a zero baseline, and `NoBestPointError` without a best trial.
        """
        config = self.experiment.optimization_config
        if config is None or config.is_multi_objective:
            raise NoBaselineError(
                "get_improvement_over_baseline needs a single objective; for several "
                "objectives use get_pareto_optimal_parameters."
            )
        trials = self.experiment.trials
        if baseline_arm_name is None:
            baseline = trials[min(trials)] if trials else None
        else:
            baseline = next((t for t in trials.values() if t.arm.name == baseline_arm_name), None)
        if baseline is None:
            arms = [t.arm.name for t in trials.values()][:10]
            raise NoBaselineError(
                f"no arm named {baseline_arm_name!r}; pass one of {arms} or None (first trial)."
            )
        baseline_value = baseline.objective_mean
        if baseline_value is None or baseline_value == 0 or not math.isfinite(baseline_value):
            raise NoBaselineError(
                f"baseline arm {baseline.arm.name!r} has objective value {baseline_value!r}; "
                "pass baseline_arm_name of an arm with a finite, non-zero observed objective."
            )
        best = self.get_best_trial(use_model_predictions=False)
        if best is None:
            raise NoBestPointError(
                "no best trial yet: run trials until one completes with the objective observed."
            )
        best_value = best[2][config.objectives[0].metric.name]
        sign = -1.0 if config.objectives[0].minimize else 1.0
        return sign * (best_value - baseline_value) / abs(baseline_value) * 100.0

    def summarize_final_result(self) -> dict[str, Any]:
        """Trials by status and the best trial: what a run ends with.

        The best trial is chosen as `get_best_trial` does; its values are the
        ones observed (what the trial measured), not model predictions.
        """
        counts = Counter(t.status.name for t in self.experiment.trials.values())
        best = self.get_best_trial()
        observed = None
        if best is not None:
            df = self.experiment.lookup_trial_data(best[0]).final().df
            observed = dict(zip(df["metric_name"], df["mean"].astype(float), strict=True))
        return {
            "experiment": self.experiment.name,
            "trials_by_status": dict(counts),
            "best_trial_index": None if best is None else best[0],
            "best_parameters": None if best is None else best[1],
            "best_values": observed,
            "stop_reason": self._stop_reason,
        }
