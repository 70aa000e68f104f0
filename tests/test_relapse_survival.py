"""The Kaplan-Meier curve of time to relapse (dbt/models/marts/relapse_survival.py), on a hand-made
cohort: the counts by hand, the survival by hand (the product-limit estimate), the log-log
interval of the first step by hand (Greenwood's variance), and the whole table against
scikit-survival's own output for the same cohort."""

from __future__ import annotations

import importlib.util
import math
from types import ModuleType

import numpy as np
import pytest
from sksurv.nonparametric import kaplan_meier_estimator

from pipelines.settings import PROJECT_ROOT

Z = 1.959963984540054


def load_model() -> ModuleType:
    path = PROJECT_ROOT / "dbt" / "models" / "marts" / "relapse_survival.py"
    spec = importlib.util.spec_from_file_location("relapse_survival_model", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Six responders: relapses on days 10, 20, 30 and 50; censored on days 20 (same day as a relapse)
# and 40.
DAYS = np.array([10, 20, 20, 30, 40, 50])
RELAPSED = np.array([True, True, False, True, False, True])


def test_counts_and_survival_by_hand() -> None:
    table = load_model().curve("PCL5", DAYS, RELAPSED)
    assert table["days"].tolist() == [10, 20, 30, 40, 50]
    # at risk: still followed on that day (the day itself included)
    assert table["n_at_risk"].tolist() == [6, 5, 3, 2, 1]
    assert table["n_relapsed"].tolist() == [1, 1, 1, 0, 1]
    assert table["n_censored"].tolist() == [0, 1, 0, 1, 0]
    # product limit: 5/6; x 4/5 (the censored course on day 20 is still at risk that day); x 2/3; x 1; x 0
    assert table["survival"].tolist() == pytest.approx([5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0])


def test_log_log_interval_of_the_first_step_by_hand() -> None:
    """Greenwood: var(log S) = d / (n (n - d)) = 1/30 at day 10; the log-log interval is
    S ** exp(+/- z sqrt(var) / |log S|)."""
    table = load_model().curve("PCL5", DAYS, RELAPSED)
    survival = 5 / 6
    sigma = math.sqrt(1 / 30) / abs(math.log(survival))
    low, high = survival ** math.exp(Z * sigma), survival ** math.exp(-Z * sigma)
    assert (table["ci_low"][0], table["ci_high"][0]) == pytest.approx((low, high), abs=1e-9)
    assert 0.27 < low < 0.28 and 0.97 < high < 0.98


def test_the_table_is_the_librarys_own_output() -> None:
    table = load_model().curve("PHQ9", DAYS, RELAPSED)
    times, survival, interval = kaplan_meier_estimator(RELAPSED, DAYS.astype(float), conf_type="log-log")
    assert table["days"].tolist() == times.tolist()
    assert table["survival"].to_numpy() == pytest.approx(survival)
    assert np.allclose(table["ci_low"].to_numpy(), interval[0], equal_nan=True)
    assert np.allclose(table["ci_high"].to_numpy(), interval[1], equal_nan=True)
    assert set(table["instrument"]) == {"PHQ9"}
