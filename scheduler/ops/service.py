"""The application behind `bo-scheduler`: run experiments and say how they are doing.

The CLI parses options, calls one function here and prints what it returns;
everything between (which services to use, whether to create or resume,
what `status` shows) is decided here, so it can be called and tested
without click. Failures are `BoSchedulerError`s whose class says what went
wrong (`ConfigError`, `UnusableConfigError`, `StorageError`,
`ServiceUnavailableError`, `FailureRateExceededError`); the CLI turns the
class into an exit code.

`_open_and_run` creates or resumes the scheduler (the Prometheus exporter
as one of its listeners), then runs it with `run_daemon`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.core.errors import BoSchedulerError, FailureRateExceededError
from scheduler.core.masking import mask_url, without_password
from scheduler.ops.config import (
    BrokerSettingsError,
    ExperimentConfig,
    Services,
    build_experiment,
    build_generation_strategy,
    build_options,
    celery_app_for,
    check_objective_function,
    load_config,
    parse_config,
)
from scheduler.ops.daemon import DEFAULT_DRAIN_SECONDS
from scheduler.ops.env import ENV_BROKER_URL, ENV_METRICS_PORT, ENV_RESULT_BACKEND
from scheduler.storage.errors import ExperimentNotFoundError
from scheduler.storage.sql.engine import missing_sqlite_file

if TYPE_CHECKING:
    from scheduler.core.experiment import Experiment
    from scheduler.fleet_share import FleetShare
    from scheduler.ops.daemon import DaemonResult, StopGroup
    from scheduler.ops.metrics_exporter import MetricFamilies, SchedulerMetrics
    from scheduler.storage import DBSettings
    from scheduler.storage.sql.control import ControlStore, LeaseInfo

logger = logging.getLogger("scheduler.ops.service")


class ServiceUnavailableError(BoSchedulerError):
    """The broker, result backend or metrics port cannot be used; the message says why."""


class UnusableConfigError(BoSchedulerError):
    """A valid config that does not fit the experiment asked for (renamed, changed, missing)."""


@dataclass(frozen=True)
class RunSettings:
    """How `run_experiment` runs: the daemon's options, apart from the config itself.

    `resume_only` refuses to create the experiment (`bo-scheduler resume`);
    otherwise a stored experiment of the config's name is resumed when its
    definition is the config's, and created when none is stored. `restart`
    deletes a stored experiment of that name first (`run --restart`): the way
    to start over once the cause of a failed run is fixed.
    """

    resume_only: bool = False
    restart: bool = False
    metrics_port: int | None = None
    metrics_address: str = "0.0.0.0"
    progress: bool = False
    config_source: str = "(config)"
    stop_check_seconds: float = 2.0
    drain_seconds: float = DEFAULT_DRAIN_SECONDS


@dataclass(frozen=True)
class Sharing:
    """What the experiments of one shared daemon share (`scheduler.ops.shared_daemon`):
    the metric families on one port, the signals, and the cap on trials out."""

    families: MetricFamilies
    stop_group: StopGroup
    fleet_share: FleetShare | None = None


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended (`DaemonResult`) and its experiment's `status_counts()` at the end."""

    result: DaemonResult
    status_counts: dict[str, int]


# ------------------------------------------------------------------ storage


def db_settings(url: str, lease_timeout_seconds: float | None = None) -> DBSettings:
    from scheduler.storage import DBSettings

    if lease_timeout_seconds is None:
        return DBSettings(url=url)
    return DBSettings(url=url, lease_timeout_seconds=lease_timeout_seconds)


def open_control(url: str) -> ControlStore:
    """The control table (stored configs, stop requests, leases) of the database `url`."""
    from scheduler.storage.sql.control import ControlStore

    return ControlStore(url)


def experiment_names(url: str) -> list[str]:
    """Names of the experiments stored in `url` (none in a SQLite file not made yet)."""
    from scheduler.storage import list_experiments

    if missing_sqlite_file(url) is not None:
        return []  # looking never creates the file
    return list_experiments(db_settings(url))


def load_for_reading(name: str, url: str) -> Experiment:
    """The stored experiment, for reading: classes this process lacks get stand-ins."""
    from scheduler.storage import DBSettings, load_experiment
    from scheduler.storage.registry import DEFAULT_REGISTRY, ReadingRegistry

    require_database(name, url)
    return load_experiment(name, DBSettings(url=url, registry=ReadingRegistry(DEFAULT_REGISTRY)))


def require_database(name: str, url: str) -> None:
    """Raise `ExperimentNotFoundError` when `url` is a SQLite file that does not exist,
    naming it, instead of creating an empty database by looking for `name` in it."""
    path = missing_sqlite_file(url)
    if path is not None:
        raise ExperimentNotFoundError(
            f"no experiment named {name!r} in {mask_url(url)}: {path} does not exist "
            "(nothing was stored there); pass --db-url or set BO_DATABASE_URL to the "
            "database the run used"
        )


def require_stored(name: str, url: str) -> None:
    """Raise `ExperimentNotFoundError` (naming the stored ones) unless `name` is stored."""
    require_database(name, url)
    known = experiment_names(url)
    if name not in known:
        raise ExperimentNotFoundError(
            f"no experiment named {name!r} in {mask_url(url)}; stored: {', '.join(known) or 'none'}"
        )


