"""Search space <-> unit cube: the coordinates a GP and an optimizer work in.

Each tunable parameter becomes one or more columns in `[0, 1]`:

- float range: `u = (t(x) - t(lower)) / (t(upper) - t(lower))` with `t = log` on a
  log scale and the identity otherwise;
- int range: the same, relaxed to a continuum; decoding rounds `t^{-1}(u)` to the
  nearest integer inside the bounds;
- ordered choice (or any choice of two values): one column `u = i / (k - 1)` for
  the `i`-th of `k` values; decoding rounds to the nearest index;
- unordered choice of `k > 2` values: `k` one-hot columns, relaxed to `[0, 1]^k`
  while optimizing; decoding takes the arg-max.

Fixed parameters get no column and are filled in on decoding. A linear
constraint `sum_i w_i x_i <= b` over (linear-scale) range parameters becomes,
with `x_i = l_i + u_i (h_i - l_i)`,

    sum_i -w_i (h_i - l_i) u_i >= -(b - sum_i w_i l_i),

which is BoTorch's `(indices, coefficients, rhs)` inequality form.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from scheduler.core.parameters import (
    ChoiceParameter,
    Parameter,
    ParameterType,
    RangeParameter,
    TParameterization,
    TParamValue,
)
from scheduler.core.search_space import SearchSpace

DTYPE = torch.double


@dataclass(frozen=True)
class _Block:
    """The columns `[start, start + width)` that encode one parameter."""

    name: str
    parameter: Parameter
    start: int
    width: int

    @property
    def one_hot(self) -> bool:
        return self.width > 1

    @property
    def is_discrete(self) -> bool:
        if isinstance(self.parameter, ChoiceParameter):
            return True
        return (
            isinstance(self.parameter, RangeParameter)
            and self.parameter.parameter_type is ParameterType.INT
        )


def _uses_one_hot(parameter: ChoiceParameter) -> bool:
    return not parameter.is_ordered and len(parameter.values) > 2


class UnitCubeEncoder:
    """Maps parameterizations of `search_space` to rows of a `n x d` tensor and back."""

    def __init__(self, search_space: SearchSpace) -> None:
        self.search_space = search_space
        self.blocks: list[_Block] = []
        start = 0
        for name, parameter in search_space.tunable_parameters.items():
            width = (
                len(parameter.values)
                if isinstance(parameter, ChoiceParameter) and _uses_one_hot(parameter)
                else 1
            )
            self.blocks.append(_Block(name, parameter, start, width))
            start += width
        self.dim = start

    # -- parameterization -> tensor ------------------------------------------
    def can_encode(self, parameters: TParameterization) -> bool:
        """False when a value cannot be placed (missing, or an unknown choice)."""
        for block in self.blocks:
            value = parameters.get(block.name)
            parameter = block.parameter
            if isinstance(parameter, ChoiceParameter):
                if not parameter.contains(value):
                    return False
                continue
            assert isinstance(parameter, RangeParameter)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return False
            if not math.isfinite(value) or (parameter.log_scale and value <= 0):
                return False
        return True

    def encode(self, parameters: TParameterization) -> list[float]:
        row = [0.0] * self.dim
        for block in self.blocks:
            value = parameters[block.name]
            parameter = block.parameter
            if isinstance(parameter, ChoiceParameter):
                index = _choice_index(parameter, value)
                if block.one_hot:
                    row[block.start + index] = 1.0
                else:
                    row[block.start] = index / (len(parameter.values) - 1)
            else:
                assert isinstance(parameter, RangeParameter)
                assert isinstance(value, (int, float))
                low, high = _transformed_bounds(parameter)
                t = math.log(value) if parameter.log_scale else float(value)
                row[block.start] = (t - low) / (high - low)
        return row

    def encode_many(self, parameterizations: list[TParameterization]) -> Tensor:
        rows = [self.encode(p) for p in parameterizations]
        return torch.tensor(rows, dtype=DTYPE).reshape(len(rows), self.dim)

    # -- tensor -> parameterization ------------------------------------------
    def decode(self, x: Tensor) -> TParameterization:
        """The parameterization nearest to the (relaxed) point `x` of the cube."""
        values = x.detach().to(DTYPE).clamp(0.0, 1.0).tolist()
        result: TParameterization = {}
        for block in self.blocks:
            result[block.name] = _decode_block(
                block, values[block.start : block.start + block.width]
            )
        for name, fixed in self.search_space.fixed_parameters.items():
            result[name] = fixed.value
        return {name: result[name] for name in self.search_space.parameters}

    def round(self, X: Tensor) -> Tensor:
        """Project rows of `X` onto the values the search space can take (`encode . decode`)."""
        flat = X.reshape(-1, self.dim)
        rounded = self.encode_many([self.decode(row) for row in flat])
        return rounded.reshape(X.shape)

    # -- optimizer inputs ------------------------------------------------------
    @property
    def bounds(self) -> Tensor:
        return torch.stack([torch.zeros(self.dim, dtype=DTYPE), torch.ones(self.dim, dtype=DTYPE)])

    def inequality_constraints(self) -> list[tuple[Tensor, Tensor, float]]:
        """The search space's linear constraints in BoTorch's unit-cube form."""
        starts = {b.name: b for b in self.blocks}
        result = []
        for constraint in self.search_space.parameter_constraints:
            indices, coefficients = [], []
            rhs = -constraint.bound
            for name, weight in constraint.constraint_dict.items():
                block = starts[name]
                parameter = block.parameter
                assert isinstance(parameter, RangeParameter)
                indices.append(block.start)
                coefficients.append(-weight * (parameter.upper - parameter.lower))
                rhs += weight * parameter.lower
            result.append(
                (
                    torch.tensor(indices, dtype=torch.long),
                    torch.tensor(coefficients, dtype=DTYPE),
                    float(rhs),
                )
            )
        return result

    def num_discrete_points(self) -> int | None:
        """How many points an all-discrete space has; None if any parameter is continuous."""
        total = 1
        for block in self.blocks:
            if not block.is_discrete:
                return None
            total *= _num_values(block.parameter)
        return total

    def enumerate(self) -> list[TParameterization]:
        """Every parameterization of an all-discrete space that meets the constraints."""
        names = [b.name for b in self.blocks]
        domains = [_values(b.parameter) for b in self.blocks]
        fixed = {n: p.value for n, p in self.search_space.fixed_parameters.items()}
        found = []
        for combo in itertools.product(*domains):
            parameters: TParameterization = dict(zip(names, combo, strict=True)) | fixed
            if self.search_space.satisfies_constraints(parameters):
                found.append({n: parameters[n] for n in self.search_space.parameters})
        return found

    def categorical_columns(self) -> tuple[int, ...]:
        """The columns of the unordered choices: one-hot, or a two-value choice's one."""
        return tuple(
            block.start + i
            for block in self.blocks
            if isinstance(block.parameter, ChoiceParameter) and not block.parameter.is_ordered
            for i in range(block.width)
        )

    def key(self, parameters: TParameterization) -> tuple[float, ...]:
        """A hashable identity of an arm, tolerant to float round-off."""
        return tuple(round(v, 9) for v in self.encode(parameters))


