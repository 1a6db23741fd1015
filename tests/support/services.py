"""Real services for tests: a private Redis database and the PostgreSQL URL.

The machine's Redis is shared (other test runs, other developers): a test
run claims one database in 9..15 that holds nothing, marks it with a claim
key, and at the end flushes that database only. Database 0 and databases
holding anyone else's keys are never touched.

A missing service skips the test locally, with the command that starts it,
and fails it under CI (``CI=true``), where a skipped suite would pass silently.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

REDIS_HOST = os.environ.get("BO_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("BO_TEST_REDIS_PORT", "6379"))
#: Databases a test run may claim; 0 (everyone's default) is never among them.
PRIVATE_DBS = range(9, 16)
#: Key marking a database as claimed by ``<hostname>:<pid>`` of a test run.
CLAIM_KEY = "bo-tests:claimed-by"
CLAIM_TTL_SECONDS = 6 * 3600

POSTGRES_HOST = os.environ.get("BO_TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("BO_TEST_POSTGRES_PORT", "5432"))
POSTGRES_DB = os.environ.get("BO_TEST_POSTGRES_DB", "test")
POSTGRES_USERS = ("postgres", "root")


def in_ci() -> bool:
    """True when running under CI, where a missing service is a failure."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def service_unavailable(message: str) -> NoReturn:
    """Skip the test locally; fail it under CI."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# -------------------------------------------------------------------- Redis


@dataclass(frozen=True)
class PrivateRedis:
    """One Redis database this test run owns until it is released."""

    host: str
    port: int
    db: int

    @property
    def url(self) -> str:
        """``redis://host:port/db``, usable as BO_BROKER_URL and BO_RESULT_BACKEND."""
        return f"redis://{self.host}:{self.port}/{self.db}"

    def client(self) -> Any:
        """A redis-py client bound to this database."""
        import redis

        return redis.Redis(host=self.host, port=self.port, db=self.db, socket_timeout=5)


def _redis_client(host: str, port: int, db: int) -> Any:
    try:
        import redis
    except ImportError:
        service_unavailable("the redis package is not installed: pip install redis")
    return redis.Redis(host=host, port=port, db=db, socket_timeout=2, socket_connect_timeout=2)


def require_redis(host: str = REDIS_HOST, port: int = REDIS_PORT) -> None:
    """Skip (or under CI fail) when Redis does not answer PING."""
    try:
        # A plain connect first: redis-py retries a refused connection for seconds.
        socket.create_connection((host, port), timeout=2).close()
        client = _redis_client(host, port, 0)
        client.ping()
        client.close()
    except Exception as exc:
        service_unavailable(
            f"Redis not reachable at {host}:{port} ({type(exc).__name__}: {exc}); start it with: "
            "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
        )


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim_is_stale(value: bytes | None) -> bool:
    """A claim left by a test run of this host whose process is gone."""
    if value is None:
        return False
    host, _, pid = value.decode(errors="replace").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _try_claim(client: Any) -> bool:
    """Claim this database if it is empty, or if a dead test run of ours left it."""
    import redis

    owner = _owner()
    if client.set(CLAIM_KEY, owner, nx=True, ex=CLAIM_TTL_SECONDS):
        if client.dbsize() == 1:
            return True
        client.delete(CLAIM_KEY)  # someone else's keys live here: leave them be
        return False
    with client.pipeline() as pipe:
        try:
            pipe.watch(CLAIM_KEY)
            current = pipe.get(CLAIM_KEY)
            if not _claim_is_stale(current):
                return False
            pipe.multi()
            pipe.flushdb()
            pipe.set(CLAIM_KEY, owner, ex=CLAIM_TTL_SECONDS)
            pipe.execute()
        except redis.WatchError:
            return False
    return True


@contextmanager
def private_redis(
    host: str = REDIS_HOST, port: int = REDIS_PORT, dbs: range = PRIVATE_DBS
) -> Iterator[PrivateRedis]:
    """Claim an unused Redis database for the duration of the block, then flush it."""
    require_redis(host, port)
    for db in dbs:
        if db == 0:
            continue
        client = _redis_client(host, port, db)
        try:
            if not _try_claim(client):
                continue
            try:
                yield PrivateRedis(host, port, db)
            finally:
                # Only our database, only if it is still ours.
                if client.get(CLAIM_KEY) == _owner().encode():
                    client.flushdb()
            return
        finally:
            client.close()
    service_unavailable(
        f"no free Redis database among {dbs.start}..{dbs.stop - 1} at {host}:{port}: all hold "
        "keys of other runs; wait for them to finish or free one you own with "
        "redis-cli -n <db> FLUSHDB"
    )


# --------------------------------------------------------------- PostgreSQL


def postgres_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL database (``BO_TEST_POSTGRES_URL`` overrides).

    Tries the users the machine's trust authentication accepts; skips (or
    under CI fails) when none connects.
    """
    override = os.environ.get("BO_TEST_POSTGRES_URL")
    if override:
        return override
    try:
        import psycopg2
    except ImportError:
        service_unavailable("psycopg2 is not installed: pip install psycopg2-binary")
    errors: list[str] = []
    for user in POSTGRES_USERS:
        try:
            connection = psycopg2.connect(
                host=POSTGRES_HOST,
                port=POSTGRES_PORT,
                user=user,
                dbname=POSTGRES_DB,
                connect_timeout=3,
            )
        except psycopg2.Error as exc:
            errors.append(f"{user}: {str(exc).strip()}")
            continue
        connection.close()
        return f"postgresql+psycopg2://{user}@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DB}"
    service_unavailable(
        f"PostgreSQL not reachable at {POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DB} "
        f"({'; '.join(errors)}); start it with: service postgresql start "
        f"&& createdb -h {POSTGRES_HOST} -U postgres {POSTGRES_DB}"
    )
