"""What one BoTorch proposal costs on a large experiment, and what the large-data
regime does to its quality.

    python -m bench.proposal_cost [--sizes 20 200 500 1000 5000] [--exact]
                                  [--repeats 3] [--quality-seeds 3] [--rounds 3]
                                  [--no-quality] [--set KEY=VALUE ...]

**Cost.** For each size N: an experiment of N completed Hartmann6 trials
(Sobol arms, seed 0, sem 0) and 16 running ones; a fresh `BoTorchGenerator`
(the default step's settings, so a cold GP fit) builds the generation context
and proposes 16 arms with the 16 pending. Printed: the median wall and CPU
seconds of `--repeats` such proposals, and the peak RSS of the process that
ran them (each size and model in its own subprocess, so the peaks do not
mix). `--exact` also measures the exact GP (`large_data_threshold=None`) at
sizes up to `EXACT_MAX` (above it the exact GP takes minutes).

**Quality** at 1,000 trials: from a 1,000-point Sobol data set of Hartmann6
(one per seed), `--rounds` rounds of proposing 16 arms and observing them,
with the large-data regime and with the exact GP, on the same seeds.
Printed per model: the mean true value of the proposed arms, the mean of each
round's best, and the final gap (best observed minus the optimum -3.32237),
averaged over seeds.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from typing import Any

import torch
from botorch.test_functions.synthetic import Hartmann

from bench.bo_quality import parse_settings
from bench.problems import hartmann6
from scheduler import Data, Experiment
from scheduler.core.parameters import TParameterization
from scheduler.generation import GenerationContext, SobolGenerator
from scheduler.generation.botorch.generator import BoTorchGenerator

PENDING = 16
BATCH = 16
EXACT_MAX = 1000
OPTIMUM = -3.32237
MODELS: dict[str, dict[str, Any]] = {"default": {}, "exact": {"large_data_threshold": None}}


def _value(function: Hartmann, arm: TParameterization) -> float:
    x = torch.tensor([[float(arm[f"x{i + 1}"]) for i in range(6)]], dtype=torch.double)  # type: ignore[arg-type]
    return float(function(x))


def _observe(experiment: Experiment, function: Hartmann, arms: list[TParameterization]) -> None:
    for arm in arms:
        trial = experiment.new_trial(arm, generation_step="bench")
        trial.mark_running()
        value = _value(function, trial.arm.parameters)
        experiment.attach_data(Data.from_evaluations({"hartmann6": (value, 0.0)}, trial.index))
        trial.mark_completed()


def build_experiment(size: int, pending: int, seed: int = 0) -> Experiment:
    """`size` completed Hartmann6 trials at Sobol arms and `pending` running ones."""
    problem = hartmann6()
    experiment = Experiment(f"cost-{size}", problem.search_space, problem.config, is_test=True)
    empty = GenerationContext(problem.search_space, None, [], Data())
    arms = SobolGenerator(problem.search_space, seed=seed).gen(size + pending, empty)
    _observe(experiment, Hartmann(dim=6), arms[:size])
    for arm in arms[size:]:
        experiment.new_trial(arm, generation_step="bench").mark_running()
    return experiment


def measure(
    size: int, model: str, repeats: int, settings: dict[str, Any] | None = None
) -> dict[str, float]:
    """Median seconds of proposing `BATCH` arms with `PENDING` pending; peak RSS in MB."""
    warnings.simplefilter("ignore")
    experiment = build_experiment(size, PENDING)
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        context = GenerationContext.from_experiment(experiment)
        kwargs = MODELS[model] | (settings or {})
        generator = BoTorchGenerator(experiment.search_space, seed=0, **kwargs)
        proposals = generator.gen(BATCH, context)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert len(proposals) == BATCH
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "rss": peak_mb}


def quality(
    model: str, seed: int, rounds: int, settings: dict[str, Any] | None = None, size: int = 1000
) -> dict[str, float]:
    """`rounds` batches of `BATCH` proposals from a `size`-point Sobol data set."""
    warnings.simplefilter("ignore")
    function = Hartmann(dim=6)
    experiment = build_experiment(size, 0, seed)
    kwargs = MODELS[model] | (settings or {})
    generator = BoTorchGenerator(experiment.search_space, seed=seed, **kwargs)
    proposed: list[float] = []
    round_best: list[float] = []
    for _ in range(rounds):
        arms = generator.gen(BATCH, GenerationContext.from_experiment(experiment))
        values = [_value(function, a) for a in arms]
        proposed += values
        round_best.append(min(values))
        _observe(experiment, function, arms)
    start = _start_best(size, seed)
    return {
        "mean": statistics.mean(proposed),
        "round_best": statistics.mean(round_best),
        "gap": min(start, *proposed) - OPTIMUM,
        "start_gap": start - OPTIMUM,
    }


def _start_best(size: int, seed: int) -> float:
    space = hartmann6().search_space
    empty = GenerationContext(space, None, [], Data())
    function = Hartmann(dim=6)
    return min(_value(function, a) for a in SobolGenerator(space, seed=seed).gen(size, empty))


def _child(task: str, *args: Any) -> dict[str, float]:
    """Run `task(*args)` in a fresh interpreter (its own peak RSS) and return its dict."""
    code = f"import json, bench.proposal_cost as m; print(json.dumps(m.{task}(*{args!r})))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 500, 1000, 5000])
    parser.add_argument("--exact", action="store_true", help=f"also the exact GP, <= {EXACT_MAX}")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality-seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a BoTorch model keyword argument for the default model (repeatable)",
    )
    args = parser.parse_args(argv)
    settings = parse_settings(args.set)

    print(
        f"Hartmann6, propose {BATCH} with {PENDING} pending, median of {args.repeats}"
        + "".join(f", {key}={value!r}" for key, value in settings.items())
    )
    header = f"{'trials':>7}{'model':>9}{'wall s':>9}{'cpu s':>8}{'peak RSS MB':>13}"
    print(header + "\n" + "-" * len(header))
    for size in args.sizes:
        models = ["default"] + (["exact"] if args.exact and size <= EXACT_MAX else [])
        for model in models:
            r = _child("measure", size, model, args.repeats, settings if model == "default" else {})
            print(
                f"{size:>7}{model:>9}{r['wall']:>9.2f}{r['cpu']:>8.2f}{r['rss']:>13.0f}", flush=True
            )
    if args.no_quality:
        return
    print(
        f"\nQuality at 1,000 Sobol trials + {args.rounds} rounds of {BATCH}, "
        f"seeds 0..{args.quality_seeds - 1} (lower is better)"
    )
    header = (
        f"{'model':>9}{'mean proposed':>15}{'round best':>12}{'final gap':>11}{'start gap':>11}"
    )
    print(header + "\n" + "-" * len(header))
    for model in MODELS:
        extra = settings if model == "default" else {}
        rows = [_child("quality", model, s, args.rounds, extra) for s in range(args.quality_seeds)]
        mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
        print(
            f"{model:>9}{mean['mean']:>15.4f}{mean['round_best']:>12.4f}"
            f"{mean['gap']:>11.4f}{mean['start_gap']:>11.4f}",
            flush=True,
        )
        print("    per seed final gap: " + " ".join(f"{r['gap']:.4f}" for r in rows), flush=True)


if __name__ == "__main__":
    main()
