"""The `bo-scheduler` command line."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import click


@click.group()
def main() -> None:
    """Run and inspect Bayesian-optimization experiments."""


@main.command()
@click.option("--trials", default=25, show_default=True, help="How many trials to run.")
@click.option("--seed", default=0, show_default=True, help="Random seed of the strategy.")
@click.option(
    "--report-dir",
    default="bo-reports",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the CSV and the trace plot.",
)
def demo(trials: int, seed: int, report_dir: Path) -> None:
    """Optimize Branin in embedded mode and print the best point.

    Example: bo-scheduler demo --trials 25
    """
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
    from scheduler.local_runner import FunctionMetric, FunctionRunner
    from scheduler.report import save_trace_plot

    logging.basicConfig(level=logging.WARNING)

    def branin(p: dict[str, float]) -> dict[str, float]:
        x1, x2 = p["x1"], p["x2"]
        a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
        r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
        return {"branin": a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s}

    space = SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, -5, 10),
            RangeParameter("x2", ParameterType.FLOAT, 0, 15),
        ]
    )
    experiment = Experiment(
        name="branin_demo",
        search_space=space,
        optimization_config=OptimizationConfig(Objective(FunctionMetric("branin"), minimize=True)),
        runner=FunctionRunner(branin),
    )
    scheduler = Scheduler(
        experiment,
        choose_generation_strategy(space, max_parallelism_cap=3, random_seed=seed),
        SchedulerOptions(init_seconds_between_polls=0.0, min_seconds_before_poll=0.0),
    )
    scheduler.run_n_trials(max_trials=trials)
    best = scheduler.get_best_trial()
    report_dir.mkdir(parents=True, exist_ok=True)
    exp_to_df(experiment).to_csv(report_dir / "branin_demo.csv", index=False)
    save_trace_plot(experiment, report_dir / "branin_demo.png")
    if best is None:
        raise click.ClickException("No trial completed; see the log above.")
    index, parameters, values = best
    click.echo(f"best trial {index}: {parameters} -> branin={values['branin']:.6f}")
    click.echo("(Branin's optimum is 0.397887)")
    click.echo(f"report written to {report_dir}/branin_demo.csv and .png")
