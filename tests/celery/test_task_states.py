"""The Celery task state -> TrialStatus table (`scheduler.celery.task_states.view_of`).

One row per line of the design's table: what the result backend holds (the
decoded ``celery-task-meta-*`` value, or None), whether the runner's send
marker is there, and whether the scheduler stopped the trial early, against
the status, the reason's key words and the progress or result the view
carries. Reasons are checked by key words only, so rewording a message does
not break the table; a reason must never be a whole traceback.

``view_of`` is called positionally with exactly its three arguments, so a
later keyword argument with a default does not change these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from scheduler.celery.task_states import TaskView, view_of
from scheduler.core.trial import TrialStatus
from workers.errors import StopTrial

POINTS = [{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}]
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/objectives.py", line 12, in simulate\n'
    "    raise ValueError('simulator crashed at x=3')\n"
    "ValueError: simulator crashed at x=3\n"
)
#: A REVOKED result as the JSON result backend decodes a stored StopTrial.
STOP_TRIAL_JSON = {
    "exc_type": "StopTrial",
    "exc_module": "workers.errors",
    "exc_message": ["stopped early", POINTS],
}


def meta(status: str, result: Any = None, traceback: str | None = None) -> dict[str, Any]:
    """A ``celery-task-meta-*`` value as the backend stores it."""
    return {"status": status, "result": result, "traceback": traceback, "task_id": "t-1"}


@dataclass(frozen=True)
class Row:
    """One line of the table: inputs of `view_of` and what its view must hold."""

    meta: dict[str, Any] | None
    marker_present: bool
    stopped_early: bool
    status: TrialStatus
    #: Words the reason must contain (case-insensitive); empty: there is no reason.
    reason_words: tuple[str, ...] = ()
    progress: list[dict[str, Any]] | None = None
    result: Any = None


TABLE: dict[str, Row] = {
    # Nothing stored yet: queued if our send marker is there, else the backend lost it.
    "no meta, marker -> STAGED": Row(None, True, False, TrialStatus.STAGED),
    "no meta, no marker -> FAILED lost": Row(
        None, False, False, TrialStatus.FAILED, reason_words=("lost",)
    ),
    "PENDING -> STAGED": Row(meta("PENDING"), True, False, TrialStatus.STAGED),
    "RECEIVED -> STAGED": Row(meta("RECEIVED"), True, False, TrialStatus.STAGED),
    "STARTED -> RUNNING": Row(meta("STARTED", {"pid": 4242}), True, False, TrialStatus.RUNNING),
    "PROGRESS -> RUNNING, points carried": Row(
        meta("PROGRESS", {"progress": POINTS}), True, False, TrialStatus.RUNNING, progress=POINTS
    ),
    # A worker cancelled the task on a broker drop; Redis redelivers it...
    "RETRY, marker -> RUNNING": Row(meta("RETRY"), True, False, TrialStatus.RUNNING),
    # ...unless Redis lost its data, the message and the marker with it.
    "RETRY, no marker -> FAILED lost": Row(
        meta("RETRY"), False, False, TrialStatus.FAILED, reason_words=("lost",)
    ),
    "SUCCESS, good result -> COMPLETED": Row(
        meta("SUCCESS", {"loss": 0.25}),
        True,
        False,
        TrialStatus.COMPLETED,
        result={"loss": 0.25},
    ),
    "SUCCESS, [mean, sem] result -> COMPLETED": Row(
        meta("SUCCESS", {"loss": [0.25, 0.01]}),
        True,
        False,
        TrialStatus.COMPLETED,
        result={"loss": [0.25, 0.01]},
    ),
    "SUCCESS, NaN -> FAILED": Row(
        meta("SUCCESS", {"loss": float("nan")}),
        True,
        False,
        TrialStatus.FAILED,
        reason_words=("loss", "finite"),
    ),
    "SUCCESS, inf -> FAILED": Row(
        meta("SUCCESS", {"loss": float("inf")}),
        True,
        False,
        TrialStatus.FAILED,
        reason_words=("loss", "finite"),
    ),
    "SUCCESS, NaN mean -> FAILED": Row(
        meta("SUCCESS", {"loss": [float("nan"), 0.1]}),
        True,
        False,
        TrialStatus.FAILED,
        reason_words=("loss", "mean", "finite"),
    ),
    "SUCCESS, not a dict -> FAILED": Row(
        meta("SUCCESS", "0.25"), True, False, TrialStatus.FAILED, reason_words=("str", "dict")
    ),
    "SUCCESS, no metrics -> FAILED": Row(
        meta("SUCCESS", {}), True, False, TrialStatus.FAILED, reason_words=("no metrics",)
    ),
    "SUCCESS, non-numeric value -> FAILED": Row(
        meta("SUCCESS", {"loss": "low"}),
        True,
        False,
        TrialStatus.FAILED,
        reason_words=("loss", "low", "number"),
    ),
    "FAILURE -> FAILED, traceback's last line": Row(
        meta("FAILURE", {"exc_type": "ValueError"}, TRACEBACK),
        True,
        False,
        TrialStatus.FAILED,
        reason_words=("ValueError", "simulator crashed at x=3"),
    ),
    "REJECTED -> FAILED, traceback's last line": Row(
        meta("REJECTED", None, TRACEBACK),
        True,
        False,
        TrialStatus.FAILED,
        reason_words=("ValueError", "simulator crashed at x=3"),
    ),
    # No traceback stored: the exception's type and message instead.
    "FAILURE without traceback -> FAILED, exception": Row(
        meta("FAILURE", {"exc_type": "KeyError", "exc_message": ["x9"]}),
        True,
        False,
        TrialStatus.FAILED,
        reason_words=("KeyError", "x9"),
    ),
    "REVOKED, stopped early -> EARLY_STOPPED, points carried": Row(
        meta("REVOKED", STOP_TRIAL_JSON), True, True, TrialStatus.EARLY_STOPPED, progress=POINTS
    ),
    # The in-memory (embedded) backend keeps the exception object itself.
    "REVOKED, stopped early, exception object -> EARLY_STOPPED": Row(
        meta("REVOKED", StopTrial("stopped early", POINTS)),
        True,
        True,
        TrialStatus.EARLY_STOPPED,
        progress=POINTS,
    ),
    "REVOKED, not stopped early -> ABANDONED": Row(
        meta("REVOKED", None),
        True,
        False,
        TrialStatus.ABANDONED,
        reason_words=("revoked",),
    ),
    "unknown state -> FAILED": Row(
        meta("TELEPORTED"), True, False, TrialStatus.FAILED, reason_words=("unknown", "TELEPORTED")
    ),
}


def check_reason(view: TaskView, words: tuple[str, ...]) -> None:
    if not words:
        assert view.reason is None, f"no reason expected, got {view.reason!r}"
        return
    assert view.reason, "a failed or abandoned trial must say why"
    for word in words:
        assert word.lower() in view.reason.lower(), f"{word!r} not in reason {view.reason!r}"
    # One line, never the traceback itself.
    assert "\n" not in view.reason and "Traceback" not in view.reason


@pytest.mark.parametrize("row", TABLE.values(), ids=TABLE.keys())
def test_view_of_maps_each_state_as_the_table_says(row: Row) -> None:
    view = view_of(row.meta, row.marker_present, row.stopped_early)

    assert view.status is row.status
    check_reason(view, row.reason_words)
    assert view.progress == row.progress
    assert view.result == row.result


# The marker matters only where the table says (no meta at all, and RETRY);
# the stopped-early flag only for REVOKED. Every other row reads the same
# whichever way those flags are.
FLAG_BLIND = [
    name
    for name, row in TABLE.items()
    if row.meta is not None and row.meta["status"] not in ("RETRY", "REVOKED")
]


@pytest.mark.parametrize("name", FLAG_BLIND)
@pytest.mark.parametrize(("marker_present", "stopped_early"), [(False, False), (False, True)])
def test_other_states_ignore_the_marker_and_the_early_stop_flag(
    name: str, marker_present: bool, stopped_early: bool
) -> None:
    row = TABLE[name]
    view = view_of(row.meta, marker_present, stopped_early)

    assert view.status is row.status
    check_reason(view, row.reason_words)
    assert view.progress == row.progress


def test_revoked_without_the_early_flag_still_carries_its_points() -> None:
    """A stop that was not an early stop (a TTL, an operator) keeps the curve so far."""
    view = view_of(meta("REVOKED", STOP_TRIAL_JSON), True, False)

    assert view.status is TrialStatus.ABANDONED
    assert view.progress == POINTS
