"""CeleryRunner and CeleryMetric against real Redis and real `celery worker` processes."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from scheduler import (
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Models,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
    TrialStatus,
)
from scheduler.celery import CeleryMetric, CeleryRunner, bind_app
from scheduler.core.errors import FailureRateExceededError
from scheduler.core.parameters import TParameterization
from scheduler.core.trial import Trial
from scheduler.storage import DBSettings, SQLStore, load_experiment
from tests.support.celery_workers import WorkerFleet
from workers.protocol import DEFAULT_QUEUE

FAST = SchedulerOptions(
    init_seconds_between_polls=0.05,
    min_seconds_before_poll=0.0,
    max_seconds_between_polls=0.2,
    max_pending_trials=4,
)


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def experiment_for(
    fleet: WorkerFleet, objective: str, metric: str, queue: str = DEFAULT_QUEUE, **options: Any
) -> Experiment:
    space = SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, -5, 10),
            RangeParameter("x2", ParameterType.FLOAT, 0, 15),
        ]
    )
    runner = CeleryRunner(objective, objective_options=options, queue=queue, app=fleet.app)
    return Experiment(
        name=f"celery-{objective}",
        search_space=space,
        optimization_config=OptimizationConfig(Objective(CeleryMetric(metric), minimize=True)),
        runner=runner,
    )


def sobol_only(n: int) -> GenerationStrategy:
    return GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=n)], seed=7)


def poll_until(
    runner: CeleryRunner, trial: Trial, wanted: TrialStatus, timeout: float = 30.0
) -> TrialStatus:
    """Poll one trial until the runner reports `wanted` (or give up and return the last)."""
    deadline = time.monotonic() + timeout
    seen = TrialStatus.CANDIDATE
    while time.monotonic() < deadline:
        statuses = runner.poll_trial_status([trial])
        seen = next(s for s, indices in statuses.items() if trial.index in indices)
        if seen is wanted:
            return seen
        time.sleep(0.05)
    return seen


def deploy(experiment: Experiment, parameters: dict[str, Any] | None = None) -> Trial:
    trial = experiment.new_trial(parameters or {"x1": 1.0, "x2": 2.0})
    trial.update_run_metadata(experiment.runner.run(trial))  # type: ignore[union-attr]
    trial.mark_staged()
    return trial


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_branin_experiment_completes_on_the_fleet(fleet: WorkerFleet) -> None:
    experiment = experiment_for(fleet, "branin", "branin")
    scheduler = Scheduler(experiment, sobol_only(8), FAST)
    scheduler.run_n_trials(max_trials=8)

    assert [t.status for t in experiment.trials.values()] == [TrialStatus.COMPLETED] * 8
    df = experiment.lookup_data().final().df
    for trial in experiment.trials.values():
        mean = float(df.loc[df["trial_index"] == trial.index, "mean"].iloc[0])
        assert mean == pytest.approx(branin(**trial.arm.parameters))  # type: ignore[arg-type]
    task_ids = {t.run_metadata["task_id"] for t in experiment.trials.values()}
    assert len(task_ids) == 8


def test_states_map_as_designed_at_every_stage(fleet: WorkerFleet, tmp_path: Path) -> None:
    # PENDING: a queue no worker consumes -> STAGED.
    parked = experiment_for(fleet, "branin", "branin", queue="bo-parked")
    queued = deploy(parked)
    assert poll_until(parked.runner, queued, TrialStatus.STAGED) is TrialStatus.STAGED  # type: ignore[arg-type]

    # STARTED -> RUNNING, then SUCCESS -> COMPLETED (curve waits for a file between).
    gate = tmp_path / "go"
    curve = experiment_for(fleet, "curve", "loss", wait_for=str(gate))
    trial = deploy(curve)
    runner = curve.runner
    assert isinstance(runner, CeleryRunner)
    assert poll_until(runner, trial, TrialStatus.RUNNING) is TrialStatus.RUNNING
    # PROGRESS -> RUNNING, with every reported point kept.
    assert wait_for(
        lambda: (
            bool(runner.poll_trial_status([trial]))
            and len(runner.views[trial.index].progress or []) == 3
        )
    )
    assert [p["step"] for p in runner.views[trial.index].progress or []] == [0, 1, 2]
    gate.write_text("go")
    assert poll_until(runner, trial, TrialStatus.COMPLETED) is TrialStatus.COMPLETED
    assert runner.view(trial).result == {"loss": pytest.approx(0.2)}
    assert "result" not in trial.run_metadata  # the poll's view holds it, not a copy

    # FAILURE -> FAILED with the exception's message as the reason.
    failing = experiment_for(fleet, "raises", "x")
    bad = deploy(failing, {"x1": 3.0, "x2": 1.0})
    assert poll_until(failing.runner, bad, TrialStatus.FAILED) is TrialStatus.FAILED  # type: ignore[arg-type]
    assert "simulator crashed" in (failing.runner.failure_reason(bad) or "")  # type: ignore[union-attr]

    # REVOKED -> ABANDONED (stopped, not early) for a hung trial.
    hung_exp = experiment_for(fleet, "hangs", "x")
    hung = deploy(hung_exp)
    hung_runner = hung_exp.runner
    assert isinstance(hung_runner, CeleryRunner)
    assert poll_until(hung_runner, hung, TrialStatus.RUNNING) is TrialStatus.RUNNING
    hung_runner.stop(hung, reason="test")
    assert poll_until(hung_runner, hung, TrialStatus.ABANDONED) is TrialStatus.ABANDONED


def test_objective_that_raises_fails_its_trial_with_the_message(fleet: WorkerFleet) -> None:
    experiment = experiment_for(fleet, "raises", "x")
    options = SchedulerOptions(
        init_seconds_between_polls=0.05, min_seconds_before_poll=0.0, max_seconds_between_polls=0.2
    )
    with pytest.raises(FailureRateExceededError, match="simulator crashed"):
        Scheduler(experiment, sobol_only(2), options).run_n_trials(max_trials=2)  # all failed
    assert len(experiment.trials) == 2
    for trial in experiment.trials.values():
        assert trial.status is TrialStatus.FAILED
        assert "ValueError: simulator crashed" in (trial.failed_reason or "")


def test_unknown_objective_fails_with_the_registered_names(fleet: WorkerFleet) -> None:
    experiment = experiment_for(fleet, "no_such_objective", "x")
    trial = deploy(experiment)
    runner = experiment.runner
    assert isinstance(runner, CeleryRunner)
    assert poll_until(runner, trial, TrialStatus.FAILED) is TrialStatus.FAILED
    reason = runner.failure_reason(trial) or ""
    assert "no_such_objective" in reason
    assert "branin" in reason and "hartmann6" in reason


def test_worker_child_killed_mid_task_leaves_no_trial_stuck(
    fleet: WorkerFleet, tmp_path: Path
) -> None:
    experiment = experiment_for(fleet, "killable", "attempts", attempts_dir=str(tmp_path))
    scheduler = Scheduler(experiment, sobol_only(1), FAST)

    def kill_first_attempt(_: Scheduler) -> None:
        pid_file = tmp_path / "attempt-1.pid"
        if pid_file.exists() and not (tmp_path / "killed").exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
            (tmp_path / "killed").write_text("yes")

    scheduler.run_n_trials(max_trials=1, idle_callback=kill_first_attempt, timeout_hours=0.02)
    (trial,) = experiment.trials.values()
    assert (tmp_path / "killed").exists()
    assert trial.status.is_terminal, "a killed worker child must not leave the trial stuck"
    # acks_late + reject_on_worker_lost: the message is redelivered and the re-run succeeds.
    assert trial.status is TrialStatus.COMPLETED
    assert trial.objective_mean == pytest.approx(2.0)  # the re-run's result, stored as data


def test_sending_twice_reattaches_instead_of_duplicating(fleet: WorkerFleet, redis_db: Any) -> None:
    experiment = experiment_for(fleet, "branin", "branin", queue="bo-reattach")
    trial = experiment.new_trial({"x1": 0.0, "x2": 0.0})
    runner = experiment.runner
    assert isinstance(runner, CeleryRunner)
    first = runner.run(trial)
    second = runner.run(trial)  # a resumed scheduler that never saw `first`
    assert second["task_id"] == first["task_id"]
    assert second.get("reattached") is True
    client = redis.Redis.from_url(redis_db.url)
    assert client.llen("bo-reattach") == 1


def test_task_lost_with_the_broker_data_is_failed_as_lost(
    fleet: WorkerFleet, redis_db: Any
) -> None:
    experiment = experiment_for(fleet, "branin", "branin", queue="bo-lost")
    runner = experiment.runner
    assert isinstance(runner, CeleryRunner)
    runner.lost_after_seconds = 0.0
    trial = deploy(experiment)
    assert poll_until(runner, trial, TrialStatus.STAGED) is TrialStatus.STAGED
    client = redis.Redis.from_url(redis_db.url)
    # Redis losing its data (restart without persistence): queue and records vanish.
    client.delete("bo-lost", f"bo-sent-{trial.run_metadata['task_id']}")
    assert poll_until(runner, trial, TrialStatus.FAILED, timeout=5) is TrialStatus.FAILED
    assert (runner.failure_reason(trial) or "").startswith("lost")


def record_redis_commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of every command a Redis client sends, in order."""
    calls: list[str] = []
    original = redis.Redis.execute_command

    def counting(self: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[0]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    return calls


def test_poll_reads_all_outstanding_tasks_in_one_round_trip(
    fleet: WorkerFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = experiment_for(fleet, "branin", "branin", queue="bo-parked-many")
    trials = [deploy(experiment, {"x1": float(i % 10), "x2": 1.0}) for i in range(50)]
    runner = experiment.runner
    assert isinstance(runner, CeleryRunner)
    calls = record_redis_commands(monkeypatch)
    statuses = runner.poll_trial_status(trials)
    assert statuses == {TrialStatus.STAGED: {t.index for t in trials}}
    assert calls == ["MGET"]


def test_a_poll_that_sees_completions_reads_their_curves_in_the_same_round_trip(
    fleet: WorkerFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = experiment_for(fleet, "curve", "loss", steps=3)
    trials = [deploy(experiment, {"x1": float(i), "x2": 1.0}) for i in range(3)]
    for trial in trials:  # all done before the first poll: no PROGRESS state was seen
        fleet.app.AsyncResult(trial.run_metadata["task_id"]).get(timeout=30)
    runner = experiment.runner
    assert isinstance(runner, CeleryRunner)
    calls = record_redis_commands(monkeypatch)
    statuses = runner.poll_trial_status(trials)
    assert statuses == {TrialStatus.COMPLETED: {0, 1, 2}}
    assert calls == ["MGET"]
    for trial in trials:
        assert [p["step"] for p in runner.views[trial.index].progress or []] == [0, 1, 2]


def test_capacity_reads_free_worker_slots(fleet: WorkerFleet) -> None:
    runner = CeleryRunner("branin", app=fleet.app)
    assert runner.poll_available_capacity() == 4  # 2 workers x concurrency 2, all idle


def test_resume_collects_trials_sent_just_before_a_crash(
    fleet: WorkerFleet, tmp_path: Path
) -> None:
    """A scheduler killed between sending trials and saving them as deployed left
    them CANDIDATE in the database. The resumed scheduler must find them sent,
    collect the results that came in meanwhile in its catch-up poll, and never
    wait for the next run; a CANDIDATE it never sent is deployed by that run."""
    settings = DBSettings(f"sqlite:///{tmp_path / 'bo.db'}")
    experiment = experiment_for(fleet, "branin", "branin")
    scheduler = Scheduler(experiment, sobol_only(3), FAST, db_settings=settings)
    runner = experiment.runner
    assert isinstance(runner, CeleryRunner)
    # What `_launch` saves before sending, then the sends the crash left unsaved.
    points: tuple[TParameterization, ...] = ({"x1": 0.0, "x2": 1.0}, {"x1": 2.0, "x2": 3.0})
    trials = [experiment.new_trial(p) for p in points]
    never_sent = experiment.new_trial({"x1": 4.0, "x2": 5.0})
    store = scheduler._store
    assert isinstance(store, SQLStore)
    store.save_new_trials(experiment, [*trials, never_sent], scheduler.generation_strategy)
    sent = [runner.run(trial)["task_id"] for trial in trials]
    for task_id in sent:  # the fleet finishes them while no scheduler runs
        fleet.app.AsyncResult(task_id).get(timeout=30)

    resumed = Scheduler.from_stored_experiment(
        experiment.name, FAST, settings, bind_runner=bind_app(fleet.app)
    )

    stored = load_experiment(experiment.name, settings)
    for trial in trials:
        assert resumed.experiment.trials[trial.index].status is TrialStatus.COMPLETED
        assert stored.trials[trial.index].status is TrialStatus.COMPLETED
        assert stored.trials[trial.index].run_metadata["task_id"] == runner.task_id(trial)
    assert stored.trials[never_sent.index].status is TrialStatus.CANDIDATE
    assert len(stored.lookup_data().df) == 2
    resumed.run_n_trials(max_trials=1)  # the stranded candidate, counted as this run's one
    assert {t.status for t in resumed.experiment.trials.values()} == {TrialStatus.COMPLETED}
    assert len(load_experiment(experiment.name, settings).lookup_data().df) == 3
