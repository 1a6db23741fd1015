"""The README's embedded path for a user's objective: one command, from the module's folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scheduler.storage import load_experiment
from tests.support.celery_workers import REPO_ROOT

BIN = Path(sys.executable).parent


def test_run_with_objectives_finds_the_module_in_the_current_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BO_", "CELERY_"))}
    env.pop("PYTHONPATH", None)  # the cwd must be put on the path by the command itself
    url = f"sqlite:///{tmp_path / 'bo.db'}"
    result = subprocess.run(
        [
            str(BIN / "bo-scheduler"),
            "run",
            "configs/my_objective.yaml",
            "--objectives",
            "my_objectives",
            "--db-url",
            url,
            "--no-progress",
        ],
        cwd=REPO_ROOT / "examples",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "experiment my_ridge: finished; trials: COMPLETED 12" in result.stdout
    experiment = load_experiment("my_ridge", url)
    assert len(experiment.trials) == 12
    assert "trial 0 completed: val_mse=" in result.stderr
