"""`bo-scheduler worker` (start a worker serving your objectives) and `workers` (list the fleet).

`worker` is a thin wrapper over Celery's own worker command for the
workers' app (`celery -A workers.app worker`, which keeps working): it adds
`--objectives` to `BO_OBJECTIVE_MODULES`, puts the current directory on
`sys.path` (so `my_objectives.py` beside you is found), checks the settings
and the modules first (one line on a problem, never a traceback), and hands
every other option to Celery unchanged.

`workers` asks every live worker (the `bo_objectives` remote-control
command, `workers.control`) for its objectives, queues, pool size and the
trials it runs or holds, like `celery inspect` but in one table (or `--json`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from scheduler.core.masking import mask_url
from scheduler.ops.cli.common import EXIT_CONFIG, EXIT_SERVICE, use_objective_modules

if TYPE_CHECKING:
    from scheduler.celery.fleet import WorkerInfo

#: Celery's own log-level options; without one the worker logs at INFO, so the
#: objectives it loaded and the queues it consumes are shown.
_LOGLEVEL_OPTIONS = ("-l", "--loglevel")


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _has_loglevel(args: Sequence[str]) -> bool:
    return any(a in _LOGLEVEL_OPTIONS or a.startswith(("--loglevel=", "-l=")) for a in args)


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--objectives",
    "objectives",
    multiple=True,
    metavar="MODULE[,MODULE]",
    help="Module(s) registering objectives with @objective (added to BO_OBJECTIVE_MODULES); "
    "a module in the current directory is found.",
)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(objectives: tuple[str, ...], celery_args: tuple[str, ...]) -> None:
    """Start a Celery worker that serves your objectives (then Celery's worker options).

    The same as `BO_OBJECTIVE_MODULES=MODULE celery -A workers.app worker
    --loglevel=INFO [CELERY_ARGS]`, with the current directory on the path.
    The worker consumes the default queue and the queue of every objective
    it has, and logs them. Broker: BO_BROKER_URL (and BO_RESULT_BACKEND).

    \b
    Examples:
      BO_BROKER_URL=redis://:secret@redis:6379/0 bo-scheduler worker --objectives my_objectives
      bo-scheduler worker --objectives my_objectives --concurrency 4 -n w1@%h
    """
    from workers.errors import ObjectiveModuleError, WorkerConfigError
    from workers.settings import ENV_BROKER_URL, build_config

    use_objective_modules(objectives)
    try:
        config = build_config(os.environ)
    except WorkerConfigError as exc:
        _fail(f"WorkerConfigError: {exc}", EXIT_CONFIG)
    if str(config["broker_url"]).startswith("memory://"):
        _fail(
            f"a worker needs the fleet's Redis: set {ENV_BROKER_URL}=redis://:password@host:6379/0 "
            "(without a broker, bo-scheduler run evaluates trials in its own process)",
            EXIT_CONFIG,
        )
    from workers.app import app, load_objective_modules

    try:
        load_objective_modules()
    except ObjectiveModuleError as exc:
        _fail(f"ObjectiveModuleError: {exc}", EXIT_CONFIG)
    args = list(celery_args)
    if not _has_loglevel(args):
        args += ["--loglevel", "INFO"]
    code = app.worker_main(["worker", *args])
    sys.exit(code or 0)


@click.command("workers")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds to wait for the workers' replies.",
)
def workers_command(as_json: bool, timeout: float) -> None:
    """List the live workers: objectives, concurrency and the trials they hold.

    Asks the fleet on BO_BROKER_URL (like `celery -A workers.app inspect`).
    "running" trials are executing, "reserved" ones wait in a worker's pool.
    Exits 1 when no worker answers.
    """
    from scheduler.celery.fleet import fleet_workers
    from workers.app import make_app
    from workers.errors import WorkerConfigError
    from workers.settings import ENV_BROKER_URL

    try:
        app = make_app()
    except WorkerConfigError as exc:
        _fail(f"WorkerConfigError: {exc}", EXIT_CONFIG)
    broker = mask_url(str(app.conf.broker_url))
    if broker.startswith("memory://"):
        _fail(f"no fleet to ask: set {ENV_BROKER_URL} to the workers' Redis", EXIT_CONFIG)
    try:
        found = fleet_workers(app, timeout)
    except Exception as exc:
        _fail(f"cannot reach the broker {broker}: {exc}. Check {ENV_BROKER_URL}", EXIT_SERVICE)
    if as_json:
        click.echo(json.dumps([w.to_json() for w in found], indent=2))
    elif found:
        _print_table(found)
    if not found:
        if not as_json:
            click.echo(f"no worker answered on {broker} within {timeout:g} s", err=True)
        sys.exit(1)


def _print_table(found: Sequence[WorkerInfo]) -> None:
    """One block per worker: pool size, objectives, then each trial it holds."""
    for info in found:
        pool = "?" if info.concurrency is None else str(info.concurrency)
        click.echo(f"{info.hostname}  concurrency {pool}  queues {len(info.queues)}")
        click.echo(f"  objectives: {', '.join(info.objectives or []) or 'none'}")
        for trial in info.trials:
            index = "?" if trial.trial_index is None else str(trial.trial_index)
            state = "running " if trial.state == "active" else "reserved"
            click.echo(f"  {state} trial {index} ({trial.objective})  task {trial.task_id}")
        if not info.trials:
            click.echo("  idle")


#: The commands this module adds to `bo-scheduler` (registered in `main`).
FLEET_COMMANDS = (worker, workers_command)
