"""Fixtures for CeleryRunner tests: a private Redis database and a real worker fleet."""

from __future__ import annotations

from pathlib import Path

from tests.support.celery_workers import fleet_fixture

#: The user objectives module of the worker tests (raises, hangs, killable, curve, ...).
OBJECTIVES_DIR = Path(__file__).resolve().parents[1] / "workers"

fleet = fleet_fixture(
    ["bo_test_objectives"],
    pythonpath=[OBJECTIVES_DIR],
    count=2,
    concurrency=2,
    log_folder="celery-runner-logs",
    doc="Two `celery worker` processes with concurrency 2, as the issue asks.",
)
