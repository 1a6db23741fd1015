"""The figures of an experiment, shared by `bo-scheduler report` and the dashboard.

Every function takes a `TrialTable` (one row per trial, built once per load of
the experiment) and returns a plotly figure as a JSON-ready dict, so the
dashboard's API sends exactly what the offline HTML report embeds, and both
show the same thing. Figures use observed values only (no model fit): they
must be cheap enough to rebuild every few seconds on a live experiment.

The figures, and why:

- `history_figure`: every trial's first-objective value against its index,
  coloured by generation step, with the best feasible value so far; failed
  trials are marked on a strip below (they have no value, but a run of
  failures is what an operator must see), early-stopped trials get their
  own marker (their value is partial). `log_y` asks for a log axis, used
  only when every value is positive.
- `parallel_figure`, `slice_figure`, `contour_figure`: how parameters relate
  to the objective, from completed trials.
- `pareto_figure`, `hypervolume_figure`: for several objectives, the observed
  Pareto front (first two objectives) with the objective thresholds, and the
  hypervolume it dominates after each trial.
- `curves_figure`: learning curves (Data rows with a `step`), early-stopped
  trials drawn dashed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from scheduler.analysis.trial_table import TrialTable, trial_table
from scheduler.core.data import STEP_COLUMN

__all__ = ["TrialTable", "all_figures", "trial_table"]

Figure = dict[str, Any]

#: Values spanning at least this ratio (all positive) get a log axis in the PNG report.
DECADES_FOR_LOG = 100.0
_STATUS_COLOURS = {"FAILED": "#d62728", "EARLY_STOPPED": "#ff7f0e", "ABANDONED": "#7f7f7f"}


def wants_log(values: pd.Series) -> bool:
    """Whether `values` (finite ones) are all positive and span `DECADES_FOR_LOG`."""
    finite = values[np.isfinite(values.to_numpy(dtype=float))]
    if finite.empty or (finite <= 0).any():
        return False
    return bool(finite.max() / finite.min() >= DECADES_FOR_LOG)


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title},
        "template": "plotly_white",
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
    }
    layout.update(extra)
    return layout


def _empty(title: str, message: str) -> Figure:
    return {
        "data": [],
        "layout": _layout(
            title,
            xaxis={"visible": False},
            yaxis={"visible": False},
            annotations=[{"text": message, "showarrow": False, "font": {"size": 14}}],
        ),
    }


def _floats(series: pd.Series) -> list[float | None]:
    """JSON-safe floats: NaN becomes None (a gap for plotly)."""
    return [None if not math.isfinite(v) else float(v) for v in series.to_numpy(dtype=float)]


def history_figure(table: TrialTable, log_y: bool = False) -> Figure:
    """Objective value of every trial and the best so far; failures on a strip below."""
    objective, frame = table.objective, table.frame
    title = "Optimization history"
    if objective is None or frame.empty:
        return _empty(title, "no trials yet")
    traces: list[dict[str, Any]] = []
    done = frame[frame["status"] == "COMPLETED"]
    for step, group in done.groupby("generation_step", sort=False):
        traces.append(
            {
                "type": "scattergl",
                "mode": "markers",
                "name": str(step) or "trials",
                "x": group["trial_index"].tolist(),
                "y": _floats(group[objective]),
                "marker": {"size": 6, "opacity": 0.75},
                "hovertemplate": "trial %{x}<br>%{y:.6g}<extra>%{fullData.name}</extra>",
            }
        )
    stopped = frame[frame["status"] == "EARLY_STOPPED"]
    if not stopped.empty:
        traces.append({"type": "scattergl", "mode": "markers", "name": "early stopped",
                       "x": stopped["trial_index"].tolist(), "y": _floats(stopped[objective]),
                       "marker": {"symbol": "triangle-down", "size": 8,
                                  "color": "#ff7f0e"}})  # fmt: skip
    traces.append({"type": "scatter", "mode": "lines", "name": "best so far",
                   "x": frame["trial_index"].tolist(), "y": _floats(frame["best_so_far"]),
                   "line": {"shape": "hv", "color": "#d62728", "width": 2}})  # fmt: skip
    failed = frame[frame["status"].isin(["FAILED", "ABANDONED"])]
    if not failed.empty:
        traces.append(
            {
                "type": "scattergl",
                "mode": "markers",
                "name": "failed / abandoned",
                "x": failed["trial_index"].tolist(),
                "y": [0] * len(failed),
                "yaxis": "y2",
                "text": failed["reason"].tolist(),
                "marker": {
                    "symbol": "x",
                    "size": 8,
                    "color": [_STATUS_COLOURS[s] for s in failed["status"]],
                },
                "hovertemplate": "trial %{x}: %{text}<extra>failed</extra>",
            }
        )
    values = pd.concat([done[objective], stopped[objective]])
    log = log_y and not values.empty and bool((values.dropna() > 0).all())
    note = "" if log or not log_y else " (log scale needs positive values)"
    layout = _layout(
        f"{title}{note}",
        xaxis={"title": {"text": "trial index"}},
        yaxis={"title": {"text": objective}, "type": "log" if log else "linear",
               "domain": [0.15, 1.0]},
        yaxis2={"domain": [0.0, 0.08], "showticklabels": False, "title": {"text": "failed"},
                "range": [-1, 1], "fixedrange": True},
    )  # fmt: skip
    return {"data": traces, "layout": layout}


def _dimension(table: TrialTable, name: str, values: pd.Series) -> dict[str, Any]:
    if name in table.categories or values.dtype == object:
        choices = table.categories.get(name) or sorted({str(v) for v in values})
        codes = [choices.index(v) if v in choices else -1 for v in values]
        return {
            "label": name,
            "values": codes,
            "tickvals": list(range(len(choices))),
            "ticktext": [str(c) for c in choices],
        }
    return {"label": name, "values": _floats(values)}


def parallel_figure(table: TrialTable) -> Figure:
    """Parallel coordinates of the parameters and objectives of completed trials."""
    done = table.completed()
    title = "Parallel coordinates"
    if done.empty or table.objective is None:
        return _empty(title, "no completed trials yet")
    names = [*table.parameters, *table.objectives]
    dimensions = [_dimension(table, name, done[name]) for name in names]
    colour = _floats(done[table.objective])
    line = {"color": colour, "colorscale": "Viridis", "showscale": True,
            "reversescale": table.minimize[0]}  # fmt: skip
    return {"data": [{"type": "parcoords", "dimensions": dimensions, "line": line}],
            "layout": _layout(title, margin={"l": 60, "r": 60, "t": 80, "b": 30})}  # fmt: skip


def slice_figure(table: TrialTable) -> Figure:
    """One panel per parameter: the objective against that parameter's value."""
    done = table.completed()
    title = "Slice plots"
    if done.empty or table.objective is None or not table.parameters:
        return _empty(title, "no completed trials yet")
    n = len(table.parameters)
    gap = 0.04
    width = (1.0 - gap * (n - 1)) / n
    traces, layout = [], _layout(title, showlegend=False)
    for i, name in enumerate(table.parameters):
        axis = "" if i == 0 else str(i + 1)
        traces.append(
            {
                "type": "scattergl",
                "mode": "markers",
                "x": done[name].tolist(),
                "y": _floats(done[table.objective]),
                "xaxis": f"x{axis}",
                "yaxis": f"y{axis}",
                "name": name,
                "marker": {"size": 5, "color": done["trial_index"].tolist(),
                           "colorscale": "Blues", "opacity": 0.8},
            }
        )  # fmt: skip
        start = i * (width + gap)
        layout[f"xaxis{axis}"] = {"domain": [start, start + width], "title": {"text": name},
                                  "anchor": f"y{axis}"}  # fmt: skip
        layout[f"yaxis{axis}"] = {"anchor": f"x{axis}", "showticklabels": i == 0}
        if i == 0:
            layout["yaxis"]["title"] = {"text": table.objective}
        else:
            layout[f"yaxis{axis}"]["matches"] = "y"
    return {"data": traces, "layout": layout}


