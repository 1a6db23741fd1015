"""The dashboard's fleet page: real workers, their objectives, queues and held trials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from scheduler.ops.dashboard import DashboardThread
from scheduler.ops.dashboard.app import create_app
from tests.support.celery_workers import WorkerFleet, fleet_fixture

fleet = fleet_fixture(count=1, concurrency=2)


def test_the_fleet_api_lists_workers_objectives_and_queues(fleet: WorkerFleet, db_url: str) -> None:
    client = TestClient(create_app(db_url, fleet_app=lambda: fleet.app))
    answer = client.get("/api/fleet").json()
    assert answer["note"] is None and answer["broker"].startswith("redis://")
    (worker,) = answer["workers"]
    assert worker["hostname"] in fleet.hostnames and worker["concurrency"] == 2
    assert "branin" in worker["objectives"] and "bo-trials.branin" in worker["queues"]
    assert answer["queues"]["bo-trials"] == 0
    assert answer["totals"]["workers"] == 1 and answer["totals"]["slots"] == 2


def test_without_a_broker_the_fleet_page_says_how_to_point_at_one(db_url: str) -> None:
    client = TestClient(create_app(db_url, fleet_app=lambda: None))
    answer = client.get("/api/fleet").json()
    assert answer["workers"] == [] and "BO_BROKER_URL" in answer["note"]


def test_the_fleet_page_shows_the_worker_in_a_browser(
    fleet: WorkerFleet, db_url: str, page: Any, tmp_path: Path
) -> None:
    server = DashboardThread(db_url, fleet_app=lambda: fleet.app).start()
    try:
        page.goto(f"{server.url}/fleet")
        page.wait_for_function("document.querySelectorAll('#workers tbody tr').length === 1")
        text = page.locator("#workers").inner_text()
        assert fleet.hostnames[0] in text and "branin" in text and "idle" in text
        assert "bo-trials" in page.locator("#queues").inner_text()
        page.screenshot(path=str(tmp_path / "fleet.png"), full_page=True)
        assert page.errors == []
    finally:
        server.stop()
