"""The `bo-scheduler` command line: run, resume, inspect and stop experiments.

Every command that reads the database takes `--db-url` (default
`$BO_DATABASE_URL`, else `sqlite:///bo-scheduler.db`); broker settings come
from the environment (`BO_BROKER_URL`, `BO_RESULT_BACKEND`) or the
experiment's config. Passwords in URLs are masked in everything printed.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, cast

import click

from scheduler.core.errors import BoSchedulerError, FailureRateExceededError
from scheduler.core.masking import mask_secrets, mask_url
from scheduler.ops.config import (
    ConfigError,
    ExperimentConfig,
    Services,
    build_experiment,
    build_generation_strategy,
    build_options,
    celery_app_for,
    check_objective_function,
    load_config,
    parse_config,
    resolve_services,
)
from scheduler.ops.env import DEFAULT_DATABASE_URL, ENV_DATABASE_URL

logger = logging.getLogger("scheduler.ops.cli.main")

#: Exit codes of `run`, `resume` and `demo` beyond click's own (2: usage error).
EXIT_CONFIG = 2
EXIT_FAILURE_RATE = 3
EXIT_STORAGE = 4
EXIT_SERVICE = 5

_DB_URL = click.option(
    "--db-url",
    envvar=ENV_DATABASE_URL,
    default=None,
    show_envvar=True,
    help=f"Experiment database (default: {DEFAULT_DATABASE_URL}).",
)


class _Failure(click.ClickException):
    """A user-facing error with an exit code and masked secrets."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(mask_secrets(message))
        self.exit_code = exit_code  # type: ignore[misc]


