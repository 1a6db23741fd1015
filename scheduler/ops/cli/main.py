"""The `bo-scheduler` command line: the click group and its commands.

One module per command group: `run` (run, resume), `inspection` (status,
list, report), `control` (stop, delete), `dashboard`, `demo`, and `db` (the schema);
`common` holds what they share. Every command that reads the database takes
`--db-url` (default `$BO_DATABASE_URL`, else `sqlite:///bo-scheduler.db`);
broker settings come from the environment (`BO_BROKER_URL`,
`BO_RESULT_BACKEND`) or the experiment's config. Passwords in URLs are
masked in everything printed. The work itself is in `scheduler.ops.service`.
"""

from __future__ import annotations

import click

from scheduler.ops.cli.common import EXIT_CONFIG, EXIT_FAILURE_RATE, EXIT_SERVICE, EXIT_STORAGE
from scheduler.ops.cli.control import delete, stop
from scheduler.ops.cli.dashboard import dashboard
from scheduler.ops.cli.db import db
from scheduler.ops.cli.demo import demo
from scheduler.ops.cli.inspection import list_command, report, status
from scheduler.ops.cli.run import resume, run
from scheduler.ops.cli.workers import FLEET_COMMANDS

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE_RATE", "EXIT_SERVICE", "EXIT_STORAGE", "main"]


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


for command in (
    run,
    resume,
    status,
    report,
    list_command,
    stop,
    delete,
    demo,
    db,
    dashboard,
    *FLEET_COMMANDS,
):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
