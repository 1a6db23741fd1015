"""Range, choice and fixed parameters and linear constraints: values and bad input."""

from __future__ import annotations

import math

import pytest

from scheduler import (
    ChoiceParameter,
    FixedParameter,
    ParameterConstraint,
    ParameterType,
    RangeParameter,
)
from scheduler.core import InvalidParameterError, OutOfSearchSpaceError


# -- RangeParameter -------------------------------------------------------------
@pytest.mark.parametrize(("lower", "upper"), [(1.0, 1.0), (2.0, 1.0)])
def test_range_with_lower_not_below_upper_is_rejected(lower: float, upper: float) -> None:
    with pytest.raises(InvalidParameterError, match=r"lower \(.*\) must be below upper") as err:
        RangeParameter("lr", ParameterType.FLOAT, lower=lower, upper=upper)
    assert "'lr'" in str(err.value)
    assert "FixedParameter" in str(err.value)  # says what to do instead


@pytest.mark.parametrize("lower", [0.0, -1.0])
def test_log_scale_range_needs_a_positive_lower_bound(lower: float) -> None:
    with pytest.raises(InvalidParameterError, match=r"log-scale.*needs lower > 0") as err:
        RangeParameter("lr", ParameterType.FLOAT, lower=lower, upper=1.0, log_scale=True)
    assert "log_scale=False" in str(err.value)


def test_int_range_needs_whole_bounds() -> None:
    with pytest.raises(InvalidParameterError, match="not whole numbers"):
        RangeParameter("layers", ParameterType.INT, lower=0.5, upper=4)


@pytest.mark.parametrize(("lower", "upper"), [(0.0, math.inf), (-math.inf, 0.0), (0.0, math.nan)])
def test_range_bounds_must_be_finite(lower: float, upper: float) -> None:
    with pytest.raises(InvalidParameterError, match="finite"):
        RangeParameter("x", ParameterType.FLOAT, lower=lower, upper=upper)


@pytest.mark.parametrize(("lower", "upper"), [("0", 1.0), (0.0, None), (False, True)])
def test_range_bounds_must_be_numbers(lower: object, upper: object) -> None:
    with pytest.raises(InvalidParameterError, match="must be numbers"):
        RangeParameter("x", ParameterType.FLOAT, lower=lower, upper=upper)  # type: ignore[arg-type]


@pytest.mark.parametrize("parameter_type", [ParameterType.STRING, ParameterType.BOOL])
def test_range_of_strings_or_bools_points_to_choice_parameter(
    parameter_type: ParameterType,
) -> None:
    with pytest.raises(InvalidParameterError, match="ChoiceParameter"):
        RangeParameter("x", parameter_type, lower=0, upper=1)


def test_empty_parameter_name_is_rejected() -> None:
    with pytest.raises(InvalidParameterError, match="non-empty strings"):
        RangeParameter("", ParameterType.FLOAT, lower=0, upper=1)


def test_range_bounds_are_normalised_to_the_parameter_type() -> None:
    as_int = RangeParameter("n", ParameterType.INT, lower=1.0, upper=8.0)
    as_float = RangeParameter("x", ParameterType.FLOAT, lower=0, upper=2)
    assert (as_int.lower, as_int.upper) == (1, 8)
    assert isinstance(as_int.lower, int)
    assert isinstance(as_float.lower, float)


def test_range_contains_its_interval_only() -> None:
    x = RangeParameter("x", ParameterType.FLOAT, lower=-5, upper=10)
    assert x.contains(-5.0) and x.contains(10.0) and x.contains(0)
    assert not x.contains(10.5)
    assert not x.contains("3")
    assert not x.contains(True)
    n = RangeParameter("n", ParameterType.INT, lower=1, upper=4)
    assert n.contains(3)
    assert not n.contains(2.5)


def test_int_cast_rounds_instead_of_truncating() -> None:
    n = RangeParameter("n", ParameterType.INT, lower=0, upper=10)
    assert n.cast(2.7) == 3
    assert n.cast("4") == 4


# -- ChoiceParameter ------------------------------------------------------------
@pytest.mark.parametrize("values", [[], ["adam"]])
def test_choice_needs_at_least_two_values(values: list[str]) -> None:
    with pytest.raises(InvalidParameterError, match="at least 2") as err:
        ChoiceParameter("optimizer", ParameterType.STRING, values=values)  # type: ignore[arg-type]
    assert "FixedParameter" in str(err.value)


def test_choice_rejects_a_value_listed_twice_after_casting() -> None:
    with pytest.raises(InvalidParameterError, match="lists a value twice"):
        ChoiceParameter("width", ParameterType.INT, values=[32, 32.0, 64])


def test_choice_casts_and_optionally_sorts_values() -> None:
    widths = ChoiceParameter("w", ParameterType.INT, values=["64", 16, 32.0], sort_values=True)
    assert widths.values == [16, 32, 64]


def test_choice_membership_does_not_confuse_bools_and_ints() -> None:
    flag = ChoiceParameter("flag", ParameterType.BOOL, values=[True, False])
    assert flag.contains(True)
    assert not flag.contains(1)
    ints = ChoiceParameter("k", ParameterType.INT, values=[0, 1])
    assert ints.contains(1)
    assert not ints.contains(True)


def test_bool_cast_reads_common_spellings() -> None:
    assert ParameterType.BOOL.cast("true") is True
    assert ParameterType.BOOL.cast("No") is False
    assert ParameterType.BOOL.cast(0) is False
    assert ParameterType.STRING.cast(3) == "3"
    assert ParameterType.FLOAT.cast(None) is None


# -- FixedParameter -------------------------------------------------------------
def test_fixed_parameter_casts_its_value_and_contains_only_it() -> None:
    fixed = FixedParameter("batch", ParameterType.INT, value=32.0)
    assert fixed.value == 32 and isinstance(fixed.value, int)
    assert fixed.contains(32)
    assert not fixed.contains(64)


# -- ParameterConstraint --------------------------------------------------------
def test_constraint_is_a_weighted_sum_below_a_bound() -> None:
    constraint = ParameterConstraint({"x1": 1.0, "x2": 2.0}, bound=4.0)
    assert constraint.is_satisfied({"x1": 2.0, "x2": 1.0})
    assert not constraint.is_satisfied({"x1": 2.0, "x2": 1.5})
    assert str(constraint) == "1*x1 + 2*x2 <= 4"


def test_constraint_needs_at_least_one_weight() -> None:
    with pytest.raises(InvalidParameterError, match="at least one parameter weight"):
        ParameterConstraint({}, bound=1.0)


@pytest.mark.parametrize("weight", [math.nan, math.inf, "1"])
def test_constraint_weights_must_be_finite_numbers(weight: object) -> None:
    with pytest.raises(InvalidParameterError, match="weight of 'x1' must be a finite number"):
        ParameterConstraint({"x1": weight}, bound=1.0)  # type: ignore[dict-item]


def test_constraint_over_a_non_number_says_which_parameter() -> None:
    constraint = ParameterConstraint({"x1": 1.0}, bound=1.0)
    with pytest.raises(OutOfSearchSpaceError, match="'x1' needs a number"):
        constraint.is_satisfied({"x1": "big"})
