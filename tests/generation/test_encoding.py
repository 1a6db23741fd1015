"""The unit-cube encoding the GP and the acquisition optimizer work in."""

from __future__ import annotations

import math

import torch

from scheduler import (
    ChoiceParameter,
    ParameterConstraint,
    ParameterType,
    RangeParameter,
    SearchSpace,
)
from scheduler.generation.botorch.encoding import UnitCubeEncoder
from tests.generation.helpers import mixed_space, sobol_arms
from tests.support.values import number


def test_arms_round_trip_through_the_cube() -> None:
    space = mixed_space()
    encoder = UnitCubeEncoder(space)
    # 7 one-column parameters + 3 one-hot columns for the unordered 3-way choice
    assert encoder.dim == 10
    for arm in sobol_arms(space, 16):
        x = torch.tensor(encoder.encode(arm), dtype=torch.double)
        assert ((x >= 0) & (x <= 1)).all()
        decoded = encoder.decode(x)
        assert decoded["epochs"] == 3
        for name, value in arm.items():
            if isinstance(value, float):
                assert math.isclose(number(decoded[name]), value, rel_tol=1e-9, abs_tol=1e-12)
            else:
                assert decoded[name] == value and type(decoded[name]) is type(value)


def test_log_scale_parameters_are_linear_in_log_space() -> None:
    space = mixed_space()
    encoder = UnitCubeEncoder(space)
    block = next(b for b in encoder.blocks if b.name == "lr")
    x = torch.full((encoder.dim,), 0.5, dtype=torch.double)
    assert math.isclose(number(encoder.decode(x)["lr"]), math.sqrt(1e-4 * 1e-1), rel_tol=1e-9)
    x[block.start] = 0.25
    assert math.isclose(number(encoder.decode(x)["lr"]), 10 ** (-4 + 0.25 * 3), rel_tol=1e-9)


def test_relaxed_points_decode_to_valid_discrete_values() -> None:
    space = mixed_space()
    encoder = UnitCubeEncoder(space)
    generator = torch.Generator().manual_seed(0)
    for x in torch.rand(50, encoder.dim, generator=generator, dtype=torch.double):
        arm = encoder.decode(x)
        assert isinstance(arm["layers"], int) and 1 <= arm["layers"] <= 6
        assert isinstance(arm["width"], int) and 8 <= arm["width"] <= 512
        assert arm["optimizer"] in ("adam", "sgd", "rmsprop")
        assert arm["batch"] in (16, 32, 64, 128)
        rounded = encoder.round(x)
        assert encoder.decode(rounded) == arm
        assert torch.equal(encoder.round(rounded), rounded)


def test_one_hot_decodes_to_the_largest_column() -> None:
    space = SearchSpace([ChoiceParameter("c", ParameterType.STRING, values=["a", "b", "c"])])
    encoder = UnitCubeEncoder(space)
    assert encoder.decode(torch.tensor([0.2, 0.9, 0.4], dtype=torch.double)) == {"c": "b"}
    assert encoder.encode({"c": "c"}) == [0.0, 0.0, 1.0]


def test_linear_constraints_hold_in_the_cube_exactly_when_they_hold_in_the_space() -> None:
    space = SearchSpace(
        [
            RangeParameter("a", ParameterType.FLOAT, -1.0, 3.0),
            RangeParameter("b", ParameterType.FLOAT, 10.0, 20.0),
            RangeParameter("c", ParameterType.INT, 0, 10),
        ],
        parameter_constraints=[ParameterConstraint({"a": 2.0, "b": -0.5, "c": 1.0}, bound=0.0)],
    )
    encoder = UnitCubeEncoder(space)
    [(indices, coefficients, rhs)] = encoder.inequality_constraints()
    generator = torch.Generator().manual_seed(1)
    agree = 0
    for x in torch.rand(200, 3, generator=generator, dtype=torch.double):
        arm = encoder.decode(x)
        arm["c"] = 10.0 * float(x[2])  # compare on the relaxed value, before rounding
        in_cube = float((x[indices] * coefficients).sum()) >= rhs
        in_space = 2.0 * number(arm["a"]) - 0.5 * number(arm["b"]) + number(arm["c"]) <= 0.0
        agree += in_cube == in_space
    assert agree == 200


def test_enumerates_small_discrete_spaces_under_constraints() -> None:
    space = SearchSpace(
        [
            RangeParameter("i", ParameterType.INT, 0, 3),
            RangeParameter("j", ParameterType.INT, 0, 3),
            ChoiceParameter("c", ParameterType.STRING, values=["x", "y"]),
        ],
        parameter_constraints=[ParameterConstraint({"i": 1.0, "j": 1.0}, bound=3.0)],
    )
    encoder = UnitCubeEncoder(space)
    assert encoder.num_discrete_points() == 32
    points = encoder.enumerate()
    assert len(points) == 2 * 10  # pairs with i + j <= 3
    assert all(space.check_membership(p) for p in points)
    assert UnitCubeEncoder(mixed_space()).num_discrete_points() is None
