"""Property-based: any input a user can give is either accepted or refused with a named error.

Hypothesis draws parameter definitions, search spaces with constraints,
SchedulerOptions, parameterizations for ``Experiment.new_trial`` and frames
for ``Data`` from a wide space of values (wrong types, NaN, infinities, huge
numbers, empty and odd strings). Whatever it draws, the library must either
build a valid object or raise a subclass of ``BoSchedulerError``, never a
bare TypeError, KeyError, OverflowError or AttributeError from inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler import (
    ChoiceParameter,
    Data,
    Experiment,
    FixedParameter,
    ParameterConstraint,
    ParameterType,
    RangeParameter,
    SchedulerOptions,
    SearchSpace,
)
from scheduler.core.errors import BoSchedulerError

T = TypeVar("T")

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
)
anything = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=3), scalars, max_size=3),
    st.tuples(scalars, scalars),
)
names = st.one_of(st.sampled_from(["x", "y", "lr", ""]), anything)
types = st.one_of(st.sampled_from(list(ParameterType)), anything)


def accepted_or_named_error(build: Callable[[], T]) -> T | None:
    """``build()``, or None when it raised a named error; anything else fails the test."""
    try:
        return build()
    except BoSchedulerError as exc:
        assert str(exc), "a named error must say what to change"
        return None


@PROPERTY_SETTINGS
@given(names, types, anything, anything, anything)
def test_range_parameter(name: Any, kind: Any, lower: Any, upper: Any, log: Any) -> None:
    built = accepted_or_named_error(lambda: RangeParameter(name, kind, lower, upper, log))
    if built is not None:
        assert math.isfinite(built.lower) and math.isfinite(built.upper)
        assert built.lower < built.upper
        assert not built.log_scale or built.lower > 0


@PROPERTY_SETTINGS
@given(names, types, st.one_of(st.lists(anything, max_size=5), anything), anything, anything)
def test_choice_parameter(name: Any, kind: Any, values: Any, ordered: Any, sort: Any) -> None:
    built = accepted_or_named_error(lambda: ChoiceParameter(name, kind, values, ordered, sort))
    if built is not None:
        assert len(built.values) >= 2


@PROPERTY_SETTINGS
@given(names, types, anything)
def test_fixed_parameter(name: Any, kind: Any, value: Any) -> None:
    accepted_or_named_error(lambda: FixedParameter(name, kind, value))


constraint_dicts = st.one_of(
    st.dictionaries(st.sampled_from(["x", "y", "z", "c"]), anything, max_size=3), anything
)


@PROPERTY_SETTINGS
@given(constraint_dicts, anything, st.booleans())
def test_search_space_with_constraints(weights: Any, bound: Any, log_y: bool) -> None:
    def build() -> SearchSpace:
        constraint = ParameterConstraint(weights, bound)
        return SearchSpace(
            [
                RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0),
                RangeParameter("y", ParameterType.FLOAT, 0.1, 10.0, log_scale=log_y),
                ChoiceParameter("c", ParameterType.STRING, ["a", "b"]),
            ],
            [constraint],
        )

    space = accepted_or_named_error(build)
    if space is not None:
        accepted_or_named_error(lambda: space.check_membership({"x": 0.5, "y": 1.0, "c": "a"}))


option_values = st.fixed_dictionaries(
    {},
    optional={
        "max_pending_trials": anything,
        "total_trials": anything,
        "tolerated_trial_failure_rate": anything,
        "min_failed_trials_for_failure_rate_check": anything,
        "ttl_seconds_for_trials": anything,
        "init_seconds_between_polls": anything,
        "min_seconds_before_poll": anything,
        "seconds_between_polls_backoff_factor": anything,
        "max_seconds_between_polls": anything,
        "run_trials_in_batches": anything,
        "wait_for_running_trials": anything,
        "early_stopping_strategy": anything,
        "global_stopping_strategy": anything,
    },
)


@PROPERTY_SETTINGS
@given(option_values)
def test_scheduler_options(values: dict[str, Any]) -> None:
    options = accepted_or_named_error(lambda: SchedulerOptions(**values))
    if options is not None:
        assert options.max_pending_trials >= 1
        assert 0 <= options.tolerated_trial_failure_rate < 1


def _experiment() -> Experiment:
    return Experiment(
        "properties",
        SearchSpace(
            [
                RangeParameter("x", ParameterType.FLOAT, -1.0, 1.0),
                RangeParameter("n", ParameterType.INT, 1, 10),
                ChoiceParameter("opt", ParameterType.STRING, ["adam", "sgd"]),
                ChoiceParameter("flag", ParameterType.BOOL, [True, False]),
                FixedParameter("seed", ParameterType.INT, 7),
            ],
            [ParameterConstraint({"x": 1.0, "n": 0.1}, 1.5)],
        ),
    )


parameterizations = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "x": anything,
            "n": anything,
            "opt": anything,
            "flag": anything,
            "seed": anything,
            "other": anything,
        },
    ),
    anything,
)


@PROPERTY_SETTINGS
@given(parameterizations)
def test_new_trial(parameters: Any) -> None:
    experiment = _experiment()
    trial = accepted_or_named_error(lambda: experiment.new_trial(parameters))
    if trial is not None:
        assert experiment.search_space.check_membership(trial.arm.parameters)
        assert trial.index == 0 and experiment.num_trials == 1
    else:
        assert experiment.num_trials == 0  # a refused trial leaves no trace


columns = st.sampled_from(["trial_index", "arm_name", "metric_name", "mean", "sem", "step", "x"])
frames = st.dictionaries(columns, st.lists(scalars, min_size=2, max_size=2), max_size=7).map(
    pd.DataFrame
)


@PROPERTY_SETTINGS
@given(st.one_of(frames, anything))
def test_data(frame: Any) -> None:
    data = accepted_or_named_error(lambda: Data(frame))
    if data is not None:
        assert {"trial_index", "metric_name", "mean", "sem"} <= set(data.df.columns)
        accepted_or_named_error(data.final)
