"""Trials and data <-> row dicts, and the snapshots that make saves incremental.

The store remembers, per trial, a snapshot of what it last wrote; a save
compares against it and writes only trials (and columns) that changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scheduler.core.data import Data
from scheduler.core.trial import Trial
from scheduler.storage.sql.engine import json_dumps

#: Trial columns that change over a trial's life, in snapshot order.
TRIAL_COLUMNS = (
    "status",
    "run_metadata",
    "stop_metadata",
    "time_created",
    "time_staged",
    "time_run_started",
    "time_completed",
    "failed_reason",
    "ttl_seconds",
    "generation_step",
)

Snapshot = tuple[Any, ...]


def trial_values(trial: Trial) -> dict[str, Any]:
    return {
        "status": trial.status.value,
        "run_metadata": trial.run_metadata,
        "stop_metadata": trial.stop_metadata,
        "time_created": trial.time_created,
        "time_staged": trial.time_staged,
        "time_run_started": trial.time_run_started,
        "time_completed": trial.time_completed,
        "failed_reason": trial.failed_reason,
        "ttl_seconds": trial.ttl_seconds,
        "generation_step": trial.generation_step,
    }


def snapshot(values: dict[str, Any], json_texts: dict[str, str] | None = None) -> Snapshot:
    """Comparable copy of `trial_values`, in `TRIAL_COLUMNS` order.

    Metadata dicts are kept as JSON text, so later in-place changes to them
    show up as differences; `json_texts` are those columns as stored, which
    saves re-encoding them when 10,000 trials are loaded.
    """
    texts = json_texts or {}
    return (
        values["status"],
        texts.get("run_metadata") or _json_text(values["run_metadata"]),
        texts.get("stop_metadata") or _json_text(values["stop_metadata"]),
        values["time_created"],
        values["time_staged"],
        values["time_run_started"],
        values["time_completed"],
        values["failed_reason"],
        values["ttl_seconds"],
        values["generation_step"],
    )


def same_as_stored(trial: Trial, old: Snapshot) -> bool:
    """Whether `trial` still matches its snapshot, taking its metadata as unchanged.

    For a trial just loaded: metadata dicts cannot be compared as text without
    encoding them, and nothing but the loop changes them; any other column
    that changed makes the caller compare (and encode) everything.
    """
    return (
        trial.status.value == old[0]
        and trial.time_created == old[3]
        and trial.time_staged == old[4]
        and trial.time_run_started == old[5]
        and trial.time_completed == old[6]
        and trial.failed_reason == old[7]
        and trial.ttl_seconds == old[8]
        and trial.generation_step == old[9]
    )


def _json_text(value: Any) -> str:
    return "{}" if value == {} else json_dumps(value)


def changed_columns(old: Snapshot, new: Snapshot) -> list[str]:
    return [c for c, a, b in zip(TRIAL_COLUMNS, old, new, strict=True) if a != b]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def data_rows(data: Data, experiment_id: int, batch: int) -> list[dict[str, Any]]:
    """One insert dict per row of `data`; NaN (unknown sem, no step) is NULL."""
    df = data.df
    steps: Sequence[Any] = df["step"].tolist() if "step" in df else [None] * len(df)
    return [
        {
            "experiment_id": experiment_id,
            "batch": batch,
            "trial_index": int(index),
            "arm_name": str(arm),
            "metric_name": str(metric),
            "mean": _number(mean),
            "sem": _number(sem),
            "step": _number(step),
        }
        for index, arm, metric, mean, sem, step in zip(
            df["trial_index"].tolist(),
            df["arm_name"].tolist(),
            df["metric_name"].tolist(),
            df["mean"].tolist(),
            df["sem"].tolist(),
            steps,
            strict=True,
        )
    ]
