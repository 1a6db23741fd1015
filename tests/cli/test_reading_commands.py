"""Reading commands look and never create: a missing SQLite file stays missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from scheduler.ops.cli.main import EXIT_STORAGE, main


@pytest.mark.parametrize(
    "args",
    [
        ["status", "foo"],
        ["report", "foo"],
        ["stop", "foo"],
        ["delete", "foo", "--yes"],
        ["resume", "foo"],
    ],
)
def test_a_command_about_an_experiment_names_the_missing_database_and_creates_none(
    tmp_path: Path, args: list[str]
) -> None:
    database = tmp_path / "never-written.db"
    url = f"sqlite:///{database}"
    result = CliRunner().invoke(main, [*args, "--db-url", url], catch_exceptions=False)
    assert result.exit_code == EXIT_STORAGE, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output  # one line, no traceback
    assert "no experiment named 'foo'" in lines[0]
    assert str(database) in lines[0] and "--db-url" in lines[0]
    assert not database.exists()


def test_list_of_a_missing_database_says_so_and_creates_none(tmp_path: Path) -> None:
    database = tmp_path / "never-written.db"
    result = CliRunner().invoke(main, ["list", "--db-url", f"sqlite:///{database}"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"no experiments in sqlite:///{database}"
    assert not database.exists()


def test_an_unknown_experiment_in_an_existing_database_names_that_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'bo.db'}"
    assert CliRunner().invoke(main, ["db", "upgrade", "--db-url", url]).exit_code == 0
    result = CliRunner().invoke(main, ["status", "nope", "--db-url", url])
    assert result.exit_code == EXIT_STORAGE
    assert "'nope'" in result.output and url in result.output
