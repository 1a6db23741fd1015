"""Trial lifecycle: allowed moves, timestamps, run metadata, TTL and views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import scheduler.core.trial as trial_module
from scheduler import Arm, Trial, TrialStatus
from scheduler.core import InvalidRunMetadataError, InvalidTrialTransitionError


def new_trial(index: int = 0, **kwargs: object) -> Trial:
    return Trial(index=index, arm=Arm(parameters={"x": 1.0}), **kwargs)  # type: ignore[arg-type]


def test_new_trial_is_a_candidate_with_an_arm_named_after_it() -> None:
    trial = new_trial(7)
    assert trial.status is TrialStatus.CANDIDATE
    assert trial.arm.name == "7_0"
    assert trial.time_staged is None and trial.time_completed is None


def test_happy_path_through_staging_sets_each_timestamp() -> None:
    trial = new_trial()
    trial.mark_staged()
    assert trial.status is TrialStatus.STAGED and trial.time_staged is not None
    trial.mark_running()
    assert trial.status is TrialStatus.RUNNING and trial.time_run_started is not None
    trial.mark_completed()
    assert trial.status is TrialStatus.COMPLETED and trial.time_completed is not None
    assert trial.status.is_terminal and trial.status.is_completed


def test_mark_running_twice_keeps_the_first_start_time() -> None:
    trial = new_trial()
    trial.mark_running()
    started = trial.time_run_started
    trial.mark_running()
    assert trial.time_run_started == started


@pytest.mark.parametrize(
    "final",
    [
        TrialStatus.COMPLETED,
        TrialStatus.FAILED,
        TrialStatus.ABANDONED,
        TrialStatus.EARLY_STOPPED,
    ],
)
def test_a_terminal_trial_cannot_move_again(final: TrialStatus) -> None:
    trial = new_trial()
    trial.mark_running()
    trial.mark_as(final, reason="done")
    assert trial.status is final
    with pytest.raises(InvalidTrialTransitionError, match=f"from {final.name} to RUNNING"):
        trial.mark_running()
    with pytest.raises(InvalidTrialTransitionError):
        trial.mark_failed("again")


@pytest.mark.parametrize("status", [TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED])
def test_a_candidate_cannot_finish_without_being_deployed(status: TrialStatus) -> None:
    with pytest.raises(InvalidTrialTransitionError, match="from CANDIDATE"):
        new_trial().mark_as(status)


def test_a_candidate_may_fail_or_be_abandoned() -> None:
    failed, abandoned = new_trial(0), new_trial(1)
    failed.mark_failed("deploy failed: no route to host")
    abandoned.mark_abandoned("operator")
    assert failed.status is TrialStatus.FAILED
    assert failed.failed_reason == "deploy failed: no route to host"
    assert abandoned.status is TrialStatus.ABANDONED


def test_running_cannot_go_back_to_staged_or_candidate() -> None:
    trial = new_trial()
    trial.mark_running()
    with pytest.raises(InvalidTrialTransitionError):
        trial.mark_staged()
    with pytest.raises(InvalidTrialTransitionError, match="cannot be marked CANDIDATE"):
        trial.mark_as(TrialStatus.CANDIDATE)


def test_staged_and_running_count_as_out_on_the_fleet() -> None:
    out = {s for s in TrialStatus if s.is_running}
    assert out == {TrialStatus.STAGED, TrialStatus.RUNNING}
    assert not TrialStatus.CANDIDATE.is_terminal


@pytest.mark.parametrize("metadata", [["job", 1], "job-1", 17, None])
def test_run_metadata_must_be_a_dict(metadata: object) -> None:
    trial = new_trial(3)
    with pytest.raises(InvalidRunMetadataError, match="must return a dict") as err:
        trial.update_run_metadata(metadata)
    assert "trial 3" in str(err.value)
    assert "{'job_id': ...}" in str(err.value)
    assert trial.run_metadata == {}


def test_run_metadata_must_be_json_serializable() -> None:
    trial = new_trial()
    with pytest.raises(InvalidRunMetadataError, match="not JSON-serializable"):
        trial.update_run_metadata({"job": object()})
    assert trial.run_metadata == {}


def test_run_metadata_is_merged() -> None:
    trial = new_trial()
    trial.update_run_metadata({"job_id": 5})
    trial.update_run_metadata({"host": "w1"})
    assert trial.run_metadata == {"job_id": 5, "host": "w1"}


def test_a_trial_is_stale_only_after_its_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    monkeypatch.setattr(trial_module, "utcnow", lambda: now[0])
    trial = new_trial(ttl_seconds=60)
    assert not trial.is_stale  # not deployed yet
    trial.mark_running()
    now[0] += timedelta(seconds=60)
    assert not trial.is_stale
    now[0] += timedelta(seconds=1)
    assert trial.is_stale
    trial.mark_failed("exceeded TTL")
    assert not trial.is_stale  # terminal trials are never stale


def test_a_trial_without_ttl_is_never_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    trial = new_trial()
    trial.mark_running()
    later = datetime.now(UTC) + timedelta(days=365)
    monkeypatch.setattr(trial_module, "utcnow", lambda: later)
    assert not trial.is_stale


def test_objective_mean_without_experiment_is_none() -> None:
    assert new_trial().objective_mean is None
