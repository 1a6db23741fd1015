"""The real `bo-scheduler` console script as a subprocess, and waiting on what it stores."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from scheduler.storage import load_experiment
from tests.support.celery_workers import REPO_ROOT

#: Where this interpreter's console scripts are (`bo-scheduler`).
BIN = Path(sys.executable).parent


def statuses(name: str, url: str) -> Counter[str]:
    """Trial counts by status of stored experiment `name` (empty before it exists)."""
    try:
        experiment = load_experiment(name, url)
    except Exception:  # not created yet
        return Counter()
    return Counter(t.status.name for t in experiment.trials.values())


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, log: Path | None = None
) -> None:
    """Poll `condition` until it holds; fail naming `what` (with `log`'s tail) after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = "" if log is None else "\n" + log.read_text(errors="replace")[-4000:]
    pytest.fail(f"timed out waiting for {what}{tail}")


def run_cli(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `bo-scheduler ARGS` from the repository root, output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(BIN / "bo-scheduler"), *args],
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
