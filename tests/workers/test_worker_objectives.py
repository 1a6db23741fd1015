"""Built-in objectives, the registry, module loading, and request/result checks."""

from __future__ import annotations

import math
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workers.errors import (
    InvalidObjectiveResult,
    InvalidTrialRequest,
    ObjectiveModuleError,
    ObjectiveParameterError,
    ObjectiveRegistrationError,
    UnknownObjectiveError,
)
from workers.objectives import (
    PROBLEMS,
    get_objective,
    load_objective_modules,
    objective,
    objective_names,
    unregister,
)
from workers.protocol import normalize_metrics, parse_request

HARTMANN6_ARGMIN = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)


def evaluate(name: str, parameters: dict[str, Any], **options: Any) -> dict[str, Any]:
    return dict(get_objective(name).function(parameters, **options))


@pytest.mark.parametrize(
    ("name", "parameters", "expected"),
    [
        ("branin", {"x1": -math.pi, "x2": 12.275}, 0.397887),
        ("branin", {"x1": math.pi, "x2": 2.275}, 0.397887),
        ("branin", {"x1": 9.42478, "x2": 2.475}, 0.397887),
        ("hartmann6", {f"x{i}": v for i, v in enumerate(HARTMANN6_ARGMIN, 1)}, -3.32237),
        ("ackley", {"x1": 0.0}, 0.0),
        ("ackley", {f"x{i}": 0 for i in range(1, 11)}, 0.0),
        ("rosenbrock", {"x1": 1.0, "x2": 1.0}, 0.0),
        ("rosenbrock", {f"x{i}": 1 for i in range(1, 8)}, 0.0),
    ],
)
def test_known_optima(name: str, parameters: dict[str, Any], expected: float) -> None:
    result = evaluate(name, parameters)
    assert list(result) == [name]
    assert result[name] == pytest.approx(expected, abs=1e-5)
    assert PROBLEMS[name].optimal_value == pytest.approx(expected, abs=1e-5)


def test_values_away_from_the_optimum_are_worse() -> None:
    assert evaluate("branin", {"x1": 0.0, "x2": 0.0})["branin"] == pytest.approx(55.60211, abs=1e-4)
    assert evaluate("ackley", {"x1": 1.0, "x2": 1.0})["ackley"] == pytest.approx(
        3.6253849, abs=1e-6
    )
    assert evaluate("rosenbrock", {"x1": 0.0, "x2": 0.0})["rosenbrock"] == pytest.approx(1.0)
    hartmann = evaluate("hartmann6", {f"x{i}": 0.5 for i in range(1, 7)})["hartmann6"]
    assert -3.32237 < hartmann < 0


@pytest.mark.parametrize("base", ["branin", "hartmann6", "ackley", "rosenbrock"])
def test_noisy_variants_report_mean_and_sem_under_the_base_metric(base: str) -> None:
    problem = PROBLEMS[base]
    dimension = problem.dimension or 3
    parameters = {
        f"x{i}": (lo + hi) / 2 for i, (lo, hi) in enumerate(problem.bounds_for(dimension), 1)
    }
    exact = evaluate(base, parameters)[base]
    first = evaluate(f"{base}_noisy", parameters, noise_sd=0.5, seed=7)
    again = evaluate(f"{base}_noisy", parameters, noise_sd=0.5, seed=7)
    assert first == again  # seeded: reproducible
    mean, sem = first[base]
    assert sem == 0.5
    assert mean != exact
    assert abs(mean - exact) < 0.5 * 6
    assert evaluate(f"{base}_noisy", parameters, noise_sd=0.0)[base] == [exact, 0.0]


def test_runtime_seconds_option_is_accepted_and_checked() -> None:
    assert evaluate("ackley", {"x1": 0.0}, runtime_seconds=0.01) == evaluate("ackley", {"x1": 0.0})
    with pytest.raises(ObjectiveParameterError, match="runtime_seconds"):
        evaluate("ackley", {"x1": 0.0}, runtime_seconds=-1)
    with pytest.raises(ObjectiveParameterError, match="noise_sd"):
        evaluate("branin_noisy", {"x1": 0.0, "x2": 0.0}, noise_sd="loud")


