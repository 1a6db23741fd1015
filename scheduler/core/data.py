"""`Data`: observed metric values as a pandas frame, one row per observation."""

from __future__ import annotations

from collections.abc import Iterable

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
            df = pd.DataFrame(columns=list(REQUIRED_COLUMNS))
        missing = [c for c in ("trial_index", "metric_name", "mean") if c not in df]
        if missing:
            raise InvalidDataError(
                f"Data frame lacks column(s) {missing}; it needs {list(REQUIRED_COLUMNS)}"
                f" (sem may be None), got {list(df.columns)}."
            )
        df = df.copy()
        if "arm_name" not in df:
            df["arm_name"] = df["trial_index"].map(lambda i: f"{int(i)}_0")
        if "sem" not in df:
            df["sem"] = np.nan
        try:
            df["trial_index"] = df["trial_index"].astype(int)
            df["mean"] = pd.to_numeric(df["mean"]).astype(float)
            df["sem"] = pd.to_numeric(df["sem"]).astype(float)
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(
                f"Data columns trial_index, mean and sem must be numeric: {exc}."
            ) from exc
        df["metric_name"] = df["metric_name"].astype(str)
        df["arm_name"] = df["arm_name"].astype(str)
        if STEP_COLUMN in df:
            df[STEP_COLUMN] = pd.to_numeric(df[STEP_COLUMN]).astype(float)
        self.df: pd.DataFrame = df.reset_index(drop=True)

    @property
    def has_steps(self) -> bool:
        return STEP_COLUMN in self.df and bool(self.df[STEP_COLUMN].notna().any())

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
        return Data(last.drop(columns=["_order"]))

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
        return Data(df)

    @staticmethod
    def from_multiple(datas: Iterable[Data]) -> Data:
        frames = [d.df for d in datas if not d.df.empty]
        if not frames:
            return Data()
        return Data(pd.concat(frames, ignore_index=True))

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
        return Data(pd.DataFrame.from_records(rows, columns=list(REQUIRED_COLUMNS)))

    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        return f"Data(rows={len(self.df)}, metrics={sorted(self.metric_names)})"
