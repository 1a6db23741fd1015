"""The test-support helpers themselves: private Redis databases and PostgreSQL."""

from __future__ import annotations

import os
import socket

import pytest

from tests.support.services import (
    CLAIM_KEY,
    CLAIM_TTL_SECONDS,
    PRIVATE_DBS,
    _claim_is_stale,
    postgres_url,
    private_redis,
)


def test_private_redis_claims_an_empty_database_and_flushes_only_it() -> None:
    with private_redis() as db:
        assert db.db in PRIVATE_DBS and db.db != 0
        client = db.client()
        assert client.get(CLAIM_KEY) is not None
        client.set("bo-support-test", "1")
        assert db.url.endswith(f"/{db.db}")
    assert client.dbsize() == 0
    client.close()


def test_a_database_holding_someone_elses_keys_is_never_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with private_redis() as db:
        client = db.client()
        mine = client.get(CLAIM_KEY)
        client.set("someone-elses-key", "keep me")
        client.set(CLAIM_KEY, f"{socket.gethostname()}:1")  # pid 1 is alive: a live claim
        try:
            with (
                pytest.raises(pytest.skip.Exception, match="no free Redis database"),
                private_redis(dbs=range(db.db, db.db + 1)),
            ):
                pass
            assert client.get("someone-elses-key") == b"keep me"
        finally:
            client.set(CLAIM_KEY, mine, ex=CLAIM_TTL_SECONDS)  # ours again, so it gets flushed
        client.close()


def test_only_a_claim_of_a_dead_process_on_this_host_is_stale() -> None:
    # Not exercised on a shared database: a concurrent test run would take it over.
    host = socket.gethostname()
    assert _claim_is_stale(f"{host}:{2**22 + 12345}".encode())  # above pid_max: no such process
    assert not _claim_is_stale(f"{host}:{os.getpid()}".encode())
    assert not _claim_is_stale(f"{host}:1".encode())
    assert not _claim_is_stale(b"another-host:999999999")
    assert not _claim_is_stale(b"garbage")
    assert not _claim_is_stale(None)


def test_a_missing_service_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis-server --daemonize yes"):
        private_redis(port=1).__enter__()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"Redis not reachable at 127\.0\.0\.1:1"):
        private_redis(port=1).__enter__()


def test_postgres_url_names_a_user_that_connects() -> None:
    import psycopg2

    url = postgres_url()
    assert url.startswith("postgresql+psycopg2://")
    user = url.split("://", 1)[1].split("@", 1)[0]
    connection = psycopg2.connect(host="127.0.0.1", port=5432, user=user, dbname="test")
    connection.close()
