"""Fixtures for the early-stopping tests: a private Redis database and a real fleet."""

from __future__ import annotations

from pathlib import Path

from tests.support.celery_workers import fleet_fixture

HERE = Path(__file__).resolve().parent

fleet = fleet_fixture(
    ["stopping_objectives"],
    pythonpath=[HERE],
    count=2,
    concurrency=2,
    log_folder="stopping-worker-logs",
    doc="Two `celery worker` processes, concurrency 2: four trial slots.",
)
