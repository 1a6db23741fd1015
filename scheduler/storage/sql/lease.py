"""One scheduler per experiment: a lease row with an owner and a heartbeat.

A scheduler takes the lease when it starts, renews it every loop iteration
and clears it on a clean exit. A lease whose heartbeat is older than the
timeout belongs to a dead scheduler and may be taken over. Every new holder
increments `version`: a scheduler whose in-memory experiment was loaded at
version v refuses to continue once someone else has held the lease since
(`StaleExperimentError`), because its copy of the trials is out of date.

Takeover is a compare-and-swap UPDATE (owner, heartbeat and version must
still be what was read), which is atomic on SQLite and PostgreSQL alike.
Times are the schedulers' own UTC clocks: keep hosts NTP-synchronized.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from scheduler.core.clock import as_utc, utcnow
from scheduler.storage.errors import ExperimentLockedError, StaleExperimentError
from scheduler.storage.sql.models import LeaseRow


@dataclass(frozen=True)
class Lease:
    owner_id: str | None
    heartbeat: datetime | None
    version: int

    def age(self, now: datetime) -> float | None:
        return None if self.heartbeat is None else (now - self.heartbeat).total_seconds()

    def is_alive(self, now: datetime, timeout: float) -> bool:
        age = self.age(now)
        return self.owner_id is not None and age is not None and age < timeout


def read(conn: Connection, experiment_id: int) -> Lease:
    row = conn.execute(
        select(LeaseRow.owner_id, LeaseRow.heartbeat, LeaseRow.version).where(
            LeaseRow.experiment_id == experiment_id
        )
    ).one()
    return Lease(row.owner_id, as_utc(row.heartbeat), int(row.version))


def locked_error(name: str, lease: Lease, now: datetime, timeout: float) -> ExperimentLockedError:
    age = lease.age(now) or 0.0
    return ExperimentLockedError(
        f"Experiment {name!r} is being run by another scheduler ({lease.owner_id}, last "
        f"heartbeat {age:.0f} s ago). Stop that scheduler first, or wait: if it crashed, "
        f"its lease expires by itself in {max(0.0, timeout - age):.0f} s (lease timeout "
        f"{timeout:g} s, DBSettings.lease_timeout_seconds)."
    )


def acquire(
    conn: Connection,
    experiment_id: int,
    name: str,
    owner_id: str,
    timeout: float,
    expected_version: int | None,
) -> int:
    """Take or renew the lease; returns its version. Raises if someone else holds it."""
    now = utcnow()
    lease = read(conn, experiment_id)
    if lease.owner_id == owner_id:
        renew(conn, experiment_id, owner_id, now)
        return lease.version
    if lease.is_alive(now, timeout):
        raise locked_error(name, lease, now, timeout)
    if expected_version is not None and lease.version != expected_version:
        raise StaleExperimentError(
            f"Experiment {name!r} was run by another scheduler since this one loaded it, "
            "so this in-memory copy of its trials is out of date. Load it again with "
            f"Scheduler.from_stored_experiment({name!r}, ...)."
        )
    owner_column, heartbeat_column = LeaseRow.owner_id, LeaseRow.heartbeat
    result = conn.execute(
        update(LeaseRow)
        .where(
            and_(
                LeaseRow.experiment_id == experiment_id,
                LeaseRow.version == lease.version,
                owner_column.is_(None)
                if lease.owner_id is None
                else owner_column == lease.owner_id,
                heartbeat_column.is_(None)
                if lease.heartbeat is None
                else heartbeat_column == lease.heartbeat,
            )
        )
        .values(owner_id=owner_id, heartbeat=now, version=lease.version + 1)
    )
    if result.rowcount != 1:
        raise locked_error(name, read(conn, experiment_id), utcnow(), timeout)
    return lease.version + 1


def renew(conn: Connection, experiment_id: int, owner_id: str, now: datetime) -> bool:
    """Refresh the heartbeat; False when this owner no longer holds the lease."""
    result = conn.execute(
        update(LeaseRow)
        .where(LeaseRow.experiment_id == experiment_id, LeaseRow.owner_id == owner_id)
        .values(heartbeat=now)
    )
    return result.rowcount == 1


def release(conn: Connection, experiment_id: int, owner_id: str) -> None:
    conn.execute(
        update(LeaseRow)
        .where(LeaseRow.experiment_id == experiment_id, LeaseRow.owner_id == owner_id)
        .values(owner_id=None, heartbeat=None)
    )
