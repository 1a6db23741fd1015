"""Which data rows the loop has stored, so curve points are saved as they arrive
and nothing is stored twice.

Metrics that report progress are fetched every poll while their trials run
and the new curve points saved at once, so a scheduler crash loses none of
them and reports show the curves of running trials. A row is identified by
(trial, metric, step, mean): each poll's fetch returns the whole curve so far,
and only the rows not stored yet are written; at completion the final fetch
repeats the curve and again only its new rows (the final value) go to the
store. The SQL reader merges a trial's batches per step for that reason
(`scheduler.storage.sql.rows.attach_stored_data`).

`new_rows` also tells the loop whether progress moved at all: an early-stopping
strategy is only consulted when it did.
"""

from __future__ import annotations

import math

from scheduler.core.data import STEP_COLUMN, Data

RowKey = tuple[int, str, float, float]


def _keys(data: Data) -> list[RowKey]:
    df = data.df
    steps = df[STEP_COLUMN] if STEP_COLUMN in df else [math.nan] * len(df)
    return [
        (int(t), str(m), _norm(s), _norm(v))
        for t, m, s, v in zip(df["trial_index"], df["metric_name"], steps, df["mean"], strict=True)
    ]


def _norm(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    return -math.inf if math.isnan(number) else number  # NaN != NaN: one stable key


class StoredRows:
    """Keys of every row stored for the experiment (seeded from what it holds)."""

    def __init__(self) -> None:
        self._stored: set[RowKey] = set()

    def seed(self, data: Data) -> None:
        """Rows already in the store (a loaded or just-saved experiment's data)."""
        if not data.df.empty:
            self._stored.update(_keys(data))

    def has_new(self, data: Data) -> bool:
        """True when some row of `data` is not stored yet (nothing is marked)."""
        return not data.df.empty and any(k not in self._stored for k in _keys(data))

    def new_rows(self, data: Data) -> Data:
        """The rows of `data` not stored yet; they count as stored from now on."""
        if data.df.empty:
            return data
        # One poll may fetch a curve twice (progress, then the final or partial
        # fetch of the same trial): within `data` the last row per step wins, as
        # in `Experiment.attach_data`.
        subset = ["trial_index", "metric_name"] + ([STEP_COLUMN] if STEP_COLUMN in data.df else [])
        data = Data._trusted(data.df.drop_duplicates(subset=subset, keep="last"))
        keys = _keys(data)
        keep = [key not in self._stored for key in keys]
        if not any(keep):
            return Data()
        self._stored.update(k for k, new in zip(keys, keep, strict=True) if new)
        return Data._trusted(data.df[keep])
