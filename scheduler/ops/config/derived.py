"""The `scheduler:` and `runner:` sections, derived from the code they configure.

Each default and bound exists once, in the code: the `scheduler:` fields,
their types and defaults are `SchedulerOptions`' dataclass fields, and a
section is valid when `SchedulerOptions` accepts it (its
`InvalidSchedulerOptionsError` becomes a problem at `scheduler.<field>`). The
`runner:` fields take their types and defaults from `CeleryRunner.__init__`'s
signature and are checked by constructing a `CeleryRunner`. Only what the
code does not know stays here: the budget `total_trials` (required, >= 1),
`timeout_hours`, and the two runner bounds `CeleryRunner` does not check.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import TYPE_CHECKING, Annotated, Any, Self, get_type_hints

from pydantic import Field, create_model, model_validator
from pydantic.fields import FieldInfo

from scheduler.celery import CeleryRunner
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.ops.config.errors import ConfigProblem, Problems
from scheduler.ops.config.section import Section
from scheduler.options import SchedulerOptions

#: `SchedulerOptions` fields a config file does not set, and why.
NOT_IN_CONFIG: dict[str, str] = {
    "total_trials": "the config's own required field, the daemon's budget",
    "wait_for_running_trials": "the daemon's budget counts finished trials: it always waits",
    "early_stopping_strategy": "an object, not a value",
    "global_stopping_strategy": "an object, not a value",
    "logging_level": "set with --log-level",
    "extra": "for programmatic use",
}

#: `CeleryRunner.__init__` parameters a config's `runner:` section sets.
RUNNER_FIELDS = ("queue", "lost_after_seconds", "max_queued_seconds", "embedded_concurrency")
#: Bounds `CeleryRunner` does not check itself (so they are not restated).
RUNNER_BOUNDS: dict[str, FieldInfo] = {
    "queue": Field(min_length=1),
    "embedded_concurrency": Field(ge=1),
}

#: `SchedulerOptions.<field>=<value> is not valid; use <what>.`
_OPTION_MESSAGE = re.compile(
    r"^SchedulerOptions\.(?P<field>\w+)=(?P<value>.*?) (?P<problem>is .*?); (?P<fix>.*?)\.?$"
)


def _option_problem(exc: InvalidSchedulerOptionsError, field: str) -> ConfigProblem:
    """`exc` as a problem at its field (named in the message), or at `field`."""
    text = str(exc)
    match = _OPTION_MESSAGE.match(text)
    if match is None:
        return ConfigProblem(field, text, "change the value as the message says")
    return ConfigProblem(match["field"], f"{match['value']} {match['problem']}", match["fix"])


def scheduler_option_problems(values: dict[str, Any]) -> list[ConfigProblem]:
    """What `SchedulerOptions` says of `values`, one problem per field, all at once.

    `SchedulerOptions` stops at its first complaint, so after each one the
    field it names is put back to its default and the rest tried again:
    every field's problem is reported together, and a cross-field rule (max
    polls vs init polls) at the field the options name, as they judge it.
    """
    values = dict(values)
    defaults = _option_defaults()
    problems: list[ConfigProblem] = []
    for _ in range(len(values) + 1):
        try:
            SchedulerOptions(**values)
        except InvalidSchedulerOptionsError as exc:
            problem = _option_problem(exc, "")
            problems.append(problem)
            if problem.field not in values or values[problem.field] == defaults[problem.field]:
                break  # no other value to try: report what we have
            values[problem.field] = defaults[problem.field]
        else:
            break
    return problems


def runner_problems(values: dict[str, Any]) -> list[ConfigProblem]:
    """What `CeleryRunner` says of each `runner:` value, tried one at a time."""
    problems = []
    for name, value in values.items():
        try:
            CeleryRunner("config-check", **{name: value})
        except InvalidSchedulerOptionsError as exc:
            rule = str(exc).removeprefix("CeleryRunner: ").rstrip(".")
            problems.append(ConfigProblem(name, f"{value!r} is not valid", rule))
    return problems


#: The `scheduler:` settings of the run and its daemon, not `SchedulerOptions` fields.
RUN_FIELDS = frozenset({"total_trials", "timeout_hours", "weight"})


class _SchedulerSection(Section):
    """`SchedulerOptions` plus the run's budget, timeout and share of a shared daemon."""

    total_trials: int = Field(ge=1)
    timeout_hours: float | None = Field(default=None, gt=0)
    #: This experiment's weight in a daemon running several experiments with a
    #: cap on trials out (`run a.yaml b.yaml --max-trials-out N`): the cap is
    #: split in proportion to the weights (see `scheduler.fleet_share`).
    weight: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _valid_options(self) -> Self:
        problems = scheduler_option_problems(self.model_dump(exclude=set(RUN_FIELDS)))
        if problems:
            raise Problems(problems, relative=True)
        return self


class _RunnerSection(Section):
    """How trials are sent as Celery tasks (see `CeleryRunner`)."""

    @model_validator(mode="after")
    def _valid_runner(self) -> Self:
        problems = runner_problems(self.model_dump())
        if problems:
            raise Problems(problems, relative=True)
        return self


def _default(field_default: Any, factory: Callable[[], Any] | Any) -> Any:
    if field_default is not MISSING:
        return field_default
    return Field(default_factory=factory)


def _option_defaults() -> dict[str, Any]:
    """`SchedulerOptions`' default of each field (a default instance's values)."""
    defaults = SchedulerOptions()
    return {f.name: getattr(defaults, f.name) for f in fields(SchedulerOptions)}


def _scheduler_fields() -> dict[str, Any]:
    """`{name: (type, default)}` of the `SchedulerOptions` fields a config sets."""
    hints = get_type_hints(SchedulerOptions)
    return {
        f.name: (hints[f.name], _default(f.default, f.default_factory))
        for f in fields(SchedulerOptions)
        if f.name not in NOT_IN_CONFIG
    }


def _runner_fields() -> dict[str, Any]:
    """`{name: (type, default)}` of `RUNNER_FIELDS`, from `CeleryRunner.__init__`."""
    parameters = inspect.signature(CeleryRunner.__init__).parameters
    hints = get_type_hints(CeleryRunner.__init__)
    definitions: dict[str, Any] = {}
    for name in RUNNER_FIELDS:
        hint: Any = hints[name]
        if name in RUNNER_BOUNDS:
            hint = Annotated[hint, RUNNER_BOUNDS[name]]
        definitions[name] = (hint, parameters[name].default)
    return definitions


if TYPE_CHECKING:
    SchedulerConfig = _SchedulerSection
    RunnerConfig = _RunnerSection
else:
    SchedulerConfig = create_model(
        "SchedulerConfig",
        __base__=_SchedulerSection,
        __module__=__name__,
        __doc__=_SchedulerSection.__doc__,
        **_scheduler_fields(),
    )
    RunnerConfig = create_model(
        "RunnerConfig",
        __base__=_RunnerSection,
        __module__=__name__,
        __doc__=_RunnerSection.__doc__,
        **_runner_fields(),
    )
