"""Fixtures for the worker tests: a private Redis database and real worker fleets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.celery_workers import WorkerFleet, celery_workers
from tests.support.services import PrivateRedis
from workers.settings import ENV_OBJECTIVE_MODULES

HERE = Path(__file__).resolve().parent

#: The user objective module the test workers load (tests/workers/bo_test_objectives.py).
TEST_OBJECTIVES_MODULE = "bo_test_objectives"


@pytest.fixture(scope="module")
def fleet(
    redis_db: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerFleet]:
    """Two prefork workers (concurrency 2) that also load the test objectives."""
    with celery_workers(
        redis_db.url,
        count=2,
        concurrency=2,
        extra_env={ENV_OBJECTIVE_MODULES: TEST_OBJECTIVES_MODULE},
        pythonpath=[HERE],
        log_dir=tmp_path_factory.mktemp("worker-logs"),
    ) as running:
        yield running