def _fail(exc: BaseException, exit_code: int = 1) -> _Failure:
    return _Failure(str(exc), exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Run and inspect closed-loop Bayesian-optimization experiments.

    Trials run as Celery tasks: on a Redis-backed worker fleet when
    BO_BROKER_URL is set (or the config has a broker: section), else on a
    worker inside this process. State lives in SQL: BO_DATABASE_URL, else
    sqlite:///bo-scheduler.db.

    \b
    Examples:
      bo-scheduler demo
      bo-scheduler run examples/configs/branin.yaml --metrics-port 9100
      bo-scheduler status branin
      bo-scheduler stop branin --wait
      bo-scheduler resume branin
    """


# ------------------------------------------------------------------- helpers


def _log_level(value: str | None, progress: bool) -> int:
    if value is not None:
        return int(getattr(logging, value.upper()))
    return logging.WARNING if progress else logging.INFO


def _want_progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def _db_settings(url: str) -> Any:
    from scheduler.storage import DBSettings

    return DBSettings(url=url)


def _control(url: str) -> Any:
    from scheduler.storage.sql.control import ControlStore

    try:
        return ControlStore(url)
    except BoSchedulerError as exc:
        raise _fail(exc, EXIT_STORAGE) from None


def _stored_names(url: str) -> list[str]:
    from scheduler.storage import list_experiments

    try:
        return list_experiments(_db_settings(url))
    except BoSchedulerError as exc:
        raise _fail(exc, EXIT_STORAGE) from None


def _config_data(config: ExperimentConfig) -> dict[str, Any]:
    return config.model_dump(mode="json", exclude_defaults=False)


def _print_summary(result: Any, services: Services, name: str) -> None:
    summary = result.summary
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary["trials_by_status"].items()))
    state = "stopped" if result.stopped else ("finished" if result.budget_reached else "ended")
    click.echo(f"experiment {name}: {state}; trials: {counts or 'none'}")
    if summary["best_trial_index"] is not None:
        values = ", ".join(f"{k}={v:.6g}" for k, v in summary["best_values"].items())
        click.echo(
            f"best trial {summary['best_trial_index']}: {summary['best_parameters']} -> {values}"
        )
    if result.stopped:
        click.echo(
            f"{result.trials_out} trial(s) still out; continue with: bo-scheduler resume {name}"
            + (
                f" --db-url '{mask_url(services.database_url)}'"
                if services.sources.get("database") == "from --db-url"
                else ""
            )
        )


def _check_broker(app: Any, services: Services) -> None:
    """Refuse to start when the broker or the result backend does not answer.

    Without this, every trial would fail to deploy and use up the budget.
    """
    described = services.describe()
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=2, interval_start=0.5, timeout=5)
    except Exception as exc:
        raise _Failure(
            f"cannot reach the broker {described['broker']}: {str(exc).rstrip('.')}. "
            "Check BO_BROKER_URL (or the config's broker: section) and that Redis is running.",
            EXIT_SERVICE,
        ) from None
    try:
        app.backend.get("bo-scheduler-preflight")
    except Exception as exc:
        raise _Failure(
            f"cannot reach the result backend {described['result_backend']}: "
            f"{str(exc).rstrip('.')}. Check "
            "BO_RESULT_BACKEND (or the config's broker: section).",
            EXIT_SERVICE,
        ) from None


def _run_scheduler(
    config: ExperimentConfig,
    services: Services,
    *,
    resume_only: bool,
    metrics_port: int | None,
    metrics_address: str,
    progress: bool,
    config_source: str,
    stop_check_seconds: float,
    drain_seconds: float,
    app: Any = None,
) -> Any:
    """Create or resume `config.name`, run it to its budget, return the `DaemonResult`."""
    from scheduler.ops.daemon import DaemonScheduler, run_daemon
    from scheduler.ops.metrics_exporter import SchedulerMetrics
    from scheduler.storage import StorageError
    from scheduler.storage.encoding import definition_differences, experiment_to_json

    name = config.name
    if services.embedded:  # kombu warns that memory:// names no host
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    for key, text in services.describe().items():
        logger.info("%s: %s", key, text)
    services.apply_to_environ()
    app = app if app is not None else celery_app_for(services)
    if not services.embedded:
        _check_broker(app, services)
    metrics = SchedulerMetrics(name)
    if metrics_port is not None:
        try:
            port = metrics.serve(metrics_port, metrics_address)
        except OSError as exc:
            raise _Failure(
                f"cannot serve metrics on {metrics_address}:{metrics_port}: {exc.strerror}; "
                "choose another --metrics-port (BO_METRICS_PORT), or 0 for any free port",
                EXIT_SERVICE,
            ) from None
        logger.info("Prometheus metrics on http://%s:%d/metrics", metrics_address, port)
    db_settings = _db_settings(services.database_url)
    try:
        control = _control(services.database_url)
        stored = name in _stored_names(services.database_url)
        options = build_options(config)
        if stored:
            fresh = build_experiment(config, app)
            scheduler = cast(
                DaemonScheduler,
                DaemonScheduler.from_stored_experiment(
                    name,
                    options=options,
                    db_settings=db_settings,
                    metrics=metrics,
                    celery_app=app,
                ),
            )
            registry = db_settings.resolved_registry
            differences = definition_differences(
                experiment_to_json(scheduler.experiment, registry),
                experiment_to_json(fresh, registry),
            )
            if differences and not resume_only:
                raise _Failure(
                    f"experiment {name!r} is stored with a different definition ("
                    + "; ".join(differences)
                    + "). Give the config another name:, or delete the stored experiment "
                    f"with `bo-scheduler delete {name}`.",
                    EXIT_CONFIG,
                )
            logger.info("resuming stored experiment %r", name)
        elif resume_only:
            raise _Failure(f"no experiment named {name!r} is stored", EXIT_STORAGE)
        else:
            check_objective_function(config, required=services.embedded)
            experiment = build_experiment(config, app)
            strategy = build_generation_strategy(config, experiment.search_space)
            scheduler = DaemonScheduler(
                experiment, strategy, options, db_settings=db_settings, metrics=metrics
            )
            logger.info("created experiment %r", name)
        control.save_config(name, _config_data(config), config_source)
        return run_daemon(
            scheduler,
            config.scheduler.total_trials,
            timeout_hours=config.scheduler.timeout_hours,
            control=control,
            stop_check_seconds=stop_check_seconds,
            embedded=services.embedded,
            drain_seconds=drain_seconds,
            show_progress=progress,
        )
    except ConfigError as exc:
        raise _fail(exc, EXIT_CONFIG) from None
    except FailureRateExceededError as exc:
        raise _fail(exc, EXIT_FAILURE_RATE) from None
    except StorageError as exc:
        raise _fail(exc, EXIT_STORAGE) from None
    except BoSchedulerError as exc:
        raise _fail(exc) from None
    finally:
        metrics.close()


_DAEMON_OPTIONS = [
    click.option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        default=None,
        envvar="BO_METRICS_PORT",
        show_envvar=True,
        help="Serve Prometheus metrics on this port (0: any free port).",
    ),
    click.option(
        "--metrics-address", default="0.0.0.0", show_default=True, help="Address to serve on."
    ),
    click.option(
        "--progress/--no-progress",
        default=None,
        help="Progress bar on stderr (default: when stderr is a terminal).",
    ),
    click.option(
        "--log-level",
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
        default=None,
        help="Default: INFO, or WARNING while a progress bar is shown.",
    ),
    click.option(
        "--stop-check-seconds",
        type=click.FloatRange(min=0.05),
        default=2.0,
        show_default=True,
        help="How often to look for `bo-scheduler stop` requests.",
    ),
    click.option(
        "--drain-seconds",
        type=click.FloatRange(min=0),
        default=120.0,
        show_default=True,
        help="Embedded mode: after a stop, how long to wait for in-process trials.",
    ),
]


def _daemon_options(function: Any) -> Any:
    for option in reversed(_DAEMON_OPTIONS):
        function = option(function)
    return function


# ------------------------------------------------------------------- commands


@main.command()
@click.argument(
    "config_file",
    metavar="CONFIG",
    envvar="BO_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
)
@_DB_URL
@_daemon_options
def run(
    config_file: Path,
    db_url: str | None,
    metrics_port: int | None,
    metrics_address: str,
    progress: bool | None,
    log_level: str | None,
    stop_check_seconds: float,
    drain_seconds: float,
) -> None:
    """Create (or resume) the experiment in CONFIG and run it to its budget.

    Runs until scheduler.total_trials trials are finished, as a long-running
    daemon: SIGTERM or SIGINT, or `bo-scheduler stop NAME` from anywhere,
    stops it cleanly with everything saved; `bo-scheduler resume NAME` then
    continues. If the experiment is already stored (same definition), it is
    resumed. Logs go to stderr; the summary to stdout.

    CONFIG may also come from $BO_CONFIG. The config's database: and
    broker: sections are overridden by BO_DATABASE_URL, BO_BROKER_URL and
    BO_RESULT_BACKEND (and --db-url).

    \b
    Example:
      BO_BROKER_URL=redis://:secret@redis:6379/0 \\
        bo-scheduler run examples/configs/branin.yaml --metrics-port 9100
    """
    try:
        config = load_config(config_file)
    except ConfigError as exc:
        raise _fail(exc, EXIT_CONFIG) from None
    show = _want_progress(progress)
    from scheduler.ops.daemon import setup_logging

    setup_logging(_log_level(log_level, show))
    services = resolve_services(config, database_url=db_url)
    result = _run_scheduler(
        config,
        services,
        resume_only=False,
        metrics_port=metrics_port,
        metrics_address=metrics_address,
        progress=show,
        config_source=str(config_file),
        stop_check_seconds=stop_check_seconds,
        drain_seconds=drain_seconds,
    )
    _print_summary(result, services, config.name)


@main.command()
@click.argument("name")
@_DB_URL
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Use this config's budget and options instead of the stored ones.",
)
@click.option("--total-trials", type=click.IntRange(min=1), default=None, help="Change the budget.")
@_daemon_options
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
    show = _want_progress(progress)
    from scheduler.ops.daemon import setup_logging

    setup_logging(_log_level(log_level, show))
    url = resolve_services(None, database_url=db_url).database_url
    if config_file is not None:
        try:
            config = load_config(config_file)
        except ConfigError as exc:
            raise _fail(exc, EXIT_CONFIG) from None
        source = str(config_file)
        if config.name != name:
            raise _Failure(
                f"{config_file} describes experiment {config.name!r}, not {name!r}", EXIT_CONFIG
            )
    else:
        stored = _control(url).load_config(name)
        if stored is None:
            known = _stored_names(url)
            if name not in known:
                raise _Failure(
                    f"no experiment named {name!r} in {mask_url(url)}; stored: "
                    f"{', '.join(known) or 'none'}",
                    EXIT_STORAGE,
                )
            raise _Failure(
                f"experiment {name!r} was not started with `bo-scheduler run`, so no config "
                "is stored for it; pass --config FILE",
                EXIT_CONFIG,
            )
        data, source = stored
        try:
            config = parse_config(data, f"(stored config of {name}, from {source})")
        except ConfigError as exc:
            raise _fail(exc, EXIT_CONFIG) from None
    if total_trials is not None:
        config.scheduler.total_trials = total_trials
    services = resolve_services(config, database_url=url)
    result = _run_scheduler(
        config,
        services,
        resume_only=True,
        metrics_port=metrics_port,
        metrics_address=metrics_address,
        progress=show,
        config_source=source,
        stop_check_seconds=stop_check_seconds,
        drain_seconds=drain_seconds,
    )
    _print_summary(result, services, name)


def _load(name: str, url: str) -> Any:
    """The stored experiment, for reading: classes this process lacks get stand-ins."""
    from scheduler.storage import DBSettings, load_experiment
    from scheduler.storage.registry import DEFAULT_REGISTRY, ReadingRegistry

    try:
        return load_experiment(
            name, DBSettings(url=url, registry=ReadingRegistry(DEFAULT_REGISTRY))
        )
    except BoSchedulerError as exc:
        raise _fail(exc, EXIT_STORAGE) from None


def _worker_hosts(
    trials: list[Any], services: Services, use_inspect: bool
) -> tuple[dict[int, dict[str, Any]], str | None]:
    """Celery state and worker hostname of each trial's task: one backend read, then inspect."""
    from scheduler.celery.results import ResultStore

    found: dict[int, dict[str, Any]] = {}
    with_ids = [t for t in trials if t.run_metadata.get("task_id")]
    if not with_ids:
        return found, None
    if services.embedded:
        return found, "embedded mode: tasks run inside the daemon's process"
    services.apply_to_environ()
    try:
        app = celery_app_for(services)
        metas = ResultStore(app.backend).read([t.run_metadata["task_id"] for t in with_ids])
    except Exception as exc:
        return found, f"result backend unreachable: {mask_secrets(str(exc))}"
    for trial, (meta, _) in zip(with_ids, metas, strict=True):
        entry: dict[str, Any] = {"state": "PENDING", "worker": None}
        if meta is not None:
            entry["state"] = meta.get("status")
            result = meta.get("result")
            entry["worker"] = meta.get("worker") or (
                result.get("hostname") if isinstance(result, dict) else None
            )
        found[trial.index] = entry
    missing = {t.run_metadata["task_id"]: t.index for t in with_ids if not found[t.index]["worker"]}
    if missing and use_inspect:
        try:
            inspector = app.control.inspect(timeout=1.0)
            for method in (inspector.active, inspector.reserved):
                for worker, tasks in (method() or {}).items():
                    for task in tasks or []:
                        index = missing.get(task.get("id"))
                        if index is not None:
                            found[index]["worker"] = worker
        except Exception as exc:
            return found, f"could not inspect workers: {mask_secrets(str(exc))}"
    return found, None


def _status_data(name: str, url: str, use_inspect: bool) -> dict[str, Any]:
    from scheduler.analysis.report import best_observed_trial

    experiment = _load(name, url)
    control = _control(url)
    stored = control.load_config(name)
    config = None
    if stored is not None:
        try:
            config = parse_config(stored[0])
        except ConfigError:
            config = None
    services = resolve_services(config, database_url=url)
    counts: dict[str, int] = {}
    for trial in experiment.trials.values():
        counts[trial.status.name] = counts.get(trial.status.name, 0) + 1
    best = best_observed_trial(experiment)
    out = [t for t in experiment.trials.values() if t.status.name in ("STAGED", "RUNNING")]
    hosts, note = _worker_hosts(out, services, use_inspect)
    now = time.time()
    running = []
    for trial in out:
        sent = trial.run_metadata.get("sent_at")
        running.append(
            {
                "trial_index": trial.index,
                "status": trial.status.name,
                "task_id": trial.run_metadata.get("task_id"),
                "celery_state": hosts.get(trial.index, {}).get("state"),
                "worker": hosts.get(trial.index, {}).get("worker"),
                "seconds_out": None if sent is None else round(now - float(sent), 1),
                "parameters": trial.arm.parameters,
            }
        )
    lease = control.lease(name)
    return {
        "experiment": name,
        "database": mask_url(url),
        "broker": services.describe()["broker"],
        "daemon": lease.describe(),
        "budget": None if config is None else config.scheduler.total_trials,
        "trials": len(experiment.trials),
        "trials_by_status": counts,
        "best": None
        if best is None
        else {"trial_index": best[0], "parameters": best[1], "values": best[2]},
        "running": running,
        "note": note,
    }


@main.command()
@click.argument("name")
@_DB_URL
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
    url = resolve_services(None, database_url=db_url).database_url
    data = _status_data(name, url, inspect)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
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


@main.command()
@click.argument("name")
@_DB_URL
@click.option(
    "--out",
    "out_dir",
    default="bo-reports",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for NAME.csv, NAME.png and NAME.html.",
)
def report(name: str, db_url: str | None, out_dir: Path) -> None:
    """Write experiment NAME's trials as CSV and its optimization trace as PNG and HTML.

    The CSV has one row per trial (exp_to_df): index, status, generation
    step, parameters, metric means, failure reason.

    \b
    Example:
      bo-scheduler report branin --out reports/
    """
    from scheduler.analysis.report import exp_to_df, save_trace_plot

    url = resolve_services(None, database_url=db_url).database_url
    experiment = _load(name, url)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.csv", out_dir / f"{name}.png", out_dir / f"{name}.html"]
    exp_to_df(experiment).to_csv(paths[0], index=False)
    save_trace_plot(experiment, paths[1])
    save_trace_plot(experiment, paths[2])
    for path in paths:
        click.echo(str(path))


@main.command(name="list")
@_DB_URL
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(db_url: str | None, as_json: bool) -> None:
    """List the stored experiments with their trial counts, best value and daemon.

    \b
    Example:
      bo-scheduler list --db-url sqlite:///bo-scheduler.db
    """
    from scheduler.analysis.report import best_observed_trial

    url = resolve_services(None, database_url=db_url).database_url
    control = _control(url)
    rows = []
    for name in _stored_names(url):
        experiment = _load(name, url)
        best = best_observed_trial(experiment)
        completed = sum(t.status.name == "COMPLETED" for t in experiment.trials.values())
        rows.append(
            {
                "experiment": name,
                "trials": len(experiment.trials),
                "completed": completed,
                "best": None if best is None else best[2],
                "daemon": control.lease(name).describe(),
            }
        )
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


@main.command()
@click.argument("name")
@_DB_URL
@click.option("--reason", default="stop requested by an operator", show_default=True)
@click.option(
    "--wait/--no-wait",
    default=False,
    help="Wait until the daemon has stopped (released the experiment).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="With --wait: give up after this many seconds (exit code 1).",
)
def stop(name: str, db_url: str | None, reason: str, wait: bool, timeout: float) -> None:
    """Ask the daemon running experiment NAME to finish, from any host.

    The request is written to the database; the daemon notices it within
    a few seconds (--stop-check-seconds), finishes its iteration, saves and
    exits. Trials out on the fleet keep running; `bo-scheduler resume NAME`
    collects them. Same effect as SIGTERM to the daemon's process.

    \b
    Example:
      bo-scheduler stop branin --wait
    """
    url = resolve_services(None, database_url=db_url).database_url
    if name not in _stored_names(url):
        raise _Failure(f"no experiment named {name!r} in {mask_url(url)}", EXIT_STORAGE)
    control = _control(url)
    lease = control.lease(name)
    control.request_stop(name, reason)
    if not lease.alive:
        click.echo(
            f"{name}: {lease.describe()}; the stop request is recorded but no daemon runs it"
        )
        return
    click.echo(f"{name}: stop requested; daemon {lease.owner} will finish its iteration and exit")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if control.lease(name).owner is None:
            click.echo(f"{name}: daemon stopped")
            return
        time.sleep(0.5)
    raise _Failure(f"{name}: daemon still holds the experiment after {timeout:g} s")


@main.command()
@click.argument("name")
@_DB_URL
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, db_url: str | None, yes: bool) -> None:
    """Delete stored experiment NAME with its trials and data (refused while it runs).

    \b
    Example:
      bo-scheduler delete branin_old --yes
    """
    from scheduler.storage import delete_experiment

    url = resolve_services(None, database_url=db_url).database_url
    if not yes:
        click.confirm(f"Delete experiment {name!r} from {mask_url(url)}?", abort=True)
    try:
        delete_experiment(name, _db_settings(url))
    except BoSchedulerError as exc:
        raise _fail(exc, EXIT_STORAGE) from None
    click.echo(f"deleted {name}")