def delete(name: str, url: str) -> None:
    """Delete stored experiment `name` (storage refuses while a daemon runs it)."""
    from scheduler.storage import delete_experiment

    require_database(name, url)
    delete_experiment(name, db_settings(url))


# ---------------------------------------------------------------- services


def connect_app(services: Services, app: Any = None) -> Any:
    """The Celery app for `services`, checked before anything is logged or created.

    A broker setting the workers refuse raises `ServiceUnavailableError`
    with their one-line message (it names the variable and the fix); on a
    fleet, a broker or result backend that does not answer raises it too:
    without this check every trial would fail to deploy and use up the budget.
    """
    services.apply_to_environ()
    try:
        app = app if app is not None else celery_app_for(services)
    except BrokerSettingsError as exc:
        raise ServiceUnavailableError(str(exc)) from None
    if services.embedded:  # kombu warns that memory:// names no host
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    for key, text in services.describe().items():
        logger.info("%s: %s", key, text)
    if not services.embedded:
        _check_broker(app, services)
    return app


def _check_broker(app: Any, services: Services) -> None:
    described = services.describe()
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=2, interval_start=0.5, timeout=5)
    except Exception as exc:
        raise ServiceUnavailableError(
            f"cannot reach the broker {described['broker']}: {str(exc).rstrip('.')}. "
            f"Check {ENV_BROKER_URL} (or the config's broker: section) and that Redis is running."
        ) from None
    try:
        app.backend.get("bo-scheduler-preflight")
    except Exception as exc:
        raise ServiceUnavailableError(
            f"cannot reach the result backend {described['result_backend']}: "
            f"{str(exc).rstrip('.')}. Check {ENV_RESULT_BACKEND} (or the config's broker: section)."
        ) from None


def _serve_metrics(name: str, settings: RunSettings) -> SchedulerMetrics:
    from scheduler.ops.metrics_exporter import SchedulerMetrics

    metrics = SchedulerMetrics(name)
    serve_metrics(metrics.families, settings.metrics_port, settings.metrics_address)
    return metrics


def serve_metrics(families: MetricFamilies, port: int | None, address: str) -> None:
    """Serve `families` on `address:port` (None: not at all); a port that cannot be
    bound raises `ServiceUnavailableError` saying what to choose instead."""
    if port is None:
        return
    try:
        bound = families.serve(port, address)
    except OSError as exc:
        families.close()
        raise ServiceUnavailableError(
            f"cannot serve metrics on {address}:{port}: {exc.strerror}; choose another "
            f"--metrics-port ({ENV_METRICS_PORT}), or 0 for any free port"
        ) from None
    logger.info("Prometheus metrics on http://%s:%d/metrics", address, bound)


# -------------------------------------------------------------------- runs


def check_fleet_has_objective(config: ExperimentConfig, services: Services, app: Any) -> None:
    """Before any trial: refuse an objective no worker of the fleet has (with
    "did you mean"), so a typo spends no budget."""
    if services.embedded:
        return
    from scheduler.celery.fleet import check_fleet_objective

    queue = config.runner.model_dump().get("queue")
    check_fleet_objective(app, config.objective_function.name, queue)


def run_experiment(
    config: ExperimentConfig,
    services: Services,
    settings: RunSettings,
    app: Any = None,
    sharing: Sharing | None = None,
) -> RunOutcome:
    """Create or resume `config.name` and run it to its budget (or until stopped).

    Alone, it checks the services and serves its metrics itself; as one of a
    shared daemon's experiments (`sharing`), the daemon did both, and `app`
    is the daemon's checked app.
    """
    if sharing is None:
        app = connect_app(services, app)
        check_fleet_has_objective(config, services, app)
        metrics = _serve_metrics(config.name, settings)
    else:
        metrics = sharing.families.for_experiment(config.name)
    try:
        control = open_control(services.database_url)
        stored = config.name in experiment_names(services.database_url)
        if stored and settings.restart:
            delete(config.name, services.database_url)
            logger.warning("deleted stored experiment %r to start over (--restart)", config.name)
            stored = False
        if not stored and settings.resume_only:
            raise ExperimentNotFoundError(f"no experiment named {config.name!r} is stored")
        if not stored:
            check_objective_function(config, required=services.embedded)
        try:
            return _open_and_run(config, services, settings, app, metrics, control, stored, sharing)
        except FailureRateExceededError as exc:
            raise FailureRateExceededError(
                f"{exc} Once fixed, start over with `bo-scheduler run "
                f"{settings.config_source} --restart` (it deletes the stored trials; running "
                "the config again would resume them, failures included)."
            ) from None
    finally:
        metrics.close()


