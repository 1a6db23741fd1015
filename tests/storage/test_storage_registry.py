"""Custom Runner/Metric classes round-trip by registered name; others fail at save time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from scheduler import (
    Data,
    Experiment,
    Metric,
    Objective,
    Ok,
    OptimizationConfig,
    Runner,
    Scheduler,
    Trial,
    TrialStatus,
)
from scheduler.core.metric import MetricFetchResult
from scheduler.local.runner import FunctionMetric, FunctionRunner
from scheduler.storage import (
    DBSettings,
    EncodingError,
    Registry,
    RegistryBundle,
    SQLStore,
    StorageError,
    UnregisteredClassError,
    list_experiments,
    load_experiment,
)
from tests.storage.storage_helpers import branin, branin_space, fast_options, sobol_strategy


class MockJobRunner(Runner):
    """The tutorial's shape: a runner with constructor arguments."""

    def __init__(self, queue: str, priority: int = 0) -> None:
        self.queue = queue
        self.priority = priority

    def run(self, trial: Trial) -> dict[str, Any]:
        return {"job_id": f"{self.queue}-{trial.index}"}

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        return {TrialStatus.COMPLETED: {t.index for t in trials}}

    def serialize_init_args(self) -> dict[str, Any]:
        return {"queue": self.queue, "priority": self.priority}


class BraninForMockJobMetric(Metric):
    def fetch_trial_data(self, trial: Trial) -> MetricFetchResult:
        value = branin(trial.arm.parameters)["branin"]
        return Ok(Data.from_evaluations({self.name: value}, trial.index))


def mock_experiment(name: str = "mock") -> Experiment:
    return Experiment(
        name,
        branin_space(),
        OptimizationConfig(Objective(BraninForMockJobMetric("branin"), minimize=True)),
        runner=MockJobRunner("gpu", priority=2),
    )


def objective_at_module_level(p: dict[str, Any]) -> dict[str, float]:
    return {"branin": branin(p)["branin"]}


def test_unregistered_classes_fail_at_save_time(db_url: str) -> None:
    with pytest.raises(UnregisteredClassError) as info:
        Scheduler(
            mock_experiment(), sobol_strategy(), fast_options(), db_settings=DBSettings(db_url)
        )
    message = str(info.value)
    assert "MockJobRunner" in message and "register_runner(MockJobRunner)" in message
    assert "register_metric(BraninForMockJobMetric)" in message
    assert "runner_clss={MockJobRunner: None}" in message
    assert list_experiments(db_url) == []


def test_tutorial_bundle_round_trip(db_url: str) -> None:
    bundle = RegistryBundle(
        metric_clss={BraninForMockJobMetric: None}, runner_clss={MockJobRunner: None}
    )
    settings = DBSettings(url=db_url, encoder=bundle.encoder, decoder=bundle.decoder)
    Scheduler(
        mock_experiment(), sobol_strategy(), fast_options(), db_settings=settings
    ).run_n_trials(2)

    resumed = Scheduler.from_stored_experiment("mock", fast_options(), settings)
    runner = resumed.experiment.runner
    assert isinstance(runner, MockJobRunner) and (runner.queue, runner.priority) == ("gpu", 2)
    config = resumed.experiment.optimization_config
    assert config is not None and isinstance(config.objectives[0].metric, BraninForMockJobMetric)
    resumed.run_n_trials(1)
    assert resumed.experiment.trials[2].run_metadata == {"job_id": "gpu-2"}

    with pytest.raises(UnregisteredClassError, match="'MockJobRunner'"):
        load_experiment("mock", DBSettings(db_url))  # default registry: unknown type


def test_registry_object_and_custom_names(db_url: str) -> None:
    registry = Registry()
    registry.register_runner(MockJobRunner, name="mock-runner/v1")
    registry.register_metric(BraninForMockJobMetric, name="branin-metric")
    settings = DBSettings(db_url, registry=registry)
    SQLStore(settings).save_experiment(mock_experiment(), sobol_strategy())
    loaded = load_experiment("mock", settings)
    assert isinstance(loaded.runner, MockJobRunner)
    with pytest.raises(StorageError, match="already registered"):
        registry.register_runner(FunctionRunner, name="mock-runner/v1")


def test_function_runner_by_module_path_or_registered_name(db_url: str) -> None:
    experiment = Experiment(
        "fn",
        branin_space(),
        OptimizationConfig(Objective(FunctionMetric("branin"), minimize=True)),
        runner=FunctionRunner(objective_at_module_level),
    )
    SQLStore(db_url).save_experiment(experiment, sobol_strategy())
    loaded = load_experiment("fn", db_url)
    assert isinstance(loaded.runner, FunctionRunner)
    assert loaded.runner.function is objective_at_module_level

    experiment = Experiment(
        "fn2", branin_space(), experiment.optimization_config, runner=FunctionRunner(branin)
    )
    SQLStore(db_url).save_experiment(experiment, sobol_strategy())
    runner = load_experiment("fn2", db_url).runner
    assert isinstance(runner, FunctionRunner) and runner.function is branin


def test_function_runner_with_lambda_is_refused(db_url: str) -> None:
    experiment = Experiment(
        "lambda",
        branin_space(),
        OptimizationConfig(Objective(FunctionMetric("branin"), minimize=True)),
        runner=FunctionRunner(lambda p: {"branin": 0.0}),
    )
    with pytest.raises(UnregisteredClassError, match="register_function"):
        SQLStore(db_url).save_experiment(experiment, sobol_strategy())
    bundle = RegistryBundle(functions={experiment.runner.function: "zero"})  # type: ignore[union-attr]
    SQLStore(DBSettings(db_url, registry=bundle)).save_experiment(experiment, sobol_strategy())
    assert list_experiments(db_url) == ["lambda"]


def test_serialize_init_args_must_be_json(db_url: str) -> None:
    class Bad(MockJobRunner):
        def serialize_init_args(self) -> dict[str, Any]:
            return {"queue": object()}

    registry = Registry()
    registry.register_runner(Bad)
    experiment = mock_experiment()
    experiment.runner = Bad("q")
    settings = DBSettings(
        db_url, registry=RegistryBundle(metric_clss={BraninForMockJobMetric: None})
    )
    settings.registry = registry
    registry.register_metric(BraninForMockJobMetric)
    with pytest.raises(EncodingError, match="not JSON-safe"):
        SQLStore(settings).save_experiment(experiment, sobol_strategy())
