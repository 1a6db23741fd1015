"""`TrialData`: the joined frame kept current answers as joining trial by trial would."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.data import Data
from scheduler.core.trial_data import TrialData

#: (trial index, metric, mean, step or None) rows of one attach.
Rows = list[tuple[int, str, float, int | None]]

row = st.tuples(
    st.integers(0, 6),
    st.sampled_from(["a", "b"]),
    st.floats(-10, 10, allow_nan=False),
    st.one_of(st.none(), st.integers(0, 3)),
)


def _data(rows: Rows) -> Data:
    frame = pd.DataFrame(
        {
            "trial_index": [r[0] for r in rows],
            "arm_name": [f"{r[0]}_0" for r in rows],
            "metric_name": [r[1] for r in rows],
            "mean": [r[2] for r in rows],
            "sem": [0.0] * len(rows),
        }
    )
    if any(r[3] is not None for r in rows):
        frame["step"] = [float("nan") if r[3] is None else float(r[3]) for r in rows]
    return Data(frame)


def _joined(store: TrialData, indices: list[int]) -> pd.DataFrame:
    """What joining the trials' own frames one by one gives."""
    parts = [store.get(i) for i in indices]
    return Data.from_multiple(p for p in parts if p is not None).df


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    columns = ["trial_index", "metric_name", "mean"]
    assert a[columns].reset_index(drop=True).equals(b[columns].reset_index(drop=True))


@settings(max_examples=150, deadline=None)
@given(
    attaches=st.lists(st.lists(row, min_size=1, max_size=5), min_size=1, max_size=8),
    ask_every=st.integers(1, 3),
    asked=st.lists(st.integers(0, 6), max_size=6),
)
def test_answers_match_joining_each_trial_after_any_sequence_of_attaches(
    attaches: list[Rows], ask_every: int, asked: list[int]
) -> None:
    store = TrialData()
    for n, rows in enumerate(attaches):
        store.attach(_data(rows))
        if n % ask_every == 0:  # asked between attaches too: the kept frame must follow
            store.all()
    every = sorted({r[0] for rows in attaches for r in rows})
    _same(store.all().df.sort_values("trial_index", kind="stable"), _joined(store, every))
    wanted = list(dict.fromkeys(asked))
    _same(store.of(wanted).df, _joined(store, wanted))


def test_newer_rows_replace_a_trials_older_rows_of_the_same_metric() -> None:
    store = TrialData()
    store.attach(_data([(0, "a", 1.0, None), (0, "b", 2.0, None), (1, "a", 5.0, None)]))
    assert len(store.all().df) == 3
    store.attach(_data([(0, "a", 9.0, None)]))
    frame = store.all().df
    assert sorted(frame.loc[frame["trial_index"] == 0, "mean"]) == [2.0, 9.0]
    assert store.of([1, 0]).df["trial_index"].tolist() == [1, 0, 0]  # the order asked
    assert store.of([]).df.empty and store.of([42]).df.empty
