"""Issue 13 in storage: STALE candidates and curve points saved while trials run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from scheduler import Data, Metric, Ok, Scheduler, Trial, TrialStatus
from scheduler.core.runner import Runner
from scheduler.storage import (
    DBSettings,
    SQLStore,
    load_experiment,
    register_metric,
    register_runner,
)
from scheduler.storage.sql.engine import connect
from scheduler.storage.sql.models import DataRow
from tests.storage.storage_helpers import fast_options, function_experiment, sobol_strategy


def test_stale_candidates_are_stored_and_reloaded(db_url: str) -> None:
    experiment = function_experiment()
    scheduler = Scheduler(
        experiment, sobol_strategy(), fast_options(), db_settings=DBSettings(db_url)
    )
    scheduler.generate_candidates(2)
    scheduler.generate_candidates(1)
    loaded = load_experiment("exp", DBSettings(db_url))
    assert [t.status for t in loaded.trials.values()] == [
        TrialStatus.STALE,
        TrialStatus.STALE,
        TrialStatus.CANDIDATE,
    ]
    assert loaded.trials[0].failed_reason == "replaced by newer candidates"


class SteppingRunner(Runner):
    """Each poll adds one curve point; the trial completes after three."""

    def __init__(self) -> None:
        self.curves: dict[int, list[float]] = {}

    def run(self, trial: Trial) -> dict[str, Any]:
        return {"job": trial.index}

    def poll_trial_status(self, trials: Any) -> dict[TrialStatus, set[int]]:
        out: dict[TrialStatus, set[int]] = {}
        for trial in trials:
            curve = self.curves.setdefault(trial.index, [])
            if len(curve) < 3:
                curve.append(1.0 / (len(curve) + 1))
            done = len(curve) == 3 and getattr(self, f"seen_{trial.index}", False)
            setattr(self, f"seen_{trial.index}", len(curve) == 3)
            out.setdefault(TrialStatus.COMPLETED if done else TrialStatus.RUNNING, set()).add(
                trial.index
            )
        return out


class StepMetric(Metric):
    def __init__(self, name: str, runner: SteppingRunner | None = None, **kwargs: Any) -> None:
        super().__init__(name, lower_is_better=True)
        self.runner = runner or SteppingRunner()

    @property
    def reports_progress(self) -> bool:
        return True

    def fetch_trial_data(self, trial: Trial) -> Any:
        curve = self.runner.curves.get(trial.index, [])
        rows = [
            {"trial_index": trial.index, "arm_name": trial.arm.name, "metric_name": self.name,
             "mean": v, "sem": 0.0, "step": float(s)}
            for s, v in enumerate(curve)
        ]  # fmt: skip
        return Ok(Data.from_rows(rows))


register_runner(SteppingRunner)
register_metric(StepMetric)


def test_curve_points_are_saved_while_running_and_each_row_once(db_url: str) -> None:
    experiment = function_experiment()
    runner = SteppingRunner()
    experiment.runner = runner
    experiment.tracking_metrics = [StepMetric("loss", runner)]
    experiment.optimization_config.objectives[0].metric = StepMetric("branin", runner)  # type: ignore[union-attr]
    scheduler = Scheduler(
        experiment,
        sobol_strategy(),
        fast_options(max_pending_trials=1),
        db_settings=DBSettings(db_url),
    )
    store = scheduler.store
    assert isinstance(store, SQLStore)
    seen_while_running: list[int] = []

    def count_rows(s: Scheduler) -> None:
        if s.running_trials:
            with connect(store.engine) as conn:
                seen_while_running.append(len(conn.execute(select(DataRow.id)).all()))

    scheduler.run_n_trials(max_trials=1, idle_callback=count_rows)
    assert seen_while_running == [0, 2, 4, 6]  # each poll's new points, before completion
    with connect(store.engine) as conn:
        rows = conn.execute(select(DataRow.metric_name, DataRow.step, DataRow.mean)).all()
    assert len(rows) == len(set(rows)) == 6  # 2 metrics x 3 steps, none stored twice
    loaded = load_experiment("exp", DBSettings(db_url))
    df = loaded.lookup_trial_data(0).df
    assert sorted(df.loc[df["metric_name"] == "loss", "step"]) == [0.0, 1.0, 2.0]
