"""Data: the observation frame, its validation and its helpers."""

from __future__ import annotations

import math
from typing import cast

import pandas as pd
import pytest

from scheduler import Data
from scheduler.core import InvalidDataError


def test_tutorial_style_records_with_unknown_sem_are_accepted() -> None:
    record = {
        "trial_index": 0,
        "metric_name": "branin",
        "arm_name": "0_0",
        "mean": 3.2,
        "sem": None,
    }
    data = Data(df=pd.DataFrame.from_records([record]))
    row = data.df.iloc[0]
    assert row["mean"] == 3.2
    assert math.isnan(row["sem"])
    assert data.metric_names == {"branin"}
    assert data.trial_indices == {0}


def test_missing_optional_columns_are_filled_in() -> None:
    data = Data(pd.DataFrame({"trial_index": [4], "metric_name": ["m"], "mean": [1]}))
    assert list(data.df.columns) == ["trial_index", "arm_name", "metric_name", "mean", "sem"]
    assert data.df["sem"].isna().all()
    assert data.df["arm_name"].tolist() == ["4_0"]
    assert data.df["mean"].dtype == float


def test_missing_required_columns_are_named() -> None:
    with pytest.raises(InvalidDataError, match=r"lacks column\(s\) \['metric_name', 'mean'\]"):
        Data(pd.DataFrame({"trial_index": [0]}))


def test_non_numeric_mean_is_rejected() -> None:
    frame = pd.DataFrame({"trial_index": [0], "metric_name": ["m"], "mean": ["high"]})
    with pytest.raises(InvalidDataError, match="must be numeric"):
        Data(frame)


def test_empty_data_has_the_standard_columns() -> None:
    data = Data()
    assert len(data) == 0
    assert set(data.df.columns) >= {"trial_index", "arm_name", "metric_name", "mean", "sem"}
    assert not data.has_steps


def test_from_evaluations_accepts_means_and_mean_sem_pairs() -> None:
    data = Data.from_evaluations({"loss": 0.5, "accuracy": (0.9, 0.01)}, trial_index=2)
    df = data.df.set_index("metric_name")
    # cast: pandas types a cell as any scalar; the "sem" column holds floats
    assert df.loc["loss", "mean"] == 0.5 and math.isnan(cast(float, df.loc["loss", "sem"]))
    assert df.loc["accuracy", "sem"] == 0.01
    assert set(df["arm_name"]) == {"2_0"}


def test_final_keeps_the_last_step_of_each_trial_and_metric() -> None:
    frame = pd.DataFrame(
        {
            "trial_index": [0, 0, 0, 1],
            "metric_name": ["loss"] * 4,
            "mean": [3.0, 1.0, 2.0, 7.0],
            "step": [0, 2, 1, 0],
        }
    )
    data = Data(frame)
    assert data.has_steps
    final = data.final().df.set_index("trial_index")["mean"].to_dict()
    assert final == {0: 1.0, 1: 7.0}


def test_filter_and_from_multiple() -> None:
    a = Data.from_evaluations({"m": 1.0, "n": 2.0}, trial_index=0)
    b = Data.from_evaluations({"m": 3.0}, trial_index=1)
    both = Data.from_multiple([a, b, Data()])
    assert len(both) == 3
    assert both.filter(metric_names=["m"]).df["mean"].tolist() == [1.0, 3.0]
    assert both.filter(trial_indices=[1]).trial_indices == {1}
    assert len(Data.from_multiple([])) == 0


def test_split_by_trial_then_from_multiple_gives_back_every_row_in_order() -> None:
    means = [3.0, 0.0, 1.0, 3.5, 2.0, 0.5]
    frame = pd.DataFrame(
        {"trial_index": [3, 0, 1, 3, 2, 0], "metric_name": "f", "mean": means, "sem": 0.0}
    )
    parts = Data(frame).split_by_trial()
    assert list(parts) == [0, 1, 2, 3]
    assert parts[3].df["mean"].tolist() == [3.0, 3.5]  # one trial's rows, in their order
    assert parts[2].df.index.tolist() == [0]  # a cut-out slice is indexed from 0
    extra = Data.from_evaluations({"f": 9.0}, 7)
    # Uncut slices, a cut one (2) and other data, mixed: all rows, in the order given.
    merged = Data.from_multiple([parts[3], parts[0], extra, parts[1], parts[2]])
    assert merged.df["trial_index"].tolist() == [3, 3, 0, 0, 7, 1, 2]
    assert merged.df["mean"].tolist() == [3.0, 3.5, 0.0, 0.5, 9.0, 1.0, 2.0]
    assert merged.df.index.tolist() == list(range(7))
    single = Data.from_evaluations({"f": 1.0, "g": 2.0}, 5)
    assert single.split_by_trial() == {5: single}
    assert Data().split_by_trial() == {}
