"""Bulk reads of trials and data rows: one SELECT each, every value decoded once.

Resuming an experiment of 100,000 trials has to stay within seconds, and the
per-row costs of the general path add up to more than that: SQLAlchemy's
result processors (on SQLite a regular expression per timestamp), the
standard library's JSON decoder, `TrialStatus(value)` lookups and pandas
validation of the data frame. Here each row is a plain tuple:

- timestamps are selected without a result processor and parsed by
  `datetime.fromisoformat` (SQLite stores them as ISO text; PostgreSQL's
  driver already returns datetimes, which pass through);
- JSON columns are read as their stored text and decoded by orjson (the
  standard library decodes what orjson refuses, e.g. NaN written by old code);
- trials come joined with their arms, in index order;
- data rows become one typed frame without `Data`'s validation: every value
  was validated before it was stored, and the column types are set here.

The stored format is unchanged: these are reads of the same tables.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import ColumnElement, Select, String, Text, cast, select, type_coerce
from sqlalchemy.engine import Connection

from scheduler.core.data import STEP_COLUMN, Data
from scheduler.core.trial import Arm, Trial, TrialStatus
from scheduler.storage.sql.models import ArmRow, DataRow, TrialRow
from scheduler.storage.sql.rows import Snapshot

_STATUS = {status.value: status for status in TrialStatus}
#: New container objects after which a load ends with one full collection
#: (`collector_paused`); about 10,000 trials.
COLLECT_AFTER = 100_000


def text_of(column: Any) -> Any:
    """Read a JSON column as its stored text (parsed by us, compared as text)."""
    return cast(column, Text).label(column.key)


def raw_time(column: Any) -> Any:
    """A timestamp column without SQLAlchemy's result processor (see `utc_time`)."""
    return type_coerce(column, String).label(column.key)


#: The trial columns, then the arm's name and parameters (`trial_select`).
TRIAL_SELECT = [
    TrialRow.trial_index,
    TrialRow.status,
    text_of(TrialRow.run_metadata),
    text_of(TrialRow.stop_metadata),
    raw_time(TrialRow.time_created),
    raw_time(TrialRow.time_staged),
    raw_time(TrialRow.time_run_started),
    raw_time(TrialRow.time_completed),
    TrialRow.failed_reason,
    TrialRow.ttl_seconds,
    TrialRow.generation_step,
    ArmRow.name.label("arm_name"),
    text_of(ArmRow.parameters),
]

DATA_SELECT = [
    DataRow.trial_index,
    DataRow.arm_name,
    DataRow.metric_name,
    DataRow.mean,
    DataRow.sem,
    DataRow.step,
    DataRow.batch,
]


def trial_select(experiment_id: int, *where: ColumnElement[bool]) -> Select[Any]:
    """Trials of one experiment joined with their arms, by trial index."""
    return (
        select(*TRIAL_SELECT)
        .join(
            ArmRow,
            (ArmRow.experiment_id == TrialRow.experiment_id)
            & (ArmRow.trial_index == TrialRow.trial_index),
        )
        .where(TrialRow.experiment_id == experiment_id, *where)
        .order_by(TrialRow.trial_index)
    )


