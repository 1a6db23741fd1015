"""Registry of objective functions a worker may run.

A trial message names an objective; the worker looks the name up here and
never imports anything a message names. Objectives get here only by being
imported at worker start: the built-ins, the modules an operator lists in
``BO_OBJECTIVE_MODULES`` (an allowlist) and the entry points of group
``bo_scheduler.objectives`` of installed packages.

An objective is ``f(parameters: dict, **options) -> {metric: value}`` where a
value is a finite number or ``[mean, sem]``. If ``f`` has a parameter named
``report``, the task passes a callable ``report(step, **metrics)`` that
publishes progress for early stopping (see :mod:`workers.progress`).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeVar

from workers.errors import (
    InvalidTrialRequest,
    ObjectiveModuleError,
    ObjectiveRegistrationError,
    UnknownObjectiveError,
)
from workers.settings import ENV_OBJECTIVE_MODULES

logger = logging.getLogger(__name__)

#: Entry-point group through which installed packages provide objectives.
ENTRY_POINT_GROUP = "bo_scheduler.objectives"

ObjectiveFunction = Callable[..., Mapping[str, Any]]
F = TypeVar("F", bound=ObjectiveFunction)

#: Name of the optional progress-callback parameter of an objective.
REPORT_PARAMETER = "report"
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class RegisteredObjective:
    """An objective function with what the task needs to know to call it."""

    name: str
    function: ObjectiveFunction
    metrics: tuple[str, ...] | None
    accepts_report: bool
    option_names: frozenset[str] | None  # None: the function takes **options

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Reject options the function would not accept, before calling it."""
        if REPORT_PARAMETER in options:
            raise InvalidTrialRequest(
                f"option {REPORT_PARAMETER!r} is reserved: the worker passes the progress "
                f"callback itself; remove it from the options of objective {self.name!r}"
            )
        if self.option_names is None:
            return
        unknown = sorted(set(options) - self.option_names)
        if unknown:
            accepted = ", ".join(sorted(self.option_names)) or "none"
            raise InvalidTrialRequest(
                f"objective {self.name!r} does not accept option(s) {', '.join(unknown)}; "
                f"accepted options: {accepted}"
            )


_REGISTRY: dict[str, RegisteredObjective] = {}


def _describe(function: ObjectiveFunction) -> tuple[bool, frozenset[str] | None]:
    """Whether ``function`` takes ``report`` and which options it accepts."""
    signature = inspect.signature(function)
    params = list(signature.parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise ObjectiveRegistrationError(
            f"objective function {function.__qualname__} must take the parameters dict "
            "as its first positional argument: def f(parameters, **options)"
        )
    rest = params[1:]
    accepts_report = any(p.name == REPORT_PARAMETER for p in rest)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest):
        return accepts_report, None
    names = frozenset(
        p.name
        for p in rest
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.name != REPORT_PARAMETER
    )
    return accepts_report, names


def objective(name: str, metrics: Iterable[str] | None = None) -> Callable[[F], F]:
    """Register the decorated function as the objective ``name``.

    ``metrics`` declares the metric names the function returns; when given,
    the task fails a trial whose result lacks one of them.
    """
    if not isinstance(name, str) or not name.strip():
        raise ObjectiveRegistrationError(f"objective name must be a non-empty string, got {name!r}")
    declared = None if metrics is None else tuple(metrics)
    if declared is not None and (
        not declared or not all(isinstance(m, str) and m for m in declared)
    ):
        raise ObjectiveRegistrationError(
            f"metrics of objective {name!r} must be non-empty strings, got {metrics!r}"
        )

    def register(function: F) -> F:
        accepts_report, option_names = _describe(function)
        existing = _REGISTRY.get(name)
        if existing is not None and not _same_function(existing.function, function):
            raise ObjectiveRegistrationError(
                f"objective {name!r} is already registered by "
                f"{_where(existing.function)}; {_where(function)} cannot take the name too"
            )
        _REGISTRY[name] = RegisteredObjective(
            name=name,
            function=function,
            metrics=declared,
            accepts_report=accepts_report,
            option_names=option_names,
        )
        return function

    return register


def _where(function: ObjectiveFunction) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def _same_function(a: ObjectiveFunction, b: ObjectiveFunction) -> bool:
    """Re-importing a module (e.g. a reload) re-registers the same function."""
    return a is b or _where(a) == _where(b)


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (for tests and interactive use)."""
    _REGISTRY.pop(name, None)


def registered_objectives() -> dict[str, RegisteredObjective]:
    """A copy of the registry, by name."""
    return dict(_REGISTRY)


def objective_names() -> list[str]:
    """Sorted names of all registered objectives."""
    return sorted(_REGISTRY)


def get_objective(name: str) -> RegisteredObjective:
    """The objective registered as ``name``; never imports anything."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(objective_names()) or "none"
        raise UnknownObjectiveError(
            f"unknown objective {name!r}; registered objectives: {known}. Register it with "
            f"@objective({name!r}) in a module listed in {ENV_OBJECTIVE_MODULES} on every worker"
        ) from None


def _import_module(module: str, source: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as exc:
        raise ObjectiveModuleError(
            f"could not import objective module {module!r} ({source}): "
            f"{type(exc).__name__}: {exc}. Check that it is installed or on PYTHONPATH "
            "of the worker, or remove it"
        ) from exc


def load_objective_modules(environ: Mapping[str, str] | None = None) -> list[str]:
    """Import the allowlisted objective modules and entry points; return their names.

    ``BO_OBJECTIVE_MODULES`` is a comma-separated list of module names; entry
    points of group ``bo_scheduler.objectives`` name a module (or an object in
    one) that registers objectives when imported. Raises
    :class:`ObjectiveModuleError` naming the first module that fails.
    Importing twice is harmless.
    """
    env = os.environ if environ is None else environ
    loaded: list[str] = []
    for raw in env.get(ENV_OBJECTIVE_MODULES, "").split(","):
        module = raw.strip()
        if not module:
            continue
        if not _MODULE_NAME.match(module):
            raise ObjectiveModuleError(
                f"{ENV_OBJECTIVE_MODULES} lists {module!r}, which is not a module name; "
                "give dotted module names separated by commas, e.g. "
                f"{ENV_OBJECTIVE_MODULES}=mypkg.objectives,other.objectives"
            )
        _import_module(module, f"listed in {ENV_OBJECTIVE_MODULES}")
        loaded.append(module)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry_point.name!r} of group {ENTRY_POINT_GROUP!r}"
        try:
            entry_point.load()
        except Exception as exc:
            raise ObjectiveModuleError(
                f"could not load objective module {entry_point.value!r} ({source}): "
                f"{type(exc).__name__}: {exc}. Reinstall the package that declares it"
            ) from exc
        loaded.append(entry_point.module)
    if loaded:
        logger.info("loaded objective modules: %s", ", ".join(loaded))
    return loaded
