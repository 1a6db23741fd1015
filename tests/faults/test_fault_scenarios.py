"""The eight fault scenarios: a real experiment, a fault injected mid-run, the guarantees checked.

Each scenario (in ``tests/faults/scenarios/``, shared with ``python -m
bench.faults``) returns the experiment as stored plus the worker-side count of
executions per trial; ``problems`` lists every broken guarantee. On top of
that, each test asserts the documented outcome of its fault (docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults import scenarios
from tests.faults.harness import ScenarioResult

pytestmark = pytest.mark.slow


def assert_guarantees(result: ScenarioResult) -> None:
    """Budget reached, each index stored once, nothing stuck, no unexpected re-run."""
    assert not result.problems, result.outcome
    assert [t.index for t in result.trials] == list(range(result.budget))
    assert all(t.status in {"COMPLETED", "FAILED", "ABANDONED"} for t in result.trials)


def test_worker_sigkill_mid_task_redelivers_and_completes(tmp_path: Path) -> None:
    result = scenarios.worker_sigkill(tmp_path)
    assert_guarantees(result)
    assert result.statuses == {"COMPLETED": result.budget}
    # acks_late + reject_on_worker_lost: both killed trials ran exactly twice.
    assert len(result.documented_reruns) == 2
    assert result.duplicated == sorted(result.documented_reruns)


def test_redis_restart_with_append_only_file_loses_nothing(tmp_path: Path) -> None:
    result = scenarios.redis_restart_persistent(tmp_path)
    assert_guarantees(result)
    assert result.statuses == {"COMPLETED": result.budget}
    assert result.lost == []
    assert set(result.duplicated) <= result.documented_reruns  # only trials running at restart


@pytest.mark.parametrize("mode", ["restart", "flushall"])
def test_redis_data_loss_fails_vanished_trials_as_lost(tmp_path: Path, mode: str) -> None:
    result = scenarios.redis_data_loss(tmp_path, mode)
    assert_guarantees(result)
    assert result.lost, "queued trials vanished with Redis's data: they must be FAILED lost"
    assert result.statuses["FAILED"] == len(result.lost)
    for index in result.lost:
        assert result.reason(index).startswith("lost: neither the task's result nor its send")
    assert result.duplicated == []


def test_scheduler_sigkill_then_resume_in_a_new_process(tmp_path: Path) -> None:
    result = scenarios.scheduler_sigkill(tmp_path)
    assert_guarantees(result)
    assert result.statuses == {"COMPLETED": result.budget}
    assert result.executions == {i: 1 for i in range(result.budget)}  # each task sent once
    assert result.data_rows == {i: 1 for i in range(result.budget)}


def test_postgres_restart_mid_run_is_retried(tmp_path: Path) -> None:
    result = scenarios.postgres_restart(tmp_path)
    assert_guarantees(result)
    assert result.statuses == {"COMPLETED": result.budget}
    assert result.executions == {i: 1 for i in range(result.budget)}


def test_worker_cut_off_from_redis_mid_task_is_rerun_elsewhere(tmp_path: Path) -> None:
    try:
        result = scenarios.worker_cut_off(tmp_path)
    except scenarios.NetnsUnavailable as exc:
        pytest.skip(f"network namespaces are not available in this sandbox: {exc}")
    assert_guarantees(result)
    assert result.statuses == {"COMPLETED": result.budget}
    assert len(result.documented_reruns) == 1
    assert result.duplicated == sorted(result.documented_reruns)


def test_misbehaving_objectives_fail_their_trials_only(tmp_path: Path) -> None:
    result = scenarios.misbehaving_objectives(tmp_path)
    assert_guarantees(result)
    modes = scenarios.MODES
    ok = sum(1 for t in result.trials if modes[t.index % len(modes)] == "ok")
    assert result.statuses == {"COMPLETED": ok, "FAILED": result.budget - ok}
    assert result.executions == {i: 1 for i in range(result.budget)}


def test_malformed_and_pickle_messages_execute_nothing(tmp_path: Path) -> None:
    result = scenarios.malformed_messages(tmp_path)
    assert_guarantees(result)
    assert result.statuses == {"COMPLETED": result.budget}
    assert set(result.executions) == set(range(result.budget))
