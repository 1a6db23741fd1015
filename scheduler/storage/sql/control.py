"""Operator control of running daemons, through the experiment database.

`bo-scheduler stop NAME` must reach a daemon on another host, so the request
goes where both can see it: the storage's table `bo_control`
(`models.ControlRow`), one row per experiment name:

- `config`: the validated config the experiment was last run with, so
  `bo-scheduler resume NAME` knows its budget and options;
- `stop_counter`: incremented by each `stop` request. A daemon notes the
  value when it starts and stops when it grows (no clocks compared, and a
  request made while no daemon ran does not stop the next one).

The table is part of the storage schema, under the same Alembic migrations
as the experiments (revision 0002 created it and took over the rows of the
legacy `boctl_experiments` table that older versions made with `create_all`).
`ControlStore` therefore opens the database exactly as `SQLStore` does
(`migrate.checked_engine`): an empty database is created at head, and an
outdated one raises `SchemaOutdatedError` until `bo-scheduler db upgrade` is
run, so the CLI and the daemon never disagree about the schema.

Who runs an experiment now is read from the storage's lease row (read only).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from scheduler.core.clock import utcnow
from scheduler.storage.sql.engine import connect
from scheduler.storage.sql.migrate import checked_engine
from scheduler.storage.sql.models import ControlRow, ExperimentRow, LeaseRow

#: The control table's name (one row per experiment name).
CONTROL_TABLE = ControlRow.__tablename__


def requester() -> str:
    """`host:pid` of this process, recorded with a stop request."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LeaseInfo:
    """Which scheduler holds an experiment's lease, and whether it is alive."""

    owner: str | None
    heartbeat: datetime | None
    alive: bool

    def describe(self) -> str:
        if self.owner is None:
            return "not running"
        age = "" if self.heartbeat is None else f", heartbeat {_age(self.heartbeat):.0f} s ago"
        state = "running" if self.alive else "presumed dead (lease expired)"
        return f"{state} ({self.owner}{age})"


def _age(when: datetime) -> float:
    return (utcnow() - when).total_seconds()


class ControlStore:
    """Stop requests and run configs of experiments in database `url`."""

    def __init__(self, url: str) -> None:
        """Open `url`; raises `SchemaOutdatedError`/`SchemaTooNewError` like `SQLStore`."""
        self.url = url
        self.engine: Engine = checked_engine(url)

    def _ensure_row(self, name: str) -> None:
        with connect(self.engine) as conn:
            found = conn.execute(select(ControlRow.name).where(ControlRow.name == name)).first()
            if found is not None:
                return
        try:
            with connect(self.engine) as conn:
                conn.execute(
                    insert(ControlRow).values(name=name, stop_counter=0, updated_at=utcnow())
                )
        except IntegrityError:
            pass  # created concurrently

    # -- configs -------------------------------------------------------------
    def save_config(self, name: str, config: dict[str, Any], source: str) -> None:
        """Remember the config `name` runs with (for `resume NAME`)."""
        self._ensure_row(name)
        with connect(self.engine) as conn:
            conn.execute(
                update(ControlRow)
                .where(ControlRow.name == name)
                .values(config=json.dumps(config), config_source=source, updated_at=utcnow())
            )

    def load_config(self, name: str) -> tuple[dict[str, Any], str] | None:
        """The stored config of `name` and the file it came from, or None."""
        with connect(self.engine, begin=False) as conn:
            row = conn.execute(
                select(ControlRow.config, ControlRow.config_source).where(ControlRow.name == name)
            ).first()
        if row is None or row.config is None:
            return None
        return json.loads(row.config), str(row.config_source or "?")

    # -- stop requests -----------------------------------------------------------
    def stop_counter(self, name: str) -> int:
        """How many stop requests `name` has had (a daemon compares against its start)."""
        with connect(self.engine, begin=False) as conn:
            value = conn.execute(
                select(ControlRow.stop_counter).where(ControlRow.name == name)
            ).scalar()
        return int(value or 0)

    def request_stop(self, name: str, reason: str = "stop requested", by: str | None = None) -> int:
        """Ask the daemon running `name` to finish; returns the new counter."""
        self._ensure_row(name)
        with connect(self.engine) as conn:
            conn.execute(
                update(ControlRow)
                .where(ControlRow.name == name)
                .values(
                    stop_counter=ControlRow.stop_counter + 1,
                    stop_reason=reason,
                    stop_requested_by=by or requester(),
                    stop_requested_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
        return self.stop_counter(name)

    def stop_request(self, name: str) -> tuple[str | None, str | None]:
        """(reason, requested by) of the latest stop request."""
        with connect(self.engine, begin=False) as conn:
            row = conn.execute(
                select(ControlRow.stop_reason, ControlRow.stop_requested_by).where(
                    ControlRow.name == name
                )
            ).first()
        return (None, None) if row is None else (row.stop_reason, row.stop_requested_by)

    # -- leases (read only) ----------------------------------------------------
    def lease(self, name: str, timeout_seconds: float = 60.0) -> LeaseInfo:
        """Who holds `name`'s lease (from the storage's tables)."""
        with connect(self.engine, begin=False) as conn:
            row = conn.execute(
                select(LeaseRow.owner_id, LeaseRow.heartbeat)
                .join(ExperimentRow, ExperimentRow.id == LeaseRow.experiment_id)
                .where(ExperimentRow.name == name)
            ).first()
        if row is None or row.owner_id is None:
            return LeaseInfo(None, None, False)
        heartbeat = row.heartbeat
        if heartbeat is not None and heartbeat.tzinfo is None:
            heartbeat = heartbeat.replace(tzinfo=UTC)
        alive = heartbeat is not None and _age(heartbeat) < timeout_seconds
        return LeaseInfo(str(row.owner_id), heartbeat, alive)
