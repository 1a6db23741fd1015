"""One storage suite, run against SQLite (a temp file) and PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (trust auth). The session creates
a fresh database `bo_test_<random>` and drops it at the end; each test gets
its own schema in it (through `search_path`), so tests never see each
other's rows and the `test` database is left alone. Without a server the
PostgreSQL half is skipped, or fails when CI=true.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from scheduler.storage.sql.engine import dispose_engines

PG_HOST = os.environ.get("BO_TEST_PG_HOST", "127.0.0.1:5432")
PG_USERS = ("postgres", "root")
START_HINT = (
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "(trust auth on 127.0.0.1:5432, database `test`)"
)


def _admin_engine() -> tuple[Engine, str] | str:
    """An autocommit engine on database `test`, and the user; or why not."""
    errors = []
    for user in PG_USERS:
        engine = create_engine(
            f"postgresql+psycopg2://{user}@{PG_HOST}/test",
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 3},
        )
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            return engine, user
        except Exception as exc:
            errors.append(f"{user}: {str(exc).splitlines()[0]}")
            engine.dispose()
    return "; ".join(errors)


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    """URL of a database created for this test session."""
    found = _admin_engine()
    if isinstance(found, str):
        message = f"PostgreSQL at {PG_HOST} is unreachable ({found}); {START_HINT}."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    admin, user = found
    name = f"bo_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg2://{user}@{PG_HOST}/{name}"
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A fresh, empty database URL for one test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/bo.db"
        dispose_engines()
        return
    base: str = request.getfixturevalue("pg_base_url")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        dispose_engines()
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def backend(db_url: str) -> str:
    return "sqlite" if db_url.startswith("sqlite") else "postgresql"
