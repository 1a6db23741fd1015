"""Fixtures of the CLI tests: an environment without broker or database settings, configs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduler.ops.env import (
    ENV_BROKER_URL,
    ENV_CELERY_BROKER_URL,
    ENV_CELERY_RESULT_BACKEND,
    ENV_CONFIG,
    ENV_DATABASE_URL,
    ENV_METRICS_PORT,
    ENV_RESULT_BACKEND,
)

#: The repository whose code the console script must run (this tree, not an installed copy).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The `bo-scheduler` console script installed next to this interpreter.
CONSOLE_SCRIPT = Path(sys.executable).parent / "bo-scheduler"

SERVICE_VARIABLES = (
    ENV_BROKER_URL,
    ENV_RESULT_BACKEND,
    ENV_CELERY_BROKER_URL,
    ENV_CELERY_RESULT_BACKEND,
    ENV_DATABASE_URL,
    ENV_CONFIG,
    ENV_METRICS_PORT,
)


@pytest.fixture(autouse=True)
def no_service_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Embedded mode unless a test says otherwise: no broker or database from outside."""
    for variable in SERVICE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


#: Sections whose keys `config_data` merges into the defaults (others are replaced).
MERGED_SECTIONS = {"scheduler", "generation", "objective_function", "runner"}


def config_data(name: str = "cli_branin", **sections: Any) -> dict[str, Any]:
    """A small valid config (Sobol only, fast polling); `sections` replace or extend parts."""

    data: dict[str, Any] = {
        "name": name,
        "parameters": [
            {"name": "x1", "type": "range", "bounds": [-5, 10]},
            {"name": "x2", "type": "range", "bounds": [0, 15]},
        ],
        "objectives": {"branin": "minimize"},
        "objective_function": {"name": "branin"},
        "generation": {"strategy": "sobol", "seed": 3},
        "scheduler": {
            "total_trials": 6,
            "max_pending_trials": 3,
            "init_seconds_between_polls": 0.01,
            "min_seconds_before_poll": 0.0,
            "max_seconds_between_polls": 0.1,
        },
    }
    for key, value in sections.items():
        if key in MERGED_SECTIONS and isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """write_config(name=..., **sections) -> path of a YAML config in tmp_path."""

    def write(name: str = "cli_branin", filename: str | None = None, **sections: Any) -> Path:
        path = tmp_path / (filename or f"{name}.yaml")
        path.write_text(yaml.safe_dump(config_data(name, **sections), sort_keys=False))
        return path

    return write


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'cli.db'}"


def run_console_script(
    args: list[str], env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real `bo-scheduler` console script on this tree's code, without services.

    The environment is this one without broker or database settings (as the
    `no_service_environment` fixture), plus `env`, with `PYTHONPATH` leading
    to this repository so the tree under test is imported.
    """
    environ = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    paths = [str(REPO_ROOT), *filter(None, [environ.get("PYTHONPATH")])]
    environ["PYTHONPATH"] = os.pathsep.join(paths)
    environ.update(env or {})
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        cwd=REPO_ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
