"""Prometheus metrics of a scheduler daemon (`bo-scheduler run --metrics-port 9100`).

Exported (each labelled with `experiment`):

- `bo_trials{status}`: trials by status (gauge, every status always present);
- `bo_trial_budget`: the total_trials the daemon runs to;
- `bo_best_objective_value{metric}`: best feasible observed value of the
  first objective (absent until a trial completes);
- `bo_poll_latency_seconds`: one poll cycle — asking the runner for every
  outstanding trial's state, fetching finished trials' data, saving (histogram);
- `bo_generation_latency_seconds`: one call of the generation strategy
  proposing new trials, model fitting included (histogram);
- `bo_stop_requested`: 1 once the daemon was asked to stop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server

from scheduler.core.experiment import Experiment
from scheduler.core.trial import Trial, TrialStatus
from scheduler.listeners import SchedulerListener

if TYPE_CHECKING:
    from scheduler.analysis.best_finder import BestTrial
    from scheduler.scheduler import Scheduler

_POLL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_GEN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class MetricFamilies:
    """The metric families on one registry, served on one port.

    A daemon running several experiments has one of these; each experiment's
    `SchedulerMetrics` writes the series labelled with its name.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["experiment"]
        self.trials = Gauge(
            "bo_trials",
            "Trials of the experiment by status.",
            [*labels, "status"],
            registry=self.registry,
        )
        self.budget = Gauge(
            "bo_trial_budget",
            "Total trials the daemon runs the experiment to.",
            labels,
            registry=self.registry,
        )
        self.best = Gauge(
            "bo_best_objective_value",
            "Best feasible observed value of the first objective.",
            [*labels, "metric"],
            registry=self.registry,
        )
        self.poll_latency = Histogram(
            "bo_poll_latency_seconds",
            "Duration of one poll cycle (trial states, data fetch, saves).",
            labels,
            buckets=_POLL_BUCKETS,
            registry=self.registry,
        )
        self.generation_latency = Histogram(
            "bo_generation_latency_seconds",
            "Duration of one generation call (model fit and candidate optimization).",
            labels,
            buckets=_GEN_BUCKETS,
            registry=self.registry,
        )
        self.stop_requested = Gauge(
            "bo_stop_requested",
            "1 once the daemon was asked to stop.",
            labels,
            registry=self.registry,
        )
        self._server: Any = None

    def for_experiment(self, experiment_name: str) -> SchedulerMetrics:
        """The listener that writes `experiment_name`'s series."""
        return SchedulerMetrics(experiment_name, families=self)

    def serve(self, port: int, address: str = "0.0.0.0") -> int:
        """Serve `/metrics` on `address:port` from a background thread; returns the port."""
        result = start_http_server(port, addr=address, registry=self.registry)
        self._server = result[0] if isinstance(result, tuple) else None
        if self._server is not None:
            return int(self._server.server_port)
        return port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class SchedulerMetrics(SchedulerListener):
    """One experiment's metrics; a listener of its loop.

    Alone (`SchedulerMetrics(name)`) it has families of its own and serves
    them; given the daemon's `families`, it shares their registry and port.
    """

    def __init__(
        self,
        experiment_name: str,
        registry: CollectorRegistry | None = None,
        families: MetricFamilies | None = None,
    ) -> None:
        self.experiment_name = experiment_name
        self._owns_families = families is None
        self.families = families if families is not None else MetricFamilies(registry)
        self.registry = self.families.registry
        f = self.families
        self.trials, self.budget, self.best = f.trials, f.budget, f.best
        self.poll_latency, self.generation_latency = f.poll_latency, f.generation_latency
        self.stop_requested = f.stop_requested
        self.stop_requested.labels(experiment_name).set(0)
        for status in TrialStatus:
            self.trials.labels(experiment_name, status.name).set(0)

    def set_budget(self, total_trials: int) -> None:
        self.budget.labels(self.experiment_name).set(total_trials)

    def observe_poll(self, seconds: float) -> None:
        self.poll_latency.labels(self.experiment_name).observe(seconds)

    def observe_generation(self, seconds: float) -> None:
        self.generation_latency.labels(self.experiment_name).observe(seconds)

    def on_poll(self, scheduler: Scheduler, seconds: float) -> None:
        self.observe_poll(seconds)
        self.show(scheduler.experiment, scheduler.get_best_trial(use_model_predictions=False))

    def on_generate(self, scheduler: Scheduler, trials: Sequence[Trial], seconds: float) -> None:
        self.observe_generation(seconds)

    def mark_stop_requested(self) -> None:
        self.stop_requested.labels(self.experiment_name).set(1)

    def update_from(self, experiment: Experiment) -> None:
        """Refresh the trial counts and the best value from the experiment."""
        from scheduler.analysis.report import best_observed_trial

        self.show(experiment, best_observed_trial(experiment))

    def show(self, experiment: Experiment, best: BestTrial | None) -> None:
        """Refresh the trial counts, and the best value from `best` (the best observed
        trial, as the loop's cached `get_best_trial(use_model_predictions=False)`)."""
        for status, count in experiment.status_counts().items():
            self.trials.labels(self.experiment_name, status).set(count)
        config = experiment.optimization_config
        if config is not None and best is not None:
            metric = config.objectives[0].metric.name
            value = best[2].get(metric)
            if value is not None and math.isfinite(value):
                self.best.labels(self.experiment_name, metric).set(value)

    def serve(self, port: int, address: str = "0.0.0.0") -> int:
        """Serve `/metrics` on `address:port` from a background thread; returns the port."""
        return self.families.serve(port, address)

    def close(self) -> None:
        """Stop serving, if these metrics serve their own families (a shared daemon's
        families are closed by the daemon)."""
        if self._owns_families:
            self.families.close()
