"""The runnable examples run to the end and print what they promise."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mock_job_queue_output() -> str:
    completed = subprocess.run(
        [sys.executable, str(REPO / "examples" / "mock_job_queue.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_two_runs_of_three_trials_make_six(mock_job_queue_output: str) -> None:
    assert "after the first run: 3 trials" in mock_job_queue_output
    assert "after the second run: 6 trials" in mock_job_queue_output
    # exp_to_df after the second run: six completed rows, trial 5 from the model step
    rows = re.findall(r"^\s+(\d) +\1_0 +COMPLETED +(\S+)", mock_job_queue_output, re.M)
    assert [int(i) for i, _ in rows[3:]] == [0, 1, 2, 3, 4, 5]
    assert [step for _, step in rows[3:8]] == ["Sobol"] * 5


def test_the_timed_out_run_ends_gracefully(mock_job_queue_output: str) -> None:
    match = re.search(
        r"after the timed-out run: (\d+) trials, by status (\{.*\})", mock_job_queue_output
    )
    assert match is not None
    assert 6 <= int(match.group(1)) <= 9
    by_status = ast.literal_eval(match.group(2))
    assert by_status["COMPLETED"] >= 6


def test_results_are_reported_as_trials_complete(mock_job_queue_output: str) -> None:
    reports = [
        ast.literal_eval(line.removeprefix("Reported result: "))
        for line in mock_job_queue_output.splitlines()
        if line.startswith("Reported result: ")
    ]
    assert reports, "run_trials_and_yield_results yielded nothing"
    counts = [report[1]["trials so far"] for report in reports]
    assert counts == sorted(counts) and counts[-1] == 6
    assert all(report[0] is True for report in reports)
    assert "reporting run: 6 trials" in mock_job_queue_output
    assert re.search(r"best trial: \d \{'x1': .*\} branin=\d+\.\d{3}", mock_job_queue_output)
