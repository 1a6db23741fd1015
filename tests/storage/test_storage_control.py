"""The operator-control table is part of the storage schema, under its migrations.

`ControlStore` (configs for `resume NAME`, stop requests for `stop NAME`)
keeps its rows in `bo_control`, which revision 0002 creates. Databases made
by older versions hold them in `boctl_experiments` (created outside the
migrations): upgrading must carry every config and stop counter over, and
downgrading must hand them back.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    inspect,
    select,
)

from scheduler.core.clock import as_utc
from scheduler.ops.cli.db import db
from scheduler.storage import SchemaOutdatedError, SQLStore
from scheduler.storage.sql import migrate
from scheduler.storage.sql.control import CONTROL_TABLE, ControlStore
from scheduler.storage.sql.engine import dispose_engines, get_engine
from scheduler.storage.sql.models import ControlRow
from tests.storage.storage_helpers import function_experiment, sobol_strategy

LEGACY = "boctl_experiments"
CONFIG = {"experiment": {"name": "exp"}, "budget": {"max_trials": 7}, "options": {"batch": 2}}
REQUESTED_AT = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)

#: `boctl_experiments` exactly as the `ControlStore` of revision 0001 created it.
legacy_metadata = MetaData()
legacy_table = Table(
    LEGACY,
    legacy_metadata,
    Column("name", String(255), primary_key=True),
    Column("config", Text, nullable=True),
    Column("config_source", Text, nullable=True),
    Column("stop_counter", Integer, nullable=False, default=0),
    Column("stop_reason", Text, nullable=True),
    Column("stop_requested_by", String(255), nullable=True),
    Column("stop_requested_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def _tables(url: str) -> set[str]:
    with get_engine(url).connect() as conn:
        return set(inspect(conn).get_table_names())


def _revision(url: str) -> str | None:
    with get_engine(url).connect() as conn:
        return migrate.current_revision(conn)


def _write_legacy_rows(url: str) -> None:
    """What an older bo-scheduler left: a run config, and a stop requested three times."""
    engine = get_engine(url)
    legacy_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            legacy_table.insert().values(
                name="exp",
                config='{"experiment": {"name": "exp"}, "budget": {"max_trials": 7}, '
                '"options": {"batch": 2}}',
                config_source="/etc/bo/exp.yaml",
                stop_counter=3,
                stop_reason="operator asked",
                stop_requested_by="ops-host:4242",
                stop_requested_at=REQUESTED_AT,
                updated_at=REQUESTED_AT,
            )
        )
        conn.execute(
            legacy_table.insert().values(name="never-run", stop_counter=1, updated_at=REQUESTED_AT)
        )


def _assert_legacy_rows_kept(url: str) -> None:
    control = ControlStore(url)
    assert control.load_config("exp") == (CONFIG, "/etc/bo/exp.yaml")
    assert control.stop_counter("exp") == 3
    assert control.stop_request("exp") == ("operator asked", "ops-host:4242")
    assert control.stop_counter("never-run") == 1
    assert control.load_config("never-run") is None
    with control.engine.connect() as conn:
        at = conn.execute(
            select(ControlRow.stop_requested_at).where(ControlRow.name == "exp")
        ).scalar_one()
    assert as_utc(at) == REQUESTED_AT
    # A daemon started before the upgrade keeps its baseline: the next stop is the 4th.
    assert control.request_stop("exp", "after upgrade", by="cli:1") == 4


def test_new_database_gets_the_control_table_at_head(db_url: str) -> None:
    ControlStore(db_url)
    tables = _tables(db_url)
    assert CONTROL_TABLE == "bo_control"
    assert "bo_control" in tables and LEGACY not in tables
    assert {"bo_experiments", "bo_leases"} <= tables  # the whole storage schema
    assert _revision(db_url) == migrate.head_revision()
    # The storage then opens the same database without complaint.
    SQLStore(db_url).save_experiment(function_experiment(), sobol_strategy())


def test_legacy_rows_survive_db_upgrade(db_url: str) -> None:
    migrate.upgrade(get_engine(db_url), "0001")
    _write_legacy_rows(db_url)
    dispose_engines()

    # Reported as the storage reports it, not worked around with a table of its own.
    with pytest.raises(SchemaOutdatedError, match=r"'0001'.*bo-scheduler db upgrade --db-url"):
        ControlStore(db_url)
    with pytest.raises(SchemaOutdatedError, match="'0001'"):
        SQLStore(db_url)

    result = CliRunner().invoke(db, ["upgrade", "--url", db_url])
    assert result.exit_code == 0, result.output
    assert f"upgraded from 0001 to {migrate.head_revision()}" in result.output
    dispose_engines()
    assert LEGACY not in _tables(db_url)
    _assert_legacy_rows_kept(db_url)


def test_legacy_table_alone_is_taken_over_on_first_use(db_url: str) -> None:
    """An older `run` created only the control table before the storage's schema."""
    _write_legacy_rows(db_url)
    dispose_engines()
    _assert_legacy_rows_kept(db_url)
    assert _revision(db_url) == migrate.head_revision()
    assert LEGACY not in _tables(db_url)


def test_downgrade_removes_the_table_and_hands_rows_back(db_url: str) -> None:
    control = ControlStore(db_url)
    control.save_config("exp", CONFIG, "exp.yaml")
    control.request_stop("exp", "first", by="a:1")
    control.request_stop("exp", "second", by="b:2")
    engine = control.engine

    before, after = migrate.downgrade(engine, "0001")
    assert (before, after) == (migrate.head_revision(), "0001")
    tables = _tables(db_url)
    assert "bo_control" not in tables and "bo_experiments" in tables
    with engine.connect() as conn:
        row = conn.execute(select(legacy_table).where(legacy_table.c.name == "exp")).one()
    assert (row.stop_counter, row.stop_reason, row.stop_requested_by) == (2, "second", "b:2")
    assert row.config_source == "exp.yaml"

    migrate.upgrade(engine)  # and back: nothing lost either way
    dispose_engines()
    control = ControlStore(db_url)
    assert control.load_config("exp") == (CONFIG, "exp.yaml")
    assert control.stop_counter("exp") == 2
    assert LEGACY not in _tables(db_url)


def test_configs_and_stop_requests_round_trip(db_url: str) -> None:
    control = ControlStore(db_url)
    assert control.load_config("exp") is None
    assert control.stop_counter("exp") == 0
    assert control.stop_request("exp") == (None, None)

    control.save_config("exp", {"budget": 1}, "old.yaml")
    control.save_config("exp", CONFIG, "exp.yaml")  # the latest run's config wins
    assert control.request_stop("exp", "enough", by="ops:7") == 1
    assert control.request_stop("exp") == 2  # default reason, this process as requester
    reason, by = control.stop_request("exp")
    assert reason == "stop requested" and by is not None and by.endswith(f":{os.getpid()}")

    dispose_engines()
    again = ControlStore(db_url)  # another process, say the daemon
    assert again.load_config("exp") == (CONFIG, "exp.yaml")
    assert again.stop_counter("exp") == 2
    assert again.stop_counter("other") == 0
    assert again.lease("exp").describe() == "not running"
    with again.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(ControlRow)).scalar_one()
        stored = conn.execute(select(ControlRow.stop_counter)).scalar_one()
    assert (count, stored) == (1, 2)  # one row, in the storage's own table