def numeric_parameters(table: TrialTable) -> list[str]:
    """The parameters a contour can use (numeric, not choices)."""
    return [p for p in table.parameters if p not in table.categories]


#: Most trials the contour interpolates (an even sample beyond it).
CONTOUR_POINTS = 2_000


def contour_figure(table: TrialTable, x: str | None = None, y: str | None = None) -> Figure:
    """The objective interpolated over parameters `x` and `y`, with the trials on top.

    Interpolation (`scipy.interpolate.griddata`, linear, on a 50 x 50 grid) is
    what the observed points say between them, not a model's prediction. Past
    `CONTOUR_POINTS` trials it interpolates an even sample of them (the grid
    cannot show more, and triangulating 10,000 points costs 0.3 s); every trial
    is still drawn on top.
    """
    from scipy.interpolate import griddata

    usable = numeric_parameters(table)
    title = "Contour"
    if len(usable) < 2 or table.objective is None:
        return _empty(title, "needs two numeric parameters")
    x = x if x in usable else usable[0]
    y = y if y in usable and y != x else next(p for p in usable if p != x)
    done = table.completed()
    points = done[[x, y]].to_numpy(dtype=float)
    values = done[table.objective].to_numpy(dtype=float)
    traces: list[dict[str, Any]] = []
    if len(done) >= 4 and np.ptp(points[:, 0]) > 0 and np.ptp(points[:, 1]) > 0:
        gx = np.linspace(points[:, 0].min(), points[:, 0].max(), 50)
        gy = np.linspace(points[:, 1].min(), points[:, 1].max(), 50)
        sample = np.linspace(0, len(points) - 1, min(len(points), CONTOUR_POINTS)).astype(int)
        grid = griddata(points[sample], values[sample], tuple(np.meshgrid(gx, gy)), method="linear")
        z = [[None if not math.isfinite(v) else float(v) for v in row] for row in grid]
        traces.append({"type": "contour", "x": gx.tolist(), "y": gy.tolist(), "z": z,
                       "colorscale": "Viridis", "reversescale": table.minimize[0],
                       "colorbar": {"title": {"text": table.objective}},
                       "connectgaps": False})  # fmt: skip
    traces.append({"type": "scattergl", "mode": "markers", "name": "trials",
                   "x": points[:, 0].tolist(), "y": points[:, 1].tolist(),
                   "text": done["trial_index"].tolist(),
                   "marker": {"color": "white", "size": 6, "line": {"color": "black", "width": 1}},
                   "hovertemplate": "trial %{text}<extra></extra>"})  # fmt: skip
    layout = _layout(f"{title}: {table.objective} over {x}, {y}",
                     xaxis={"title": {"text": x}}, yaxis={"title": {"text": y}})  # fmt: skip
    return {"data": traces, "layout": layout}


