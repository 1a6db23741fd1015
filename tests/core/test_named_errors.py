"""Every deliberate error is a named BoSchedulerError; defaults explain themselves."""

from __future__ import annotations

import inspect

import pytest

import scheduler.core as core
import scheduler.core.errors as errors
from scheduler import Arm, Err, Metric, MetricFetchE, Ok, Runner, Trial
from scheduler.core.result import UnwrapError


def error_classes() -> list[type[Exception]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == errors.__name__
    ]


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_each_error_is_a_bo_scheduler_error_exported_from_core(cls: type[Exception]) -> None:
    assert issubclass(cls, errors.BoSchedulerError)
    assert getattr(core, cls.__name__) is cls


def test_value_errors_can_still_be_caught_as_value_error() -> None:
    assert issubclass(errors.InvalidParameterError, ValueError)
    assert issubclass(errors.OutOfSearchSpaceError, ValueError)
    assert issubclass(errors.InvalidSchedulerOptionsError, ValueError)


def test_ok_and_err_results() -> None:
    ok: Ok[int] = Ok(3)
    err: Err[MetricFetchE] = Err(MetricFetchE("job gone", RuntimeError("404")))
    assert ok.is_ok() and ok.unwrap() == 3 and ok.ok == 3 and ok.err is None
    assert err.is_err() and err.ok is None
    assert str(err.err) == "job gone: 404"
    with pytest.raises(UnwrapError):
        err.unwrap()


def test_default_metric_returns_an_err_that_says_what_to_implement() -> None:
    trial = Trial(index=0, arm=Arm({"x": 1.0}))
    result = Metric("loss").fetch_trial_data(trial)
    assert isinstance(result, Err)
    assert "override it" in str(result.err)


def test_default_runner_says_what_to_implement() -> None:
    trial = Trial(index=0, arm=Arm({"x": 1.0}))
    runner = Runner()
    with pytest.raises(NotImplementedError, match=r"must implement run\(trial\)"):
        runner.run(trial)
    with pytest.raises(NotImplementedError, match="poll_trial_status"):
        runner.poll_trial_status([trial])
    assert runner.poll_available_capacity() == -1
    assert runner.stop(trial) == {}
