"""SearchSpace: validation of its definition and of the arms proposed in it."""

from __future__ import annotations

import pytest

from scheduler import (
    ChoiceParameter,
    FixedParameter,
    ParameterConstraint,
    ParameterType,
    RangeParameter,
    SearchSpace,
)
from scheduler.core import InvalidSearchSpaceError, OutOfSearchSpaceError, TParameterization


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace(
        parameters=[
            RangeParameter("x1", ParameterType.FLOAT, lower=-5, upper=10),
            RangeParameter("x2", ParameterType.FLOAT, lower=0, upper=15),
            RangeParameter("layers", ParameterType.INT, lower=1, upper=4),
            ChoiceParameter("optimizer", ParameterType.STRING, values=["adam", "sgd"]),
            FixedParameter("batch", ParameterType.INT, value=32),
        ],
        parameter_constraints=[ParameterConstraint({"x1": 1.0, "x2": 1.0}, bound=20.0)],
    )


def inside() -> TParameterization:
    return {"x1": 0.0, "x2": 5.0, "layers": 2, "optimizer": "adam", "batch": 32}


def test_duplicate_parameter_names_are_rejected_by_name() -> None:
    with pytest.raises(InvalidSearchSpaceError, match=r"\['x'\] appear more than once"):
        SearchSpace(
            [
                RangeParameter("x", ParameterType.FLOAT, lower=0, upper=1),
                RangeParameter("x", ParameterType.FLOAT, lower=1, upper=2),
            ]
        )


def test_empty_search_space_is_rejected() -> None:
    with pytest.raises(InvalidSearchSpaceError, match="at least one parameter"):
        SearchSpace([])


def test_constraint_over_unknown_parameter_lists_the_known_ones() -> None:
    with pytest.raises(InvalidSearchSpaceError, match="unknown parameter 'x3'") as err:
        SearchSpace(
            [RangeParameter("x1", ParameterType.FLOAT, lower=0, upper=1)],
            parameter_constraints=[ParameterConstraint({"x1": 1.0, "x3": 1.0}, bound=1.0)],
        )
    assert "['x1']" in str(err.value)


def test_constraint_over_choice_parameter_is_rejected() -> None:
    with pytest.raises(InvalidSearchSpaceError, match="not a RangeParameter"):
        SearchSpace(
            [ChoiceParameter("c", ParameterType.INT, values=[1, 2])],
            parameter_constraints=[ParameterConstraint({"c": 1.0}, bound=1.0)],
        )


def test_constraint_over_log_scale_parameter_is_rejected() -> None:
    with pytest.raises(InvalidSearchSpaceError, match="log-scale parameter 'lr'"):
        SearchSpace(
            [RangeParameter("lr", ParameterType.FLOAT, lower=1e-4, upper=1, log_scale=True)],
            parameter_constraints=[ParameterConstraint({"lr": 1.0}, bound=0.5)],
        )


def test_parameter_groups(space: SearchSpace) -> None:
    assert list(space.range_parameters) == ["x1", "x2", "layers"]
    assert list(space.choice_parameters) == ["optimizer"]
    assert list(space.fixed_parameters) == ["batch"]
    assert "batch" not in space.tunable_parameters
    assert len(space.tunable_parameters) == 4


def test_a_point_inside_passes_and_is_cast(space: SearchSpace) -> None:
    given: TParameterization = {"x1": 1, "x2": "2.5", "layers": 2.0, "optimizer": "sgd"}
    cast = space.validate_parameterization(given)
    assert cast == {"x1": 1.0, "x2": 2.5, "layers": 2, "optimizer": "sgd", "batch": 32}
    assert isinstance(cast["layers"], int)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"x1": 10.5}, "x1=10.5 is outside [-5.0, 10.0]"),
        ({"layers": 5}, "layers=5 is outside [1, 4]"),
        ({"optimizer": "rmsprop"}, "outside the choices ['adam', 'sgd']"),
        ({"batch": 64}, "outside the fixed value 32"),
        ({"x1": 9.0, "x2": 14.0}, "constraint 1*x1 + 1*x2 <= 20 is violated"),
    ],
)
def test_a_point_outside_says_why(space: SearchSpace, change: dict, reason: str) -> None:
    point = {**inside(), **change}
    assert space.membership_error(point) is not None
    assert not space.check_membership(point)
    with pytest.raises(OutOfSearchSpaceError) as err:
        space.validate_parameterization(point)
    assert reason in str(err.value)


def test_a_point_missing_a_value_names_it(space: SearchSpace) -> None:
    point = inside()
    del point["x2"]
    with pytest.raises(OutOfSearchSpaceError, match=r"missing value\(s\) for \['x2'\]"):
        space.check_membership(point, raise_error=True)


def test_an_unknown_parameter_is_named(space: SearchSpace) -> None:
    with pytest.raises(OutOfSearchSpaceError, match=r"Unknown parameter\(s\) \['x9'\]"):
        space.validate_parameterization({**inside(), "x9": 1.0})


def test_a_value_that_cannot_be_cast_is_an_out_of_space_error(space: SearchSpace) -> None:
    with pytest.raises(OutOfSearchSpaceError, match="cannot be cast to FLOAT"):
        space.validate_parameterization({**inside(), "x1": "ten"})
