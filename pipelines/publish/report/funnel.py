"""Funnel-plot control limits for comparing sites (Spiegelhalter 2005, Stat Med 24:1185).

Each site's proportion (response among completers, sessions with any adverse event) is plotted
against its denominator; the limits around the network's proportion narrow as the denominator
grows. Spiegelhalter's exact binomial limits with his interpolation (Appendix A.1.1), so that
the limits are smooth in n rather than steps: for a tail probability p, r_p is the smallest r with
F(r) >= p, and the limit is (r_p - alpha) / n with alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1)).
95% limits ("alert") and 99.8% limits ("alarm"), each two-sided. scipy's binomial distribution
does the arithmetic; only the interpolation is written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

COVERAGES = (0.95, 0.998)


def funnel_limits(target: float, n: np.ndarray | list[int] | int,
                  coverage: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits for a proportion `target` at denominators `n` (each >= 1)."""
    trials = np.atleast_1d(np.asarray(n, dtype=float))
    tail = (1 - coverage) / 2
    return _limit(target, trials, tail), _limit(target, trials, 1 - tail)


def _limit(target: float, trials: np.ndarray, p: float) -> np.ndarray:
    if target <= 0 or target >= 1:  # a degenerate target: every site is on it
        return np.full(trials.shape, float(target))
    r = binom.ppf(p, trials, target)
    at_r = binom.cdf(r, trials, target)
    below = binom.cdf(r - 1, trials, target)
    alpha = np.where(at_r > below, (at_r - p) / np.where(at_r > below, at_r - below, 1.0), 0.0)
    return np.clip((r - alpha) / trials, 0.0, 1.0)


@dataclass(frozen=True)
class FunnelPoint:
    label: str  # the site
    n: int  # its denominator
    proportion: float
    outside_95: bool = False  # beyond the 95% limits: an alert
    outside_998: bool = False  # beyond the 99.8% limits: an alarm
    direction: str = ""  # "above" or "below" the network when outside


def place(target: float, points: list[tuple[str, int, float]]) -> list[FunnelPoint]:
    """Each (label, n, proportion) against the limits around `target`."""
    placed = []
    for label, n, proportion in points:
        flags = []
        for coverage in COVERAGES:
            low, high = funnel_limits(target, n, coverage)
            flags.append(bool(proportion < low[0] - 1e-12 or proportion > high[0] + 1e-12))
        direction = ("above" if proportion > target else "below") if flags[0] else ""
        placed.append(FunnelPoint(label, n, proportion, flags[0], flags[1], direction))
    return placed
