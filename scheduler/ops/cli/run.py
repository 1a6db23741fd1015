"""`bo-scheduler run` and `resume`: the daemon, to the experiments' budgets.

One config (or one name) runs as it always has; several (files, a directory
of configs, or names) run in one shared daemon (`scheduler.ops.shared_daemon`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scheduler.core.masking import mask_secrets, mask_url
from scheduler.ops.cli import common
from scheduler.ops.cli.common import (
    DB_URL,
    Failure,
    daemon_options,
    database_url,
    exit_code_for,
    reported_errors,
    use_objective_modules,
)
from scheduler.ops.config import ExperimentConfig, Services, load_config, resolve_services
from scheduler.ops.config.load import CONFIG_SUFFIXES
from scheduler.ops.env import ENV_CONFIG
from scheduler.ops.service import RunOutcome, RunSettings, resume_config, run_experiment

if TYPE_CHECKING:
    from scheduler.ops.shared_daemon import ExperimentRun

#: Exit status of a run interrupted by SIGINT (Ctrl-C), as shells report it (128 + 2).
EXIT_INTERRUPTED = 130


class _ConfigPaths(click.Path):
    """Config paths; from `$BO_CONFIG`, several are separated by spaces (click's
    paths split on `:`, which a `.env` file or a compose line rarely means)."""

    envvar_list_splitter = None  # type: ignore[assignment]  # None: whitespace


@dataclass(frozen=True)
class DaemonFlags:
    """The daemon options `run` and `resume` share (`common.daemon_options`)."""

    metrics_port: int | None
    metrics_address: str
    progress: bool | None
    log_level: str | None
    stop_check_seconds: float
    drain_seconds: float
    objectives: tuple[str, ...]
    max_trials_out: int | None
    dashboard_port: int | None
    dashboard_host: str

    def settings(self, source: str, resume_only: bool, restart: bool = False) -> RunSettings:
        return RunSettings(
            resume_only=resume_only,
            restart=restart,
            metrics_port=self.metrics_port,
            metrics_address=self.metrics_address,
            progress=common.want_progress(self.progress),
            config_source=source,
            stop_check_seconds=self.stop_check_seconds,
            drain_seconds=self.drain_seconds,
        )

    def start(self) -> None:
        """Objective modules and logging, before anything else runs."""
        from scheduler.ops.daemon import setup_logging

        use_objective_modules(self.objectives)
        setup_logging(common.log_level(self.log_level, common.want_progress(self.progress)))

    @property
    def shared(self) -> bool:
        return self.max_trials_out is not None


@dataclass(frozen=True)
class _Planned:
    config: ExperimentConfig
    settings: RunSettings
    config_file: Path | None  # `run`'s file, for the "start over" hint


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
    """How the run ended, the best trial, and how to continue a stopped run.

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


def expand_config_paths(paths: Sequence[Path]) -> list[Path]:
    """`paths` with each directory replaced by the config files in it, sorted."""
    files: list[Path] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in CONFIG_SUFFIXES)
        if not found:
            raise Failure(
                f"{path} is a directory without config files ({', '.join(CONFIG_SUFFIXES)}); "
                "pass config files, or a directory that holds them",
                common.EXIT_CONFIG,
            )
        files.extend(found)
    return files


def _run_planned(planned: Sequence[_Planned], db_url: str | None, flags: DaemonFlags) -> None:
    """Run `planned` (one alone, several in a shared daemon) and print each summary;
    exit with the first failure's code, or 130 after a SIGINT."""
    from scheduler.ops.shared_daemon import ExperimentRun

    with reported_errors():
        services = [resolve_services(p.config, database_url=db_url) for p in planned]
        url = services[0].database_url
        with _dashboard(url, flags.dashboard_host, flags.dashboard_port):
            if len(planned) == 1 and not flags.shared:
                p = planned[0]
                outcome = run_experiment(p.config, services[0], p.settings)
                runs = [ExperimentRun(p.config.name, outcome)]
            else:
                runs = _run_shared(planned, services, flags)
    flagged = services[0].sources.get("database") == "from --db-url"
    for p, run in zip(planned, runs, strict=True):
        if run.outcome is not None:
            print_summary(run.outcome, p.config.name, flagged, url, p.config_file)
    errors = [(run.name, run.error) for run in runs if run.error is not None]
    for name, error in errors:
        click.echo(f"experiment {name}: {mask_secrets(str(error))}", err=True)
    if errors:
        raise SystemExit(exit_code_for(errors[0][1]))
    if any(run.outcome is not None and run.outcome.result.interrupted for run in runs):
        raise SystemExit(EXIT_INTERRUPTED)


