"""Standard optimization test functions, registered as objectives.

Each returns ``{name: value}``; each ``<name>_noisy`` variant returns
``{name: [value + N(0, noise_sd²), noise_sd]}`` under the same metric name, so
an experiment can switch between them without renaming its metric. Every one
accepts ``runtime_seconds`` to sleep first (simulating a slow evaluation).

Pure Python on purpose: a worker host needs no numerical stack to run them.
Known optima are in :data:`PROBLEMS` for tests and benchmarks.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

from workers.errors import ObjectiveParameterError
from workers.objectives.registry import objective

TestFunction = Callable[[Sequence[float]], float]


@dataclass(frozen=True)
class Problem:
    """Domain and known optimum of a test function (``dimension`` None: any d ≥ min_dimension)."""

    name: str
    dimension: int | None
    bounds: tuple[float, float]  # per coordinate, unless ``coordinate_bounds`` is set
    optimal_value: float
    min_dimension: int = 1
    coordinate_bounds: tuple[tuple[float, float], ...] | None = None

    def bounds_for(self, dimension: int | None = None) -> list[tuple[float, float]]:
        """Bounds of x1..xd (``dimension`` required for any-dimension functions)."""
        if self.coordinate_bounds is not None:
            return list(self.coordinate_bounds)
        d = self.dimension or dimension
        if d is None:
            raise ValueError(f"{self.name} takes any dimension: pass dimension=")
        return [self.bounds] * d


# ---------------------------------------------------------------- parameters


def _number(parameters: Mapping[str, Any], key: str, objective_name: str) -> float:
    value = parameters[key]
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ObjectiveParameterError(
            f"objective {objective_name!r}: parameter {key!r} must be a number, "
            f"got {type(value).__name__} {value!r}"
        )
    number = float(value)
    if not math.isfinite(number):
        raise ObjectiveParameterError(
            f"objective {objective_name!r}: parameter {key!r} must be finite, got {value!r}"
        )
    return number


def _check_mapping(parameters: Any, objective_name: str) -> Mapping[str, Any]:
    if not isinstance(parameters, Mapping):
        raise ObjectiveParameterError(
            f"objective {objective_name!r}: parameters must be a dict, "
            f"got {type(parameters).__name__}"
        )
    return parameters


def fixed_dimension_point(parameters: Any, dimension: int, objective_name: str) -> list[float]:
    """``[x1, ..., xd]`` from ``parameters``, naming any missing or unexpected key."""
    params = _check_mapping(parameters, objective_name)
    expected = [f"x{i}" for i in range(1, dimension + 1)]
    missing = [k for k in expected if k not in params]
    if missing:
        raise ObjectiveParameterError(
            f"objective {objective_name!r} is missing parameter(s) {', '.join(missing)}; "
            f"it takes {', '.join(expected)}"
        )
    unexpected = sorted(set(params) - set(expected))
    if unexpected:
        raise ObjectiveParameterError(
            f"objective {objective_name!r} got unexpected parameter(s) {', '.join(unexpected)}; "
            f"it takes {', '.join(expected)}"
        )
    return [_number(params, k, objective_name) for k in expected]


def any_dimension_point(
    parameters: Any, objective_name: str, min_dimension: int = 1
) -> list[float]:
    """``[x1, ..., xd]`` for functions of any dimension d: keys must be x1..xd, no gaps."""
    params = _check_mapping(parameters, objective_name)
    indices: list[int] = []
    for key in params:
        if not (
            isinstance(key, str) and key.startswith("x") and key[1:].isdigit() and key[1] != "0"
        ):
            raise ObjectiveParameterError(
                f"objective {objective_name!r} got unexpected parameter {key!r}; "
                "it takes x1, x2, ..., xd"
            )
        indices.append(int(key[1:]))
    dimension = max(indices, default=0)
    missing = [f"x{i}" for i in range(1, dimension + 1) if i not in indices]
    if missing or dimension < min_dimension:
        missing = missing or [f"x{i}" for i in range(dimension + 1, min_dimension + 1)]
        raise ObjectiveParameterError(
            f"objective {objective_name!r} is missing parameter(s) {', '.join(missing)}; "
            f"it takes x1..xd with d >= {min_dimension} and no gaps"
        )
    return [_number(params, f"x{i}", objective_name) for i in range(1, dimension + 1)]


def _non_negative(value: Any, option: str, objective_name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(float(value))
        or value < 0
    ):
        raise ObjectiveParameterError(
            f"objective {objective_name!r}: option {option!r} must be a finite number >= 0, "
            f"got {value!r}"
        )
    return float(value)


def simulate_runtime(runtime_seconds: Any, objective_name: str) -> None:
    """Sleep ``runtime_seconds`` (interrupted by the task's soft time limit)."""
    seconds = _non_negative(runtime_seconds, "runtime_seconds", objective_name)
    if seconds > 0:
        time.sleep(seconds)


# ----------------------------------------------------------------- functions


def branin(x: Sequence[float]) -> float:
    """Branin-Hoo on x1∈[-5,10], x2∈[0,15].

    Minimum 0.397887 at (-π, 12.275), (π, 2.275) and (9.42478, 2.475).
    """
    x1, x2 = x
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
_H6_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def hartmann6(x: Sequence[float]) -> float:
    """Hartmann 6-d on [0,1]^6: -Σ_i alpha_i exp(-Σ_j A_ij (x_j - P_ij)²); min -3.32237."""
    return -sum(
        alpha * math.exp(-sum(a * (xj - p) ** 2 for a, xj, p in zip(row_a, x, row_p, strict=True)))
        for alpha, row_a, row_p in zip(_H6_ALPHA, _H6_A, _H6_P, strict=True)
    )


def ackley(x: Sequence[float]) -> float:
    """Ackley, any dimension: -20 exp(-0.2 √(mean x²)) - exp(mean cos 2πx) + 20 + e; min 0 at 0."""
    d = len(x)
    mean_square = sum(v * v for v in x) / d
    mean_cos = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(mean_square)) - math.exp(mean_cos) + 20 + math.e


