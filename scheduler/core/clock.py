"""The one clock of the experiment model: timezone-aware UTC wall time.

Trials, leases and control rows all stamp times with :func:`utcnow`, so
stored times compare across hosts and SQLite's naive datetimes are read back
as UTC (:func:`as_utc`).
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime (SQLite returns naive ones; we store UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
