"""Engines: one per URL per process, with SQLite tuned and errors made readable.

A connection failure becomes `StorageConnectionError` carrying the URL with
its password masked and a hint that fits the cause (a missing directory, a
missing PostgreSQL database, a server that does not answer).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from scheduler.core.masking import mask_url
from scheduler.storage.errors import StorageConnectionError

_ENGINES: dict[tuple[str, bool], Engine] = {}
_LOCK = threading.Lock()
#: URLs whose schema revision was checked by this process (see `ensure_schema`).
SCHEMA_CHECKED: set[str] = set()


def json_dumps(value: Any) -> str:
    """Strict JSON (PostgreSQL rejects NaN): non-finite floats are stored as null."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


#: How long one SQLite statement waits for another process's lock (the driver's own
#: busy wait); the store then retries for `store.RETRY_SECONDS` more.
SQLITE_BUSY_SECONDS = 30.0


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise StorageConnectionError(
            f"Database URL {url.split('@')[-1]!r} is not a valid SQLAlchemy URL ({exc}); "
            "use e.g. 'sqlite:///path/to/bo.db' or 'postgresql://user:pw@host:5432/db'."
        ) from None


def _with_installed_driver(url: URL) -> URL:
    """SQLAlchemy 2.1 reads `postgresql://` as psycopg 3; use psycopg2 if only it is installed."""
    if url.drivername != "postgresql":
        return url
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return url.set(drivername="postgresql+psycopg2")
    return url


def _is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on; WAL journal with `synchronous=NORMAL`. Why that durability:

    In WAL mode a commit has appended its pages to the WAL file before it
    returns, so a killed scheduler process (the crash the loop promises to
    survive: no trial lost, none run twice) loses nothing it committed; with
    NORMAL, SQLite fsyncs at checkpoints instead of at every commit, which
    takes an fsync (milliseconds on this disk) off every poll and deploy.
    What it gives up: after a power loss or OS crash the last transactions
    before it may be rolled back (never a corrupt file). A rolled-back deploy
    save leaves its trials CANDIDATE and the runner's `find_sent` re-attaches
    them; PostgreSQL (production) fsyncs every commit.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # cascade deletes
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (CLI, reports) never block writers
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
    cursor.close()


def _build(url: str, echo: bool) -> Engine:
    parsed = _with_installed_driver(_parse(url))
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": json_dumps}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False}
        if _is_memory(parsed):
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise StorageConnectionError(
            f"Cannot use database {mask_url(parsed)}: {exc}. Check the URL's dialect, "
            "e.g. 'sqlite:///bo.db' or 'postgresql+psycopg2://...'."
        ) from None
    if parsed.get_backend_name() == "sqlite" and not _is_memory(parsed):
        event.listen(engine, "connect", _sqlite_pragmas)
    elif parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", lambda c, r: c.execute("PRAGMA foreign_keys=ON"))
    return engine


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite `url` that does not exist yet, else None (it exists, or
    the URL is in-memory or another database). Reading commands check this so that
    looking at a database never creates one."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or _is_memory(parsed):
        return None
    path = Path(parsed.database or "")
    return None if path.exists() else path


def get_engine(url: str, echo: bool = False) -> Engine:
    """The process's engine for `url` (created once, so pools are shared)."""
    key = (url, echo)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _build(url, echo)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, forks, shutdown)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        SCHEMA_CHECKED.clear()


def connection_error(url: str | URL, exc: BaseException) -> StorageConnectionError:
    """A `StorageConnectionError` for `exc`, with a hint about what to do."""
    parsed = make_url(url)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    hint = "check the URL and that the database server is running and reachable"
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not path.parent.exists():
            hint = (
                f"the directory {str(path.parent)!r} does not exist: create it "
                f"(mkdir -p {path.parent}) or fix the path in the URL"
            )
        else:
            hint = f"check that {str(path)!r} is a writable SQLite file"
    elif "does not exist" in reason and "database" in reason:
        hint = (
            f"create the database first, e.g. `createdb {parsed.database}` or "
            f"`CREATE DATABASE {parsed.database};`, or fix the URL"
        )
    elif "password" in reason or "authentication" in reason:
        hint = "check the user name and password in the URL"
    elif "role" in reason and "does not exist" in reason:
        hint = (
            "check the user name in the URL, or create the role first "
            f"(`createuser {parsed.username}`)"
        )
    return StorageConnectionError(
        f"Cannot connect to database {mask_url(parsed)}: {reason}; {hint}."
    )


@contextmanager
def connect(engine: Engine, begin: bool = True) -> Iterator[Connection]:
    """A connection (in one transaction when `begin`), with readable connect errors."""
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        raise connection_error(engine.url, exc) from None
    with conn:
        if begin:
            with conn.begin():
                yield conn
        else:
            yield conn
