"""Alembic, driven from code: upgrade a database and check its schema revision.

No `alembic.ini` is needed: the migrations ship inside the package. A new,
empty database is upgraded automatically on first use; a database behind the
code raises `SchemaOutdatedError` (migrating production data is an operator's
decision: `bo-scheduler db upgrade --db-url ...`).

Every user of the database (`SQLStore`, `ControlStore`) gets its engine from
`checked_engine`, so all of them see one schema at one revision, checked once
per process and URL.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from scheduler.core.masking import mask_url
from scheduler.storage.errors import SchemaOutdatedError, SchemaTooNewError
from scheduler.storage.sql.engine import SCHEMA_CHECKED, connect, get_engine
from scheduler.storage.sql.models import VERSION_TABLE

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An in-memory Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None, "the packaged migrations have no revision"
    return head


def current_revision(conn: Connection) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _has_our_tables(conn: Connection) -> bool:
    return any(
        name.startswith("bo_") and name != VERSION_TABLE for name in inspect(conn).get_table_names()
    )


#: Alembic's `context` is one module-wide object, so two threads of a process (a daemon
#: and the dashboard beside it) must never migrate at once: they take turns here.
_ALEMBIC = threading.RLock()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database to `revision`; returns (revision before, revision after)."""
    with _ALEMBIC, connect(engine) as conn:
        before = current_revision(conn)
        command.upgrade(alembic_config(conn), revision)
        after = current_revision(conn)
    return before, after


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    """Migrate the database back to `revision`; returns (revision before, revision after)."""
    with _ALEMBIC, connect(engine) as conn:
        before = current_revision(conn)
        command.downgrade(alembic_config(conn), revision)
        after = current_revision(conn)
    return before, after


def schema_status(engine: Engine) -> tuple[str | None, str]:
    """(database revision, code's head revision)."""
    with connect(engine, begin=False) as conn:
        return current_revision(conn), head_revision()


#: How long a process whose schema creation collided with another's waits for it.
CONCURRENT_CREATE_SECONDS = 30.0


def ensure_schema(engine: Engine, auto_create: bool = True) -> None:
    """Check the database is at the code's revision; create the schema if empty.

    Raises `SchemaOutdatedError` for an older schema and `SchemaTooNewError`
    for one written by a newer bo-scheduler.
    """
    with connect(engine, begin=False) as conn:
        current = current_revision(conn)
        has_tables = current is None and _has_our_tables(conn)
    head = head_revision()
    url = mask_url(engine.url)
    if current == head:
        return
    command_hint = f"bo-scheduler db upgrade --db-url '{url}'"
    if current is None:
        if has_tables or not auto_create:
            raise SchemaOutdatedError(
                f"Database {url} has no bo-scheduler schema revision"
                f"{' but holds bo_ tables' if has_tables else ''}; run `{command_hint}`."
            )
        try:
            upgrade(engine)
        except DBAPIError:
            # Another process (a daemon and a dashboard starting together) is creating
            # the schema at the same moment: wait for it to reach head.
            deadline = time.monotonic() + CONCURRENT_CREATE_SECONDS
            while True:
                with connect(engine, begin=False) as conn:
                    if current_revision(conn) == head:
                        return
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return
    try:
        known = script_directory().get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise SchemaTooNewError(
            f"Database {url} is at schema revision {current!r}, which this version of "
            f"bo-scheduler does not know (its newest is {head!r}): it was migrated by a "
            "newer bo-scheduler. Upgrade the bo-scheduler package."
        )
    raise SchemaOutdatedError(
        f"Database {url} is at schema revision {current!r}, older than this "
        f"bo-scheduler's {head!r}. Back it up, then run `{command_hint}`."
    )


def checked_engine(url: str, echo: bool = False) -> Engine:
    """The process's engine for `url`, once `ensure_schema` has accepted its schema.

    The check runs on first use of `url` in this process (an empty database is
    created at head then); an outdated or too new schema raises as
    `ensure_schema` does, and is checked again on the next call.
    """
    engine = get_engine(url, echo)
    with _ALEMBIC:  # one check per process, even when two threads open the database at once
        if url not in SCHEMA_CHECKED:
            ensure_schema(engine)
            SCHEMA_CHECKED.add(url)
    return engine
