"""The dashboard as a person sees it: headless Chromium over a live embedded run.

Each test starts the dashboard on a free port over a SQLite database that a
real run (a `Scheduler` with a `FunctionRunner`, see `experiments.py`) writes
meanwhile, opens the pages and checks what is drawn. Screenshots go to the
test's tmp dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scheduler.ops.dashboard import DashboardThread
from tests.dashboard.experiments import FAILURE, LiveRun, seed_trials, seed_two_objectives

PLOTS = ["history", "parallel", "slice", "contour"]


def _rendered(page: Any, plot: str) -> int:
    """How many traces plotly drew in `#plot-<plot>` (0 if it is not a plot yet)."""
    return int(
        page.evaluate(
            "(id) => { const d = document.getElementById(id);"
            " return d && d.data ? d.data.length : 0; }",
            f"plot-{plot}",
        )
    )


def test_experiment_page_follows_a_live_run(
    dashboard: DashboardThread, db_url: str, page: Any, tmp_path: Path
) -> None:
    run = LiveRun(db_url, pace=0.0)
    run.run(6)
    page.goto(f"{dashboard.url}/experiments/live")
    page.wait_for_function("document.getElementById('trial-count').textContent === '6'")
    page.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 1")
    for plot in PLOTS:
        assert _rendered(page, plot) > 0, plot
    page.screenshot(path=str(tmp_path / "live-6.png"), full_page=True)

    run.start(8)  # the daemon goes on; the page must follow without a reload
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function(
        "document.getElementById('trial-count').textContent === '14'", timeout=60_000
    )
    run.join()
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    page.wait_for_function(
        "document.querySelectorAll('#trials tbody tr').length === 14", timeout=20_000
    )
    page.screenshot(path=str(tmp_path / "live-14.png"), full_page=True)
    assert page.errors == []


def test_table_filters_by_status_and_shows_the_failure_reason(
    dashboard: DashboardThread, db_url: str, page: Any, tmp_path: Path
) -> None:
    LiveRun(db_url).run(12)
    page.goto(f"{dashboard.url}/experiments/live")
    page.wait_for_function("document.querySelectorAll('#trials tbody tr').length === 12")
    failed = int(page.evaluate("document.querySelectorAll('#trials tbody tr.FAILED').length"))
    assert failed > 0, "the run is meant to have failures (x1 > 7.5)"
    page.select_option("#status-filter", "FAILED")
    rows = page.locator("#trials tbody tr")
    assert rows.count() == failed
    assert all(cls == "FAILED" for cls in rows.evaluate_all("rs => rs.map(r => r.className)"))
    assert FAILURE in page.locator("#trials tbody").inner_text()
    # the history marks failures on its strip, with the reason on hover
    history = page.evaluate("document.getElementById('plot-history').data.map(t => t.name)")
    assert "failed / abandoned" in history
    page.locator("#trials th", has_text="branin").click()  # sort: failures (no value) last
    page.select_option("#status-filter", "")
    first = page.locator("#trials tbody tr").first
    assert first.get_attribute("class") == "COMPLETED"
    page.screenshot(path=str(tmp_path / "filtered.png"), full_page=True)
    assert page.errors == []


def test_log_toggle_changes_the_history_axis(
    dashboard: DashboardThread, db_url: str, page: Any
) -> None:
    seed_trials(db_url, 60, name="big", steps=4)
    page.goto(f"{dashboard.url}/experiments/big")
    page.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 1")
    axis = "document.getElementById('plot-history').layout.yaxis.type"
    assert page.evaluate(axis) == "linear"
    page.check("#log-y")
    page.wait_for_function(f"{axis} === 'log'")
    assert _rendered(page, "curves") > 0
    dashed = page.evaluate(
        "document.getElementById('plot-curves').data.filter(t => t.line.dash === 'dash').length"
    )
    assert dashed == 6  # the early-stopped trials of 60 (every 10th from 4)
    assert page.errors == []


def test_several_objectives_show_the_pareto_front(
    dashboard: DashboardThread, db_url: str, page: Any, tmp_path: Path
) -> None:
    seed_two_objectives(db_url)
    page.goto(f"{dashboard.url}/experiments/moo")
    page.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 1")
    front = page.evaluate(
        "document.getElementById('plot-pareto').data.find(t => t.name === 'Pareto front')"
    )
    summary = page.request.get(f"{dashboard.url}/api/experiments/moo").json()
    assert len(front["x"]) == len(summary["pareto"]) >= 2
    assert page.locator("#best").inner_text().startswith("Pareto set")
    assert _rendered(page, "hypervolume") == 1
    shapes = page.evaluate("document.getElementById('plot-pareto').layout.shapes.length")
    assert shapes == 2  # both objective thresholds
    page.screenshot(path=str(tmp_path / "pareto.png"), full_page=True)
    assert page.errors == []


def test_index_lists_every_experiment(
    dashboard: DashboardThread, db_url: str, page: Any, tmp_path: Path
) -> None:
    LiveRun(db_url).run(3)
    seed_two_objectives(db_url, n=5)
    page.goto(dashboard.url)
    page.wait_for_function("document.querySelectorAll('#experiments tbody tr').length === 2")
    text = page.locator("#experiments").inner_text()
    assert "live" in text and "moo" in text
    page.click("text=moo")
    page.wait_for_url("**/experiments/moo")
    page.wait_for_function("document.getElementById('trial-count').textContent === '5'")
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    assert page.errors == []
