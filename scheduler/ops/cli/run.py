"""`bo-scheduler run` and `resume`: the daemon, to the experiment's budget."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from scheduler.core.masking import mask_url
from scheduler.ops.cli import common
from scheduler.ops.cli.common import (
    DB_URL,
    daemon_options,
    database_url,
    reported_errors,
    use_objective_modules,
)
from scheduler.ops.config import load_config, resolve_services
from scheduler.ops.env import ENV_CONFIG
from scheduler.ops.service import RunOutcome, RunSettings, resume_config, run_experiment

#: Exit status of a run interrupted by SIGINT (Ctrl-C), as shells report it (128 + 2).
EXIT_INTERRUPTED = 130


@contextmanager
def _dashboard(url: str, host: str, port: int | None) -> Iterator[None]:
    """`--dashboard-port`: the dashboard beside the daemon (imported only when asked)."""
    if port is None:
        yield
        return
    from scheduler.ops.dashboard.server import beside_daemon

    with beside_daemon(url, host, port):
        yield


def print_summary(
    outcome: RunOutcome, name: str, db_url_flag: bool, url: str, config_file: Path | None = None
) -> None:
    """How the run ended, the best trial, and how to continue a stopped run; a run
    interrupted by SIGINT then exits 130 (budget reached, `stop` or SIGTERM: 0).

    With failed trials, `run` (`config_file`) says how to start over: running a
    fixed config again resumes the stored experiment, failures and budget included."""
    result, summary = outcome.result, outcome.result.summary
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.status_counts.items()) if v)
    state = "stopped" if result.stopped else ("finished" if result.budget_reached else "ended")
    click.echo(f"experiment {name}: {state}; trials: {counts or 'none'}")
    if summary["best_trial_index"] is not None:
        values = ", ".join(f"{k}={v:.6g}" for k, v in summary["best_values"].items())
        click.echo(
            f"best trial {summary['best_trial_index']}: {summary['best_parameters']} -> {values}"
        )
    if result.stopped:
        flag = f" --db-url '{mask_url(url)}'" if db_url_flag else ""
        click.echo(
            f"{result.trials_out} trial(s) still out; continue with: "
            f"bo-scheduler resume {name}{flag}"
        )
    failed = outcome.status_counts.get("FAILED", 0) + outcome.status_counts.get("ABANDONED", 0)
    if failed and config_file is not None and not result.stopped:
        click.echo(
            f"{failed} trial(s) failed; once the cause is fixed, start over with: "
            f"bo-scheduler run {config_file} --restart"
        )
    if result.interrupted:
        raise SystemExit(EXIT_INTERRUPTED)


def _settings(
    show: bool,
    source: str,
    metrics_port: int | None,
    metrics_address: str,
    stop_check_seconds: float,
    drain_seconds: float,
    resume_only: bool,
    restart: bool = False,
) -> RunSettings:
    return RunSettings(
        resume_only=resume_only,
        restart=restart,
        metrics_port=metrics_port,
        metrics_address=metrics_address,
        progress=show,
        config_source=source,
        stop_check_seconds=stop_check_seconds,
        drain_seconds=drain_seconds,
    )


@click.command()
@click.argument(
    "config_file",
    metavar="CONFIG",
    envvar=ENV_CONFIG,
    type=click.Path(dir_okay=False, path_type=Path),
)
@DB_URL
@click.option(
    "--restart",
    is_flag=True,
    help="Delete a stored experiment of the config's name first and start over "
    "(e.g. after fixing what made its trials fail). Refused while a daemon runs it.",
)
@daemon_options
def run(
    config_file: Path,
    db_url: str | None,
    restart: bool,
    metrics_port: int | None,
    metrics_address: str,
    progress: bool | None,
    log_level: str | None,
    stop_check_seconds: float,
    drain_seconds: float,
    objectives: tuple[str, ...],
    dashboard_port: int | None,
    dashboard_host: str,
) -> None:
    """Create (or resume) the experiment in CONFIG and run it to its budget.

    Runs until scheduler.total_trials trials are finished, as a long-running
    daemon: SIGTERM or SIGINT, or `bo-scheduler stop NAME` from anywhere,
    stops it cleanly with everything saved; `bo-scheduler resume NAME` then
    continues. If the experiment is already stored (same definition), it is
    resumed; --restart deletes it and starts over. Logs go to stderr; the
    summary to stdout.

    CONFIG may also come from $BO_CONFIG. The config's database: and
    broker: sections are overridden by BO_DATABASE_URL, BO_BROKER_URL and
    BO_RESULT_BACKEND (and --db-url).

    \b
    Example:
      BO_BROKER_URL=redis://:secret@redis:6379/0 \\
        bo-scheduler run examples/configs/branin.yaml --metrics-port 9100
    """
    from scheduler.ops.daemon import setup_logging

    use_objective_modules(objectives)
    with reported_errors():
        config = load_config(config_file)
        show = common.want_progress(progress)
        setup_logging(common.log_level(log_level, show))
        services = resolve_services(config, database_url=db_url)
        settings = _settings(
            show,
            str(config_file),
            metrics_port,
            metrics_address,
            stop_check_seconds,
            drain_seconds,
            resume_only=False,
            restart=restart,
        )
        with _dashboard(services.database_url, dashboard_host, dashboard_port):
            outcome = run_experiment(config, services, settings)
    flagged = services.sources.get("database") == "from --db-url"
    print_summary(outcome, config.name, flagged, services.database_url, config_file)


@click.command()
@click.argument("name")
@DB_URL
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Use this config's budget and options instead of the stored ones.",
)
@click.option("--total-trials", type=click.IntRange(min=1), default=None, help="Change the budget.")
@daemon_options
def resume(
    name: str,
    db_url: str | None,
    config_file: Path | None,
    total_trials: int | None,
    metrics_port: int | None,
    metrics_address: str,
    progress: bool | None,
    log_level: str | None,
    stop_check_seconds: float,
    drain_seconds: float,
    objectives: tuple[str, ...],
    dashboard_port: int | None,
    dashboard_host: str,
) -> None:
    """Continue a stored experiment NAME to its budget (after a stop or a crash).

    Uses the config the experiment was last run with (stored in the
    database by `run`), with environment overrides applied as for `run`.
    Trials that were out when the previous daemon stopped are polled first,
    so results that arrived meanwhile are collected and nothing is sent twice.

    \b
    Example:
      bo-scheduler resume branin --db-url postgresql://bo:secret@db/bo
    """
    from scheduler.ops.daemon import setup_logging

    use_objective_modules(objectives)
    show = common.want_progress(progress)
    setup_logging(common.log_level(log_level, show))
    url = database_url(db_url)
    with reported_errors():
        config, source = resume_config(name, url, config_file, total_trials)
        services = resolve_services(config, database_url=url)
        settings = _settings(
            show,
            source,
            metrics_port,
            metrics_address,
            stop_check_seconds,
            drain_seconds,
            resume_only=True,
        )
        with _dashboard(services.database_url, dashboard_host, dashboard_port):
            outcome = run_experiment(config, services, settings)
    flagged = services.sources.get("database") == "from --db-url"
    print_summary(outcome, name, flagged, services.database_url)
