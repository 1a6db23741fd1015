"""The Runner / Metric contract, run against every implementation (as Optuna tests storages).

Public API only (`scheduler.core.runner.Runner`, `scheduler.core.metric.Metric`),
driven the way the scheduler drives it: `run` (or `run_multiple`), the run
metadata merged into the trial, STAGED or RUNNING per `staging_required`, then
`poll_trial_status` until a terminal status, `failure_reason` for a failed
trial, `fetch_trial_data` for its data, `stop` to end it. The implementations
are the fixtures of this directory's conftest; where one genuinely behaves
differently the expectation comes from its `RunnerUnderTest` and the test
says why.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from scheduler import (
    Experiment,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    SearchSpace,
    TrialStatus,
)
from scheduler.core.data import Data
from scheduler.core.metric import Metric
from scheduler.core.parameters import TParameterization
from scheduler.core.result import Ok
from scheduler.core.runner import Runner
from scheduler.core.trial import Trial
from tests.contracts.conftest import RunnerUnderTest
from tests.contracts.contract_objectives import EXPLOSION, METRIC, sphere

#: A limit for polling, only so that a broken runner fails instead of hanging.
GIVE_UP_SECONDS = 60.0
POINT: TParameterization = {"x1": 1.5, "x2": -2.0}


def experiment_for(
    under_test: RunnerUnderTest, objective: str, **options: Any
) -> tuple[Experiment, Runner, Metric]:
    """A two-parameter experiment whose runner evaluates ``objective``."""
    metric = under_test.make_metric(METRIC)
    runner = under_test.make_runner(objective, options)
    experiment = Experiment(
        name=f"contract-{under_test.name}-{objective}-{uuid.uuid4().hex[:8]}",
        search_space=SearchSpace(
            [
                RangeParameter("x1", ParameterType.FLOAT, -5, 5),
                RangeParameter("x2", ParameterType.FLOAT, -5, 5),
            ]
        ),
        optimization_config=OptimizationConfig(Objective(metric, minimize=True)),
        runner=runner,
    )
    return experiment, runner, metric


def mark_deployed(runner: Runner, trial: Trial, metadata: dict[str, Any]) -> None:
    """What the scheduler does with `run`'s answer."""
    trial.update_run_metadata(metadata)  # raises unless a JSON-safe dict
    if runner.staging_required:
        trial.mark_staged()
    else:
        trial.mark_running()


def deploy(runner: Runner, experiment: Experiment, parameters: TParameterization) -> Trial:
    trial = experiment.new_trial(parameters)
    mark_deployed(runner, trial, runner.run(trial))
    return trial


def poll_once(runner: Runner, trials: Sequence[Trial]) -> dict[int, TrialStatus]:
    """One poll of the non-terminal ``trials``, applied as the scheduler applies it."""
    statuses = runner.poll_trial_status([t for t in trials if not t.status.is_terminal])
    seen: dict[int, TrialStatus] = {}
    for status, indices in statuses.items():
        for trial in trials:
            if trial.index not in indices:
                continue
            seen[trial.index] = status
            if status is not trial.status and status is not TrialStatus.STAGED:
                reason = runner.failure_reason(trial) if status.is_terminal else None
                trial.mark_as(status, reason)
    return seen


def poll_until(
    runner: Runner, trials: Sequence[Trial], done: Any = None
) -> dict[int, list[TrialStatus]]:
    """Poll until every trial is terminal (or ``done()`` holds); each trial's statuses
    as the polls reported them, repeats dropped."""
    history: dict[int, list[TrialStatus]] = {t.index: [] for t in trials}
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while True:
        for index, status in poll_once(runner, trials).items():
            if not history[index] or history[index][-1] is not status:
                history[index].append(status)
        if done() if done is not None else all(t.status.is_terminal for t in trials):
            return history
        if time.monotonic() > deadline:
            pytest.fail(f"gave up polling; statuses so far: {history}")
        time.sleep(0.05)