def _run_shared(
    planned: Sequence[_Planned], services: Sequence[Services], flags: DaemonFlags
) -> list[ExperimentRun]:
    from scheduler.ops.shared_daemon import DaemonSettings, PlannedRun, run_experiments

    runs = [PlannedRun(p.config, s, p.settings) for p, s in zip(planned, services, strict=True)]
    daemon = DaemonSettings(flags.metrics_port, flags.metrics_address, flags.max_trials_out)
    return run_experiments(runs, daemon)


@click.command()
@click.argument(
    "config_files",
    metavar="CONFIG...",
    nargs=-1,
    required=True,
    envvar=ENV_CONFIG,
    type=_ConfigPaths(path_type=Path),
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
    config_files: tuple[Path, ...], db_url: str | None, restart: bool, **daemon: object
) -> None:
    """Create (or resume) the experiment in each CONFIG and run it to its budget.

    Runs until scheduler.total_trials trials are finished, as a long-running
    daemon: SIGTERM or SIGINT, or `bo-scheduler stop NAME` from anywhere,
    stops it cleanly with everything saved; `bo-scheduler resume NAME` then
    continues. If the experiment is already stored (same definition), it is
    resumed; --restart deletes it and starts over. Logs go to stderr; the
    summary to stdout.

    Several CONFIGs (or a directory of them) run in one daemon on one fleet,
    each with its own budget, model and stopping; --max-trials-out caps the
    trials out between them, split by each config's scheduler.weight.

    CONFIG may also come from $BO_CONFIG. The config's database: and
    broker: sections are overridden by BO_DATABASE_URL, BO_BROKER_URL and
    BO_RESULT_BACKEND (and --db-url).

    \b
    Examples:
      BO_BROKER_URL=redis://:secret@redis:6379/0 \\
        bo-scheduler run examples/configs/branin.yaml --metrics-port 9100
      bo-scheduler run tuning/ --max-trials-out 16
    """
    flags = DaemonFlags(**daemon)  # type: ignore[arg-type]
    flags.start()
    with reported_errors():
        files = expand_config_paths(list(config_files))
        planned = [
            _Planned(load_config(f), flags.settings(str(f), False, restart), f) for f in files
        ]
    _run_planned(planned, db_url, flags)


@click.command()
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@DB_URL
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Use this config's budget and options instead of the stored ones (one NAME only).",
)
@click.option("--total-trials", type=click.IntRange(min=1), default=None, help="Change the budget.")
@daemon_options
def resume(
    names: tuple[str, ...],
    db_url: str | None,
    config_file: Path | None,
    total_trials: int | None,
    **daemon: object,
) -> None:
    """Continue stored experiment(s) NAME to their budget (after a stop or a crash).

    Uses the config each experiment was last run with (stored in the
    database by `run`), with environment overrides applied as for `run`.
    Trials that were out when the previous daemon stopped are polled first,
    so results that arrived meanwhile are collected and nothing is sent twice.
    Several NAMEs resume in one shared daemon, as `run` with several configs.

    \b
    Examples:
      bo-scheduler resume branin --db-url postgresql://bo:secret@db/bo
      bo-scheduler resume branin hartmann6 --max-trials-out 8
    """
    flags = DaemonFlags(**daemon)  # type: ignore[arg-type]
    flags.start()
    url = database_url(db_url)
    if config_file is not None and len(names) > 1:
        raise Failure(
            "--config gives the config of one experiment; resume one NAME with it, or "
            "leave it out to use each experiment's stored config",
            common.EXIT_CONFIG,
        )
    with reported_errors():
        planned = []
        for name in dict.fromkeys(names):
            config, source = resume_config(name, url, config_file, total_trials)
            planned.append(_Planned(config, flags.settings(source, True), None))
    _run_planned(planned, url, flags)
