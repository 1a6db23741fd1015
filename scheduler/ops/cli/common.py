"""What every `bo-scheduler` command shares: exit codes, options, error reporting.

Commands call `scheduler.ops.service` inside `reported_errors()`, which
turns the service's `BoSchedulerError`s into one masked line on stderr and
the exit code of their class, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from scheduler.celery.fleet import UnknownFleetObjectiveError
from scheduler.core.errors import BoSchedulerError, FailureRateExceededError
from scheduler.core.masking import mask_secrets
from scheduler.ops.config import ConfigError, resolve_services
from scheduler.ops.env import (
    DEFAULT_DATABASE_URL,
    ENV_DATABASE_URL,
    ENV_MAX_TRIALS_OUT,
    ENV_METRICS_PORT,
)
from scheduler.ops.service import RunSettings, ServiceUnavailableError, UnusableConfigError
from scheduler.storage.errors import StorageError

#: Exit codes of `run`, `resume` and `demo` beyond click's own (2: usage error).
EXIT_CONFIG = 2
EXIT_FAILURE_RATE = 3
EXIT_STORAGE = 4
EXIT_SERVICE = 5

#: Exit code of each failure class, most specific first; any other one exits 1.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_CONFIG),
    (UnusableConfigError, EXIT_CONFIG),
    (UnknownFleetObjectiveError, EXIT_CONFIG),  # the config names an objective no worker has
    (FailureRateExceededError, EXIT_FAILURE_RATE),
    (StorageError, EXIT_STORAGE),
    (ServiceUnavailableError, EXIT_SERVICE),
)

F = TypeVar("F", bound=Callable[..., Any])

DB_URL = click.option(
    "--db-url",
    envvar=ENV_DATABASE_URL,
    default=None,
    show_envvar=True,
    help=f"Experiment database (default: {DEFAULT_DATABASE_URL}).",
)


class Failure(click.ClickException):
    """A user-facing error with an exit code and masked secrets."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(mask_secrets(message))
        self.exit_code = exit_code  # type: ignore[misc]


def exit_code_for(exc: BaseException) -> int:
    """The exit code `EXIT_CODES` gives `exc`'s class (1 for any other)."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a `BoSchedulerError` into a `Failure`: its message, masked, and its exit code."""
    try:
        yield
    except BoSchedulerError as exc:
        raise Failure(str(exc), exit_code_for(exc)) from None


def database_url(flag: str | None) -> str:
    """`--db-url`, else `$BO_DATABASE_URL`, else the default database."""
    return resolve_services(None, database_url=flag).database_url


def log_level(value: str | None, progress: bool) -> int:
    """`--log-level`, else INFO (WARNING under a progress bar, which logs would break)."""
    if value is not None:
        return int(getattr(logging, value.upper()))
    return logging.WARNING if progress else logging.INFO


def want_progress(flag: bool | None) -> bool:
    """`--progress/--no-progress`, else whether stderr is a terminal."""
    return sys.stderr.isatty() if flag is None else flag


_DAEMON_OPTIONS = [
    click.option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        default=None,
        envvar=ENV_METRICS_PORT,
        show_envvar=True,
        help="Serve Prometheus metrics on this port (0: any free port).",
    ),
    click.option(
        "--metrics-address",
        default=RunSettings.metrics_address,
        show_default=True,
        help="Address to serve on.",
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
        default=RunSettings.stop_check_seconds,
        show_default=True,
        help="How often to look for `bo-scheduler stop` requests.",
    ),
    click.option(
        "--drain-seconds",
        type=click.FloatRange(min=0),
        default=RunSettings.drain_seconds,
        show_default=True,
        help="Embedded mode: after a stop, how long to wait for in-process trials.",
    ),
    click.option(
        "--objectives",
        multiple=True,
        metavar="MODULE[,MODULE]",
        help="Module(s) registering your objectives (added to BO_OBJECTIVE_MODULES), for "
        "embedded runs; a module in the current directory is found.",
    ),
    click.option(
        "--max-trials-out",
        type=click.IntRange(min=1),
        default=None,
        envvar=ENV_MAX_TRIALS_OUT,
        show_envvar=True,
        help="With several experiments: at most this many trials out between them, split "
        "by each config's scheduler.weight (default: each its own max_pending_trials).",
    ),
    click.option(
        "--dashboard-port",
        type=click.IntRange(0, 65535),
        default=None,
        help="Also serve the web dashboard on this port while the daemon runs (0: any free "
        "port); see `bo-scheduler dashboard`.",
    ),
    click.option(
        "--dashboard-host",
        default="127.0.0.1",
        show_default=True,
        help="Address of --dashboard-port; another than loopback needs BO_DASHBOARD_TOKEN.",
    ),
]


def daemon_options(function: F) -> F:
    """The options of the commands that run a daemon (`run`, `resume`)."""
    for option in reversed(_DAEMON_OPTIONS):
        function = option(function)
    return function


def use_objective_modules(modules: Sequence[str]) -> None:
    """`--objectives`: add `modules` to BO_OBJECTIVE_MODULES (each once) and put the current
    directory first on the path, here and for child processes, so `my_objectives.py`
    beside the user is found, as `celery worker` finds its app module."""
    from workers.settings import ENV_OBJECTIVE_MODULES

    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([cwd, *(p for p in paths if p != cwd)])
    names: list[str] = []
    for chunk in (os.environ.get(ENV_OBJECTIVE_MODULES, ""), *modules):
        for name in chunk.split(","):
            if name.strip() and name.strip() not in names:
                names.append(name.strip())
    if names:
        os.environ[ENV_OBJECTIVE_MODULES] = ",".join(names)
