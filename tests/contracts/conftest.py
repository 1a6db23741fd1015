"""The runner implementations the contract suite runs against, one fixture each.

Each fixture yields a :class:`RunnerUnderTest`: how to build that runner and
its metric for a named objective of ``contract_objectives``, and what the
contract expects of it where implementations genuinely differ. A new runner
is one more fixture here and its name in :data:`IMPLEMENTATIONS`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scheduler.celery import CeleryMetric, CeleryRunner
from scheduler.celery.embedded import stop_embedded_worker
from scheduler.core.metric import Metric
from scheduler.core.runner import Runner
from scheduler.local.runner import FunctionMetric, FunctionRunner
from tests.contracts import contract_objectives
from tests.support.celery_workers import WorkerFleet, fleet_fixture
from workers.app import make_app

#: Threads of the embedded worker, and pool processes of the Redis fleet's one worker.
SLOTS = 2


@dataclass(frozen=True)
class RunnerUnderTest:
    """One Runner implementation, as the contract tests see it."""

    name: str
    #: (objective name, objective options) -> a new runner evaluating that objective.
    make_runner: Callable[[str, dict[str, Any]], Runner]
    #: metric name -> the metric that reads this runner's results.
    make_metric: Callable[[str], Metric]
    #: True for a queue: `run` returns at once and the objective runs in the
    #: background, so trials wait STAGED for a free slot, can be seen RUNNING
    #: and stopped. False: `run` returns only once the objective has.
    queued: bool
    #: Trials a queued implementation runs at once.
    slots: int = 0


@pytest.fixture(scope="module")
def function_runner() -> RunnerUnderTest:
    """The in-process `FunctionRunner`: calls the objective inside `run`."""

    def make_runner(objective: str, options: dict[str, Any]) -> Runner:
        return FunctionRunner(
            functools.partial(contract_objectives.FUNCTIONS[objective], **options)
        )

    return RunnerUnderTest("function", make_runner, FunctionMetric, queued=False)


def celery_runner_under_test(name: str, app: Any) -> RunnerUnderTest:
    def make_runner(objective: str, options: dict[str, Any]) -> Runner:
        return CeleryRunner(
            objective, objective_options=options, app=app, embedded_concurrency=SLOTS
        )

    return RunnerUnderTest(name, make_runner, CeleryMetric, queued=True, slots=SLOTS)


@pytest.fixture(scope="module")
def embedded_celery() -> Iterator[RunnerUnderTest]:
    """`CeleryRunner` in embedded mode: memory:// broker, in-process thread worker.

    The worker starts on the first runner's first use; it finds the contract
    objectives because this process has imported them.
    """
    app = make_app({})
    try:
        yield celery_runner_under_test("embedded", app)
    finally:
        stop_embedded_worker(app)
        app.close()


contract_fleet = fleet_fixture(
    [contract_objectives.MODULE],
    count=1,
    concurrency=SLOTS,
    log_folder="contract-worker-logs",
    name="contract_fleet",
    doc="One `celery worker` process with SLOTS pool processes on a private Redis.",
)


@pytest.fixture(scope="module")
def redis_celery(contract_fleet: WorkerFleet) -> RunnerUnderTest:
    """`CeleryRunner` on a real Redis with a real worker subprocess."""
    return celery_runner_under_test("redis", contract_fleet.app)


#: Fixture names of the implementations every contract test runs against.
IMPLEMENTATIONS = ["function_runner", "embedded_celery", "redis_celery"]


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def under_test(request: pytest.FixtureRequest) -> RunnerUnderTest:
    """Each implementation in turn."""
    implementation = request.getfixturevalue(request.param)
    assert isinstance(implementation, RunnerUnderTest)
    return implementation
