"""Fixtures for the early-stopping tests: a private Redis database and a real fleet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.celery_workers import WorkerFleet, celery_workers
from tests.support.services import PrivateRedis
from workers.settings import ENV_OBJECTIVE_MODULES

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def fleet(
    redis_db: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerFleet]:
    """Two `celery worker` processes, concurrency 2: four trial slots."""
    with celery_workers(
        redis_db.url,
        count=2,
        concurrency=2,
        extra_env={ENV_OBJECTIVE_MODULES: "stopping_objectives"},
        pythonpath=[HERE],
        log_dir=tmp_path_factory.mktemp("stopping-worker-logs"),
    ) as running:
        yield running
