"""Alembic environment: runs on the connection `scheduler.storage.sql.migrate` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from scheduler.storage.sql.models import VERSION_TABLE, Base

config = context.config


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite cannot ALTER most things in place
        compare_type=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run() -> None:
    connection = config.attributes.get("connection")
    if context.is_offline_mode():
        _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(str(config.get_main_option("sqlalchemy.url")))
    with engine.connect() as conn:
        _configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
