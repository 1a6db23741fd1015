"""Parameters of a search space: range, choice and fixed, plus linear constraints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from scheduler.core.errors import InvalidParameterError, OutOfSearchSpaceError

TParamValue = str | int | float | bool | None
TParameterization = dict[str, TParamValue]


class ParameterType(Enum):
    """The Python type a parameter's values are cast to."""

    INT = "int"
    FLOAT = "float"
    STRING = "string"
    BOOL = "bool"

    @property
    def python_type(self) -> type:
        return {"int": int, "float": float, "string": str, "bool": bool}[self.value]

    def cast(self, value: TParamValue) -> TParamValue:
        """Cast `value` to this type; ints are rounded, not truncated."""
        if value is None:
            return None
        if self is ParameterType.INT:
            return round(float(value))
        if self is ParameterType.FLOAT:
            return float(value)
        if self is ParameterType.BOOL:
            if isinstance(value, str):
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class RangeParameter:
    """A numeric interval `[lower, upper]`, optionally sampled on a log scale."""

    name: str
    parameter_type: ParameterType
    lower: float
    upper: float
    log_scale: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_type(self.name, self.parameter_type)
        if not isinstance(self.log_scale, bool):
            raise InvalidParameterError(
                f"RangeParameter {self.name!r}: log_scale must be True or False, "
                f"got {self.log_scale!r}."
            )
        if self.parameter_type not in (ParameterType.INT, ParameterType.FLOAT):
            raise InvalidParameterError(
                f"RangeParameter {self.name!r} has type {self.parameter_type.name}; "
                "use ParameterType.INT or ParameterType.FLOAT, or a ChoiceParameter "
                "for strings and booleans."
            )
        if not (_is_number(self.lower) and _is_number(self.upper)):
            raise InvalidParameterError(
                f"RangeParameter {self.name!r}: lower and upper must be numbers, "
                f"got {self.lower!r} and {self.upper!r}."
            )
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            raise InvalidParameterError(f"RangeParameter {self.name!r}: bounds must be finite.")
        if self.lower >= self.upper:
            raise InvalidParameterError(
                f"RangeParameter {self.name!r}: lower ({self.lower}) must be below "
                f"upper ({self.upper}); swap them or use a FixedParameter."
            )
        if self.log_scale and self.lower <= 0:
            raise InvalidParameterError(
                f"RangeParameter {self.name!r} is log-scale but lower={self.lower}; "
                "a log-scale range needs lower > 0 (or set log_scale=False)."
            )
        if self.parameter_type is ParameterType.INT:
            if int(self.lower) != self.lower or int(self.upper) != self.upper:
                raise InvalidParameterError(
                    f"RangeParameter {self.name!r} is INT but its bounds "
                    f"({self.lower}, {self.upper}) are not whole numbers."
                )
            self.lower, self.upper = int(self.lower), int(self.upper)
        else:
            self.lower, self.upper = float(self.lower), float(self.upper)

    def cast(self, value: TParamValue) -> TParamValue:
        return self.parameter_type.cast(value)

    def contains(self, value: TParamValue) -> bool:
        if not _is_number(value):
            return False
        assert isinstance(value, (int, float))
        if self.parameter_type is ParameterType.INT and int(value) != value:
            return False
        tol = 1e-9 * (self.upper - self.lower)
        return self.lower - tol <= value <= self.upper + tol


@dataclass
class ChoiceParameter:
    """A finite set of values, ordered (e.g. layer sizes) or not (e.g. optimizers)."""

    name: str
    parameter_type: ParameterType
    values: list[TParamValue]
    is_ordered: bool = False
    sort_values: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_type(self.name, self.parameter_type)
        if not isinstance(self.values, (list, tuple)):
            raise InvalidParameterError(
                f"ChoiceParameter {self.name!r}: values must be a list, got {self.values!r}."
            )
        if len(self.values) < 2:
            raise InvalidParameterError(
                f"ChoiceParameter {self.name!r} has {len(self.values)} value(s); "
                "give at least 2, or use a FixedParameter for a single value."
            )
        self.values = [_cast_definition(self.name, self.parameter_type, v) for v in self.values]
        if any(v is None for v in self.values):
            raise InvalidParameterError(
                f"ChoiceParameter {self.name!r}: None is not a value; list real values."
            )
        if len(set(self.values)) != len(self.values):
            raise InvalidParameterError(
                f"ChoiceParameter {self.name!r} lists a value twice: {self.values}."
            )
        if self.sort_values:
            self.values = sorted(self.values)  # type: ignore[type-var]

    def cast(self, value: TParamValue) -> TParamValue:
        return self.parameter_type.cast(value)

    def contains(self, value: TParamValue) -> bool:
        return any(
            isinstance(v, bool) == isinstance(value, bool) and v == value for v in self.values
        )