def _open_and_run(
    config: ExperimentConfig,
    services: Services,
    settings: RunSettings,
    app: Any,
    metrics: SchedulerMetrics,
    control: ControlStore,
    stored: bool,
    sharing: Sharing | None = None,
) -> RunOutcome:
    """Open the stored scheduler (same definition) or create one, save the config, run it."""
    from scheduler.celery import bind_app
    from scheduler.ops.daemon import run_daemon
    from scheduler.ops.trial_log import TrialLog
    from scheduler.scheduler import Scheduler

    name = config.name
    settings_db = db_settings(services.database_url, config.database.lease_timeout_seconds)
    options = build_options(config)
    share = None if sharing is None else sharing.fleet_share
    if stored:
        fresh = build_experiment(config, app)
        scheduler = Scheduler.from_stored_experiment(
            name,
            options=options,
            db_settings=settings_db,
            bind_runner=bind_app(app),
            listeners=[metrics, TrialLog()],
            fleet_share=share,
        )
        if not settings.resume_only:
            _require_same_definition(scheduler.experiment, fresh, settings_db)
        logger.info("resuming stored experiment %r", name)
    else:
        experiment = build_experiment(config, app)
        strategy = build_generation_strategy(config, experiment.search_space)
        scheduler = Scheduler(
            experiment,
            strategy,
            options,
            db_settings=settings_db,
            listeners=[metrics, TrialLog()],
            fleet_share=share,
        )
        logger.info("created experiment %r", name)
    control.save_config(name, _config_to_store(config, services), settings.config_source)
    result = run_daemon(
        scheduler,
        config.scheduler.total_trials,
        metrics=metrics,
        timeout_hours=config.scheduler.timeout_hours,
        control=control,
        stop_check_seconds=settings.stop_check_seconds,
        embedded=services.embedded,
        drain_seconds=settings.drain_seconds,
        show_progress=settings.progress and sharing is None,
        stop_group=None if sharing is None else sharing.stop_group,
    )
    return RunOutcome(result, scheduler.experiment.status_counts())


def _config_to_store(config: ExperimentConfig, services: Services) -> dict[str, Any]:
    """The config as it runs, for `resume` and `status`: its broker section is the broker
    this run uses (from the environment too), without passwords, so another shell finds
    the fleet while secrets stay in the environment."""
    data = config.model_dump(mode="json")
    if services.embedded:
        data["broker"] = {"broker_url": None, "result_backend": None}
    else:
        backend = services.result_backend
        data["broker"] = {
            "broker_url": without_password(services.broker_url or ""),
            "result_backend": None if backend is None else without_password(backend),
        }
    return data


def _require_same_definition(stored: Experiment, fresh: Experiment, settings: DBSettings) -> None:
    """`run` resumes a stored experiment only if the config still describes it."""
    from scheduler.storage.encoding import definition_differences, experiment_to_json

    registry = settings.resolved_registry
    differences = definition_differences(
        experiment_to_json(stored, registry), experiment_to_json(fresh, registry)
    )
    if differences:
        raise UnusableConfigError(
            f"experiment {stored.name!r} is stored with a different definition ("
            + "; ".join(differences)
            + "). Give the config another name:, or delete the stored experiment "
            f"with `bo-scheduler delete {stored.name}`."
        )


def resume_config(
    name: str, url: str, config_file: Path | None, total_trials: int | None
) -> tuple[ExperimentConfig, str]:
    """The config to resume `name` with, and its source: `config_file`, else the stored one.

    `total_trials` (the `--total-trials` flag) replaces the budget.
    """
    if config_file is not None:
        config = load_config(config_file)
        source = str(config_file)
        if config.name != name:
            raise UnusableConfigError(
                f"{config_file} describes experiment {config.name!r}, not {name!r}"
            )
    else:
        require_database(name, url)
        stored = open_control(url).load_config(name)
        if stored is None:
            require_stored(name, url)
            raise UnusableConfigError(
                f"experiment {name!r} was not started with `bo-scheduler run`, so no config "
                "is stored for it; pass --config FILE"
            )
        data, source = stored
        config = parse_config(data, f"(stored config of {name}, from {source})")
    if total_trials is not None:
        config.scheduler.total_trials = total_trials
    return config, source


# ------------------------------------------------------------------ report


def write_report(experiment: Experiment, out_dir: Path) -> list[Path]:
    """`NAME.csv` (one row per trial), `NAME.png` (the trace) and `NAME.html` (the
    interactive, offline report with the dashboard's figures) in `out_dir`."""
    from scheduler.analysis.report import exp_to_df, save_trace_plot

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{experiment.name}{suffix}" for suffix in (".csv", ".png", ".html")]
    exp_to_df(experiment).to_csv(paths[0], index=False)
    save_trace_plot(experiment, paths[1])
    save_trace_plot(experiment, paths[2])
    return paths


# -------------------------------------------------------------------- stop


def request_stop(name: str, url: str, reason: str) -> LeaseInfo:
    """Record a stop request for `name`; return its lease (`alive`, `owner`) as it was."""
    require_stored(name, url)
    control = open_control(url)
    lease = control.lease(name)
    control.request_stop(name, reason)
    return lease


def wait_until_released(name: str, url: str, timeout: float, every: float = 0.5) -> bool:
    """Whether the daemon running `name` released it (stopped) within `timeout` seconds."""
    control = open_control(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if control.lease(name).owner is None:
            return True
        time.sleep(every)
    return False
