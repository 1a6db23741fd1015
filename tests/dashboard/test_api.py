"""The JSON API and its guard, over HTTP on a real server and through the CLI."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from scheduler.ops.cli.main import main
from scheduler.ops.dashboard import AuthSettings, DashboardThread, UnsafeBindError
from scheduler.ops.dashboard.auth import check_bind
from tests.dashboard.experiments import FAILURE, LiveRun, seed_trials, seed_two_objectives


def test_api_lists_and_describes_experiments(dashboard: DashboardThread, db_url: str) -> None:
    LiveRun(db_url).run(10)
    seed_two_objectives(db_url, n=8)
    rows = httpx.get(f"{dashboard.url}/api/experiments").json()
    assert {r["experiment"]: r["trials"] for r in rows} == {"live": 10, "moo": 8}
    live = httpx.get(f"{dashboard.url}/api/experiments/live").json()
    assert sum(live["trials_by_status"].values()) == 10
    assert live["best"]["values"]["branin"] > 0 and live["pareto"] is None
    failed = httpx.get(f"{dashboard.url}/api/experiments/live/trials?status=FAILED").json()
    reason = failed["columns"].index("reason")
    assert failed["rows"] and all(FAILURE in row[reason] for row in failed["rows"])
    plots = httpx.get(f"{dashboard.url}/api/experiments/moo/plots").json()
    assert {"history", "parallel", "slice", "contour", "pareto", "hypervolume"} <= set(plots)
    one = httpx.get(f"{dashboard.url}/api/experiments/live/plots/history?log=1").json()
    assert one["layout"]["yaxis"]["type"] == "log"
    assert httpx.get(f"{dashboard.url}/api/experiments/nope").status_code == 404
    js = httpx.get(f"{dashboard.url}/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000  # the whole library, offline


def test_configured_auth_refuses_requests_without_it(db_url: str) -> None:
    LiveRun(db_url).run(1)
    auth = AuthSettings(token="s3cret", user="ann", password="pw")
    server = DashboardThread(db_url, auth=auth).start()
    try:
        api = f"{server.url}/api/experiments"
        assert httpx.get(api).status_code == 401
        assert httpx.get(server.url).status_code == 401
        assert httpx.get(api, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(api, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(api, auth=("ann", "pw")).status_code == 200
        assert httpx.get(api, auth=("anyone", "s3cret")).status_code == 200
        assert httpx.get(api, auth=("ann", "nope")).status_code == 401
        bad = base64.b64encode(b"\xff\xfe").decode()
        assert httpx.get(api, headers={"Authorization": f"Basic {bad}"}).status_code == 401
    finally:
        server.stop()


def test_public_bind_without_auth_is_refused(db_url: str) -> None:
    with pytest.raises(UnsafeBindError, match="BO_DASHBOARD_TOKEN"):
        check_bind("0.0.0.0", AuthSettings())
    check_bind("127.0.0.1", AuthSettings())
    check_bind("::1", AuthSettings())
    check_bind("0.0.0.0", AuthSettings(token="t"))
    result = CliRunner().invoke(
        main, ["dashboard", "--db-url", db_url, "--host", "0.0.0.0"], env={"BO_DASHBOARD_TOKEN": ""}
    )
    assert result.exit_code != 0
    assert "refusing to serve the dashboard on 0.0.0.0 without auth" in result.output
    assert "BO_DASHBOARD_TOKEN" in result.output


def test_report_html_has_the_dashboard_figures_offline(db_url: str, tmp_path: Path) -> None:
    LiveRun(db_url).run(8)
    seed_trials(db_url, 300, name="wide")  # values span decades: the PNG goes log
    out = tmp_path / "reports"
    for name in ("live", "wide"):
        result = CliRunner().invoke(main, ["report", name, "--db-url", db_url, "--out", str(out)])
        assert result.exit_code == 0, result.output
    html = (out / "live.html").read_text()
    assert "<script src=" not in html and len(html) > 1_000_000  # plotly.js inside: offline
    assert "plot-history" in html and "plot-contour" in html and "<table" in html
    assert FAILURE in html  # the failure reasons are in the table
    assert (out / "wide.png").read_bytes().startswith(b"\x89PNG")