@dataclass
class FixedParameter:
    """A parameter held at one value; sent to every trial, never optimized."""

    name: str
    parameter_type: ParameterType
    value: TParamValue

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_type(self.name, self.parameter_type)
        self.value = _cast_definition(self.name, self.parameter_type, self.value)

    def cast(self, value: TParamValue) -> TParamValue:
        return self.parameter_type.cast(value)

    def contains(self, value: TParamValue) -> bool:
        return value == self.value


Parameter = RangeParameter | ChoiceParameter | FixedParameter


@dataclass
class ParameterConstraint:
    """A linear constraint `sum(w_i * x_i) <= bound` over range parameters."""

    constraint_dict: dict[str, float]
    bound: float
    tolerance: float = field(default=1e-8, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.constraint_dict, dict) or not all(
            isinstance(name, str) and name for name in self.constraint_dict
        ):
            raise InvalidParameterError(
                "ParameterConstraint.constraint_dict must map parameter names to weights, "
                f"e.g. {{'x1': 1.0, 'x2': 1.0}}; got {self.constraint_dict!r}."
            )
        if not _is_number(self.bound) or not math.isfinite(self.bound):
            raise InvalidParameterError(
                f"ParameterConstraint bound must be a finite number, got {self.bound!r}."
            )
        if not self.constraint_dict:
            raise InvalidParameterError(
                "ParameterConstraint needs at least one parameter weight in "
                "constraint_dict, e.g. {'x1': 1.0, 'x2': 1.0}."
            )
        for name, weight in self.constraint_dict.items():
            if not _is_number(weight) or not math.isfinite(weight):
                raise InvalidParameterError(
                    f"ParameterConstraint weight of {name!r} must be a finite "
                    f"number, got {weight!r}."
                )
        self.constraint_dict = {k: float(v) for k, v in self.constraint_dict.items()}
        self.bound = float(self.bound)

    def is_satisfied(self, parameters: TParameterization) -> bool:
        total = 0.0
        for name, weight in self.constraint_dict.items():
            value = parameters.get(name)
            if not _is_number(value):
                raise OutOfSearchSpaceError(
                    f"Constraint over {name!r} needs a number, got {value!r}."
                )
            assert isinstance(value, (int, float))
            total += weight * value
        return total <= self.bound + self.tolerance

    def __str__(self) -> str:
        terms = " + ".join(f"{w:g}*{n}" for n, w in self.constraint_dict.items())
        return f"{terms} <= {self.bound:g}"


def _check_type(name: str, parameter_type: object) -> None:
    if not isinstance(parameter_type, ParameterType):
        raise InvalidParameterError(
            f"Parameter {name!r}: parameter_type must be a ParameterType (e.g. "
            f"ParameterType.FLOAT), got {parameter_type!r}."
        )


def _cast_definition(name: str, parameter_type: ParameterType, value: object) -> TParamValue:
    """Cast a value of a parameter's definition, refusing what the type cannot hold."""
    try:
        cast = parameter_type.cast(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidParameterError(
            f"Parameter {name!r}: value {value!r} is not a valid {parameter_type.name} ({exc})."
        ) from None
    if isinstance(cast, float) and not math.isfinite(cast):
        raise InvalidParameterError(f"Parameter {name!r}: value {value!r} is not finite.")
    return cast


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidParameterError(f"Parameter names must be non-empty strings, got {name!r}.")
