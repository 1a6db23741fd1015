"""`bo-scheduler` commands on experiments run in embedded mode (no services needed)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from scheduler import (
    Experiment,
    GenerationStep,
    GenerationStrategy,
    Models,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
    TrialStatus,
)
from scheduler.local.runner import FunctionMetric, FunctionRunner
from scheduler.ops.cli.main import EXIT_CONFIG, EXIT_FAILURE_RATE, EXIT_SERVICE, EXIT_STORAGE, main
from scheduler.storage import DBSettings, RegistryBundle, UnregisteredClassError, load_experiment
from scheduler.storage.registry import DEFAULT_REGISTRY, ReadingRegistry
from tests.cli.conftest import SERVICE_VARIABLES, config_data
from workers.objectives import objective, unregister

COMMANDS = ["run", "resume", "status", "report", "list", "stop", "delete", "demo"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(database URL, experiment name) of a finished 6-trial embedded experiment."""
    directory = tmp_path_factory.mktemp("stored")
    path = directory / "exp.yaml"
    path.write_text(yaml.safe_dump(config_data("stored_exp")))
    url = f"sqlite:///{directory / 'stored.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for variable in SERVICE_VARIABLES:
            patch.delenv(variable, raising=False)
        result = CliRunner().invoke(main, ["run", str(path), "--db-url", url])
    assert result.exit_code == 0, result.output
    yield url, "stored_exp"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself_with_an_example(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"bo-scheduler {command}" in result.output


def test_main_help_and_db_group() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in [*COMMANDS, "db"]:
        assert re.search(rf"^\s+{command}\s", result.output, re.MULTILINE), command
    db_help = CliRunner().invoke(main, ["db", "upgrade", "--help"])
    assert db_help.exit_code == 0 and "Example" in db_help.output


def test_run_prints_the_summary(stored: tuple[str, str]) -> None:
    url, name = stored
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    status = CliRunner().invoke(main, ["status", name, "--json", "--db-url", url])
    data = json.loads(status.output)
    assert data["trials_by_status"] == {"COMPLETED": 6}
    assert data["budget"] == 6
    assert data["daemon"] == "not running"
    assert data["best"]["values"]["branin"] > 0.39


def test_status_text(stored: tuple[str, str]) -> None:
    url, name = stored
    result = CliRunner().invoke(main, ["status", name, "--db-url", url])
    assert result.exit_code == 0, result.output
    assert f"experiment: {name}" in result.output
    assert "trials:     6 of 6 (COMPLETED 6)" in result.output
    assert re.search(r"best:\s+trial \d+: branin=", result.output)
    assert "broker:     embedded" in result.output


def test_list(stored: tuple[str, str]) -> None:
    url, name = stored
    result = CliRunner().invoke(main, ["list", "--db-url", url])
    assert result.exit_code == 0, result.output
    assert re.search(rf"^{name}\s+6\s+6\s+branin=", result.output, re.MULTILINE)
    rows = json.loads(CliRunner().invoke(main, ["list", "--json", "--db-url", url]).output)
    assert [r["experiment"] for r in rows] == [name]


def test_report_writes_csv_png_and_html(stored: tuple[str, str], tmp_path: Path) -> None:
    url, name = stored
    out = tmp_path / "reports"
    result = CliRunner().invoke(main, ["report", name, "--db-url", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    with (out / f"{name}.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    assert {"trial_index", "trial_status", "x1", "x2", "branin"} <= set(rows[0])
    assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    html = (out / f"{name}.html").read_text()
    assert "<img" in html and "<table" in html


def test_unknown_experiment_names_the_stored_ones(stored: tuple[str, str]) -> None:
    url, name = stored
    for command in (["status", "nope"], ["report", "nope"], ["resume", "nope"]):
        result = CliRunner().invoke(main, [*command, "--db-url", url])
        assert result.exit_code == EXIT_STORAGE, result.output
        assert "nope" in result.output and name in result.output


def test_stop_when_no_daemon_runs(stored: tuple[str, str]) -> None:
    url, name = stored
    result = CliRunner().invoke(main, ["stop", name, "--db-url", url])
    assert result.exit_code == 0
    assert "no daemon runs it" in result.output


def test_run_again_resumes_and_extends_the_budget(
    write_config: Callable[..., Path], db_url: str
) -> None:
    path = write_config("grow", scheduler={"total_trials": 3})
    first = CliRunner().invoke(main, ["run", str(path), "--db-url", db_url])
    assert first.exit_code == 0, first.output
    assert "finished; trials: COMPLETED 3" in first.output
    path = write_config("grow", scheduler={"total_trials": 5})
    second = CliRunner().invoke(main, ["run", str(path), "--db-url", db_url])
    assert second.exit_code == 0, second.output
    assert "finished; trials: COMPLETED 5" in second.output
    third = CliRunner().invoke(main, ["resume", "grow", "--db-url", db_url, "--total-trials", "6"])
    assert third.exit_code == 0, third.output
    assert "finished; trials: COMPLETED 6" in third.output


def test_run_refuses_a_changed_definition_under_the_same_name(
    write_config: Callable[..., Path], db_url: str
) -> None:
    path = write_config("same_name", scheduler={"total_trials": 2})
    assert CliRunner().invoke(main, ["run", str(path), "--db-url", db_url]).exit_code == 0
    changed = write_config(
        "same_name",
        filename="changed.yaml",
        parameters=[
            {"name": "x1", "type": "range", "bounds": [-5, 10]},
            {"name": "x2", "type": "range", "bounds": [0, 20]},
        ],
    )
    result = CliRunner().invoke(main, ["run", str(changed), "--db-url", db_url])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert (
        "different definition" in result.output and "bo-scheduler delete same_name" in result.output
    )
    # The difference itself, down to the field, not two truncated JSON strings.
    assert "search space parameter x2 upper: stored 15.0, given 20.0" in result.output
    assert "x1" not in result.output.split("different definition")[1].split(")")[0]
    deleted = CliRunner().invoke(main, ["delete", "same_name", "--yes", "--db-url", db_url])
    assert deleted.exit_code == 0, deleted.output
    again = CliRunner().invoke(main, ["run", str(changed), "--db-url", db_url])
    assert again.exit_code == 0, again.output


def test_database_from_the_config_and_from_the_environment(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_db = f"sqlite:///{tmp_path / 'from-config.db'}"
    env_db = f"sqlite:///{tmp_path / 'from-env.db'}"
    path = write_config("where", database={"url": config_db}, scheduler={"total_trials": 1})
    assert CliRunner().invoke(main, ["run", str(path)]).exit_code == 0
    listed = CliRunner().invoke(main, ["list", "--json", "--db-url", config_db])
    assert [r["experiment"] for r in json.loads(listed.output)] == ["where"]
    monkeypatch.setenv("BO_DATABASE_URL", env_db)
    assert CliRunner().invoke(main, ["run", str(path)]).exit_code == 0
    listed = CliRunner().invoke(main, ["list", "--json"])  # the same variable
    assert [r["experiment"] for r in json.loads(listed.output)] == ["where"]
    assert (tmp_path / "from-env.db").exists()


def test_passwords_never_reach_the_output(write_config: Callable[..., Path]) -> None:
    """A database that cannot be reached: the error names it, with the password masked."""
    url = "postgresql+psycopg2://bo:Sup3rS3cret@127.0.0.1:1/bo"
    path = write_config("masked", database={"url": url}, scheduler={"total_trials": 1})
    result = CliRunner().invoke(main, ["run", str(path), "--log-level", "DEBUG"])
    assert result.exit_code != 0
    assert "Sup3rS3cret" not in result.output
    assert "bo:***@127.0.0.1:1" in result.output
    status = CliRunner().invoke(main, ["status", "masked", "--db-url", url])
    assert "Sup3rS3cret" not in status.output and status.exit_code != 0


def test_an_unreachable_broker_stops_the_run_before_any_trial(
    write_config: Callable[..., Path], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BO_BROKER_URL", "redis://:Br0kerPw@127.0.0.1:1/0")
    path = write_config("no_broker", scheduler={"total_trials": 2})
    result = CliRunner().invoke(main, ["run", str(path), "--db-url", db_url])
    assert result.exit_code == EXIT_SERVICE, result.output
    assert "cannot reach the broker redis://:***@127.0.0.1:1/0" in result.output
    assert "Br0kerPw" not in result.output
    listed = CliRunner().invoke(main, ["list", "--db-url", db_url])
    assert "no_broker" not in listed.output  # nothing was created


class PrivateMetric(FunctionMetric):
    """A metric class only the process that ran the experiment registered."""


def private_objective(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"loss": (parameters["x"] - 0.3) ** 2}


def test_read_commands_work_without_the_experiments_own_classes(tmp_path: Path) -> None:
    """An experiment run from Python with its own metric class and function (known only
    to that process) is still listed, shown and reported; loading it to run it still
    names what is missing."""
    url = f"sqlite:///{tmp_path / 'private.db'}"
    bundle = RegistryBundle(
        metric_clss={PrivateMetric: "PrivateMetric"}, functions={private_objective: "private"}
    )
    experiment = Experiment(
        "private",
        SearchSpace([RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0)]),
        OptimizationConfig(Objective(PrivateMetric("loss"), minimize=True)),
        runner=FunctionRunner(private_objective),
    )
    strategy = GenerationStrategy([GenerationStep(Models.SOBOL, num_trials=-1)], seed=0)
    options = SchedulerOptions(init_seconds_between_polls=0.0, min_seconds_before_poll=0.0)
    Scheduler(experiment, strategy, options, DBSettings(url, registry=bundle)).run_n_trials(4)
    best = min(experiment.lookup_data().df["mean"])

    listed = CliRunner().invoke(main, ["list", "--json", "--db-url", url])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)[0]["best"] == {"loss": pytest.approx(best)}
    status = CliRunner().invoke(main, ["status", "private", "--db-url", url])
    assert status.exit_code == 0, status.output
    assert "trials:     4 (COMPLETED 4)" in status.output
    report = CliRunner().invoke(
        main, ["report", "private", "--db-url", url, "--out", str(tmp_path)]
    )
    assert report.exit_code == 0, report.output
    assert len((tmp_path / "private.csv").read_text().splitlines()) == 5

    with pytest.raises(UnregisteredClassError, match="function is 'private'"):
        load_experiment("private", url)
    stand_in = load_experiment(
        "private", DBSettings(url, registry=ReadingRegistry(DEFAULT_REGISTRY))
    )
    with pytest.raises(UnregisteredClassError, match="private"):
        stand_in.runner.run(stand_in.trials[0])  # type: ignore[union-attr]


def test_a_failed_run_says_how_to_start_over_and_restart_does(
    write_config: Callable[..., Path], db_url: str
) -> None:
    failing = {"name": "branin", "options": {"runtime_seconds": -1}}  # every trial fails
    one_at_a_time = {"max_pending_trials": 1}  # the guard trips before trial 5 is sent
    broken = write_config("start_over", objective_function=failing, scheduler=one_at_a_time)
    first = CliRunner().invoke(main, ["run", str(broken), "--db-url", db_url])
    assert first.exit_code == EXIT_FAILURE_RATE, first.output
    assert f"bo-scheduler run {broken} --restart" in first.output

    # Same definition, fixed options: running it resumes the stored experiment, whose
    # runner keeps the stored options, so its last trial fails the same way.
    fixed = write_config("start_over", filename="fixed.yaml", scheduler=one_at_a_time)
    again = CliRunner().invoke(main, ["run", str(fixed), "--db-url", db_url])
    assert again.exit_code == EXIT_FAILURE_RATE, again.output
    assert f"bo-scheduler run {fixed} --restart" in again.output

    restarted = CliRunner().invoke(main, ["run", str(fixed), "--restart", "--db-url", db_url])
    assert restarted.exit_code == 0, restarted.output
    experiment = load_experiment("start_over", DBSettings(db_url))
    assert [t.status for t in experiment.trials.values()] == [TrialStatus.COMPLETED] * 6


@pytest.fixture
def half_failing() -> Iterator[str]:
    """An objective failing for x1 > 2.5 (the embedded worker runs in this process)."""

    @objective("cli_half_failing", metrics=["branin"])
    def half(parameters: dict[str, Any]) -> dict[str, float]:
        if parameters["x1"] > 2.5:
            raise RuntimeError("diverged")
        return {"branin": (parameters["x2"] - 5) ** 2 + (parameters["x1"] - 2) ** 2}

    yield "cli_half_failing"
    unregister("cli_half_failing")


def test_a_run_that_ends_with_failed_trials_says_how_to_start_over(
    write_config: Callable[..., Path], db_url: str, half_failing: str
) -> None:
    tolerant = {"tolerated_trial_failure_rate": 0.99, "total_trials": 6}
    path = write_config("spent", objective_function={"name": half_failing}, scheduler=tolerant)
    result = CliRunner().invoke(main, ["run", str(path), "--db-url", db_url])
    assert result.exit_code == 0, result.output  # tolerated: the budget is spent
    experiment = load_experiment("spent", DBSettings(db_url))
    failed = sum(t.status is TrialStatus.FAILED for t in experiment.trials.values())
    assert 0 < failed < 6
    hint = f"{failed} trial(s) failed; once the cause is fixed, start over with: bo-scheduler run"
    assert f"{hint} {path} --restart" in result.output


def test_a_stored_experiment_keeps_the_initial_design_it_was_created_with(
    write_config: Callable[..., Path], db_url: str
) -> None:
    """A new default design (issue 16: `max(5, ceil((d + 2) / 2))`, 5 trials in
    6-d) applies to new experiments; one stored with a 12-trial design (as
    before) resumes with that."""
    six_d: dict[str, Any] = {
        "parameters": [
            {"name": f"x{i}", "type": "range", "bounds": [0.0, 1.0]} for i in range(1, 7)
        ],
        "objectives": {"hartmann6": "minimize"},
        "objective_function": {"name": "hartmann6"},
    }

    def steps(name: str) -> list[str | None]:
        trials = load_experiment(name, DBSettings(db_url)).trials.values()
        return [t.generation_step for t in sorted(trials, key=lambda t: t.index)]

    auto = {"strategy": "auto", "seed": 0}
    old = write_config(
        "designed_before",
        filename="old.yaml",
        generation={**auto, "num_initialization_trials": 12},
        # One trial at a time, so the stop comes exactly after 9 (with 3 out, a busy
        # machine's poll could see 8 done and start 2 more first).
        scheduler={"total_trials": 20, "max_pending_trials": 1},
        # Stops after 9 trials, inside the 12-trial design: no window improves by 10^9.
        global_stopping={"min_trials": 9, "window_size": 1, "improvement_bar": 1e9},
        **six_d,
    )
    first = CliRunner().invoke(main, ["run", str(old), "--db-url", db_url])
    assert first.exit_code == 0, first.output
    assert steps("designed_before") == ["Sobol"] * 9, first.output
    # Today's config of the same experiment: no design size, no global stopping.
    now = write_config(
        "designed_before",
        filename="now.yaml",
        generation=auto,
        scheduler={"total_trials": 13},
        **six_d,
    )
    resumed = CliRunner().invoke(main, ["run", str(now), "--db-url", db_url])
    assert resumed.exit_code == 0, resumed.output
    # A rebuilt default strategy (5 Sobol trials) would have modeled trials 9 to 11.
    assert steps("designed_before") == ["Sobol"] * 12 + ["BoTorch"], resumed.output

    fresh = write_config("designed_now", generation=auto, scheduler={"total_trials": 10}, **six_d)
    result = CliRunner().invoke(main, ["run", str(fresh), "--db-url", db_url])
    assert result.exit_code == 0, result.output
    assert steps("designed_now") == ["Sobol"] * 5 + ["BoTorch"] * 5