def pareto_front(table: TrialTable) -> pd.DataFrame:
    """Rows of `table.completed()` no other row dominates in all objectives (BoTorch's
    `is_non_dominated`, through `pareto_mask`)."""
    import torch

    from scheduler.generation.botorch.outcomes import pareto_mask

    done = table.completed()
    if done.empty or len(table.objectives) < 2:
        return done.iloc[0:0]
    signs = np.array([-1.0 if m else 1.0 for m in table.minimize])
    Y = torch.tensor(done[table.objectives].to_numpy(dtype=float) * signs, dtype=torch.double)
    return done[pareto_mask(Y).numpy()]


def pareto_figure(table: TrialTable) -> Figure:
    """Completed trials in the first two objectives, the Pareto front and thresholds."""
    title = "Pareto front"
    if len(table.objectives) < 2:
        return _empty(title, "single objective")
    done = table.completed()
    a, b = table.objectives[:2]
    front = pareto_front(table).sort_values(a)
    traces = [
        {"type": "scattergl", "mode": "markers", "name": "trials", "x": _floats(done[a]),
         "y": _floats(done[b]), "text": done["trial_index"].tolist(),
         "marker": {"color": "#9ecae1", "size": 6}, "hovertemplate": "trial %{text}"},
        {"type": "scatter", "mode": "lines+markers", "name": "Pareto front",
         "x": _floats(front[a]), "y": _floats(front[b]), "text": front["trial_index"].tolist(),
         "line": {"shape": "hv" if table.minimize[1] == table.minimize[0] else "vh"},
         "marker": {"color": "#d62728", "size": 9}, "hovertemplate": "trial %{text}"},
    ]  # fmt: skip
    shapes = []
    for name, axis in ((a, "x"), (b, "y")):
        if name in table.thresholds:
            bound = table.thresholds[name]
            line: dict[str, Any] = {"type": "line", "line": {"dash": "dash", "color": "#555"}}
            if axis == "x":
                line.update(x0=bound, x1=bound, y0=0, y1=1, yref="paper")
            else:
                line.update(y0=bound, y1=bound, x0=0, x1=1, xref="paper")
            shapes.append(line)
    layout = _layout(title, xaxis={"title": {"text": a}}, yaxis={"title": {"text": b}},
                     shapes=shapes)  # fmt: skip
    return {"data": traces, "layout": layout}


