"""Fleet utilization on a virtual clock: the strategy's own share of idle workers.

    python -m bench.fleet_virtual [--workers 8] [--trials 64] [--seeds 3]
                                  [--min-seconds 2 --max-seconds 5]
                                  [--variants today,fleet,ahead] [--first-seed 0]

The same loop, strategy and Hartmann6 as `bench.fleet_utilization`, with the
real BoTorch step, but trials run on `tests.generation.fake_fleet.ClockFleet`:
each takes U(min, max) *virtual* seconds and a poll jumps to the next end, so
generation and polling take no virtual time. Utilization here is what the
strategy and the loop's slot arithmetic allow, free of this machine's load;
the real fleet's figure is this minus the time workers wait for generation
and polls. Deterministic for a seed (up to BoTorch's numerics).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import warnings

from botorch.test_functions.synthetic import Hartmann

from scheduler import (
    Experiment,
    Objective,
    OptimizationConfig,
    Scheduler,
    SchedulerOptions,
    TrialStatus,
    choose_generation_strategy,
)
from scheduler.local.runner import FunctionMetric
from tests.generation.fake_fleet import ClockFleet, unit_space

#: today: without the fleet; fleet: with `fleet_size`; ahead: and `generate_ahead`.
VARIANTS = ("today", "fleet", "ahead")
_HARTMANN = Hartmann(dim=6)


def hartmann6(parameters: dict[str, float]) -> dict[str, list[float]]:
    import torch

    x = torch.tensor([[parameters[f"x{i}"] for i in range(1, 7)]], dtype=torch.float64)
    return {"hartmann6": [float(_HARTMANN(x).item()), 0.0]}


def run_once(args: argparse.Namespace, seed: int, variant: str) -> tuple[float, float, float, int]:
    """(utilization, the same until the last deploy, best value, Sobol trials)."""
    runner = ClockFleet(seed, hartmann6, (args.min_seconds, args.max_seconds))
    experiment = Experiment(
        f"virtual-{variant}-{seed}",
        unit_space(6),
        OptimizationConfig(Objective(FunctionMetric("hartmann6"), minimize=True)),
        runner=runner,
        is_test=True,
    )
    strategy = choose_generation_strategy(
        experiment.search_space,
        num_trials=args.trials,
        random_seed=seed,
        fleet_size=None if variant == "today" else args.workers,
    )
    options = SchedulerOptions(
        max_pending_trials=args.workers,
        total_trials=args.trials,
        init_seconds_between_polls=0.0,
        min_seconds_before_poll=0.0,
        generate_ahead=variant == "ahead",
        logging_level=logging.WARNING,
    )
    Scheduler(experiment, strategy, options).run_all_trials()
    busy = [(runner.starts[i], runner.ends[i]) for i in runner.ends]
    end, last_deploy = max(e for _, e in busy), max(s for s, _ in busy)

    def utilization(until: float) -> float:
        worked = sum(max(0.0, min(e, until) - s) for s, e in busy)
        return worked / (args.workers * until)

    values = [
        float(experiment.lookup_trial_data(t.index).final().df["mean"].iloc[0])
        for t in experiment.trials_by_status(TrialStatus.COMPLETED)
    ]
    sobol = sum(t.generation_step == "Sobol" for t in experiment.trials.values())
    return utilization(end), utilization(last_deploy), min(values), sobol


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=5.0)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    print(
        f"virtual fleet: {args.workers} workers, {args.trials} trials of "
        f"{args.min_seconds:g}-{args.max_seconds:g} s, Hartmann6 (optimum -3.32237), "
        f"seeds {args.first_seed}..{args.first_seed + args.seeds - 1}"
    )
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for variant in args.variants.split(","):
        runs = [run_once(args, seed, variant) for seed in seeds]
        whole, budget, best, sobol = (list(column) for column in zip(*runs, strict=True))
        print(
            f"{variant:<7} utilization {statistics.mean(whole):.1%} (while the budget lasts "
            f"{statistics.mean(budget):.1%}, lowest {min(budget):.1%}); best "
            + " ".join(f"{b:.4f}" for b in best)
            + f"; Sobol trials {'/'.join(map(str, sobol))}",
            flush=True,
        )


if __name__ == "__main__":
    main()
