"""Checks on what crosses the broker: the trial request and the objective's result.

A request or result that is not what the scheduler expects fails the trial
with a named error saying what was wrong, instead of a KeyError or a NaN
reaching the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

from workers.errors import InvalidObjectiveResult, InvalidTrialRequest

#: What a metric value becomes once checked: a float, or ``[mean, sem]``.
MetricValue = float | list[float | None]

_REQUIRED_KEYS = ("trial_index", "objective", "parameters")
_OPTIONAL_KEYS = ("options", "arm_name")
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class TrialRequest:
    """The body of one evaluation task."""

    trial_index: int
    objective: str
    parameters: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    arm_name: str | None = None


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _check_json_mapping(value: Any, what: str, scalars_only: bool) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidTrialRequest(f"{what} must be a JSON object, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidTrialRequest(f"{what} keys must be non-empty strings, got {key!r}")
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidTrialRequest(f"{what}[{key!r}] must be finite, got {item!r}")
        if scalars_only and not isinstance(item, _SCALARS):
            raise InvalidTrialRequest(
                f"{what}[{key!r}] must be a number, string, boolean or null, "
                f"got {type(item).__name__}"
            )
    return dict(value)


def parse_request(request: Any) -> TrialRequest:
    """Validate the task argument ``{"trial_index", "objective", "parameters", "options"?}``."""
    if not isinstance(request, Mapping):
        raise InvalidTrialRequest(
            "the task argument must be a JSON object "
            '{"trial_index": int, "objective": str, "parameters": {...}, "options": {...}}, '
            f"got {type(request).__name__}"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in request]
    if missing:
        raise InvalidTrialRequest(f"trial request is missing {', '.join(missing)}")
    unknown = sorted(str(key) for key in request if key not in _REQUIRED_KEYS + _OPTIONAL_KEYS)
    if unknown:
        raise InvalidTrialRequest(
            f"trial request has unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(_REQUIRED_KEYS + _OPTIONAL_KEYS)}"
        )
    trial_index = request["trial_index"]
    if isinstance(trial_index, bool) or not isinstance(trial_index, int) or trial_index < 0:
        raise InvalidTrialRequest(f"trial_index must be an integer >= 0, got {trial_index!r}")
    objective = request["objective"]
    if not isinstance(objective, str) or not objective:
        raise InvalidTrialRequest(
            f"trial {trial_index}: objective must be a non-empty string, got {objective!r}"
        )
    arm_name = request.get("arm_name")
    if arm_name is not None and not isinstance(arm_name, str):
        raise InvalidTrialRequest(
            f"trial {trial_index}: arm_name must be a string, got {arm_name!r}"
        )
    return TrialRequest(
        trial_index=trial_index,
        objective=objective,
        parameters=_check_json_mapping(
            request["parameters"], f"trial {trial_index}: parameters", True
        ),
        options=_check_json_mapping(
            request.get("options") or {}, f"trial {trial_index}: options", False
        ),
        arm_name=arm_name,
    )


def normalize_value(value: Any, metric: str, where: str) -> MetricValue:
    """A finite float, or ``[mean, sem]`` with finite mean and sem ≥ 0 or None."""
    if _is_number(value):
        number = float(value)
        if math.isfinite(number):
            return number
        raise InvalidObjectiveResult(
            f"{where}: metric {metric!r} is {number!r}; it must be a finite number"
        )
    if isinstance(value, (list, tuple)) and len(value) == 2:
        mean, sem = value
        if not _is_number(mean) or not math.isfinite(float(mean)):
            raise InvalidObjectiveResult(
                f"{where}: metric {metric!r} has mean {mean!r}; it must be a finite number"
            )
        if sem is None:
            return [float(mean), None]
        if not _is_number(sem) or not math.isfinite(float(sem)) or float(sem) < 0:
            raise InvalidObjectiveResult(
                f"{where}: metric {metric!r} has sem {sem!r}; "
                "it must be a finite number >= 0 or None"
            )
        return [float(mean), float(sem)]
    raise InvalidObjectiveResult(
        f"{where}: metric {metric!r} is {value!r}; it must be a finite number or [mean, sem]"
    )


def normalize_metrics(
    result: Any,
    where: str,
    declared: tuple[str, ...] | None = None,
) -> dict[str, MetricValue]:
    """Check ``{metric: value | [mean, sem]}``; ``where`` names the trial in messages."""
    if not isinstance(result, Mapping):
        raise InvalidObjectiveResult(
            f"{where}: the objective returned {type(result).__name__}; "
            "it must return a dict {metric: value} or {metric: [mean, sem]}"
        )
    if not result:
        raise InvalidObjectiveResult(f"{where}: the objective returned no metrics")
    checked: dict[str, MetricValue] = {}
    for metric, value in result.items():
        if not isinstance(metric, str) or not metric:
            raise InvalidObjectiveResult(
                f"{where}: metric names must be non-empty strings, got {metric!r}"
            )
        checked[metric] = normalize_value(value, metric, where)
    missing = [m for m in declared or () if m not in checked]
    if missing:
        raise InvalidObjectiveResult(
            f"{where}: the result lacks declared metric(s) {', '.join(missing)}; "
            f"it has {', '.join(checked) or 'none'}"
        )
    return checked
