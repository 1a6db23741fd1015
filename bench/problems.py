"""The benchmark problems of `bench.bo_quality`: a search space, an optimization
config, an evaluation function and the final gap to the known optimum.

Branin (2-d, 30 trials), Hartmann6 (6-d, 40), Gramacy's constrained problem
(2-d, 2 outcome constraints, 30; its metric reports no sem, so noise is
inferred), Branin-Currin (2 objectives, 30; the gap is the hypervolume the
observed front misses), Hartmann6 with Gaussian noise (sd 0.1, no sem; the gap
is the noiseless value of the best evaluated arm), a mixed Hartmann6 (x5, x6
integers 0..10 scaled by 1/10 and an unordered choice adding an offset), a
Hartmann6 with two flags (a bool and a two-value choice, each adding an offset),
Ackley10 (10-d, minimizer moved off the center; 100) and Hartmann6 with 16
trials in flight (96). `PROBLEMS` maps each command-line name to its factory.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from botorch.test_functions.multi_objective import BraninCurrin
from botorch.test_functions.synthetic import Hartmann
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated

from scheduler import (
    ChoiceParameter,
    ComparisonOp,
    MultiObjective,
    Objective,
    ObjectiveThreshold,
    OptimizationConfig,
    OutcomeConstraint,
    ParameterType,
    RangeParameter,
    SearchSpace,
)
from scheduler.local.runner import FunctionMetric

#: Trials out at a time (the fleet's size), except for `hartmann6-16`.
PARALLELISM = 3
Params = dict[str, Any]
Values = dict[str, float]


@dataclass
class Problem:
    name: str
    num_trials: int
    search_space: SearchSpace
    config: OptimizationConfig
    evaluate: Callable[[Params], dict[str, Any]]
    gap: Callable[[list[Params], list[Values]], float]  # completed arms and their values
    parallelism: int = PARALLELISM


def _unit_space(d: int, low: float = 0.0, high: float = 1.0) -> SearchSpace:
    return SearchSpace(
        [RangeParameter(f"x{i + 1}", ParameterType.FLOAT, low, high) for i in range(d)]
    )


def _min_gap(metric: str, optimum: float) -> Callable[[list[Params], list[Values]], float]:
    def gap(arms: list[Params], values: list[Values]) -> float:
        return min(v[metric] for v in values) - optimum

    return gap


def branin() -> Problem:
    def f(p: Params) -> dict[str, Any]:
        x1, x2 = p["x1"], p["x2"]
        value = (
            (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1)
            + 10
        )
        return {"branin": (value, 0.0)}

    space = SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, -5.0, 10.0),
            RangeParameter("x2", ParameterType.FLOAT, 0.0, 15.0),
        ]
    )
    config = OptimizationConfig(Objective(FunctionMetric("branin"), minimize=True))
    return Problem("branin", 30, space, config, f, _min_gap("branin", 0.397887))


def hartmann6() -> Problem:
    function = Hartmann(dim=6)

    def f(p: Params) -> dict[str, Any]:
        x = torch.tensor([[p[f"x{i + 1}"] for i in range(6)]], dtype=torch.double)
        return {"hartmann6": (float(function(x)), 0.0)}

    config = OptimizationConfig(Objective(FunctionMetric("hartmann6"), minimize=True))
    return Problem("hartmann6", 40, _unit_space(6), config, f, _min_gap("hartmann6", -3.32237))


def gramacy() -> Problem:
    """min x1 + x2 s.t. c1 = 1.5 - x1 - 2 x2 - 0.5 sin(2 pi (x1^2 - 2 x2)) <= 0,
    c2 = x1^2 + x2^2 - 1.5 <= 0 on [0, 1]^2; optimum 0.5998."""

    def f(p: Params) -> dict[str, Any]:
        x1, x2 = p["x1"], p["x2"]
        c1 = 1.5 - x1 - 2 * x2 - 0.5 * math.sin(2 * math.pi * (x1**2 - 2 * x2))
        c2 = x1**2 + x2**2 - 1.5
        return {"objective": x1 + x2, "c1": c1, "c2": c2}

    config = OptimizationConfig(
        Objective(FunctionMetric("objective"), minimize=True),
        outcome_constraints=[
            OutcomeConstraint(FunctionMetric("c1"), ComparisonOp.LEQ, 0.0),
            OutcomeConstraint(FunctionMetric("c2"), ComparisonOp.LEQ, 0.0),
        ],
    )

    def gap(arms: list[Params], values: list[Values]) -> float:
        feasible = [v["objective"] for v in values if v["c1"] <= 0 and v["c2"] <= 0]
        return (min(feasible) if feasible else 2.0) - 0.5998

    return Problem("gramacy-constrained", 30, _unit_space(2), config, f, gap)


def branin_currin() -> Problem:
    function = BraninCurrin()  # both minimized
    ref_point = [18.0, 6.0]
    max_hv = 59.36011874867746

    def f(p: Params) -> dict[str, Any]:
        y = function(torch.tensor([[p["x1"], p["x2"]]], dtype=torch.double))[0]
        return {"branin": (float(y[0]), 0.0), "currin": (float(y[1]), 0.0)}

    objectives = [Objective(FunctionMetric(n), minimize=True) for n in ("branin", "currin")]
    config = OptimizationConfig(
        MultiObjective(objectives),
        objective_thresholds=[
            ObjectiveThreshold(o.metric, bound)
            for o, bound in zip(objectives, ref_point, strict=True)
        ],
    )

    def gap(arms: list[Params], values: list[Values]) -> float:
        Y = -torch.tensor([[v["branin"], v["currin"]] for v in values], dtype=torch.double)
        front = Y[is_non_dominated(Y)]
        hv = Hypervolume(-torch.tensor(ref_point, dtype=torch.double)).compute(front)
        return max_hv - hv

    return Problem("branin-currin (HV)", 30, _unit_space(2), config, f, gap)


def _hartmann_at(function: Hartmann, x: list[float]) -> float:
    return float(function(torch.tensor([x], dtype=torch.double)))


def hartmann6_noisy() -> Problem:
    """Hartmann6 plus N(0, 0.1^2) noise; the metric reports no sem, so the GP
    infers the noise. Gap: the noiseless value of the best evaluated arm."""
    function = Hartmann(dim=6)

    def f(p: Params) -> dict[str, Any]:
        x = [p[f"x{i + 1}"] for i in range(6)]
        # Seeded by the arm: the same arm gets the same noise in every run.
        noise = random.Random(str(x)).gauss(0.0, 0.1)
        return {"hartmann6": _hartmann_at(function, x) + noise}

    def gap(arms: list[Params], values: list[Values]) -> float:
        true = [_hartmann_at(function, [a[f"x{i + 1}"] for i in range(6)]) for a in arms]
        return min(true) + 3.32237

    config = OptimizationConfig(Objective(FunctionMetric("hartmann6"), minimize=True))
    return Problem("hartmann6-noisy", 40, _unit_space(6), config, f, gap)


#: The mixed problem's choice offsets and optimum: x5 = 0.3, x6 = 0.7 on the
#: grid, the other four minimized by L-BFGS-B from Hartmann6's minimizer.
SHIFTS = {"a": 0.0, "b": 0.3, "c": 0.6, "d": 1.0}
MIXED_OPTIMUM = -3.269547


def hartmann6_mixed() -> Problem:
    """Hartmann6 with x5, x6 = k / 10 for integers k in 0..10, plus an offset
    chosen by an unordered choice `shift` (4 values, one-hot encoded)."""
    function = Hartmann(dim=6)
    space = SearchSpace(
        [RangeParameter(f"x{i + 1}", ParameterType.FLOAT, 0.0, 1.0) for i in range(4)]
        + [RangeParameter(f"k{i}", ParameterType.INT, 0, 10) for i in (5, 6)]
        + [ChoiceParameter("shift", ParameterType.STRING, list(SHIFTS))]
    )

    def f(p: Params) -> dict[str, Any]:
        x = [p[f"x{i + 1}"] for i in range(4)] + [p["k5"] / 10, p["k6"] / 10]
        return {"hartmann6": (_hartmann_at(function, x) + SHIFTS[p["shift"]], 0.0)}

    config = OptimizationConfig(Objective(FunctionMetric("hartmann6"), minimize=True))
    return Problem("hartmann6-mixed", 40, space, config, f, _min_gap("hartmann6", MIXED_OPTIMUM))


#: The flags problem's offsets: each wrong value of a two-value choice adds one.
FLAG_OFFSET, OPTIMIZER_OFFSET = 0.5, 0.3


def hartmann6_flags() -> Problem:
    """Hartmann6 with two unordered two-value choices, as a training run has flags:
    a bool `flag` (False adds `FLAG_OFFSET`) and `optimizer` ("sgd" adds
    `OPTIMIZER_OFFSET`). The optimum is Hartmann6's, at `flag=True, optimizer="adam"`."""
    function = Hartmann(dim=6)
    space = SearchSpace(
        [RangeParameter(f"x{i + 1}", ParameterType.FLOAT, 0.0, 1.0) for i in range(6)]
        + [
            ChoiceParameter("flag", ParameterType.BOOL, [True, False]),
            ChoiceParameter("optimizer", ParameterType.STRING, ["sgd", "adam"]),
        ]
    )

    def f(p: Params) -> dict[str, Any]:
        value = _hartmann_at(function, [p[f"x{i + 1}"] for i in range(6)])
        value += (0.0 if p["flag"] else FLAG_OFFSET) + (
            OPTIMIZER_OFFSET if p["optimizer"] == "sgd" else 0.0
        )
        return {"hartmann6": (value, 0.0)}

    config = OptimizationConfig(Objective(FunctionMetric("hartmann6"), minimize=True))
    return Problem("hartmann6-flags", 40, space, config, f, _min_gap("hartmann6", -3.32237))


