"""Objective registry and the built-in test functions (registered on import)."""

from workers.objectives import builtin, learning_curve  # noqa: F401 (importing registers them)
from workers.objectives.builtin import PROBLEMS, Problem
from workers.objectives.registry import (
    RegisteredObjective,
    get_objective,
    load_objective_modules,
    objective,
    objective_names,
    registered_objectives,
    unregister,
)

__all__ = [
    "PROBLEMS",
    "Problem",
    "RegisteredObjective",
    "builtin",
    "get_objective",
    "load_objective_modules",
    "objective",
    "objective_names",
    "registered_objectives",
    "unregister",
]
