"""`bo-scheduler stop` and `delete`: acting on a stored experiment from any host."""

from __future__ import annotations

import click

from scheduler.core.masking import mask_url
from scheduler.ops.cli.common import DB_URL, Failure, database_url, reported_errors
from scheduler.ops.service import delete as delete_experiment
from scheduler.ops.service import request_stop, wait_until_released


@click.command()
@click.argument("name")
@DB_URL
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
    url = database_url(db_url)
    with reported_errors():
        lease = request_stop(name, url, reason)
    if not lease.alive:
        click.echo(
            f"{name}: {lease.describe()}; the stop request is recorded but no daemon runs it"
        )
        return
    click.echo(f"{name}: stop requested; daemon {lease.owner} will finish its iteration and exit")
    if not wait:
        return
    with reported_errors():
        released = wait_until_released(name, url, timeout)
    if not released:
        raise Failure(f"{name}: daemon still holds the experiment after {timeout:g} s")
    click.echo(f"{name}: daemon stopped")


@click.command()
@click.argument("name")
@DB_URL
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, db_url: str | None, yes: bool) -> None:
    """Delete stored experiment NAME with its trials and data (refused while it runs).

    \b
    Example:
      bo-scheduler delete branin_old --yes
    """
    url = database_url(db_url)
    if not yes:
        click.confirm(f"Delete experiment {name!r} from {mask_url(url)}?", abort=True)
    with reported_errors():
        delete_experiment(name, url)
    click.echo(f"deleted {name}")
