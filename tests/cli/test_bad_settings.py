"""A bad broker setting breaks only the commands that need the broker, in one line.

These run the real `bo-scheduler` console script in a subprocess: what an
operator sees on stderr (one line naming the variable and the fix, no
traceback) is only visible there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from scheduler.ops.cli.common import EXIT_SERVICE
from scheduler.ops.cli.main import main
from scheduler.ops.env import ENV_BROKER_URL
from tests.cli.conftest import run_console_script
from workers.settings import ENV_VISIBILITY_TIMEOUT

BAD_BROKER = {ENV_BROKER_URL: "not-a-url"}


@pytest.mark.parametrize("env", [BAD_BROKER, {ENV_VISIBILITY_TIMEOUT: "10"}])
def test_help_works_whatever_the_broker_settings(env: dict[str, str]) -> None:
    result = run_console_script(["--help"], env)
    assert result.returncode == 0, result.stderr
    assert "Usage: bo-scheduler" in result.stdout
    assert result.stderr == ""


def _one_line_naming_the_broker_variable(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    (line,) = lines
    assert ENV_BROKER_URL in line and "must be a URL" in line, line
    return line


def test_run_with_a_bad_broker_url_says_so_in_one_line(
    write_config: Callable[..., Path], db_url: str
) -> None:
    path = write_config("bad_broker", scheduler={"total_trials": 1})
    result = run_console_script(["run", str(path), "--db-url", db_url], BAD_BROKER)
    assert result.returncode == EXIT_SERVICE, result.stderr
    _one_line_naming_the_broker_variable(result.stderr)
    assert result.stdout == ""
    listed = CliRunner().invoke(main, ["list", "--json", "--db-url", db_url])
    assert json.loads(listed.output) == []  # nothing was created


def test_resume_with_a_bad_broker_url_says_so_in_one_line(
    write_config: Callable[..., Path], db_url: str
) -> None:
    path = write_config("resumed", scheduler={"total_trials": 1})
    first = CliRunner().invoke(main, ["run", str(path), "--db-url", db_url])
    assert first.exit_code == 0, first.output
    result = run_console_script(
        ["resume", "resumed", "--db-url", db_url, "--total-trials", "2"], BAD_BROKER
    )
    assert result.returncode == EXIT_SERVICE, result.stderr
    _one_line_naming_the_broker_variable(result.stderr)
    # status reads the database: it still works, and says why it cannot ask the broker.
    status = run_console_script(["status", "resumed", "--db-url", db_url], BAD_BROKER)
    assert status.returncode == 0, status.stderr
    assert "trials:     1 of 1 (COMPLETED 1)" in status.stdout
    assert "Traceback" not in status.stderr
