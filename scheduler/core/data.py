"""`Data`: observed metric values as a pandas frame, one row per observation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from scheduler.core.errors import InvalidDataError

REQUIRED_COLUMNS = ("trial_index", "arm_name", "metric_name", "mean", "sem")
STEP_COLUMN = "step"


class Data:
    """Rows of `trial_index, arm_name, metric_name, mean, sem[, step]`.

    `sem` is None (NaN) when noise is unknown, 0.0 for noiseless values.
    Rows with a `step` are progress points of a running trial (learning curves).
    """

    def __init__(self, df: pd.DataFrame | None = None) -> None:
        if df is None:
            df = pd.DataFrame(
                {
                    "trial_index": pd.Series(dtype=int),
                    "arm_name": pd.Series(dtype=object),
                    "metric_name": pd.Series(dtype=object),
                    "mean": pd.Series(dtype=float),
                    "sem": pd.Series(dtype=float),
                }
            )
        if not isinstance(df, pd.DataFrame):
            raise InvalidDataError(
                f"Data needs a pandas DataFrame with columns {list(REQUIRED_COLUMNS)}, "
                f"got {type(df).__name__}."
            )
        missing = [c for c in ("trial_index", "metric_name", "mean") if c not in df]
        if missing:
            raise InvalidDataError(
                f"Data frame lacks column(s) {missing}; it needs {list(REQUIRED_COLUMNS)}"
                f" (sem may be None), got {list(df.columns)}."
            )
        n = len(df)
        try:
            columns: dict[str, object] = {
                "trial_index": np.asarray(df["trial_index"], dtype=np.int64),
                "arm_name": (
                    df["arm_name"].astype(str).to_numpy()
                    if "arm_name" in df
                    else np.array([f"{int(i)}_0" for i in df["trial_index"]], dtype=object)
                ),
                "metric_name": df["metric_name"].astype(str).to_numpy(),
                "mean": pd.to_numeric(df["mean"]).to_numpy(dtype=float),
                "sem": (
                    np.asarray(pd.to_numeric(df["sem"]), dtype=float)
                    if "sem" in df
                    else np.full(n, np.nan)
                ),
            }
            if STEP_COLUMN in df:
                columns[STEP_COLUMN] = np.asarray(pd.to_numeric(df[STEP_COLUMN]), dtype=float)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidDataError(
                f"Data columns trial_index, mean, sem and step must be numeric: {exc}."
            ) from exc
        for extra in df.columns:
            if extra not in columns:
                columns[extra] = df[extra].to_numpy()
        df = pd.DataFrame(columns)
        self.df: pd.DataFrame = df.reset_index(drop=True)

    @classmethod
    def _trusted(cls, df: pd.DataFrame) -> Data:
        """Wrap a frame derived from validated `Data` without checking it again.

        Validation copies and casts every column; doing that on every filter
        and concat made polling cost grow with the experiment.
        """
        data = cls.__new__(cls)
        data.df = df.reset_index(drop=True)
        return data

    @property
    def has_steps(self) -> bool:
        """Whether any row has a step (numpy: asked of every fetched trial's rows)."""
        if STEP_COLUMN not in self.df:
            return False
        steps = self.df[STEP_COLUMN].to_numpy(dtype=np.float64, na_value=np.nan)
        return not bool(np.isnan(steps).all())

    @property
    def metric_names(self) -> set[str]:
        return set(self.df["metric_name"])

    @property
    def trial_indices(self) -> set[int]:
        return {int(i) for i in self.df["trial_index"]}

    def final(self) -> Data:
        """One row per trial and metric: the last step when steps are present."""
        if not self.has_steps:
            return self
        df = self.df.copy()
        df["_order"] = df[STEP_COLUMN].fillna(np.inf)
        df = df.sort_values(["trial_index", "metric_name", "_order"], kind="stable")
        last = df.groupby(["trial_index", "metric_name"], sort=False).tail(1)
        return Data._trusted(last.drop(columns=["_order"]))

    def filter(
        self,
        trial_indices: Iterable[int] | None = None,
        metric_names: Iterable[str] | None = None,
    ) -> Data:
        df = self.df
        if trial_indices is not None:
            df = df[df["trial_index"].isin(list(trial_indices))]
        if metric_names is not None:
            df = df[df["metric_name"].isin(list(metric_names))]
        return Data._trusted(df)

    def split_by_trial(self) -> dict[int, Data]:
        """`{trial index: that trial's rows}`, by trial index.

        One stable sort for all trials; each trial's rows are a slice of the
        sorted frame, cut out when first read (building thousands of small
        frames up front takes seconds, and most are never read alone).
        """
        indices = self.df["trial_index"].to_numpy()
        if len(indices) == 0:
            return {}
        if (indices == indices[0]).all():
            return {int(indices[0]): self}
        frame = self.df.sort_values("trial_index", kind="stable").reset_index(drop=True)
        indices = frame["trial_index"].to_numpy()
        bounds = np.flatnonzero(np.diff(indices)) + 1
        starts = np.concatenate(([0], bounds)).tolist()
        stops = np.concatenate((bounds, [len(indices)])).tolist()
        return {
            int(indices[start]): _TrialRows(frame, start, stop)
            for start, stop in zip(starts, stops, strict=True)
        }

    @staticmethod
    def from_multiple(datas: Iterable[Data]) -> Data:
        """All rows of `datas`, in order. Consecutive uncut slices of one shared frame
        (a loaded experiment's trials) are taken in one `iloc`, not cut one by one."""
        frames: list[pd.DataFrame] = []
        shared: pd.DataFrame | None = None
        ranges: list[np.ndarray] = []

        def take_shared() -> None:
            if shared is not None and ranges:
                frames.append(shared.iloc[np.concatenate(ranges)])
            ranges.clear()

        for data in datas:
            if isinstance(data, _TrialRows) and data.uncut_frame is not None:
                if data.uncut_frame is not shared:
                    take_shared()
                    shared = data.uncut_frame
                ranges.append(np.arange(data.start, data.stop))
                continue
            take_shared()
            if not data.df.empty:
                frames.append(data.df)
        take_shared()
        if not frames:
            return Data()
        if len(frames) == 1:
            return Data._trusted(frames[0])
        return Data._trusted(pd.concat(frames, ignore_index=True))

    @staticmethod
    def from_evaluations(
        evaluations: dict[str, float | tuple[float, float | None]],
        trial_index: int,
        arm_name: str | None = None,
    ) -> Data:
        """Build from `{metric: mean}` or `{metric: (mean, sem)}`."""
        rows = []
        for metric, value in evaluations.items():
            mean, sem = value if isinstance(value, (tuple, list)) else (value, None)
            rows.append(
                {
                    "trial_index": trial_index,
                    "arm_name": arm_name or f"{trial_index}_0",
                    "metric_name": metric,
                    "mean": mean,
                    "sem": sem,
                }
            )
        return Data.from_rows(rows)

    @staticmethod
    def from_rows(rows: list[dict[str, Any]]) -> Data:
        """Build from row dicts of plain Python values (the hot path of polling).

        Skips the frame-wide validation of `Data(df)`: each value is converted
        here, so a bad one still raises `InvalidDataError`.
        """

        def floats(name: str) -> np.ndarray:
            values = [np.nan if r.get(name) is None else float(r[name]) for r in rows]
            return np.asarray(values, dtype=np.float64)

        try:
            columns: dict[str, Any] = {
                "trial_index": np.asarray([int(r["trial_index"]) for r in rows], dtype=np.int64),
                "arm_name": np.asarray([str(r["arm_name"]) for r in rows], dtype=object),
                "metric_name": np.asarray([str(r["metric_name"]) for r in rows], dtype=object),
                "mean": np.asarray([float(r["mean"]) for r in rows], dtype=np.float64),
                "sem": floats("sem"),
            }
            if any(STEP_COLUMN in r for r in rows):
                columns[STEP_COLUMN] = floats(STEP_COLUMN)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidDataError(
                f"Data rows need numeric trial_index, mean and sem: {exc}."
            ) from exc
        return Data._trusted(pd.DataFrame(columns))

    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        return f"Data(rows={len(self.df)}, metrics={sorted(self.metric_names)})"


class _TrialRows(Data):
    """Rows `start:stop` of a sorted frame shared by many trials, cut out on first use."""

    def __init__(self, frame: pd.DataFrame, start: int, stop: int) -> None:
        self.uncut_frame: pd.DataFrame | None = frame  # None once cut out
        self.start, self.stop = start, stop
        self._df: pd.DataFrame | None = None

    @property
    def df(self) -> pd.DataFrame:
        if self._df is None:
            assert self.uncut_frame is not None
            self._df = self.uncut_frame.iloc[self.start : self.stop].reset_index(drop=True)
            self.uncut_frame = None
        return self._df

    @df.setter
    def df(self, value: pd.DataFrame) -> None:
        self._df, self.uncut_frame = value, None
