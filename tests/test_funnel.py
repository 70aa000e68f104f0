"""Funnel-plot limits against a hand-worked example (Spiegelhalter 2005, exact binomial with
interpolation), and the placing of sites inside or outside them."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.publish.report.funnel import funnel_limits, place


def test_95_percent_limits_for_half_at_20_by_hand() -> None:
    """Target 0.5, n = 20. Binomial(20, 0.5): F(5) = 21,700 / 2^20 = 0.020695, F(6) = 60,460 / 2^20
    = 0.057659. Lower tail p = 0.025: r = 6 (F(5) < 0.025 <= F(6)); alpha = (F(6) - 0.025) /
    (F(6) - F(5)) = (60,460 - 26,214.4) / 38,760 = 0.883529; limit = (6 - 0.883529) / 20 = 0.255824.
    Upper tail p = 0.975: F(13) = 1 - F(6), F(14) = 1 - F(5), so r = 14, alpha = (1,026,876 -
    1,022,361.6) / 38,760 = 0.116471, limit = (14 - 0.116471) / 20 = 0.694176: symmetric about 0.5."""
    low, high = funnel_limits(0.5, 20, 0.95)
    assert low[0] == pytest.approx((6 - 34245.6 / 38760) / 20, abs=1e-9)
    assert high[0] == pytest.approx((14 - 4514.4 / 38760) / 20, abs=1e-9)
    assert low[0] == pytest.approx(0.255824, abs=1e-6) and high[0] == pytest.approx(0.694176, abs=1e-6)


def test_limits_narrow_with_n_and_the_998_limits_are_wider() -> None:
    n = np.array([10, 40, 160, 640])
    low95, high95 = funnel_limits(0.3, n, 0.95)
    low998, high998 = funnel_limits(0.3, n, 0.998)
    assert np.all(np.diff(high95 - low95) < 0)
    assert np.all(low998 <= low95) and np.all(high998 >= high95)
    # large n: close to the normal approximation 0.3 +/- 1.96 sqrt(0.3 x 0.7 / n)
    assert high95[-1] == pytest.approx(0.3 + 1.959964 * np.sqrt(0.21 / 640), abs=2e-3)


def test_sites_outside_are_named_with_their_direction() -> None:
    """Network 0.5: 4 of 20 (0.2) is below the 95% limit 0.2558 but not the 99.8% one; 2 of 20
    (0.1) is below both; 11 of 20 is inside; 170 of 200 (0.85) is far above."""
    placed = {p.label: p for p in place(0.5, [("S1", 20, 0.2), ("S2", 20, 0.1), ("S3", 20, 0.55),
                                              ("S4", 200, 0.85)])}
    s1 = placed["S1"]
    assert (s1.outside_95, s1.outside_998, s1.direction) == (True, False, "below")
    assert (placed["S2"].outside_95, placed["S2"].outside_998) == (True, True)
    assert (placed["S3"].outside_95, placed["S3"].direction) == (False, "")
    assert (placed["S4"].outside_998, placed["S4"].direction) == (True, "above")
