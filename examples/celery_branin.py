"""The tutorial's Scheduler, with trials run as Celery tasks.

Embedded (no servers; an in-process worker on kombu's in-memory transport):

    python examples/celery_branin.py

Against Redis and a worker fleet (start workers first, on any host that
reaches the same Redis):

    export BO_BROKER_URL=redis://127.0.0.1:6379/0
    celery -A workers.app worker --concurrency 2 &
    python examples/celery_branin.py
"""

from __future__ import annotations

import argparse
import logging

from scheduler import (
    Experiment,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
    choose_generation_strategy,
    exp_to_df,
)
from scheduler.celery import CeleryMetric, CeleryRunner


def make_branin_experiment() -> Experiment:
    """Branin on its usual box; the workers evaluate the registered `branin` objective."""
    return Experiment(
        name="celery_branin",
        search_space=SearchSpace(
            [
                RangeParameter("x1", ParameterType.FLOAT, lower=-5, upper=10),
                RangeParameter("x2", ParameterType.FLOAT, lower=0, upper=15),
            ]
        ),
        optimization_config=OptimizationConfig(
            Objective(metric=CeleryMetric(name="branin", sem=0.0), minimize=True)
        ),
        runner=CeleryRunner(objective="branin"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Optimize Branin on Celery workers.")
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    experiment = make_branin_experiment()
    scheduler = Scheduler(
        experiment=experiment,
        generation_strategy=choose_generation_strategy(
            experiment.search_space, max_parallelism_cap=3, random_seed=args.seed
        ),
        options=SchedulerOptions(init_seconds_between_polls=0.05, min_seconds_before_poll=0.0),
    )
    scheduler.run_n_trials(max_trials=args.trials)
    print(exp_to_df(experiment).to_string(index=False))
    best = scheduler.get_best_trial()
    if best is not None:
        index, parameters, values = best
        print(f"best trial {index}: {parameters} branin={values['branin']:.4f}")


if __name__ == "__main__":
    main()
