"""Fixtures for the worker tests: a private Redis database and real worker fleets."""

from __future__ import annotations

from pathlib import Path

from tests.support.celery_workers import fleet_fixture

HERE = Path(__file__).resolve().parent

#: The user objective module the test workers load (tests/workers/bo_test_objectives.py).
TEST_OBJECTIVES_MODULE = "bo_test_objectives"

fleet = fleet_fixture(
    [TEST_OBJECTIVES_MODULE],
    pythonpath=[HERE],
    count=2,
    concurrency=2,
    log_folder="worker-logs",
    doc="Two prefork workers (concurrency 2) that also load the test objectives.",
)
