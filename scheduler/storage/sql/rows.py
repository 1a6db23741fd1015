"""Trials and data <-> row dicts, and the snapshots that make saves incremental.

The store remembers, per trial, a snapshot of what it last wrote; a save
compares against it and writes only trials (and columns) that changed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from scheduler.core.clock import as_utc
from scheduler.core.data import Data
from scheduler.core.experiment import Experiment
from scheduler.core.trial import Arm, Trial, TrialStatus
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


def _json_text(value: Any) -> str:
    return "{}" if value == {} else json_dumps(value)


def changed_columns(old: Snapshot, new: Snapshot) -> list[str]:
    return [c for c, a, b in zip(TRIAL_COLUMNS, old, new, strict=True) if a != b]


def trial_from_row(row: Any, arm_name: str, parameters: dict[str, Any]) -> Trial:
    """A trial from a row whose JSON columns were read as text."""
    return Trial(
        index=int(row.trial_index),
        arm=Arm(parameters=parameters, name=arm_name),
        status=TrialStatus(row.status),
        run_metadata=json.loads(row.run_metadata) if row.run_metadata else {},
        stop_metadata=json.loads(row.stop_metadata) if row.stop_metadata else {},
        time_created=as_utc(row.time_created),  # type: ignore[arg-type]
        time_staged=as_utc(row.time_staged),
        time_run_started=as_utc(row.time_run_started),
        time_completed=as_utc(row.time_completed),
        failed_reason=row.failed_reason,
        ttl_seconds=row.ttl_seconds,
        generation_step=row.generation_step,
    )


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


DATA_COLUMNS = ("trial_index", "arm_name", "metric_name", "mean", "sem", "step", "batch")


def attach_stored_data(experiment: Experiment, rows: Sequence[Any]) -> None:
    """Rebuild each trial's data from stored rows, as `attach_data` left it.

    Rows come in insertion order; per trial, metric and step only the latest
    batch counts. Per step, because the loop stores a running trial's curve
    points as they arrive and then only the rows not stored yet
    (`scheduler.progress_log`): a curve is spread over batches. Rows without
    a step (a final value) share one key, so a re-fetch still replaces them.
    One frame is validated and attached for all trials at once (`attach_data`
    per trial would take seconds at 10,000 trials).
    """
    if not rows:
        return
    columns = dict(zip(DATA_COLUMNS, zip(*rows, strict=True), strict=True))
    df = pd.DataFrame({name: list(values) for name, values in columns.items()})
    step_key = pd.to_numeric(df["step"]).fillna(float("-inf"))
    latest = df.groupby([df["trial_index"], df["metric_name"], step_key], sort=False)[
        "batch"
    ].transform("max")
    df = df[df["batch"] == latest].drop(columns=["batch"])
    df["mean"] = pd.to_numeric(df["mean"]).astype(float)
    df["sem"] = pd.to_numeric(df["sem"]).astype(float)
    if df["step"].isna().all():
        df = df.drop(columns=["step"])
    experiment.attach_data(Data(df))
