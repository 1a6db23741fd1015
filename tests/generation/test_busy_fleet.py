"""The default strategy keeps a fleet busy: first round, handover to the model, budget.

The loop runs for real on a virtual-clock fleet (`fake_fleet`); the model
step is a recording stand-in, so these tests check when trials are proposed
and with what pending, never how good they are or how long anything takes.
"""

from __future__ import annotations

import pytest

from scheduler import Experiment, GenerationStep, GenerationStrategy, Models, TrialStatus
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.generation import choose_generation_strategy
from scheduler.ops.config import build_generation_strategy, build_search_space, parse_config
from tests.cli.conftest import config_data
from tests.generation.fake_fleet import RecordingModel, run_fleet, unit_space
from tests.generation.helpers import minimize


def fleet_strategy(fleet: int | None, total: int, seed: int = 0) -> GenerationStrategy:
    return choose_generation_strategy(
        unit_space(6), num_trials=total, random_seed=seed, fleet_size=fleet
    )


def sobol_trials(experiment: Experiment) -> int:
    return sum(t.generation_step == "Sobol" for t in experiment.trials.values())


def test_the_first_launch_fills_a_fleet_larger_than_the_initial_design() -> None:
    _, launches = run_fleet(fleet_strategy(16, 96), unit_space(6), fleet=16, total_trials=96)
    assert launches[0].deployed == 16


def test_the_model_starts_with_the_other_initial_trials_pending() -> None:
    experiment, _ = run_fleet(fleet_strategy(16, 96), unit_space(6), fleet=16, total_trials=96)
    first = RecordingModel.calls[0]
    # Half the default design (5 for 6-d, rounded up) observed; every other trial
    # out is an initial one, handed to the model as a pending point.
    assert first.observed == 3
    assert first.pending == 16 - first.n
    by_index = sorted(experiment.trials.values(), key=lambda t: t.index)
    model_from = next(i for i, t in enumerate(by_index) if t.generation_step != "Sobol")
    assert all(t.generation_step == "Sobol" for t in by_index[:model_from])


@pytest.mark.parametrize(("fleet", "total"), [(8, 64), (16, 96), (10, 80)])
def test_trials_out_never_drop_below_the_fleet_while_the_budget_lasts(
    fleet: int, total: int
) -> None:
    experiment, launches = run_fleet(
        fleet_strategy(fleet, total), unit_space(6), fleet=fleet, total_trials=total
    )
    assert len(experiment.trials_by_status(TrialStatus.COMPLETED)) == total
    while_budget_lasts = [launch for launch in launches if launch.created < total]
    assert while_budget_lasts, "the budget ran out in the first launch"
    assert [launch.out for launch in while_budget_lasts] == [fleet] * len(while_budget_lasts)


def test_sobol_trials_stay_within_a_quarter_of_the_budget() -> None:
    # 16 workers, 64 trials: the design grows to 16 (a quarter), with no room to
    # fill the handover, so a few workers wait for the model's first data.
    experiment, launches = run_fleet(fleet_strategy(16, 64), unit_space(6), 16, 64)
    assert sobol_trials(experiment) == 16
    assert launches[0].deployed == 16
    # 18 trials: a quarter is less than the default design, which stays as it was.
    experiment, _ = run_fleet(fleet_strategy(16, 18), unit_space(6), 16, 18)
    assert sobol_trials(experiment) == 5


def test_a_fleet_no_larger_than_the_design_behaves_as_without_one() -> None:
    runs = []
    for fleet_size in (None, 3, 5):  # the 6-d design is 5 trials
        experiment, launches = run_fleet(fleet_strategy(fleet_size, 40), unit_space(6), 3, 40)
        trials = sorted(experiment.trials.values(), key=lambda t: t.index)
        arms = [dict(t.arm.parameters) for t in trials]
        runs.append((arms, [t.generation_step for t in trials], launches))
    assert runs[0] == runs[1] == runs[2]


def test_without_a_fleet_the_default_strategy_is_unchanged() -> None:
    sobol, model = fleet_strategy(None, 64).steps
    assert (sobol.num_trials, sobol.min_trials_observed, sobol.fill_while_waiting) == (5, 3, 0)
    assert model.model_name == Models.BOTORCH.value


def test_a_lower_parallelism_cap_is_the_fleet_sized_for() -> None:
    capped = choose_generation_strategy(
        unit_space(6), max_parallelism_cap=4, num_trials=96, fleet_size=16
    )
    assert capped.steps[0].num_trials == 5  # 4 out at once: the default design


def test_fill_while_waiting_replaces_each_observed_trial_up_to_its_limit() -> None:
    first = GenerationStep(Models.SOBOL, num_trials=4, min_trials_observed=3, fill_while_waiting=1)
    strategy = GenerationStrategy([first, GenerationStep(Models.SOBOL, num_trials=-1)], seed=0)
    experiment = Experiment("fill", unit_space(2), minimize())

    def add(n: int) -> None:
        for run in strategy.gen(experiment, n):
            experiment.new_trial(run.parameters, generation_step=run.generation_step).mark_running()

    def complete(index: int) -> None:
        experiment.trials[index].mark_completed()

    add(4)
    assert strategy.num_can_generate(experiment) == 0  # the design is out, none observed
    complete(0)
    assert strategy.num_can_generate(experiment) == 1  # one observed: one replacement
    add(1)
    complete(1)
    assert strategy.num_can_generate(experiment) == 0  # fill_while_waiting=1 is used up
    complete(2)
    assert strategy.current_step(experiment) is not first  # 3 observed: the next step


def test_a_negative_fill_is_named() -> None:
    with pytest.raises(InvalidSchedulerOptionsError, match="fill_while_waiting"):
        GenerationStep(Models.SOBOL, num_trials=4, fill_while_waiting=-1)


def test_the_config_sizes_the_strategy_to_max_pending_trials() -> None:
    data = config_data(
        parameters=[{"name": f"x{i}", "type": "range", "bounds": [0.0, 1.0]} for i in range(1, 7)],
        objectives={"hartmann6": "minimize"},
        objective_function={"name": "hartmann6"},
        generation={"strategy": "auto", "seed": 1},
        scheduler={"total_trials": 96, "max_pending_trials": 16},
    )
    config = parse_config(data)
    sobol = build_generation_strategy(config, build_search_space(config)).steps[0]
    assert (sobol.num_trials, sobol.min_trials_observed, sobol.fill_while_waiting) == (16, 3, 2)


def test_generate_ahead_keeps_one_candidate_ready_and_spends_the_budget() -> None:
    experiment, launches = run_fleet(
        fleet_strategy(8, 64), unit_space(6), fleet=8, total_trials=64, generate_ahead=True
    )
    assert len(experiment.trials_by_status(TrialStatus.COMPLETED)) == 64
    assert not experiment.trials_by_status(TrialStatus.CANDIDATE)
    busy = [launch for launch in launches if launch.created < 63]
    assert [launch.out for launch in busy] == [8] * len(busy)
    # Once the model proposes, a spare waits for the next free worker: every
    # model trial after the first few was made before its slot freed.
    model_phase = [launch for launch in busy if launch.created > 16]
    assert model_phase and all(launch.waiting == 1 for launch in model_phase)
    # The spare is a pending point too: the model sees the fleet plus it.
    assert max(call.pending for call in RecordingModel.calls) == 8


def test_without_generate_ahead_no_candidate_waits() -> None:
    _, launches = run_fleet(fleet_strategy(8, 64), unit_space(6), fleet=8, total_trials=64)
    assert all(launch.waiting == 0 for launch in launches)