def _transformed_bounds(parameter: RangeParameter) -> tuple[float, float]:
    if parameter.log_scale:
        return math.log(parameter.lower), math.log(parameter.upper)
    return float(parameter.lower), float(parameter.upper)


def _choice_index(parameter: ChoiceParameter, value: TParamValue) -> int:
    for index, candidate in enumerate(parameter.values):
        if isinstance(candidate, bool) == isinstance(value, bool) and candidate == value:
            return index
    raise ValueError(f"{value!r} is not a value of {parameter.name!r}")


def _decode_block(block: _Block, u: list[float]) -> TParamValue:
    parameter = block.parameter
    if isinstance(parameter, ChoiceParameter):
        if block.one_hot:
            index = max(range(block.width), key=lambda i: u[i])
        else:
            index = round(u[0] * (len(parameter.values) - 1))
        return parameter.values[index]
    assert isinstance(parameter, RangeParameter)
    low, high = _transformed_bounds(parameter)
    t = low + u[0] * (high - low)
    value = math.exp(t) if parameter.log_scale else t
    value = min(max(value, parameter.lower), parameter.upper)
    if parameter.parameter_type is ParameterType.INT:
        return int(min(max(round(value), parameter.lower), parameter.upper))
    return float(value)


def _num_values(parameter: Parameter) -> int:
    if isinstance(parameter, ChoiceParameter):
        return len(parameter.values)
    assert isinstance(parameter, RangeParameter)
    return int(parameter.upper) - int(parameter.lower) + 1


def _values(parameter: Parameter) -> list[TParamValue]:
    if isinstance(parameter, ChoiceParameter):
        return list(parameter.values)
    assert isinstance(parameter, RangeParameter)
    return list(range(int(parameter.lower), int(parameter.upper) + 1))