def final_value(data: Data, trial: Trial) -> float:
    rows = data.final().df
    rows = rows[(rows["trial_index"] == trial.index) & (rows["metric_name"] == METRIC)]
    assert len(rows) == 1, rows
    return float(rows["mean"].iloc[0])


@contextmanager
def open_gate(path: Path) -> Iterator[Path]:
    """A gate file for ``contract_reporting``, opened at the end whatever happens,
    so no objective is left running on a fleet the next test uses."""
    try:
        yield path
    finally:
        path.write_text("open")


class TestRunnerContract:
    def test_run_returns_json_safe_run_metadata(self, under_test: RunnerUnderTest) -> None:
        experiment, runner, _ = experiment_for(under_test, "contract_sphere")
        trial = experiment.new_trial(POINT)

        metadata = runner.run(trial)

        assert isinstance(metadata, dict)
        assert json.loads(json.dumps(metadata)) == metadata
        mark_deployed(runner, trial, metadata)
        poll_until(runner, [trial])  # leave nothing running
        assert json.loads(json.dumps(trial.run_metadata)) == trial.run_metadata

    def test_a_good_objective_completes_with_its_value(self, under_test: RunnerUnderTest) -> None:
        experiment, runner, metric = experiment_for(under_test, "contract_sphere")
        trial = deploy(runner, experiment, POINT)

        history = poll_until(runner, [trial])

        assert history[trial.index][-1] is TrialStatus.COMPLETED
        assert trial.status is TrialStatus.COMPLETED
        assert runner.failure_reason(trial) is None
        fetched = metric.fetch_trial_data(trial)
        assert isinstance(fetched, Ok), fetched
        assert isinstance(fetched.value, Data)
        assert final_value(fetched.value, trial) == pytest.approx(sphere(POINT))

    def test_a_raising_objective_fails_and_the_reason_names_the_cause(
        self, under_test: RunnerUnderTest
    ) -> None:
        experiment, runner, metric = experiment_for(under_test, "contract_exploding")
        trial = deploy(runner, experiment, POINT)

        history = poll_until(runner, [trial])

        assert history[trial.index][-1] is TrialStatus.FAILED
        reason = runner.failure_reason(trial) or ""
        assert "ValueError" in reason and EXPLOSION in reason, reason
        assert trial.failed_reason == reason
        # An expected failure is an Err, never an exception.
        assert metric.fetch_trial_data(trial).is_err()

    def test_run_multiple_deploys_every_trial(self, under_test: RunnerUnderTest) -> None:
        experiment, runner, metric = experiment_for(under_test, "contract_sphere")
        points: list[TParameterization] = [{"x1": float(i), "x2": 1.0} for i in range(3)]
        trials = [experiment.new_trial(p) for p in points]

        deployed = runner.run_multiple(trials)

        assert set(deployed) == {t.index for t in trials}
        for trial in trials:
            assert json.loads(json.dumps(deployed[trial.index])) == deployed[trial.index]
            mark_deployed(runner, trial, deployed[trial.index])
        poll_until(runner, trials)
        for trial, point in zip(trials, points, strict=True):
            assert trial.status is TrialStatus.COMPLETED
            fetched = metric.fetch_trial_data(trial)
            assert isinstance(fetched, Ok), fetched
            assert final_value(fetched.value, trial) == pytest.approx(sphere(point))

    @pytest.mark.parametrize("early", [True, False], ids=["early-stop", "plain-stop"])
    def test_stop_ends_a_running_trial_that_reports_progress(
        self, under_test: RunnerUnderTest, tmp_path: Path, early: bool
    ) -> None:
        if not under_test.queued:
            # FunctionRunner evaluates inside `run`: by the time a trial could be
            # stopped its function has returned, so `stop` has nothing to end.
            # The contract left: `stop` answers JSON-safe metadata and does not
            # undo the result.
            experiment, runner, _ = experiment_for(under_test, "contract_sphere")
            trial = deploy(runner, experiment, POINT)
            stopped = runner.stop(trial, reason="contract")
            assert json.loads(json.dumps(stopped)) == stopped
            assert poll_until(runner, [trial])[trial.index] == [TrialStatus.COMPLETED]
            return
        with open_gate(tmp_path / "gate") as gate:
            experiment, runner, metric = experiment_for(
                under_test, "contract_reporting", gate=str(gate)
            )
            trial = deploy(runner, experiment, POINT)
            assert metric.reports_progress
            # Running, with progress the metric can read: a stop now is cooperative.
            poll_until(
                runner,
                [trial],
                done=lambda: (
                    trial.status is TrialStatus.RUNNING and metric.fetch_trial_data(trial).is_ok()
                ),
            )
            if early:
                trial.stop_metadata["early_stop"] = True  # as the scheduler marks it

            stopped = runner.stop(trial, reason="contract")

            assert json.loads(json.dumps(stopped)) == stopped
            trial.stop_metadata.update(stopped)
            history = poll_until(runner, [trial])
        # REVOKED maps to EARLY_STOPPED when the scheduler stopped the trial early,
        # to ABANDONED for any other stop (a TTL, an operator).
        wanted = TrialStatus.EARLY_STOPPED if early else TrialStatus.ABANDONED
        assert history[trial.index][-1] is wanted
        assert trial.status is wanted

    def test_serialize_init_args_is_json_safe(self, under_test: RunnerUnderTest) -> None:
        _, runner, metric = experiment_for(under_test, "contract_sphere")

        runner_args = runner.serialize_init_args()
        metric_args = metric.serialize_init_args()

        assert isinstance(runner_args, dict)
        assert json.loads(json.dumps(runner_args)) == runner_args
        assert json.loads(json.dumps(metric_args)) == metric_args
        # The metric is rebuilt from them as storage reloads it.
        reloaded = type(metric)(**metric_args)
        assert reloaded.name == METRIC
        assert reloaded.serialize_init_args() == metric_args

    def test_staging_required_is_honoured(
        self, under_test: RunnerUnderTest, tmp_path: Path
    ) -> None:
        # A queue stages its trials; an in-process runner has nothing to wait for.
        assert Runner.staging_required is False
        _, probe_runner, _ = experiment_for(under_test, "contract_sphere")
        assert probe_runner.staging_required is under_test.queued
        if not under_test.queued:
            experiment, runner, _ = experiment_for(under_test, "contract_sphere")
            trial = deploy(runner, experiment, POINT)
            assert trial.status is TrialStatus.RUNNING  # never STAGED
            assert poll_until(runner, [trial])[trial.index] == [TrialStatus.COMPLETED]
            return
        with open_gate(tmp_path / "gate") as gate:
            # Fill every slot, so the probe trial has to wait in the queue.
            blocking, blocker_runner, _ = experiment_for(
                under_test, "contract_reporting", gate=str(gate)
            )
            blockers = [
                deploy(blocker_runner, blocking, {"x1": float(i), "x2": 0.0})
                for i in range(under_test.slots)
            ]
            poll_until(
                blocker_runner,
                blockers,
                done=lambda: all(t.status is TrialStatus.RUNNING for t in blockers),
            )
            experiment, runner, _ = experiment_for(under_test, "contract_sphere")
            trial = deploy(runner, experiment, POINT)
            assert trial.status is TrialStatus.STAGED
            assert poll_once(runner, [trial]) == {trial.index: TrialStatus.STAGED}
        # Once the gate opens the probe may finish before the next poll, so the
        # history after it starts anywhere; what it must never do is go back.
        history = poll_until(runner, [trial])[trial.index]
        poll_until(blocker_runner, blockers)
        assert history[-1] is TrialStatus.COMPLETED
        out_of_queue = next(i for i, s in enumerate(history) if s is not TrialStatus.STAGED)
        assert TrialStatus.STAGED not in history[out_of_queue:]  # never back in the queue
        assert all(t.status is TrialStatus.COMPLETED for t in blockers)