@pytest.mark.parametrize(
    ("name", "parameters", "fragment"),
    [
        ("branin", {"x1": 1.0}, "missing parameter(s) x2"),
        ("branin", {"x1": 1.0, "x2": 2.0, "x3": 0.0}, "unexpected parameter(s) x3"),
        ("branin", {"x1": "one", "x2": 2.0}, "parameter 'x1' must be a number"),
        ("branin", {"x1": True, "x2": 2.0}, "parameter 'x1' must be a number"),
        ("hartmann6", {f"x{i}": 0.5 for i in range(1, 6)}, "missing parameter(s) x6"),
        ("ackley", {"x1": 0.0, "x3": 0.0}, "missing parameter(s) x2"),
        ("ackley", {"lr": 0.1}, "unexpected parameter 'lr'"),
        ("ackley", {}, "missing parameter(s) x1"),
        ("rosenbrock", {"x1": 1.0}, "missing parameter(s) x2"),
        ("rosenbrock_noisy", {"x1": 1.0, "x2": math.inf}, "'x2' must be finite"),
    ],
)
def test_wrong_parameters_name_the_parameter(
    name: str, parameters: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ObjectiveParameterError) as error:
        evaluate(name, parameters)
    assert fragment in str(error.value)
    assert repr(name) in str(error.value)


# ------------------------------------------------------------------ registry


