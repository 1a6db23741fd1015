"""`bo-scheduler dashboard`: serve the live web dashboard over the stored experiments."""

from __future__ import annotations

import click

from scheduler.core.masking import mask_url
from scheduler.ops.cli.common import DB_URL, database_url, reported_errors


@click.command()
@DB_URL
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token", envvar="BO_DASHBOARD_TOKEN", default=None, show_envvar=True,
              help="Require this bearer token (or basic-auth password).")  # fmt: skip
def dashboard(db_url: str | None, host: str, port: int, token: str | None) -> None:
    """Serve a read-only web dashboard of the experiments in the database.

    Pages update themselves while daemons run; the JSON API under /api/ is
    the one the pages use. Bound to 127.0.0.1 by default; any other address
    needs BO_DASHBOARD_TOKEN (or BO_DASHBOARD_USER and BO_DASHBOARD_PASSWORD).

    \b
    Example:
      bo-scheduler dashboard --port 8080
      BO_DASHBOARD_TOKEN=secret bo-scheduler dashboard --host 0.0.0.0
    """
    from dataclasses import replace

    from scheduler.ops.dashboard import AuthSettings, serve
    from scheduler.ops.dashboard.auth import check_bind

    url = database_url(db_url)
    with reported_errors():
        auth = replace(AuthSettings.from_environ(), token=token)
        check_bind(host, auth)
        click.echo(f"dashboard of {mask_url(url)} on http://{host}:{port}/", err=True)
        serve(url, host, port, auth)
