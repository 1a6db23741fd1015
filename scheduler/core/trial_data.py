"""`TrialData`: an experiment's data, by trial and as one frame, kept current.

The loop asks questions of every trial's data after each poll (the best
trial, for the trial log, the metrics and the progress bar) while each poll
attaches the data of a few trials. Joining every trial's frame for each
question costs time in proportion to the experiment (0.44 s at 10,000
trials), so the joined frame is kept and brought up to date when next asked:
the trials touched since are dropped and their current rows appended, one
vectorized filter and one concat (about 2 ms at 10,000 trials) per question,
however many trials a poll attached one by one.

A question about some trials (`of`) is answered from the joined frame in the
order asked, each trial's rows in their own order: the same rows, in the
same order, as joining those trials' frames one by one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from scheduler.core.data import Data


class TrialData:
    """Every trial's `Data`, and all of it as one frame (built on first use)."""

    def __init__(self) -> None:
        self._by_trial: dict[int, Data] = {}
        self._all: pd.DataFrame | None = None  # None: build on the next question
        self._touched: set[int] = set()  # trials whose rows in `_all` are out of date

    def get(self, trial_index: int) -> Data | None:
        return self._by_trial.get(trial_index)

    def attach(self, data: Data) -> None:
        """Store fetched data; a trial's newer rows replace its older ones per metric."""
        for index, new in data.split_by_trial().items():
            old = self._by_trial.get(index)
            if old is not None:
                kept = old.filter(metric_names=old.metric_names - new.metric_names)
                new = Data.from_multiple([kept, new])
            self._by_trial[index] = new
            if self._all is not None:
                self._touched.add(index)

    def all(self) -> Data:
        """Every trial's rows as one `Data` (callers must not change its frame)."""
        if self._all is None:
            self._all = Data.from_multiple(self._by_trial.values()).df
        elif self._touched:
            touched = sorted(self._touched)
            others = self._all[~self._all["trial_index"].isin(touched)]
            new_rows = Data.from_multiple(self._by_trial[i] for i in touched).df
            self._all = pd.concat([others, new_rows], ignore_index=True)
        self._touched.clear()
        return Data._trusted(self._all)

    def of(self, trial_indices: Iterable[int]) -> Data:
        """The rows of `trial_indices`, trial by trial in that order."""
        order = {index: position for position, index in enumerate(dict.fromkeys(trial_indices))}
        if not order:
            return Data()
        frame = self.all().df
        if frame.empty:
            return Data()
        positions = frame["trial_index"].map(order)
        chosen = frame[positions.notna().to_numpy()]
        ranks = positions[positions.notna()].to_numpy()
        chosen = chosen.iloc[np.argsort(ranks, kind="stable")].reset_index(drop=True)
        return Data._trusted(chosen) if not chosen.empty else Data()