def rosenbrock(x: Sequence[float]) -> float:
    """Rosenbrock, d ≥ 2: Σ 100 (x_{i+1} - x_i²)² + (x_i - 1)²; min 0 at (1, ..., 1)."""
    return sum(100 * (b - a * a) ** 2 + (a - 1) ** 2 for a, b in itertools.pairwise(x))


PROBLEMS: dict[str, Problem] = {
    "branin": Problem(
        "branin", 2, (-5.0, 15.0), 0.397887, coordinate_bounds=((-5.0, 10.0), (0.0, 15.0))
    ),
    "hartmann6": Problem("hartmann6", 6, (0.0, 1.0), -3.32237),
    "ackley": Problem("ackley", None, (-32.768, 32.768), 0.0, min_dimension=1),
    "rosenbrock": Problem("rosenbrock", None, (-5.0, 10.0), 0.0, min_dimension=2),
}

_FUNCTIONS: dict[str, TestFunction] = {
    "branin": branin,
    "hartmann6": hartmann6,
    "ackley": ackley,
    "rosenbrock": rosenbrock,
}


def _point(problem: Problem, parameters: Any, objective_name: str) -> list[float]:
    if problem.dimension is not None:
        return fixed_dimension_point(parameters, problem.dimension, objective_name)
    return any_dimension_point(parameters, objective_name, problem.min_dimension)


def _register(name: str, function: TestFunction) -> None:
    """Register ``name`` and ``name_noisy``; both report metric ``name``."""
    problem = PROBLEMS[name]

    def exact(parameters: Mapping[str, Any], runtime_seconds: float = 0.0) -> dict[str, float]:
        x = _point(problem, parameters, name)
        simulate_runtime(runtime_seconds, name)
        return {name: function(x)}

    noisy_name = f"{name}_noisy"

    def noisy(
        parameters: Mapping[str, Any],
        noise_sd: float = 0.1,
        runtime_seconds: float = 0.0,
        seed: int | None = None,
    ) -> dict[str, list[float]]:
        x = _point(problem, parameters, noisy_name)
        sd = _non_negative(noise_sd, "noise_sd", noisy_name)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ObjectiveParameterError(
                f"objective {noisy_name!r}: option 'seed' must be an integer, got {seed!r}"
            )
        simulate_runtime(runtime_seconds, noisy_name)
        return {name: [function(x) + random.Random(seed).gauss(0.0, sd), sd]}

    for wrapper, registered in ((exact, name), (noisy, noisy_name)):
        wrapper.__name__ = wrapper.__qualname__ = registered
        wrapper.__doc__ = function.__doc__
        objective(registered, metrics=[name])(wrapper)


for _name, _function in _FUNCTIONS.items():
    _register(_name, _function)
