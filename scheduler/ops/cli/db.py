"""`bo-scheduler db ...`: operator commands for the database schema.

Wired into the main CLI with `main.add_command(db)`.
"""

from __future__ import annotations

import click

from scheduler.core.masking import mask_url
from scheduler.ops.env import ENV_DATABASE_URL
from scheduler.storage.errors import StorageError
from scheduler.storage.settings import default_url
from scheduler.storage.sql.engine import get_engine
from scheduler.storage.sql.migrate import schema_status, upgrade

_URL_OPTION = click.option(
    "--db-url",
    "--url",
    "url",
    envvar=ENV_DATABASE_URL,
    default=None,
    help="Database URL, as for every other command (--url is an older spelling; "
    f"default: ${ENV_DATABASE_URL}, else sqlite:///bo-scheduler.db).",
)


@click.group()
def db() -> None:
    """Create, migrate and inspect the experiment database."""


@db.command("upgrade")
@_URL_OPTION
@click.option("--revision", default="head", show_default=True, help="Target schema revision.")
def upgrade_command(url: str | None, revision: str) -> None:
    """Migrate the database schema to the newest revision (creating it if empty).

    Back up production databases first. Example:
    bo-scheduler db upgrade --db-url postgresql://bo@db-host/bo
    """
    url = url or default_url()
    try:
        before, after = upgrade(get_engine(url), revision)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    if before == after:
        click.echo(f"{mask_url(url)}: already at revision {after}")
    else:
        click.echo(f"{mask_url(url)}: upgraded from {before or 'empty'} to {after}")


@db.command("current")
@_URL_OPTION
def current_command(url: str | None) -> None:
    """Print the database's schema revision and whether it is up to date."""
    url = url or default_url()
    try:
        current, head = schema_status(get_engine(url))
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    if current == head:
        state = "up to date"
    elif current is None:
        state = "empty: run `bo-scheduler db upgrade` (or just start a scheduler)"
    else:
        state = f"outdated (code is at {head}): run `bo-scheduler db upgrade`"
    click.echo(f"{mask_url(url)}: revision {current or 'none'} ({state})")
