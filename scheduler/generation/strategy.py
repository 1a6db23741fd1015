"""`GenerationStep` and `GenerationStrategy`: which generator proposes the next trial.

The strategy's position is derived from the experiment itself (each trial
records the step that generated it), so a resumed scheduler continues in the
right step even if it crashed between creating a trial and saving the
strategy. Only the generators' own JSON state (e.g. Sobol draws) is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from scheduler.core.errors import GenerationError, InvalidSchedulerOptionsError
from scheduler.core.experiment import Experiment
from scheduler.core.parameters import TParameterization
from scheduler.core.trial import TrialStatus
from scheduler.generation.base import (
    OBSERVED_STATUSES,
    GenerationContext,
    Generator,
    make_generator,
)

#: Trials that do not count towards a step's `num_trials` (they get replaced;
#: a STALE candidate was never run).
_NOT_COUNTED = (TrialStatus.FAILED, TrialStatus.ABANDONED, TrialStatus.STALE)


class Models(Enum):
    """Built-in generation models, usable as `GenerationStep(model=Models.SOBOL)`."""

    SOBOL = "Sobol"
    BOTORCH = "BoTorch"


@dataclass
class GenerationStep:
    """Generate `num_trials` trials (-1: unlimited) with one model.

    `max_parallelism` caps trials out at once while this step is current;
    `min_trials_observed` of this step's trials must have data before the
    strategy moves on to the next step. While it waits for them, the step
    proposes nothing more, unless `fill_while_waiting` > 0: then it replaces
    each of its trials that got data with a new one (never more than
    `num_trials` of its trials in flight), up to `fill_while_waiting` trials
    beyond `num_trials`, so the workers those trials free are not left idle
    while the next step cannot start (it needs at most
    `min_trials_observed - 1` for that).
    """

    model: str | Models
    num_trials: int
    max_parallelism: int | None = None
    min_trials_observed: int = 0
    enforce_num_trials: bool = True
    fill_while_waiting: int = 0
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.model, Models):
            self.model = self.model.value
        if self.num_trials == 0 or self.num_trials < -1:
            raise InvalidSchedulerOptionsError(
                f"GenerationStep({self.model}) num_trials={self.num_trials}; use a "
                "positive count, or -1 for an unlimited last step."
            )
        if self.max_parallelism is not None and self.max_parallelism < 1:
            raise InvalidSchedulerOptionsError(
                f"GenerationStep({self.model}) max_parallelism="
                f"{self.max_parallelism}; use a positive number or None."
            )
        if self.fill_while_waiting < 0:
            raise InvalidSchedulerOptionsError(
                f"GenerationStep({self.model}) fill_while_waiting must be >= 0."
            )
        if self.min_trials_observed < 0:
            raise InvalidSchedulerOptionsError(
                f"GenerationStep({self.model}) min_trials_observed must be >= 0."
            )
        if self.num_trials != -1 and self.min_trials_observed > self.num_trials:
            raise InvalidSchedulerOptionsError(
                f"GenerationStep({self.model}) needs {self.min_trials_observed} "
                f"observed trials but generates only {self.num_trials}; lower "
                "min_trials_observed."
            )
        if not self.name:
            self.name = str(self.model)

    @property
    def model_name(self) -> str:
        return str(self.model)


@dataclass
class GeneratorRun:
    """A proposed parameterization and the step that proposed it."""

    parameters: TParameterization
    generation_step: str


class GenerationStrategy:
    """Walks its steps in order, enforcing each step's count and parallelism."""

    def __init__(
        self,
        steps: list[GenerationStep],
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        if not steps:
            raise InvalidSchedulerOptionsError("A GenerationStrategy needs at least one step.")
        for step in steps[:-1]:
            if step.num_trials == -1:
                raise InvalidSchedulerOptionsError(
                    f"Only the last GenerationStep may have num_trials=-1; step "
                    f"{step.name!r} is not last."
                )
        seen: dict[str, int] = {}
        for step in steps:
            count = seen.get(step.name, 0)
            seen[step.name] = count + 1
            if count:
                step.name = f"{step.name}#{count + 1}"
        self.steps = steps
        self.name = name or "+".join(s.model_name for s in steps)
        self.seed = seed
        self._generators: dict[int, Generator] = {}
        self._pending_state: dict[str, dict[str, Any]] = {}
        self._index = 0

    # -- position ----------------------------------------------------------
    def _counted(self, experiment: Experiment, step: GenerationStep) -> int:
        counted = [s for s in TrialStatus if s not in _NOT_COUNTED]
        return experiment.count_by_status(*counted, step=step.name)

    def _observed(self, experiment: Experiment, step: GenerationStep) -> int:
        return experiment.count_by_status(*OBSERVED_STATUSES, step=step.name)

    def _step_done(self, experiment: Experiment, step: GenerationStep) -> bool:
        return (
            step.num_trials != -1
            and self._counted(experiment, step) >= step.num_trials
            and self._observed(experiment, step) >= step.min_trials_observed
        )

    def current_step(self, experiment: Experiment) -> GenerationStep:
        """Move past finished steps and return the one now generating."""
        while self._index < len(self.steps) - 1 and self._step_done(
            experiment, self.steps[self._index]
        ):
            self._index += 1
        return self.steps[self._index]

    @property
    def _curr(self) -> GenerationStep:
        """The current step as last computed (the tutorial reads `.model_name`)."""
        return self.steps[self._index]

    @property
    def current_step_index(self) -> int:
        return self._index

    @property
    def model_kernel(self) -> str | None:
        """The GP kernel its last BoTorch step names (None: the default), so best
        points are predicted by the same kind of model that proposed them."""
        for step in reversed(self.steps):
            if step.model_name == Models.BOTORCH.value:
                kernel = step.model_kwargs.get("kernel")
                return None if kernel is None else str(kernel)
        return None

    def is_exhausted(self, experiment: Experiment) -> bool:
        """True when the last step has generated all the trials it may."""
        step = self.current_step(experiment)
        return step is self.steps[-1] and self._step_done(experiment, step)

    def num_can_generate(self, experiment: Experiment) -> int | None:
        """How many trials may be generated now; None means no limit."""
        step = self.current_step(experiment)
        allowed: int | None = None
        if step.num_trials != -1:
            counted = self._counted(experiment, step)
            remaining = step.num_trials - counted
            if remaining <= 0 and step.fill_while_waiting:
                observed = self._observed(experiment, step)
                if observed < step.min_trials_observed:
                    in_flight = counted - observed  # one new trial per observed one
                    extra = step.num_trials + step.fill_while_waiting - counted
                    remaining = min(step.num_trials - in_flight, extra)
            if remaining <= 0 and step.enforce_num_trials:
                return 0  # waiting for min_trials_observed, or exhausted
            if step.enforce_num_trials:
                allowed = remaining
        if step.max_parallelism is not None:
            running = len(experiment.pending_trials)
            room = max(0, step.max_parallelism - running)
            allowed = room if allowed is None else min(allowed, room)
        return allowed

    # -- generation --------------------------------------------------------
    def _generator(self, experiment: Experiment) -> Generator:
        if self._index not in self._generators:
            step = self.steps[self._index]
            seed = None if self.seed is None else self.seed + self._index
            generator = make_generator(
                step.model_name, experiment.search_space, seed, dict(step.model_kwargs)
            )
            if step.name in self._pending_state:
                generator.set_state(self._pending_state.pop(step.name))
            self._generators[self._index] = generator
        return self._generators[self._index]

    def gen(self, experiment: Experiment, n: int = 1) -> list[GeneratorRun]:
        """Propose up to `n` parameterizations from the current step."""
        allowed = self.num_can_generate(experiment)
        if allowed is not None:
            n = min(n, allowed)
        if n <= 0:
            return []
        step = self.steps[self._index]
        generator = self._generator(experiment)
        context = GenerationContext.from_experiment(experiment, with_data=generator.uses_data)
        proposals = generator.gen(n, context)
        runs = []
        for parameters in proposals[:n]:
            if not experiment.search_space.check_membership(
                experiment.search_space.cast_parameterization(parameters)
            ):
                raise GenerationError(
                    f"Step {step.name!r} proposed {parameters}, which is outside the "
                    "search space; this is a bug in that generator."
                )
            runs.append(GeneratorRun(parameters=parameters, generation_step=step.name))
        return runs

    # -- resume ------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """JSON-safe state of every generator built so far."""
        state = dict(self._pending_state)
        for index, generator in self._generators.items():
            state[self.steps[index].name] = generator.get_state()
        return {"generators": state}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore generator states; the step position comes from the experiment."""
        self._generators.clear()
        self._pending_state = dict(state.get("generators", {}))

    def __repr__(self) -> str:
        return f"GenerationStrategy(name={self.name!r}, steps={self.steps})"
