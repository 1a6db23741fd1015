"""Your own objectives: register a function, then let bo-scheduler tune it.

A worker imports this module at start (``bo-scheduler worker --objectives
my_objectives``, run from this folder, or ``BO_OBJECTIVE_MODULES=my_objectives``)
and can then run trials whose config names ``ridge`` or ``train_model``.
Only numpy: nothing to install beyond bo-scheduler.

An objective takes the trial's parameters (a dict) and the config's
``objective_function.options`` as keyword arguments, and returns
``{metric: value}`` (or ``{metric: [mean, sem]}``) with finite numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from workers.objectives import objective


def _data(seed: int = 0, n: int = 240, features: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A fixed regression problem: a few informative features, noise, outliers."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    weights = np.zeros(features)
    weights[:4] = [3.0, -2.0, 1.5, 0.5]
    y = x @ weights + np.sin(2 * x[:, 4]) + rng.normal(scale=1.0, size=n)
    return x, y


@objective("ridge", metrics=["val_mse"])
def ridge(parameters: dict[str, Any], folds: int = 4, seed: int = 0) -> dict[str, float]:
    """Cross-validated mean squared error of ridge regression with polynomial features.

    Parameters: ``log10_alpha`` (regularization, e.g. in [-4, 3]) and
    ``degree`` (1..3, an int). Options: ``folds``, ``seed``.
    """
    alpha = 10.0 ** float(parameters["log10_alpha"])
    degree = int(parameters["degree"])
    x, y = _data(seed)
    expanded = np.hstack([x**d for d in range(1, degree + 1)])
    order = np.random.default_rng(seed).permutation(len(y))
    errors = []
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        a, b = expanded[train], y[train]
        coef = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ b)
        errors.append(float(np.mean((expanded[fold] @ coef - y[fold]) ** 2)))
    return {"val_mse": float(np.mean(errors))}


@objective("train_model", metrics=["loss", "latency_ms", "memory_gb", "epochs_run"])
def train_model(parameters: dict[str, Any], max_epochs: int = 20) -> dict[str, float]:
    """A stand-in for training a network (examples/configs/mixed_space.yaml).

    Returns a loss shaped like a real one (best near lr 3e-3, some dropout,
    little weight decay, adam), a latency and memory growing with size.
    """
    lr = float(parameters["learning_rate"])
    dropout = float(parameters["dropout"])
    decay = float(parameters["weight_decay"])
    layers, width = int(parameters["layers"]), int(parameters["width"])
    optimizer = str(parameters["optimizer"])
    loss = (
        0.3
        + 0.08 * (math.log10(lr) + 2.5) ** 2
        + 0.5 * (dropout - 0.2) ** 2
        + 2.0 * decay
        + 0.02 * abs(layers - 4)
        + {"adam": 0.0, "rmsprop": 0.03, "sgd": 0.08}.get(optimizer, 0.1)
        - 0.00005 * width
    )
    return {
        "loss": loss,
        "latency_ms": 2.0 + layers * width / 100.0,
        "memory_gb": 0.5 + layers * width * 4 / 1024.0,
        "epochs_run": float(max_epochs),
    }