@pytest.fixture
def scratch_objectives() -> Iterator[list[str]]:
    """Names registered by a test, unregistered afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        unregister(name)


def test_unknown_objective_lists_registered_names() -> None:
    with pytest.raises(UnknownObjectiveError) as error:
        get_objective("branin2")
    message = str(error.value)
    assert "'branin2'" in message
    for name in ("ackley", "branin", "branin_noisy", "hartmann6", "rosenbrock_noisy"):
        assert name in message
    assert "BO_OBJECTIVE_MODULES" in message
    assert isinstance(error.value, LookupError)


def test_registration_describes_options_and_report(scratch_objectives: list[str]) -> None:
    @objective("scratch_plain", metrics=["y"])
    def plain(parameters: dict[str, Any], scale: float = 1.0) -> dict[str, float]:
        return {"y": scale}

    @objective("scratch_reporting")
    def reporting(parameters: dict[str, Any], report: Any, **options: Any) -> dict[str, float]:
        return {"y": 0.0}

    scratch_objectives += ["scratch_plain", "scratch_reporting"]
    registered = get_objective("scratch_plain")
    assert registered.metrics == ("y",)
    assert not registered.accepts_report
    assert registered.option_names == frozenset({"scale"})
    registered.check_options({"scale": 2})
    with pytest.raises(
        InvalidTrialRequest, match=r"does not accept option.*speed.*accepted options: scale"
    ):
        registered.check_options({"speed": 2})
    flexible = get_objective("scratch_reporting")
    assert flexible.accepts_report
    flexible.check_options({"anything": 1})
    with pytest.raises(InvalidTrialRequest, match="'report' is reserved"):
        flexible.check_options({"report": 1})
    assert {"scratch_plain", "scratch_reporting"} <= set(objective_names())


def test_two_functions_cannot_share_a_name(scratch_objectives: list[str]) -> None:
    def first(parameters: dict[str, Any]) -> dict[str, float]:
        return {"y": 1.0}

    def second(parameters: dict[str, Any]) -> dict[str, float]:
        return {"y": 2.0}

    scratch_objectives.append("scratch_dup")
    objective("scratch_dup")(first)
    objective("scratch_dup")(first)  # the same function again (a re-import) is fine
    with pytest.raises(ObjectiveRegistrationError, match="already registered"):
        objective("scratch_dup")(second)
    with pytest.raises(ObjectiveRegistrationError):
        objective("")(first)


# ------------------------------------------------------------ module loading


def _write_module(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path; modules imported from it are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        module = sys.modules[name]
        if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]


def test_modules_listed_in_the_environment_register_objectives(
    module_dir: Path, scratch_objectives: list[str]
) -> None:
    _write_module(
        module_dir,
        "bo_listed_objectives",
        """
        from workers.objectives import objective

        @objective("listed_double")
        def double(parameters):
            return {"y": 2 * parameters["x"]}
        """,
    )
    scratch_objectives.append("listed_double")
    loaded = load_objective_modules({"BO_OBJECTIVE_MODULES": " bo_listed_objectives , ,"})
    assert loaded == ["bo_listed_objectives"]
    assert evaluate("listed_double", {"x": 2.5}) == {"y": 5.0}
    assert load_objective_modules({}) == []


def test_a_module_that_fails_to_import_is_named(module_dir: Path) -> None:
    _write_module(module_dir, "bo_broken_objectives", "raise RuntimeError('needs a GPU')\n")
    with pytest.raises(ObjectiveModuleError) as error:
        load_objective_modules({"BO_OBJECTIVE_MODULES": "bo_broken_objectives"})
    assert "'bo_broken_objectives'" in str(error.value)
    assert "RuntimeError: needs a GPU" in str(error.value)
    with pytest.raises(ObjectiveModuleError, match=r"'bo_absent_objectives'.*ModuleNotFoundError"):
        load_objective_modules({"BO_OBJECTIVE_MODULES": "bo_absent_objectives"})
    with pytest.raises(ObjectiveModuleError, match="not a module name"):
        load_objective_modules({"BO_OBJECTIVE_MODULES": "os; rm -rf /"})


def test_entry_points_register_objectives(module_dir: Path, scratch_objectives: list[str]) -> None:
    _write_module(
        module_dir,
        "bo_plugin_objectives",
        """
        from workers.objectives import objective

        @objective("plugin_constant")
        def constant(parameters):
            return {"y": 42.0}
        """,
    )
    dist_info = module_dir / "bo_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: bo-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[bo_scheduler.objectives]\nconstant = bo_plugin_objectives\n"
    )
    scratch_objectives.append("plugin_constant")
    assert "bo_plugin_objectives" in load_objective_modules({})
    assert evaluate("plugin_constant", {}) == {"y": 42.0}

    (dist_info / "entry_points.txt").write_text(
        "[bo_scheduler.objectives]\nmissing = bo_plugin_missing_module\n"
    )
    with pytest.raises(
        ObjectiveModuleError, match=r"bo_plugin_missing_module.*entry point 'missing'"
    ):
        load_objective_modules({})


# --------------------------------------------------- request / result checks


def test_parse_request_accepts_the_documented_shape() -> None:
    request = parse_request(
        {"trial_index": 3, "objective": "branin", "parameters": {"x1": 1, "x2": 2.5}}
    )
    assert (request.trial_index, request.objective) == (3, "branin")
    assert request.parameters == {"x1": 1, "x2": 2.5}
    assert request.options == {}
    with_options = parse_request(
        {
            "trial_index": 0,
            "objective": "o",
            "parameters": {"c": "red", "b": True},
            "options": {"n": [1]},
        }
    )
    assert with_options.options == {"n": [1]}


@pytest.mark.parametrize(
    ("request_body", "fragment"),
    [
        ([1, 2], "must be a JSON object"),
        ({"objective": "branin", "parameters": {}}, "missing trial_index"),
        ({"trial_index": 1, "objective": "branin"}, "missing parameters"),
        ({"trial_index": -1, "objective": "b", "parameters": {}}, "trial_index must be an integer"),
        (
            {"trial_index": True, "objective": "b", "parameters": {}},
            "trial_index must be an integer",
        ),
        ({"trial_index": 1, "objective": "", "parameters": {}}, "objective must be a non-empty"),
        (
            {"trial_index": 1, "objective": "b", "parameters": []},
            "parameters must be a JSON object",
        ),
        ({"trial_index": 1, "objective": "b", "parameters": {"x": [1]}}, "parameters['x'] must be"),
        ({"trial_index": 1, "objective": "b", "parameters": {"x": math.nan}}, "must be finite"),
        ({"trial_index": 1, "objective": "b", "parameters": {}, "paramters": {}}, "unknown key"),
        ({"trial_index": 1, "objective": "b", "parameters": {}, "options": 3}, "options must be"),
    ],
)
def test_parse_request_rejects_malformed_requests(request_body: Any, fragment: str) -> None:
    with pytest.raises(InvalidTrialRequest) as error:
        parse_request(request_body)
    assert fragment in str(error.value)


def test_normalize_metrics_accepts_numbers_and_mean_sem_pairs() -> None:
    assert normalize_metrics({"a": 1, "b": [2, 0.1], "c": (3.5, None)}, "trial 0") == {
        "a": 1.0,
        "b": [2.0, 0.1],
        "c": [3.5, None],
    }


@pytest.mark.parametrize(
    ("result", "fragment"),
    [
        ({"loss": math.nan}, "metric 'loss' is nan"),
        ({"loss": math.inf}, "metric 'loss' is inf"),
        ({"loss": [math.nan, 0.1]}, "metric 'loss' has mean nan"),
        ({"loss": [1.0, -0.1]}, "metric 'loss' has sem -0.1"),
        ({"loss": [1.0, math.inf]}, "metric 'loss' has sem inf"),
        ({"loss": "low"}, "metric 'loss' is 'low'"),
        ({"loss": True}, "metric 'loss' is True"),
        ({"loss": [1.0, 0.1, 3]}, "metric 'loss' is [1.0, 0.1, 3]"),
        ({}, "returned no metrics"),
        (0.5, "returned float"),
        ({"other": 1.0}, "lacks declared metric(s) loss"),
    ],
)
def test_normalize_metrics_names_the_bad_metric_and_trial(result: Any, fragment: str) -> None:
    with pytest.raises(InvalidObjectiveResult) as error:
        normalize_metrics(result, "trial 4 (objective 'o')", ("loss",))
    assert fragment in str(error.value)
    assert str(error.value).startswith("trial 4 (objective 'o')")
