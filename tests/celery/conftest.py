"""Fixtures for CeleryRunner tests: a private Redis database and a real worker fleet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.celery_workers import WorkerFleet, celery_workers
from tests.support.services import PrivateRedis
from workers.settings import ENV_OBJECTIVE_MODULES

#: The user objectives module of the worker tests (raises, hangs, killable, curve, ...).
OBJECTIVES_DIR = Path(__file__).resolve().parents[1] / "workers"


@pytest.fixture(scope="module")
def fleet(
    redis_db: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerFleet]:
    """Two `celery worker` processes with concurrency 2, as the issue asks."""
    with celery_workers(
        redis_db.url,
        count=2,
        concurrency=2,
        extra_env={ENV_OBJECTIVE_MODULES: "bo_test_objectives"},
        pythonpath=[OBJECTIVES_DIR],
        log_dir=tmp_path_factory.mktemp("celery-runner-logs"),
    ) as running:
        yield running
