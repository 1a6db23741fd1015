"""The built-in `learning_curve` objective, called directly (no broker)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from workers.errors import ObjectiveParameterError
from workers.objectives import get_objective
from workers.objectives.learning_curve import final_loss, learning_curve, loss_at


class Recorder:
    def __init__(self) -> None:
        self.points: list[tuple[float, dict[str, float]]] = []

    def __call__(self, step: float, **metrics: float) -> None:
        self.points.append((step, metrics))


def test_it_is_registered_with_a_progress_callback_and_its_options() -> None:
    registered = get_objective("learning_curve")
    assert registered.accepts_report
    assert registered.metrics == ("loss",)
    assert {"steps", "step_seconds", "noise_sd"} <= (registered.option_names or set())


def test_reports_a_decaying_curve_and_returns_its_last_value() -> None:
    report = Recorder()
    result = learning_curve({"x1": 0.9, "x2": 0.3}, report=report, steps=8)
    steps = [step for step, _ in report.points]
    losses = [metrics["loss"] for _, metrics in report.points]
    assert steps == list(range(8))
    assert losses == sorted(losses, reverse=True)  # monotone: bad early, bad late
    assert result == {"loss": pytest.approx(losses[-1])}
    assert losses[0] == pytest.approx(5.0)
    assert final_loss([0.9, 0.3]) == pytest.approx(0.1 + 0.36)


def test_the_parameters_decide_the_final_value_and_the_ranking_at_every_step() -> None:
    good, bad = Recorder(), Recorder()
    learning_curve({"x1": 0.3}, report=good, steps=5)
    learning_curve({"x1": 1.0}, report=bad, steps=5)
    for (_, g), (_, b) in list(zip(good.points, bad.points, strict=True))[1:]:
        assert g["loss"] < b["loss"]
    assert loss_at(math.inf, 0.1, 5.0, 0.25) == pytest.approx(0.1)


def test_noise_is_reproducible_with_a_seed_and_spares_the_result() -> None:
    a, b = Recorder(), Recorder()
    first = learning_curve({"x1": 0.5}, report=a, steps=4, noise_sd=0.5, seed=3)
    learning_curve({"x1": 0.5}, report=b, steps=4, noise_sd=0.5, seed=3)
    assert a.points == b.points
    assert first == learning_curve({"x1": 0.5}, steps=4)


@pytest.mark.parametrize(
    ("options", "wanted"),
    [
        ({"steps": 0}, "'steps' must be a whole number >= 1"),
        ({"steps": 2.5}, "'steps'"),
        ({"step_seconds": -1}, "'step_seconds' must be a finite number >= 0"),
        ({"rate": 0}, "'rate' must be a finite number > 0"),
        ({"noise_sd": math.nan}, "'noise_sd'"),
        ({"start": "high"}, "'start'"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], wanted: str) -> None:
    with pytest.raises(ObjectiveParameterError, match="learning_curve") as error:
        learning_curve({"x1": 0.5}, **options)
    assert wanted in str(error.value)


def test_parameters_must_be_x1_to_xd() -> None:
    with pytest.raises(ObjectiveParameterError, match="x1"):
        learning_curve({"lr": 0.1})
