"""Kaplan-Meier time to relapse after an induction response, per instrument, for the network.

One row per instrument and distinct event time (days from the induction endpoint to a relapse
or to the last follow-up score: marts.relapse_times), with the courses at risk, relapsing and
censored at that time, the survival (still in response) and its 95% confidence interval. The
estimator and its interval (log-log, as most survival software reports it) come from
scikit-survival, a well-kept library, not from code of this project; the counts are plain
counts. Built on DuckDB on both engines (tag runs_on_duckdb): dbt-spark runs no Python models
in its session mode, and relapse_times is read back from Spark first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sksurv.nonparametric import kaplan_meier_estimator

COLUMNS = ["instrument", "days", "n_at_risk", "n_relapsed", "n_censored", "survival", "ci_low", "ci_high"]


def _on_each(ordered: np.ndarray, times: np.ndarray) -> np.ndarray:
    """How many of the sorted values equal each of `times`."""
    return np.searchsorted(ordered, times, side="right") - np.searchsorted(ordered, times, side="left")


def curve(instrument: str, days: np.ndarray, relapsed: np.ndarray) -> pd.DataFrame:
    """The Kaplan-Meier curve of one instrument's courses, one row per distinct time."""
    times, survival, interval = kaplan_meier_estimator(relapsed, days.astype(float), conf_type="log-log")
    # courses still followed at each time (the time itself included), relapsing and censored there
    at_risk = len(days) - np.searchsorted(np.sort(days), times, side="left")
    n_relapsed = _on_each(np.sort(days[relapsed]), times)
    n_censored = _on_each(np.sort(days[~relapsed]), times)
    return pd.DataFrame({
        "instrument": instrument,
        "days": times.astype(np.int32),
        "n_at_risk": at_risk.astype(np.int32),
        "n_relapsed": n_relapsed.astype(np.int32),
        "n_censored": n_censored.astype(np.int32),
        "survival": survival.astype(float),
        "ci_low": interval[0].astype(float),
        "ci_high": interval[1].astype(float),
    })


def model(dbt, session):  # dbt's Python model signature
    dbt.config(materialized="table")
    times = dbt.ref("relapse_times").select("instrument, days_to_event, has_relapsed").df()
    parts = [
        curve(instrument, group["days_to_event"].to_numpy(), group["has_relapsed"].to_numpy(dtype=bool))
        for instrument, group in times.groupby("instrument", sort=True)
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {c: pd.Series(dtype=t) for c, t in zip(COLUMNS, ["str", "int32", "int32", "int32", "int32", "float",
                                                           "float", "float"], strict=True)})
