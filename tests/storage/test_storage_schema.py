"""Alembic owns the schema: migrations create exactly the tables the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect

from scheduler.ops.cli.db import db
from scheduler.storage import (
    SQLStore,
    create_all_tables,
    get_engine,
    init_engine_and_session_factory,
)
from scheduler.storage.sql.engine import get_engine as engine_for
from scheduler.storage.sql.migrate import head_revision
from scheduler.storage.sql.models import VERSION_TABLE, Base


def test_new_database_is_migrated_on_first_use(db_url: str) -> None:
    store = SQLStore(db_url)
    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert context.get_current_revision() == head_revision()
        compare = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        diffs = compare_metadata(compare, Base.metadata)
    assert {t.name for t in Base.metadata.sorted_tables} | {VERSION_TABLE} == tables
    assert diffs == []


def test_cli_upgrade_and_current(db_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(db, ["current", "--url", db_url])
    assert result.exit_code == 0 and "revision none (empty" in result.output
    result = runner.invoke(db, ["upgrade", "--url", db_url])
    assert result.exit_code == 0 and f"upgraded from empty to {head_revision()}" in result.output
    result = runner.invoke(db, ["upgrade", "--url", db_url])
    assert "already at revision" in result.output
    with engine_for(db_url).connect() as conn:
        assert "bo_trials" in inspect(conn).get_table_names()


def test_cli_reports_connection_problems(tmp_path: object) -> None:
    result = CliRunner().invoke(db, ["upgrade", "--url", f"sqlite:///{tmp_path}/missing/bo.db"])
    assert result.exit_code == 1 and "mkdir -p" in result.output


def test_tutorial_setup_calls_still_work(db_url: str) -> None:
    init_engine_and_session_factory(url=db_url)
    engine = get_engine()
    create_all_tables(engine)
    create_all_tables(engine)  # idempotent
    with engine.connect() as conn:
        assert "bo_experiments" in inspect(conn).get_table_names()
