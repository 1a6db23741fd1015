"""`bo-scheduler status`, `list` and `report`: reading stored experiments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from scheduler.core.masking import mask_url
from scheduler.ops.cli.common import DB_URL, database_url, reported_errors
from scheduler.ops.service import load_for_reading, write_report
from scheduler.ops.status import list_rows, status_data


def _print_status(data: dict[str, Any]) -> None:
    click.echo(f"experiment: {data['experiment']}")
    click.echo(f"database:   {data['database']}")
    click.echo(f"broker:     {data['broker']}")
    click.echo(f"daemon:     {data['daemon']}")
    budget = f" of {data['budget']}" if data["budget"] else ""
    counts = ", ".join(f"{k} {v}" for k, v in sorted(data["trials_by_status"].items()))
    click.echo(f"trials:     {data['trials']}{budget} ({counts or 'none yet'})")
    best = data["best"]
    if best is None:
        click.echo("best:       none yet")
    else:
        values = ", ".join(f"{k}={v:.6g}" for k, v in best["values"].items())
        click.echo(f"best:       trial {best['trial_index']}: {values} at {best['parameters']}")
    if data["running"]:
        click.echo("trials out:")
        click.echo(
            f"  {'trial':>5}  {'status':<8} {'celery':<8} {'task id':<36}  {'worker':<30} out"
        )
        for row in data["running"]:
            seconds = "-" if row["seconds_out"] is None else f"{row['seconds_out']:.0f} s"
            click.echo(
                f"  {row['trial_index']:>5}  {row['status']:<8} {row['celery_state'] or '-':<8} "
                f"{row['task_id'] or '-':<36}  {row['worker'] or '-':<30} {seconds}"
            )
    if data["note"]:
        click.echo(f"note:       {data['note']}")


@click.command()
@click.argument("name")
@DB_URL
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--inspect/--no-inspect",
    default=True,
    show_default=True,
    help="Ask the workers (celery inspect) for tasks whose result does not name one.",
)
def status(name: str, db_url: str | None, as_json: bool, inspect: bool) -> None:
    """Show experiment NAME: trials by status, best so far, and the trials out.

    For each trial out on the fleet: its Celery task id, state and the worker
    running it (from the result backend, where `result_extended` stores the
    worker's hostname, else from `celery inspect`).

    \b
    Example:
      bo-scheduler status branin
      bo-scheduler status branin --json | jq .running
    """
    with reported_errors():
        data = status_data(name, database_url(db_url), inspect)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        _print_status(data)


@click.command()
@click.argument("name")
@DB_URL
@click.option(
    "--out",
    "out_dir",
    default="bo-reports",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for NAME.csv, NAME.png and NAME.html.",
)
def report(name: str, db_url: str | None, out_dir: Path) -> None:
    """Write experiment NAME's trials as CSV, its trace as PNG and an interactive HTML report.

    The HTML file works offline (plotly.js is embedded) and has the
    dashboard's figures: history, parameters, contour, Pareto front.

    The CSV has one row per trial (exp_to_df): index, status, generation
    step, parameters, metric means, failure reason.

    \b
    Example:
      bo-scheduler report branin --out reports/
    """
    with reported_errors():
        paths = write_report(load_for_reading(name, database_url(db_url)), out_dir)
    for path in paths:
        click.echo(str(path))


@click.command(name="list")
@DB_URL
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(db_url: str | None, as_json: bool) -> None:
    """List the stored experiments with their trial counts, best value and daemon.

    \b
    Example:
      bo-scheduler list --db-url sqlite:///bo-scheduler.db
    """
    url = database_url(db_url)
    with reported_errors():
        rows = list_rows(url)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no experiments in {mask_url(url)}")
        return
    width = max(len("experiment"), *(len(r["experiment"]) for r in rows))
    click.echo(f"{'experiment':<{width}}  {'trials':>6}  {'done':>6}  {'best':<24}  daemon")
    for r in rows:
        best_text = (
            "-"
            if not r["best"]
            else ", ".join(f"{k}={v:.6g}" for k, v in list(r["best"].items())[:1])
        )
        click.echo(
            f"{r['experiment']:<{width}}  {r['trials']:>6}  {r['completed']:>6}  "
            f"{best_text:<24}  {r['daemon']}"
        )
