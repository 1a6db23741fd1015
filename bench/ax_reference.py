"""Ax's own figures on `bench/bo_quality.py`'s Branin@30 and Hartmann6@40, for comparison.

Ax is not a dependency of bo-scheduler, so this script runs in a venv of its
own and imports nothing from the project:

    python3 -m venv /tmp/ax-venv
    /tmp/ax-venv/bin/pip install torch==2.13.0 ax-platform
    /tmp/ax-venv/bin/python bench/ax_reference.py [--seeds N] [--problems branin,hartmann6]

Same regime as `bo_quality`: 3 trials out at a time, the oldest completes
first, each metric reports sem 0, seeds 0..N-1. Ax's `Client` runs with its
defaults (center point, Sobol, then its modular BoTorch GP with qLogNEI).
Prints the mean and median final gap (best observed value minus the optimum).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import warnings
from collections.abc import Callable

import torch
from botorch.test_functions.synthetic import Branin, Hartmann

try:
    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig
except ImportError as exc:  # pragma: no cover - depends on the venv
    raise SystemExit(
        "Ax is not installed here. It is not a bo-scheduler dependency: run this "
        "script in a venv of its own (see the module docstring)."
    ) from exc

PARALLELISM = 3
Bounds = list[tuple[float, float]]
PROBLEMS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Bounds, int, float]] = {
    "branin": (Branin(), [(-5.0, 10.0), (0.0, 15.0)], 30, 0.397887),
    "hartmann6": (Hartmann(dim=6), [(0.0, 1.0)] * 6, 40, -3.32237),
}


def run_once(key: str, seed: int) -> float:
    """One asynchronous run of Ax's Client; returns the final gap."""
    function, bounds, num_trials, optimum = PROBLEMS[key]
    names = [f"x{i + 1}" for i in range(len(bounds))]
    client = Client(random_seed=seed)
    client.configure_experiment(
        parameters=[
            RangeParameterConfig(name=n, parameter_type="float", bounds=b)
            for n, b in zip(names, bounds, strict=True)
        ]
    )
    client.configure_optimization(objective=f"-{key}")
    running: list[tuple[int, dict]] = []
    made, values = 0, []
    while made < num_trials or running:
        while len(running) < PARALLELISM and made < num_trials:
            running.extend(client.get_next_trials(max_trials=1).items())
            made += 1
        index, parameters = running.pop(0)
        x = torch.tensor([[float(parameters[n]) for n in names]], dtype=torch.double)
        value = float(function(x))
        values.append(value)
        client.complete_trial(trial_index=index, raw_data={key: (value, 0.0)})
    return min(values) - optimum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--problems", default="branin,hartmann6")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    for key in args.problems.split(","):
        gaps = [run_once(key, seed) for seed in range(args.seeds)]
        _, _, num_trials, _ = PROBLEMS[key]
        print(
            f"{key}@{num_trials} Ax seeds 0..{args.seeds - 1}: mean gap "
            f"{statistics.mean(gaps):.4f}, median {statistics.median(gaps):.4f}; "
            f"per seed {[round(g, 4) for g in gaps]}",
            flush=True,
        )


if __name__ == "__main__":
    main()
