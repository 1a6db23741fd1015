"""One daemon, several experiments (`bo-scheduler run a.yaml b.yaml`, `resume A B`).

Embedded (in-process worker): both experiments reach their budgets, log lines
carry the experiment, a directory of configs works, and plans that cannot run
(two configs of one name, two databases) are refused in one line before
anything is stored. On a real fleet (private Redis, two `celery worker`
processes), see `test_shared_daemon_fleet.py`.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from scheduler.ops.cli.main import main
from scheduler.storage import list_experiments, load_experiment
from tests.cli.conftest import config_data, no_service_environment

pytestmark = pytest.mark.usefixtures(no_service_environment.__name__)


def _write(path: Path, name: str, **sections: object) -> Path:
    path.write_text(yaml.safe_dump(config_data(name, **sections)))
    return path


def test_two_experiments_run_to_their_budgets_in_one_embedded_daemon(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    _write(folder / "a.yaml", "shared_a", scheduler={"total_trials": 5})
    _write(
        folder / "b.yaml",
        "shared_b",
        objective_function={"name": "hartmann6"},
        objectives={"hartmann6": "minimize"},
        parameters=[{"name": f"x{i}", "type": "range", "bounds": [0, 1]} for i in range(1, 7)],
        scheduler={"total_trials": 7, "weight": 2},
    )
    (folder / "notes.txt").write_text("not a config")
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    result = CliRunner().invoke(
        main, ["run", str(folder), "--db-url", url, "--max-trials-out", "3", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "experiment shared_a: finished; trials: COMPLETED 5" in result.output
    assert "experiment shared_b: finished; trials: COMPLETED 7" in result.output
    assert "[shared_a] " in result.output and "[shared_b] " in result.output
    assert "at most 3 trials out between them" in result.output
    for name, total in (("shared_a", 5), ("shared_b", 7)):
        trials = load_experiment(name, url).trials.values()
        assert len(trials) == total and all(t.status.name == "COMPLETED" for t in trials)

    # Resume both by name: budgets reached, so nothing more runs; each says so.
    again = CliRunner().invoke(main, ["resume", "shared_a", "shared_b", "--db-url", url])
    assert again.exit_code == 0, again.output
    assert again.output.count("finished") == 2
    assert len(load_experiment("shared_a", url).trials) == 5


def test_an_experiment_on_its_own_queue_runs_in_an_embedded_shared_daemon(
    tmp_path: Path,
) -> None:
    """The in-process worker starts with the first experiment's queue; one that sends
    to a queue of its own (`runner.queue`) is served too, instead of waiting forever."""
    a = _write(tmp_path / "a.yaml", "queue_default", scheduler={"total_trials": 3})
    b = _write(
        tmp_path / "b.yaml", "queue_own", runner={"queue": "bo-gpu"}, scheduler={"total_trials": 3}
    )
    url = f"sqlite:///{tmp_path / 'queues.db'}"
    result = CliRunner().invoke(main, ["run", str(a), str(b), "--db-url", url, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "experiment queue_default: finished; trials: COMPLETED 3" in result.output
    assert "experiment queue_own: finished; trials: COMPLETED 3" in result.output


def test_two_configs_of_one_name_are_refused_before_anything_is_stored(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.yaml", "same_name")
    b = _write(tmp_path / "b.yaml", "same_name", scheduler={"total_trials": 3})
    url = f"sqlite:///{tmp_path / 'refused.db'}"
    result = CliRunner().invoke(main, ["run", str(a), str(b), "--db-url", url])
    assert result.exit_code == 2, result.output
    assert f"{a} and {b} both describe experiment 'same_name'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "refused.db").exists() or list_experiments(url) == []


def test_two_databases_in_one_daemon_are_refused_in_one_line(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.yaml", "db_a", database={"url": f"sqlite:///{tmp_path / 'a.db'}"})
    b = _write(tmp_path / "b.yaml", "db_b", database={"url": f"sqlite:///{tmp_path / 'b.db'}"})
    result = CliRunner().invoke(main, ["run", str(a), str(b)])
    assert result.exit_code == 2, result.output
    assert "one daemon runs its experiments on one database and one fleet" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "a.db").exists() and not (tmp_path / "b.db").exists()


def test_a_directory_without_configs_and_config_with_two_names_are_refused(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["run", str(empty)])
    assert result.exit_code == 2 and "is a directory without config files" in result.output
    config = _write(tmp_path / "a.yaml", "one")
    result = CliRunner().invoke(main, ["resume", "one", "two", "--config", str(config)])
    assert result.exit_code == 2 and "--config gives the config of one experiment" in (
        result.output
    )


def test_bo_config_may_name_several_configs_separated_by_spaces(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.yaml", "env_a", scheduler={"total_trials": 2})
    b = _write(tmp_path / "b.yaml", "env_b", scheduler={"total_trials": 3})
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = CliRunner().invoke(main, ["run", "--db-url", url], env={"BO_CONFIG": f"{a} {b}"})
    assert result.exit_code == 0, result.output
    assert "experiment env_a: finished; trials: COMPLETED 2" in result.output
    assert "experiment env_b: finished; trials: COMPLETED 3" in result.output


@pytest.mark.parametrize("configs", [1, 2])
def test_a_metrics_port_in_use_is_one_line_before_anything_is_stored(
    tmp_path: Path, configs: int
) -> None:
    paths = [_write(tmp_path / f"m{i}.yaml", f"metrics_{i}") for i in range(configs)]
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["run", *map(str, paths), "--db-url", url, "--metrics-address", "127.0.0.1"]
        result = CliRunner().invoke(main, [*args, "--metrics-port", str(port)])
    assert result.exit_code == 5, result.output
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.output
    assert "--metrics-port (BO_METRICS_PORT), or 0 for any free port" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "metrics.db").exists() or list_experiments(url) == []
