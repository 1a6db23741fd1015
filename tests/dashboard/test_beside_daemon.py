"""`run --dashboard-port`: the dashboard serves the experiment while its daemon runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.cli.conftest import config_data
from tests.support.celery_workers import REPO_ROOT

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_dashboard_beside_a_run_shows_its_trials_arriving(tmp_path: Path) -> None:
    config = tmp_path / "watched.yaml"
    slow = {"name": "branin", "options": {"runtime_seconds": 0.2}}
    config.write_text(
        yaml.safe_dump(
            config_data(
                "watched",
                objective_function=slow,
                scheduler={"total_trials": 12, "max_pending_trials": 2},
            )
        )
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BO_", "CELERY_"))}
    args = ["run", str(config), "--db-url", f"sqlite:///{tmp_path / 'bo.db'}"]
    args += ["--dashboard-port", str(port)]
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(BIN / "bo-scheduler"), *args],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while daemon.poll() is None and time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/experiments/watched", timeout=2)
            except httpx.HTTPError:
                time.sleep(0.1)  # not serving yet
                continue
            if response.status_code == 200:
                seen.append(int(response.json()["trials"]))
            time.sleep(0.2)
        assert daemon.wait(timeout=60) == 0, log.read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert seen, f"the dashboard never answered\\n{log.read_text()}"
    assert len(set(seen)) >= 2 and seen == sorted(seen)  # the count grew while it ran
    assert f"dashboard of sqlite:///{tmp_path / 'bo.db'} on http://127.0.0.1:{port}/" in (
        log.read_text()
    )
    with socket.socket() as s:  # stopped with the daemon: the port is free again
        s.bind(("127.0.0.1", port))
