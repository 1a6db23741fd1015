"""Reports of an experiment: a one-row-per-trial frame, best point, trace plots."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from scheduler.analysis.best_point import best_on_first_objective, feasible_values
from scheduler.core.experiment import Experiment
from scheduler.core.optimization import ComparisonOp
from scheduler.core.parameters import TParameterization


def exp_to_df(experiment: Experiment) -> pd.DataFrame:
    """One row per trial: index, arm, status, generation step, parameters, metric means."""
    rows = []
    data = experiment.lookup_data().final().df
    means = (
        data.pivot_table(index="trial_index", columns="metric_name", values="mean", aggfunc="last")
        if not data.empty
        else pd.DataFrame()
    )
    for trial in experiment.trials.values():
        row: dict[str, object] = {
            "trial_index": trial.index,
            "arm_name": trial.arm.name,
            "trial_status": trial.status.name,
            "generation_step": trial.generation_step,
        }
        row.update(trial.arm.parameters)
        for metric in experiment.metrics:
            value: object = np.nan
            if metric in means.columns and trial.index in means.index:
                value = means.at[trial.index, metric]
            row[metric] = value
        if trial.failed_reason:
            row["reason"] = trial.failed_reason
        rows.append(row)
    return pd.DataFrame(rows)


def best_observed_trial(
    experiment: Experiment,
) -> tuple[int, TParameterization, dict[str, float]] | None:
    """The feasible completed trial with the best observed first objective
    (for several objectives too: a summary line, not the Pareto set)."""
    return best_on_first_objective(experiment, use_model=False)


def best_so_far(experiment: Experiment) -> pd.Series:
    """Best feasible objective value after each trial index (NaN before the first)."""
    config = experiment.optimization_config
    if config is None:
        return pd.Series(dtype=float)
    objective = config.objectives[0]
    values = {
        i: v[objective.metric.name] for i, v in feasible_values(experiment, use_model=False).items()
    }
    best, trace = math.nan, []
    for index in sorted(experiment.trials):
        value = values.get(index)
        if value is not None and (
            math.isnan(best) or (value < best if objective.minimize else value > best)
        ):
            best = value
        trace.append(best)
    return pd.Series(trace, index=sorted(experiment.trials), name="best_so_far")


_OPS = {ComparisonOp.LEQ: "<=", ComparisonOp.GEQ: ">="}


def save_trace_plot(experiment: Experiment, path: str | Path) -> Path:
    """Plot observed objective values and best-so-far against trial index.

    Writes a PNG, or an HTML page embedding the PNG and the trial table when
    `path` ends with `.html`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    config = experiment.optimization_config
    metric = config.objectives[0].metric.name if config else "objective"
    df = exp_to_df(experiment)
    fig, ax = plt.subplots(figsize=(7, 4))
    if metric in df:
        ax.scatter(df["trial_index"], df[metric], s=14, alpha=0.6, label=f"{metric} (observed)")
    trace = best_so_far(experiment)
    ax.step(
        list(trace.index),
        trace.to_numpy(dtype=float),
        where="post",
        color="C3",
        label="best so far",
    )
    ax.set_xlabel("trial index")
    ax.set_ylabel(metric)
    ax.set_title(f"{experiment.name}: optimization trace")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    if path.suffix.lower() == ".html":
        image = base64.b64encode(buffer.getvalue()).decode()
        path.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{experiment.name}"
            f"</title></head><body><h1>{experiment.name}</h1>"
            f"<img alt='optimization trace' src='data:image/png;base64,{image}'>"
            f"{df.to_html(index=False, na_rep='')}</body></html>",
            encoding="utf-8",
        )
    else:
        path.write_bytes(buffer.getvalue())
    return path
