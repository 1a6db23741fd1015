"""`Experiment`: the search space, what to optimize, how to run, and every trial."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from scheduler.core.data import Data
from scheduler.core.errors import InvalidOptimizationConfigError, OutOfSearchSpaceError
from scheduler.core.metric import Metric
from scheduler.core.optimization import OptimizationConfig
from scheduler.core.parameters import TParameterization
from scheduler.core.runner import Runner
from scheduler.core.search_space import SearchSpace
from scheduler.core.trial import Arm, Trial, TrialStatus
from scheduler.core.trial_data import TrialData


def arm_key(parameters: TParameterization) -> tuple[tuple[str, str, object], ...]:
    """A hashable identity of a parameterization: names, value types and values."""
    return tuple(sorted((k, type(v).__name__, v) for k, v in parameters.items()))


class Experiment:
    """Holds trials in index order and the latest data of each trial."""

    def __init__(
        self,
        name: str,
        search_space: SearchSpace,
        optimization_config: OptimizationConfig | None = None,
        runner: Runner | None = None,
        tracking_metrics: Sequence[Metric] | None = None,
        is_test: bool = False,
        description: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidOptimizationConfigError(
                "An Experiment needs a non-empty name; it is how it is stored and resumed."
            )
        self.name = name
        self.search_space = search_space
        self.optimization_config = optimization_config
        self.runner = runner
        self.tracking_metrics = list(tracking_metrics or [])
        self.is_test = is_test
        self.description = description
        self.trials: dict[int, Trial] = {}
        self._data = TrialData()
        #: Grows with every `attach_data`: what was computed from the data is stale.
        self.data_version = 0
        # Indexes kept up to date by `status_changed`, so the scheduler's
        # per-poll questions cost O(outstanding trials), not O(all trials).
        self._by_status: dict[TrialStatus, dict[int, Trial]] = {s: {} for s in TrialStatus}
        self._step_counts: Counter[tuple[str | None, TrialStatus]] = Counter()

    # -- trials ------------------------------------------------------------
    def new_trial(
        self,
        parameters: TParameterization,
        generation_step: str | None = None,
        ttl_seconds: float | None = None,
    ) -> Trial:
        """Validate `parameters` against the search space and add a CANDIDATE trial."""
        cast = self.search_space.validate_parameterization(parameters)
        index = len(self.trials)
        trial = Trial(
            index=index,
            arm=Arm(parameters=cast),
            generation_step=generation_step,
            ttl_seconds=ttl_seconds,
            experiment=self,
        )
        self._index_trial(trial)
        return trial

    def attach_trial(
        self, parameters: TParameterization, ttl_seconds: float | None = None
    ) -> Trial:
        """Add a known configuration as a CANDIDATE trial (Ax's `attach_trial`).

        The next run deploys it before proposing anything and counts it toward
        its `max_trials`. Raises `OutOfSearchSpaceError` naming the value to
        change when `parameters` are not a point of the search space.
        """
        if not isinstance(parameters, dict):
            names = ", ".join(f"{n!r}: ..." for n in self.search_space.parameters)
            raise OutOfSearchSpaceError(
                f"attach_trial needs a dict of parameter values, got "
                f"{type(parameters).__name__}; pass e.g. {{{names}}}."
            )
        trial = self.new_trial(parameters, generation_step="attached", ttl_seconds=ttl_seconds)
        return trial

    def has_arm(self, parameters: TParameterization) -> bool:
        """True when a trial (of any status but STALE) already has these parameters."""
        key = arm_key(self.search_space.cast_parameterization(parameters))
        return any(
            arm_key(t.arm.parameters) == key
            for t in self.trials.values()
            if t.status is not TrialStatus.STALE
        )

    def add_existing_trial(self, trial: Trial) -> None:
        """Attach a trial loaded from storage, keeping its index."""
        trial.experiment = self
        previous = self.trials.get(trial.index)
        if previous is not None:
            self._by_status[previous.status].pop(previous.index, None)
            self._step_counts[(previous.generation_step, previous.status)] -= 1
        self._index_trial(trial)

    def add_existing_trials(self, trials: Iterable[Trial]) -> None:
        """`add_existing_trial` for many trials (a whole stored experiment) at once."""
        if self.trials:  # some may replace held trials: keep the indexes exact
            for trial in trials:
                self.add_existing_trial(trial)
            return
        for trial in trials:
            trial.experiment = self
            self.trials[trial.index] = trial
            self._by_status[trial.status][trial.index] = trial
        self._step_counts.update((t.generation_step, t.status) for t in self.trials.values())

    def _index_trial(self, trial: Trial) -> None:
        self.trials[trial.index] = trial
        self._by_status[trial.status][trial.index] = trial
        self._step_counts[(trial.generation_step, trial.status)] += 1

    def status_changed(self, trial: Trial, old: TrialStatus) -> None:
        """Called by `Trial` on every status change to keep the indexes current."""
        if self.trials.get(trial.index) is not trial:
            return
        self._by_status[old].pop(trial.index, None)
        self._by_status[trial.status][trial.index] = trial
        self._step_counts[(trial.generation_step, old)] -= 1
        self._step_counts[(trial.generation_step, trial.status)] += 1

    def trials_by_status(self, *statuses: TrialStatus) -> list[Trial]:
        found = [t for s in statuses for t in self._by_status[s].values()]
        return sorted(found, key=lambda t: t.index) if len(statuses) > 1 else found

    def count_by_status(self, *statuses: TrialStatus, step: str | None = None) -> int:
        """How many trials have one of `statuses` (of generation step `step`, if given)."""
        if step is None:
            return sum(len(self._by_status[s]) for s in statuses)
        return sum(self._step_counts[(step, s)] for s in statuses)

    def status_counts(self) -> dict[str, int]:
        """{status name: number of trials}, every status present (zeros included)."""
        return {s.name: len(self._by_status[s]) for s in TrialStatus}

    def trial_indices_by_status(self) -> dict[TrialStatus, set[int]]:
        return {s: set(trials) for s, trials in self._by_status.items()}

    @property
    def running_trials(self) -> list[Trial]:
        return self.trials_by_status(TrialStatus.STAGED, TrialStatus.RUNNING)

    @property
    def pending_trials(self) -> list[Trial]:
        """Not finished: CANDIDATE, STAGED or RUNNING."""
        return self.trials_by_status(TrialStatus.CANDIDATE, TrialStatus.STAGED, TrialStatus.RUNNING)

    @property
    def num_trials(self) -> int:
        return len(self.trials)

    # -- metrics and data --------------------------------------------------
    @property
    def metrics(self) -> dict[str, Metric]:
        found: dict[str, Metric] = {}
        if self.optimization_config is not None:
            found.update(self.optimization_config.metrics)
        found.update({m.name: m for m in self.tracking_metrics})
        return found

    def attach_data(self, data: Data) -> None:
        """Store fetched data; a trial's newer rows replace its older ones per metric.

        Data of many trials at once (e.g. a whole stored experiment) costs one
        sort, not a filter per trial (see `scheduler.core.trial_data`).
        """
        self._data.attach(data)
        self.data_version += 1

    def lookup_data(self, trial_indices: Iterable[int] | None = None) -> Data:
        """The data of `trial_indices` (default: every trial), as one `Data`, from the
        experiment's joined frame (callers must not change the frame they get)."""
        return self._data.all() if trial_indices is None else self._data.of(trial_indices)

    def lookup_trial_data(self, trial_index: int) -> Data:
        found = self._data.get(trial_index)
        return found if found is not None else Data()  # an empty Data costs a DataFrame

    def objective_mean_of(self, trial_index: int) -> float | None:
        """Final mean of the first objective metric for one trial, if observed."""
        if self.optimization_config is None:
            return None
        metric = self.optimization_config.objectives[0].metric.name
        df = self.lookup_trial_data(trial_index).final().df
        values = df.loc[df["metric_name"] == metric, "mean"]
        if values.empty or not math.isfinite(float(values.iloc[-1])):
            return None
        return float(values.iloc[-1])

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, trials={len(self.trials)})"
