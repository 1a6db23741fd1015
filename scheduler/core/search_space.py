"""The search space: parameters plus linear constraints, with membership checks."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.core.errors import InvalidSearchSpaceError, OutOfSearchSpaceError
from scheduler.core.parameters import (
    ChoiceParameter,
    FixedParameter,
    Parameter,
    ParameterConstraint,
    RangeParameter,
    TParameterization,
)


class SearchSpace:
    """Where trials may be proposed; validates itself once, then every arm."""

    def __init__(
        self,
        parameters: Sequence[Parameter],
        parameter_constraints: Sequence[ParameterConstraint] | None = None,
    ) -> None:
        if not parameters:
            raise InvalidSearchSpaceError("A SearchSpace needs at least one parameter.")
        names = [p.name for p in parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidSearchSpaceError(
                f"Parameter names must be unique; {duplicates} appear more than "
                "once. Rename or remove the duplicates."
            )
        self.parameters: dict[str, Parameter] = {p.name: p for p in parameters}
        self.parameter_constraints = list(parameter_constraints or [])
        for constraint in self.parameter_constraints:
            self._check_constraint(constraint)

    def _check_constraint(self, constraint: ParameterConstraint) -> None:
        for name in constraint.constraint_dict:
            parameter = self.parameters.get(name)
            if parameter is None:
                raise InvalidSearchSpaceError(
                    f"Constraint {constraint} refers to unknown parameter {name!r}; "
                    f"known parameters are {sorted(self.parameters)}."
                )
            if not isinstance(parameter, RangeParameter):
                raise InvalidSearchSpaceError(
                    f"Constraint {constraint} refers to {name!r}, which is not a "
                    "RangeParameter; linear constraints apply to range parameters only."
                )
            if parameter.log_scale:
                raise InvalidSearchSpaceError(
                    f"Constraint {constraint} refers to log-scale parameter {name!r}; "
                    "linear constraints need linear-scale parameters."
                )

    @property
    def range_parameters(self) -> dict[str, RangeParameter]:
        return {n: p for n, p in self.parameters.items() if isinstance(p, RangeParameter)}

    @property
    def choice_parameters(self) -> dict[str, ChoiceParameter]:
        return {n: p for n, p in self.parameters.items() if isinstance(p, ChoiceParameter)}

    @property
    def fixed_parameters(self) -> dict[str, FixedParameter]:
        return {n: p for n, p in self.parameters.items() if isinstance(p, FixedParameter)}

    @property
    def tunable_parameters(self) -> dict[str, Parameter]:
        return {n: p for n, p in self.parameters.items() if not isinstance(p, FixedParameter)}

    def cast_parameterization(self, parameters: TParameterization) -> TParameterization:
        """Return a copy with every value cast to its parameter's type; fixed filled in."""
        if not isinstance(parameters, dict) or not all(isinstance(k, str) for k in parameters):
            raise OutOfSearchSpaceError(
                f"A parameterization must be a dict of parameter name to value, got "
                f"{parameters!r}; the search space has {sorted(self.parameters)}."
            )
        unknown = sorted(set(parameters) - set(self.parameters))
        if unknown:
            raise OutOfSearchSpaceError(
                f"Unknown parameter(s) {unknown}; the search space has {sorted(self.parameters)}."
            )
        cast: TParameterization = {}
        for name, parameter in self.parameters.items():
            if name in parameters:
                try:
                    cast[name] = parameter.cast(parameters[name])
                except (TypeError, ValueError, OverflowError) as exc:
                    raise OutOfSearchSpaceError(
                        f"Value {parameters[name]!r} of {name!r} cannot be cast to "
                        f"{parameter.parameter_type.name}: {exc}."
                    ) from exc
            elif isinstance(parameter, FixedParameter):
                cast[name] = parameter.value
        return cast

    def membership_error(self, parameters: TParameterization) -> str | None:
        """Why `parameters` is outside this space, or None when it is inside."""
        missing = sorted(set(self.parameters) - set(parameters))
        if missing:
            return f"missing value(s) for {missing}"
        unknown = sorted(set(parameters) - set(self.parameters))
        if unknown:
            return f"unknown parameter(s) {unknown}"
        for name, parameter in self.parameters.items():
            if not parameter.contains(parameters[name]):
                return f"{name}={parameters[name]!r} is outside {_describe(parameter)}"
        for constraint in self.parameter_constraints:
            if not constraint.is_satisfied(parameters):
                return f"constraint {constraint} is violated"
        return None

    def satisfies_constraints(self, parameters: TParameterization) -> bool:
        """True when every parameter constraint holds (bounds are not checked)."""
        return all(c.is_satisfied(parameters) for c in self.parameter_constraints)

    def check_membership(self, parameters: TParameterization, raise_error: bool = False) -> bool:
        reason = self.membership_error(parameters)
        if reason is not None and raise_error:
            raise OutOfSearchSpaceError(
                f"Parameterization {parameters} is not in the search space: {reason}."
            )
        return reason is None

    def validate_parameterization(self, parameters: TParameterization) -> TParameterization:
        """Cast, then raise `OutOfSearchSpaceError` unless the result is inside."""
        cast = self.cast_parameterization(parameters)
        self.check_membership(cast, raise_error=True)
        return cast

    def __repr__(self) -> str:
        return (
            f"SearchSpace(parameters={list(self.parameters.values())}, "
            f"parameter_constraints={self.parameter_constraints})"
        )


def _describe(parameter: Parameter) -> str:
    if isinstance(parameter, RangeParameter):
        return f"[{parameter.lower}, {parameter.upper}]"
    if isinstance(parameter, ChoiceParameter):
        return f"the choices {parameter.values}"
    return f"the fixed value {parameter.value!r}"
