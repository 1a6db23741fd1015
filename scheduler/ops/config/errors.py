"""Config problems: `field: problem — fix`, every one found, in one `ConfigError`.

Validation code reports a problem in one of three ways, and
`problems_from` turns pydantic's `ValidationError` back into
`ConfigProblem`s with a fix for each:

- `custom(problem, fix, key=...)`: one problem at the validator's location
  (plus `key`), raised as pydantic's own custom error;
- `Problems([...])`: several problems at once, with their full field paths,
  or paths relative to the validator's location (`relative=True`);
- pydantic's built-in errors (missing, wrong type, bounds), whose fixes are
  in `FIXES`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from scheduler.core.errors import BoSchedulerError

#: Where a problem's fix points users for a valid config.
EXAMPLE_CONFIG = "examples/configs/branin.yaml"


@dataclass(frozen=True)
class ConfigProblem:
    """One problem of a config: where, what, and how to fix it."""

    field: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem} — {self.fix}"


class ConfigError(BoSchedulerError, ValueError):
    """An experiment config is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {p}" for p in problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"Invalid experiment config {source} ({count}):\n{lines}")


class ConfigProblemError(ValueError):
    """A problem in one value, before it is placed at a field (see `expressions`)."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem} — {fix}")
        self.problem = problem
        self.fix = fix


class Problems(ValueError):
    """Several problems found by one validator, raised together so all are reported.

    With `relative`, each problem's field is relative to where the validator
    runs (e.g. `max_pending_trials` inside the `scheduler:` section) and
    `problems_from` prefixes the location.
    """

    def __init__(self, problems: list[ConfigProblem], relative: bool = False) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems
        self.relative = relative


def custom(problem: str, fix: str, **extra: Any) -> PydanticCustomError:
    """A validation error carrying its own fix (read back by `problems_from`)."""
    # Braces would be read as template fields by pydantic.
    safe = problem.replace("{", "(").replace("}", ")")
    return PydanticCustomError("bo_config", safe, {"fix": fix, **extra})


#: Fixes for pydantic's own error types.
FIXES: dict[str, str] = {
    "missing": "add it (see " + EXAMPLE_CONFIG + ")",
    "extra_forbidden": "remove it",
    "union_tag_not_found": "add type: range, choice or fixed",
    "union_tag_invalid": "use type: range, choice or fixed",
    "literal_error": "use one of the values listed",
    "too_short": "give more entries",
    "too_long": "give fewer entries",
    "tuple_type": "write a list of two numbers, e.g. [0, 1]",
    "list_type": "write a list, e.g. [a, b]",
    "dict_type": "write a mapping of key: value lines",
    "model_type": "write a mapping of key: value lines",
    "model_attributes_type": "write a mapping of key: value lines",
    "string_type": "write a string (quote it if needed)",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number",
    "float_parsing": "write a number",
    "greater_than": "raise the value",
    "greater_than_equal": "raise the value",
    "less_than": "lower the value",
    "less_than_equal": "lower the value",
    "string_too_short": "write a non-empty value",
    "string_too_long": "shorten it",
}

_TAGS = {"range", "choice", "fixed", "percentile", "threshold"}
#: The tags of each tagged section, for the fix of a missing or unknown tag.
_TAG_FIXES = {"early_stopping": "strategy: percentile or threshold"}


def field_path(loc: tuple[Any, ...], key: str | None = None) -> str:
    """`parameters[0].bounds` from pydantic's location tuple (its own markers dropped)."""
    parts: list[str] = []
    previous: Any = None
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif isinstance(item, str) and (
            "[" in item or (item in _TAGS and (isinstance(previous, int) or previous in _TAG_FIXES))
        ):
            pass  # pydantic's own markers: union tags, validator names
        else:
            parts.append(f".{item}" if parts else str(item))
        previous = item
    if key is not None:
        parts.append(f".{key}" if parts else key)
    return "".join(parts) or "(top level)"


def _placed(problem: ConfigProblem, loc: tuple[Any, ...]) -> ConfigProblem:
    """`problem` with its relative field put under the location `loc`."""
    where = field_path(loc)
    if where == "(top level)":
        return problem
    return replace(problem, field=f"{where}.{problem.field}" if problem.field else where)


def problems_from(error: ValidationError) -> list[ConfigProblem]:
    """Every problem in `error`, each with its field path and a fix."""
    problems: list[ConfigProblem] = []
    for item in error.errors(include_url=False):
        ctx = item.get("ctx") or {}
        found = ctx.get("error")
        if item["type"] == "value_error" and isinstance(found, Problems):
            if found.relative:
                problems.extend(_placed(p, tuple(item["loc"])) for p in found.problems)
            else:
                problems.extend(found.problems)
            continue
        key = ctx.get("key") if item["type"] == "bo_config" else None
        path = field_path(tuple(item["loc"]), key)
        if item["type"] == "bo_config":
            problems.append(ConfigProblem(path, item["msg"], str(ctx["fix"])))
            continue
        message = item["msg"]
        fix = FIXES.get(item["type"], "see " + EXAMPLE_CONFIG + " for a valid example")
        if item["type"] == "missing":
            fix = f"add `{path.rsplit('.', 1)[-1]}: ...` (see {EXAMPLE_CONFIG})"
        if item["type"].startswith("union_tag") and path.split(".")[0] in _TAG_FIXES:
            fix = f"use {_TAG_FIXES[path.split('.')[0]]}"
        problems.append(ConfigProblem(path, message[0].lower() + message[1:], fix))
    return problems


@contextmanager
def as_config_problem(field: str) -> Iterator[None]:
    """Turn a model error raised while building (e.g. an invalid option) into a ConfigError."""
    try:
        yield
    except ConfigError:
        raise
    except BoSchedulerError as exc:
        raise ConfigError(
            [ConfigProblem(field, str(exc), f"change {field} as the message says")]
        ) from exc
