"""Reports of an experiment: a one-row-per-trial frame, best point, trace plots.

The HTML report holds the figures of `scheduler.analysis.plots`, the same
ones the dashboard draws, so an offline report and the live page agree.
"""

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

    Writes a PNG, or, when `path` ends with `.html`, the self-contained
    interactive report (`save_html_report`). The PNG uses a log axis when
    the values are positive and span two decades or more (`plots.wants_log`),
    colours trials by generation step, marks early-stopped trials and puts a
    red tick at the bottom for each failed or abandoned trial.
    """
    path = Path(path)
    if path.suffix.lower() == ".html":
        return save_html_report(experiment, path)
    path.write_bytes(trace_png(experiment))
    return path


def trace_png(experiment: Experiment) -> bytes:
    """The static trace figure as PNG bytes (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scheduler.analysis.plots import trial_table, wants_log

    table = trial_table(experiment)
    frame, metric = table.frame, table.objective or "objective"
    fig, ax = plt.subplots(figsize=(7, 4))
    if metric in frame:
        done = frame[frame["status"] == "COMPLETED"]
        for step, group in done.groupby("generation_step", sort=False):
            ax.scatter(group["trial_index"], group[metric], s=14, alpha=0.7,
                       label=f"{str(step) or metric} (observed)")  # fmt: skip
        stopped = frame[frame["status"] == "EARLY_STOPPED"]
        if not stopped.empty:
            ax.scatter(stopped["trial_index"], stopped[metric], s=22, marker="v",
                       color="C1", label="early stopped")  # fmt: skip
        ax.step(frame["trial_index"], frame["best_so_far"], where="post", color="C3",
                label="best so far")  # fmt: skip
        if wants_log(frame[metric]):
            ax.set_yscale("log")
        failed = frame[frame["status"].isin(["FAILED", "ABANDONED"])]
        if not failed.empty:
            strip = ax.get_xaxis_transform()  # x in data, y in axes fractions
            ax.plot(failed["trial_index"], [0.02] * len(failed), "x", color="red",
                    transform=strip, label=f"failed ({len(failed)})")  # fmt: skip
    ax.set_xlabel("trial index")
    ax.set_ylabel(metric)
    ax.set_title(f"{experiment.name}: optimization trace")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def save_html_report(experiment: Experiment, path: str | Path) -> Path:
    """One offline HTML file: the dashboard's figures (plotly.js embedded from the
    installed package, no CDN), the static PNG trace and a styled trial table."""
    import html
    import json

    from plotly.offline import get_plotlyjs

    from scheduler.analysis.plots import all_figures, trial_table

    path = Path(path)
    table = trial_table(experiment)
    figures = all_figures(table, log_y=False)
    divs = "".join(f"<div class='plot' id='plot-{name}'></div>" for name in figures)
    image = base64.b64encode(trace_png(experiment)).decode()
    shown = table.frame.drop(columns=["feasible", "best_so_far"])
    title = html.escape(experiment.name)
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_REPORT_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{title}</h1><p>{len(table.frame)} trials: "
        + html.escape(", ".join(f"{k} {v}" for k, v in experiment.status_counts().items() if v))
        + f"</p><div class='plots'>{divs}</div>"
        f"<details><summary>static trace (PNG)</summary>"
        f"<img alt='optimization trace' src='data:image/png;base64,{image}'></details>"
        f"<h2>Trials</h2>{shown.to_html(index=False, na_rep='', classes='grid', border=0)}"
        f"<script>const FIGURES = {json.dumps(figures, default=_jsonable)};"
        "for (const [k, f] of Object.entries(FIGURES)) "
        "Plotly.newPlot('plot-' + k, f.data, f.layout, {responsive: true});</script>"
        "</body></html>",
        encoding="utf-8",
    )
    return path


def _jsonable(value: object) -> object:
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


_REPORT_CSS = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}"
    ".plot{height:380px;border:1px solid #ddd}"
    "table.grid{border-collapse:collapse;font-size:13px}"
    "table.grid th,table.grid td{border-bottom:1px solid #e4e4e4;padding:3px 8px}"
    "table.grid th{background:#f4f4f4}"
)
