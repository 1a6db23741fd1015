"""`bo-scheduler demo`: Branin in embedded mode, the README's first command."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from scheduler.ops.cli.common import Failure, reported_errors, want_progress
from scheduler.ops.config import ExperimentConfig, Services, parse_config
from scheduler.ops.service import (
    RunSettings,
    delete,
    experiment_names,
    load_for_reading,
    run_experiment,
    write_report,
)

DEMO_NAME = "branin_demo"


def demo_config(trials: int, seed: int, database_url: str) -> ExperimentConfig:
    """The demo's experiment: Branin, Sobol then BoTorch, polled tightly."""
    return parse_config(
        {
            "name": DEMO_NAME,
            "description": "bo-scheduler demo: Branin in embedded mode",
            "parameters": [
                {"name": "x1", "type": "range", "bounds": [-5, 10]},
                {"name": "x2", "type": "range", "bounds": [0, 15]},
            ],
            "objectives": {"branin": "minimize"},
            "objective_function": {"name": "branin", "sem": 0.0},
            "generation": {"strategy": "auto", "seed": seed, "max_parallelism": 3},
            "scheduler": {
                "total_trials": trials,
                "max_pending_trials": 3,
                "init_seconds_between_polls": 0.01,
                "min_seconds_before_poll": 0.0,
                "max_seconds_between_polls": 0.2,
            },
            "database": {"url": database_url},
        },
        "(demo)",
    )


@click.command()
@click.option(
    "--trials",
    default=25,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many trials to run.",
)
@click.option("--seed", default=0, show_default=True, help="Random seed of the strategy.")
@click.option(
    "--report-dir",
    default="bo-reports",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the database, the CSV and the trace plots.",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr.")
def demo(trials: int, seed: int, report_dir: Path, progress: bool | None) -> None:
    """Optimize Branin in embedded mode and print the best point.

    Everything runs in this process: a Celery worker on kombu's in-memory
    transport evaluates the registered `branin` objective, exactly as a
    fleet worker would, and the experiment is stored in a SQLite file in
    REPORT_DIR (run again to start over). No Redis or database server needed.

    \b
    Example:
      bo-scheduler demo --trials 25
    """
    from scheduler.celery.embedded import stop_embedded_worker
    from scheduler.ops.daemon import setup_logging
    from workers.app import make_app

    show = want_progress(progress)
    setup_logging(logging.WARNING)
    report_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{report_dir / 'demo.db'}"
    config = demo_config(trials, seed, url)
    services = Services(
        url, None, None, {"database": "demo", "broker": "embedded", "result_backend": "embedded"}
    )
    settings = RunSettings(
        metrics_address="127.0.0.1", progress=show, config_source="(demo)", drain_seconds=60.0
    )
    with reported_errors():
        if DEMO_NAME in experiment_names(url):
            delete(DEMO_NAME, url)
        app = make_app({})  # embedded whatever the environment says
        outcome = run_experiment(config, services, settings, app=app)
        stop_embedded_worker(app)
        csv, png, html = write_report(load_for_reading(DEMO_NAME, url), report_dir)
    summary = outcome.result.summary
    if summary["best_trial_index"] is None:
        raise Failure("no trial completed; see the log above")
    shown = ", ".join(f"{k}={v:.4f}" for k, v in summary["best_parameters"].items())
    value = summary["best_values"]["branin"]
    click.echo(f"best trial {summary['best_trial_index']}: {shown} -> branin={value:.6f}")
    click.echo("(Branin's optimum is 0.397887)")
    click.echo(f"report written to {csv}, {png} and {html}")
    click.echo(f"experiment stored in {url}: bo-scheduler status {DEMO_NAME} --db-url {url}")