def plain_rows(conn: Connection, statement: Select[Any, *tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Every row of `statement` as the driver's plain tuples.

    Skips building a SQLAlchemy `Row` per row (half the time of reading
    200,000 data rows). Only for the selects of this module, whose columns
    need no result processing on SQLite or PostgreSQL: integers, floats,
    strings, JSON cast to text and timestamps coerced to `String` (their
    processor is what `utc_time` replaces).
    """
    result = conn.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a whole experiment is built.

    Its passes walk every tracked object of a generation, and building
    100,000 trials (each with its arm and metadata dicts) triggers passes
    over a heap that only grows: measured, that nearly tripled the time to
    build them. Nothing built here is garbage. After a big load (over
    `COLLECT_AFTER` new objects), one full collection moves what was built to
    the oldest generation; left to the thresholds instead, the young and
    middle generations would each walk all of it again within the next
    allocations (0.5-1 s at 100,000 trials, measured in the first store calls
    after a resume). A small load skips it: a full pass over the interpreter's
    heap costs ~0.1 s whatever the experiment. Left alone when something else
    already paused the collector.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        if gc.get_count()[0] > COLLECT_AFTER:
            gc.collect()


def json_object(text: str | None) -> Any:
    """A stored JSON text decoded (`{}` for NULL or empty)."""
    if not text or text == "{}":
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # NaN / Infinity, huge integers


def utc_time(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (SQLite: naive ISO text, in UTC).

    Naive text is parsed with a UTC offset appended: five times faster than
    parsing and then `replace(tzinfo=UTC)`, which counts at 300,000 values.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:  # text with its own offset
            value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def loaded_trial(row: Sequence[Any]) -> tuple[Trial, Snapshot]:
    """A trial from one row of `TRIAL_SELECT` and its snapshot as stored.

    The snapshot is `rows.snapshot(trial_values(trial), texts)` built from the
    row directly (the metadata as the stored text), without the dict between.
    """
    (index, status, run_text, stop_text, created, staged, started, completed) = row[:8]
    failed_reason, ttl_seconds, generation_step = row[8], row[9], row[10]
    times = (utc_time(created), utc_time(staged), utc_time(started), utc_time(completed))
    trial = Trial(
        index=int(index),
        arm=Arm(parameters=json_object(row[12]), name=row[11]),
        status=_STATUS[status],
        run_metadata=json_object(run_text),
        stop_metadata=json_object(stop_text),
        time_created=times[0],  # type: ignore[arg-type]
        time_staged=times[1],
        time_run_started=times[2],
        time_completed=times[3],
        failed_reason=failed_reason,
        ttl_seconds=ttl_seconds,
        generation_step=generation_step,
    )
    stored = (status, run_text or "{}", stop_text or "{}", *times, failed_reason, ttl_seconds)
    return trial, (*stored, generation_step)


def trial_from_row(row: Sequence[Any]) -> Trial:
    """A trial from one row of `TRIAL_SELECT` (positional: rows are plain tuples)."""
    return loaded_trial(row)[0]


def stored_data(rows: Sequence[Sequence[Any]]) -> Data | None:
    """Rows of `DATA_SELECT` (insertion order) as `Data`, as `attach_data` left it.

    Per trial, metric and step only the latest batch counts. Per step, because
    the loop stores a running trial's curve points as they arrive and then
    only the rows not stored yet (`scheduler.progress_log`): a curve is spread
    over batches. Rows without a step (a final value) share one key, so a
    re-fetch still replaces them. None when there are no rows.
    """
    if not rows:
        return None
    index, arm, metric, mean, sem, step, batch = zip(*rows, strict=True)
    columns: dict[str, Any] = {
        "trial_index": np.fromiter(index, dtype=np.int64, count=len(rows)),
        "arm_name": np.array(arm, dtype=object),
        "metric_name": np.array(metric, dtype=object),
        "mean": np.array(mean, dtype=np.float64),  # None (NULL) -> NaN
        "sem": np.array(sem, dtype=np.float64),
        STEP_COLUMN: np.array(step, dtype=np.float64),
    }
    batches = np.fromiter(batch, dtype=np.int64, count=len(rows))
    df = pd.DataFrame(columns)
    if batches[0] != batches[-1] or not (batches == batches[0]).all():
        step_key = df[STEP_COLUMN].fillna(-np.inf)
        latest = (
            pd.Series(batches)
            .groupby([df["trial_index"], df["metric_name"], step_key], sort=False)
            .transform("max")
            .to_numpy()
        )
        keep = batches == latest
        if not keep.all():
            df = df[keep]
    if np.isnan(columns[STEP_COLUMN]).all():
        df = df.drop(columns=[STEP_COLUMN])
    return Data._trusted(df)


def last_batch(rows: Sequence[Sequence[Any]]) -> int:
    """The highest batch number among rows of `DATA_SELECT` (0 when none)."""
    return max((int(row[6]) for row in rows), default=0)
