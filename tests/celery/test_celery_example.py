"""examples/celery_branin.py runs embedded and against Redis with real workers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.celery_workers import WorkerFleet
from workers.settings import ENV_BROKER_URL, ENV_RESULT_BACKEND

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "celery_branin.py"


def run_example(env: dict[str, str]) -> str:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLE), "--trials", "8"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BO_", "CELERY_"))}
    env["PYTHONPATH"] = str(EXAMPLE.parents[1])
    return env


def test_example_runs_embedded_without_any_server() -> None:
    out = run_example(clean_env())
    assert len(re.findall(r"\bCOMPLETED\b", out)) == 8
    assert re.search(r"best trial \d+: .* branin=\d", out)


def test_example_runs_against_redis_with_real_workers(fleet: WorkerFleet) -> None:
    env = clean_env()
    env[ENV_BROKER_URL] = fleet.broker_url
    env[ENV_RESULT_BACKEND] = fleet.result_backend
    before = fleet.logs().count("succeeded in")
    out = run_example(env)
    assert len(re.findall(r"\bCOMPLETED\b", out)) == 8
    assert fleet.logs().count("succeeded in") - before == 8  # the fleet ran them, not embedded