#: Ackley10's minimizer, moved off the origin: the strategy's first trial is the
#: center of the space, which would otherwise be the optimum itself.
ACKLEY_MINIMIZER = [8.2 * (-1) ** i for i in range(10)]


def ackley10() -> Problem:
    """Ackley in 10-d on [-32.768, 32.768]^10, `f(x) = Ackley(x - x*)` with x* =
    `ACKLEY_MINIMIZER`; optimum 0:
    `Ackley(z) = -20 exp(-0.2 sqrt(mean z^2)) - exp(mean cos(2 pi z)) + 20 + e`."""

    def f(p: Params) -> dict[str, Any]:
        z = [p[f"x{i + 1}"] - c for i, c in enumerate(ACKLEY_MINIMIZER)]
        value = (
            -20 * math.exp(-0.2 * math.sqrt(sum(v * v for v in z) / 10))
            - math.exp(sum(math.cos(2 * math.pi * v) for v in z) / 10)
            + 20
            + math.e
        )
        return {"ackley": (value, 0.0)}

    config = OptimizationConfig(Objective(FunctionMetric("ackley"), minimize=True))
    space = _unit_space(10, -32.768, 32.768)
    return Problem("ackley10", 100, space, config, f, _min_gap("ackley", 0.0))


def hartmann6_16() -> Problem:
    """Hartmann6 at 96 trials with 16 in flight: 15 pending at every proposal."""
    problem = hartmann6()
    problem.name, problem.num_trials, problem.parallelism = "hartmann6 (16 out)", 96, 16
    return problem


PROBLEMS = {
    "branin": branin,
    "hartmann6": hartmann6,
    "gramacy": gramacy,
    "branincurrin": branin_currin,
    "hartmann6-noisy": hartmann6_noisy,
    "hartmann6-mixed": hartmann6_mixed,
    "hartmann6-flags": hartmann6_flags,
    "ackley10": ackley10,
    "hartmann6-16": hartmann6_16,
}
