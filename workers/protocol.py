"""The wire protocol between the scheduler and the workers: both sides import it.

One trial is one Celery task named :data:`TASK_NAME` on queue
:data:`DEFAULT_QUEUE`, whose single JSON argument is a :class:`TrialRequest`
(:func:`build_request` on the scheduler's side, :func:`parse_request` on the
worker's). The task returns ``{metric: value}`` or ``{metric: [mean, sem]}``,
checked by :func:`normalize_metrics` on the worker and by :func:`result_problem`
(the same check) when the scheduler reads it back. Beside Celery's own result
keys, both sides agree on a few Redis keys, all named here.

This module imports neither Celery nor anything from ``scheduler``, so the
scheduler can use it without loading the workers' app.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Final

from workers.errors import InvalidObjectiveResult, InvalidTrialRequest

#: Celery task name of the evaluation task (what the scheduler sends).
TASK_NAME: Final = "bo_scheduler.evaluate"
#: Queue every worker consumes; trials go to an objective's queue (:func:`objective_queue`).
DEFAULT_QUEUE: Final = "bo-trials"
#: Remote-control (inspect) command a worker answers with the objectives it serves.
OBJECTIVES_COMMAND: Final = "bo_objectives"
#: Message header carrying the id of one publish attempt of a trial's task.
COPY_HEADER: Final = "bo_copy"
#: Custom Celery state a task is in while it publishes progress.
PROGRESS_STATE: Final = "PROGRESS"


def objective_queue(objective: str) -> str:
    """The queue of ``objective``'s trials, ``bo-trials.<objective>``.

    A worker consuming :data:`DEFAULT_QUEUE` also consumes the queue of every
    objective in its registry, so a trial sent here only ever reaches a
    worker that can run it (a worker without the module never takes it).
    """
    return f"{DEFAULT_QUEUE}.{objective}"


# ------------------------------------------------------------------ Redis keys

#: Celery's result entries: ``celery-task-meta-<task id>``.
RESULT_KEY_PREFIX: Final = "celery-task-meta-"
#: Set by the scheduler before it sends a task ("sending <token>", then "sent").
SENT_MARKER_PREFIX: Final = "bo-sent-"
#: Set by the scheduler to ask a trial to stop at its next progress report.
STOP_KEY_PREFIX: Final = "bo-stop-"
#: Where a finished task leaves its whole learning curve.
CURVE_KEY_PREFIX: Final = "bo-curve-"
#: Names the message copy that runs a task (see ``workers.claim``).
CLAIM_KEY_PREFIX: Final = "bo-claim-"


def result_key(task_id: str) -> str:
    """Redis key under which Celery stores the state and result of ``task_id``."""
    return f"{RESULT_KEY_PREFIX}{task_id}"


def sent_marker_key(task_id: str) -> str:
    """Result-backend key of the scheduler's send marker for ``task_id``."""
    return f"{SENT_MARKER_PREFIX}{task_id}"


def stop_key(task_id: str) -> str:
    """Result-backend key whose presence asks the trial run by ``task_id`` to stop."""
    return f"{STOP_KEY_PREFIX}{task_id}"


def curve_key(task_id: str) -> str:
    """Result-backend key holding the curve ``task_id`` reported, once it has returned
    (its ``SUCCESS`` result replaces the ``PROGRESS`` state that held the curve)."""
    return f"{CURVE_KEY_PREFIX}{task_id}"


def claim_key(task_id: str) -> str:
    """Result-backend key naming the message copy that runs ``task_id``."""
    return f"{CLAIM_KEY_PREFIX}{task_id}"


# --------------------------------------------------------------------- request

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


def build_request(
    trial_index: int,
    objective: str,
    parameters: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
    arm_name: str | None = None,
) -> dict[str, Any]:
    """The task argument for one trial; :func:`parse_request` accepts exactly this."""
    return {
        "trial_index": trial_index,
        "objective": objective,
        "parameters": dict(parameters),
        "options": dict(options or {}),
        "arm_name": arm_name,
    }


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


# ---------------------------------------------------------------------- result


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


def result_problem(result: Any, where: str = "the task result") -> str | None:
    """Why a stored SUCCESS result is unusable (the check the worker made), or None."""
    try:
        normalize_metrics(result, where)
    except InvalidObjectiveResult as exc:
        return str(exc)
    return None