# ------------------------------------------------------------------------ demo

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


@main.command()
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
    from scheduler.analysis.report import exp_to_df, save_trace_plot
    from scheduler.ops.daemon import setup_logging
    from scheduler.storage import delete_experiment
    from workers.app import make_app

    show = _want_progress(progress)
    setup_logging(logging.WARNING)
    report_dir.mkdir(parents=True, exist_ok=True)
    database = report_dir / "demo.db"
    url = f"sqlite:///{database}"
    config = demo_config(trials, seed, url)
    services = Services(
        url, None, None, {"database": "demo", "broker": "embedded", "result_backend": "embedded"}
    )
    if DEMO_NAME in _stored_names(url):
        delete_experiment(DEMO_NAME, _db_settings(url))
    app = make_app({})  # embedded whatever the environment says
    result = _run_scheduler(
        config,
        services,
        resume_only=False,
        metrics_port=None,
        metrics_address="127.0.0.1",
        progress=show,
        config_source="(demo)",
        stop_check_seconds=2.0,
        drain_seconds=60.0,
        app=app,
    )
    scheduler_summary = result.summary
    from scheduler.celery.embedded import stop_embedded_worker
    from scheduler.storage import load_experiment

    stop_embedded_worker(app)

    experiment = load_experiment(DEMO_NAME, _db_settings(url))
    csv, png, html = (report_dir / f"{DEMO_NAME}{ext}" for ext in (".csv", ".png", ".html"))
    exp_to_df(experiment).to_csv(csv, index=False)
    save_trace_plot(experiment, png)
    save_trace_plot(experiment, html)
    if scheduler_summary["best_trial_index"] is None:
        raise _Failure("no trial completed; see the log above")
    index = scheduler_summary["best_trial_index"]
    parameters = scheduler_summary["best_parameters"]
    value = scheduler_summary["best_values"]["branin"]
    shown = ", ".join(f"{k}={v:.4f}" for k, v in parameters.items())
    click.echo(f"best trial {index}: {shown} -> branin={value:.6f}")
    click.echo("(Branin's optimum is 0.397887)")
    click.echo(f"report written to {csv}, {png} and {html}")
    click.echo(f"experiment stored in {url}: bo-scheduler status {DEMO_NAME} --db-url {url}")


def _add_storage_commands() -> None:
    """`bo-scheduler db upgrade|current` from the storage package."""
    try:
        from scheduler.ops.cli.db import db
    except ImportError:  # storage without its CLI
        return
    main.add_command(db)


_add_storage_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
