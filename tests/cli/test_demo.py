"""`bo-scheduler demo`: the README's first command, embedded, near Branin's optimum."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from scheduler.ops.cli.main import main

BRANIN_OPTIMUM = 0.397887


@pytest.mark.slow
def test_demo_finds_a_point_near_the_optimum_and_writes_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Embedded whatever the environment says: a fleet's broker must not be used.
    monkeypatch.setenv("BO_BROKER_URL", "redis://127.0.0.1:1/0")
    out = tmp_path / "reports"
    result = CliRunner().invoke(main, ["demo", "--trials", "25", "--report-dir", str(out)])
    assert result.exit_code == 0, result.output
    match = re.search(r"best trial (\d+): x1=(\S+), x2=(\S+) -> branin=([0-9.]+)", result.output)
    assert match, result.output
    best = float(match.group(4))
    print(f"demo best: branin={best:.6f} (optimum {BRANIN_OPTIMUM})")
    assert BRANIN_OPTIMUM - 1e-6 <= best < BRANIN_OPTIMUM + 0.5
    for suffix in (".csv", ".png", ".html"):
        assert (out / f"branin_demo{suffix}").stat().st_size > 0
    assert str(out / "branin_demo.csv") in result.output
    # The experiment is stored: the operator commands work on it.
    status = CliRunner().invoke(
        main, ["status", "branin_demo", "--db-url", f"sqlite:///{out / 'demo.db'}"]
    )
    assert status.exit_code == 0 and "COMPLETED 25" in status.output
    # Running it again starts over instead of failing on the stored experiment.
    again = CliRunner().invoke(main, ["demo", "--trials", "3", "--report-dir", str(out)])
    assert again.exit_code == 0, again.output
