"""Learning curves out of `Data`: one metric, rows with a finite `step`, by trial.

Trials report at steps of their own choosing (and the scheduler reads them
when it polls), so two curves rarely share steps. Comparing trials "at the
same progression" therefore means reading every curve *at the same step*,
by linear interpolation between its two nearest points,

    y(p) = y_i + (y_{i+1} - y_i) (p - s_i) / (s_{i+1} - s_i),   s_i <= p <= s_{i+1},

and never extrapolating: a curve that has not reached `p` (or began after
it) has no value there and is left out of the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.core.data import STEP_COLUMN, Data


@dataclass(frozen=True)
class Curve:
    """Steps (strictly increasing) and values of one trial's metric."""

    steps: np.ndarray
    values: np.ndarray

    @property
    def progression(self) -> float:
        """The furthest step reached."""
        return float(self.steps[-1])

    @property
    def latest(self) -> float:
        return float(self.values[-1])

    def covers(self, step: float) -> bool:
        return float(self.steps[0]) <= step <= float(self.steps[-1])

    def at(self, step: float) -> float:
        """Value at `step`, interpolated; only call when `covers(step)`."""
        return float(np.interp(step, self.steps, self.values))


def curves_of(data: Data, metric_name: str) -> dict[int, Curve]:
    """Each trial's curve of `metric_name` (rows without a step, e.g. final values, dropped).

    A step reported twice keeps its last value; non-finite values are dropped.
    """
    df = data.df
    if df.empty or STEP_COLUMN not in df:
        return {}
    df = df[(df["metric_name"] == metric_name) & np.isfinite(df[STEP_COLUMN].astype(float))]
    df = df[np.isfinite(df["mean"].astype(float))]
    curves: dict[int, Curve] = {}
    for index, rows in df.groupby("trial_index", sort=False):
        rows = rows.drop_duplicates(subset=[STEP_COLUMN], keep="last").sort_values(STEP_COLUMN)
        steps = rows[STEP_COLUMN].to_numpy(dtype=float)
        curves[int(index)] = Curve(steps, rows["mean"].to_numpy(dtype=float))  # type: ignore[arg-type]
    return curves


def values_at(curves: dict[int, Curve], step: float, exclude: int) -> list[float]:
    """Values at `step` of every curve that covers it, except trial `exclude`'s."""
    return [c.at(step) for i, c in curves.items() if i != exclude and c.covers(step)]