def hypervolume_trace(table: TrialTable) -> list[float | None]:
    """Hypervolume of the observed front after each trial (None before any point counts).

    The reference point is the objective thresholds where given, else
    `infer_reference_point` over all completed trials (a bit worse than the
    final front's nadir), so the curve only rises. The front is recomputed
    (BoTorch's `Hypervolume`) only when a trial joins it.
    """
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    from scheduler.generation.botorch.outcomes import infer_reference_point, pareto_mask

    done = table.completed()
    if len(table.objectives) < 2 or done.empty:
        return []
    signs = torch.tensor([-1.0 if m else 1.0 for m in table.minimize], dtype=torch.double)
    Y = torch.tensor(done[table.objectives].to_numpy(dtype=float), dtype=torch.double) * signs
    spec_thresholds = {
        j: float(signs[j]) * table.thresholds[name]
        for j, name in enumerate(table.objectives)
        if name in table.thresholds
    }
    ref = infer_reference_point(Y, spec_thresholds)
    hv = Hypervolume(ref_point=ref)
    at_index = dict(zip(done["trial_index"].tolist(), range(len(done)), strict=True))
    front = torch.zeros((0, Y.shape[1]), dtype=torch.double)
    volume: float | None = None
    trace: list[float | None] = []
    for index in table.frame["trial_index"].tolist():
        row = at_index.get(index)
        if row is not None and bool((Y[row] > ref).all()):
            candidate = torch.cat([front, Y[row : row + 1]])
            mask = pareto_mask(candidate)
            if bool(mask[-1]):
                front = candidate[mask]
                volume = float(hv.compute(front))
        trace.append(volume)
    return trace


def hypervolume_figure(table: TrialTable) -> Figure:
    title = "Hypervolume"
    trace = hypervolume_trace(table)
    if not trace:
        return _empty(title, "needs several objectives and completed trials")
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "hypervolume",
            "x": table.frame["trial_index"].tolist(),
            "y": trace,
            "line": {"shape": "hv"},
        }
    ]
    layout = _layout(title, xaxis={"title": {"text": "trial index"}},
                     yaxis={"title": {"text": "dominated hypervolume"}})  # fmt: skip
    return {"data": data, "layout": layout}


def curves_figure(table: TrialTable) -> Figure:
    """Learning curves of trials that reported progress; early-stopped ones dashed."""
    title = "Learning curves"
    curves = table.curves
    if curves.empty:
        return _empty(title, "no trial reported progress")
    names = [m for m in table.objectives if m in set(curves["metric_name"])]
    metric = names[0] if names else str(curves["metric_name"].iloc[0])
    curves = curves[curves["metric_name"] == metric].sort_values(["trial_index", STEP_COLUMN])
    status = dict(zip(table.frame["trial_index"], table.frame["status"], strict=True))
    traces = []
    for index, group in curves.groupby("trial_index", sort=True):
        stopped = status.get(int(group["trial_index"].iloc[0])) == "EARLY_STOPPED"
        traces.append({"type": "scatter", "mode": "lines", "name": f"trial {index}",
                       "x": _floats(group[STEP_COLUMN]), "y": _floats(group["mean"]),
                       "line": {"dash": "dash" if stopped else "solid",
                                "color": "#ff7f0e" if stopped else None},
                       "legendgroup": "stopped" if stopped else "ran"})  # fmt: skip
    axes = {"xaxis": {"title": {"text": "step"}}, "yaxis": {"title": {"text": metric}}}
    layout = _layout(f"{title} ({metric}; dashed: early stopped)", **axes)
    return {"data": traces, "layout": layout}


def all_figures(
    table: TrialTable, log_y: bool = False, x: str | None = None, y: str | None = None
) -> dict[str, Figure]:
    """Every figure by name: what the dashboard's `/plots` endpoint and the report show."""
    figures = {
        "history": history_figure(table, log_y),
        "parallel": parallel_figure(table),
        "slice": slice_figure(table),
        "contour": contour_figure(table, x, y),
        "curves": curves_figure(table),
    }
    if len(table.objectives) >= 2:
        figures["pareto"] = pareto_figure(table)
        figures["hypervolume"] = hypervolume_figure(table)
    return figures
