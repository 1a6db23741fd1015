"""Early-stopped trials' partial values, projected to the scale of final values.

A trial stopped at step `s` last reported its value at `s`, not at the end of
training. Fed to the model as it is, a good configuration stopped early (or a
bad one stopped late) is compared with finished runs on unequal terms: curves
still move after `s`, so the model learns that its region is worse than it is.

The completed trials whose curves reach `s` show how values at `s` relate to
final values. A least-squares line through those pairs, `final ≈ a + b·y(s)`,
maps the stopped trial's value to the final scale; with the same shape of
curve for every configuration (a loss decaying towards a final value the
parameters decide) the relation is exactly linear. With fewer than
`MIN_REFERENCE_CURVES` such curves, or a line that does not increase (values
at `s` that say nothing about the end), the partial value is kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scheduler.core.data import STEP_COLUMN, Data
from scheduler.stopping.curves import curves_of

#: Completed curves needed at a step before partial values there are projected.
MIN_REFERENCE_CURVES = 3


def project_early_stopped(
    data: Data, final: Data, early_stopped: set[int], completed: set[int]
) -> Data:
    """`final` (one row per trial and metric) with the early-stopped trials' partial
    values replaced by their projected final values; `data` holds the curves."""
    if not early_stopped or not completed or not data.has_steps:
        return final
    df = final.df.copy()
    for metric in df.loc[df["trial_index"].isin(early_stopped), "metric_name"].unique():
        curves = curves_of(data, str(metric))
        finals = _final_values(final, str(metric), completed)
        for index in early_stopped & curves.keys():
            step = curves[index].progression
            pairs = [
                (curve.at(step), finals[i])
                for i, curve in curves.items()
                if i in finals and curve.covers(step)
            ]
            projected = _project(curves[index].latest, pairs)
            if projected is not None:
                rows = (df["trial_index"] == index) & (df["metric_name"] == metric)
                df.loc[rows, "mean"] = projected
    return Data._trusted(df)


def _final_values(final: Data, metric: str, completed: set[int]) -> dict[int, float]:
    df = final.df
    rows = df[(df["metric_name"] == metric) & df["trial_index"].isin(completed)]
    if STEP_COLUMN in rows:
        rows = rows[rows[STEP_COLUMN].isna()]  # a finished run's own final value
    means = pd.to_numeric(rows["mean"])
    return {
        int(i): float(m) for i, m in zip(rows["trial_index"], means, strict=True) if np.isfinite(m)
    }


def _project(value: float, pairs: list[tuple[float, float]]) -> float | None:
    """`value` mapped by the least-squares line through `pairs` (at `value`'s step)."""
    if len(pairs) < MIN_REFERENCE_CURVES:
        return None
    partial, final = np.array(pairs).T
    if np.ptp(partial) <= 0:
        return None
    slope, intercept = np.polyfit(partial, final, 1)
    if slope <= 0:
        return None
    return float(intercept + slope * value)
