"""Matplotlib charts as inline SVG strings: no files, no fonts or URLs to fetch.

Charts show rates, means and limits only, never counts: every count in the report is printed
as text through the template's count helper, so one check on the HTML covers them all.
Suppressed or missing values are NaN, which matplotlib draws as gaps; suppressed months get a
grey marker on the axis so a gap for suppression reads differently from a month without data.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import ParamSpec

import matplotlib
import numpy as np

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from pipelines.publish.report.funnel import FunnelPoint, funnel_limits

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"
VERMILLION = "#D55E00"
SKY = "#56B4E9"
PURPLE = "#CC79A7"
GREY = "#8C8C8C"
INK = "#222222"
SERIES_COLOURS = (BLUE, ORANGE, GREEN, PURPLE)
P = ParamSpec("P")

WIDTH_IN = 7.0  # A4 minus margins is about 7.1 inches
STYLE = {
    "svg.fonttype": "none",  # text stays text, in the page's own font: smaller and searchable
    "font.family": "sans-serif",
    "font.sans-serif": ["Liberation Sans", "Arial", "DejaVu Sans"],
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.titleweight": "bold",
    "axes.labelsize": 8,
    "axes.edgecolor": "#555555",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#E3E3E3",
    "grid.linewidth": 0.6,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 4,
}


@dataclass(frozen=True)
class Point:
    """One plotted value with its interval; value None = not shown (suppressed or no data)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[Point]


@dataclass(frozen=True)
class Panel:
    title: str
    series: Sequence[Series]
    reference_lines: Sequence[tuple[float, str]] = ()
    y_limits: tuple[float, float] | None = None


def styled(draw: Callable[P, str]) -> Callable[P, str]:
    """Draw and save under the report's rc settings (read when artists are made and when saved)."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> str:
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def month_labels(months: Sequence[date]) -> list[str]:
    """Tick labels for a run of months: every month when few, else every third, the year where it changes.

    Labels for skipped months are empty strings (the tick stays, unlabelled).
    """
    step = 1 if len(months) <= 8 else 3
    offset = (len(months) - 1) % step  # always label the last (the report or headline) month
    labels, last_year = [], None
    for i, month in enumerate(months):
        if (i - offset) % step:
            labels.append("")
            continue
        labels.append(month.strftime("%b") if month.year == last_year else month.strftime("%b\n%Y"))
        last_year = month.year
    return labels


def to_svg(fig: Figure, name: str, label: str) -> str:
    """The figure as an <svg> element for inline HTML, stripped of everything that names a URL.

    Matplotlib writes an XML declaration, a DOCTYPE and RDF metadata that carry w3.org and
    purl.org addresses, and xmlns attributes; the HTML parser needs none of them. The salt
    makes element ids deterministic per chart and distinct between charts of one page.
    """
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None,
                                                    "Type": None})
    text = buffer.getvalue()
    text = re.sub(r"<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r"<style[^>]*>.*?</style>\s*", "", text, flags=re.S)  # its '*' rule would hit the page
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r'\s+version="1\.1"', "", text, count=1)
    text = text.replace("<svg ", f'<svg role="img" aria-label="{label}" class="chart-{name}" '
                                 'stroke-linejoin="round" stroke-linecap="butt" ', 1)
    return text.strip()


def _figure(height: float, ncols: int = 1, width: float = WIDTH_IN,
            margins: tuple[float, float, float, float] | None = None) -> tuple[Figure, list[Axes]]:
    """A figure of `ncols` axes side by side. Matplotlib's constrained layout fits the axes around
    their labels (a third of a small chart's drawing time); `margins` (left, right, top, bottom,
    in inches) place a chart whose labels are known to fit instead."""
    fig = Figure(figsize=(width, height), layout=None if margins else "constrained")
    if margins:
        left, right, top, bottom = margins
        fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height,
                            bottom=bottom / height)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _draw_series(ax: Axes, x: Sequence[float], series: Series, colour: str, marker: str) -> None:
    """Line with markers and its interval band; NaN (not shown) breaks both."""
    y = [_nan(p.value) for p in series.points]
    low = [_nan(p.low) if p.value is not None else math.nan for p in series.points]
    high = [_nan(p.high) if p.value is not None else math.nan for p in series.points]
    ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0)
    ax.plot(x, y, color=colour, marker=marker, label=series.label)
    # A point between two gaps has no band to speak of: give it whiskers instead.
    for i, value in enumerate(y):
        alone = all(j < 0 or j >= len(y) or math.isnan(y[j]) for j in (i - 1, i + 1))
        if alone and not math.isnan(value) and not math.isnan(low[i]) and not math.isnan(high[i]):
            ax.errorbar([x[i]], [value], yerr=[[value - low[i]], [high[i] - value]], fmt="none",
                        ecolor=colour, elinewidth=1, capsize=2.5, alpha=0.8)


def _mark_suppressed(ax: Axes, x: Sequence[float], flags: Sequence[bool], y: float, label: bool) -> None:
    shown = [xi for xi, flag in zip(x, flags, strict=True) if flag]
    if shown:
        ax.plot(shown, [y] * len(shown), linestyle="none", marker="x", color=GREY, markersize=4.5,
                label="suppressed" if label else None, clip_on=False, zorder=4)


@styled
def line_panels(panels: Sequence[Panel], x_labels: Sequence[str], name: str, label: str,
                percent: bool = True, height: float = 2.5, x_title: str | None = None) -> str:
    """Small multiples, one panel per instrument: lines with 95% bands over a shared x axis."""
    fig, axes = _figure(height, len(panels))
    x = list(range(len(x_labels)))
    for ax, panel in zip(axes, panels, strict=True):
        low, high = panel.y_limits or (0.0, 1.0)
        for i, series in enumerate(panel.series):
            colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
            _draw_series(ax, x, series, colour, "os^D"[i % 4])
        flags = [any(s.points[j].suppressed for s in panel.series) for j in x]
        _mark_suppressed(ax, x, flags, low, label=True)
        for value, text in panel.reference_lines:
            ax.axhline(value, color=GREY, linestyle=":", linewidth=1, zorder=1)
            ax.annotate(text, (0, value), xycoords=("axes fraction", "data"), xytext=(3, 1.5),
                        textcoords="offset points", fontsize=6.5, color="#555555", va="bottom", ha="left")
        ax.set_title(panel.title, loc="left")
        ax.set_xticks(x, x_labels)
        ax.set_xlim(-0.4, len(x) - 0.6)
        if panel.y_limits or percent:
            ax.set_ylim(low, high)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        if x_title:
            ax.set_xlabel(x_title)
        ax.tick_params(axis="x", length=2)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for h, lbl in zip(*ax.get_legend_handles_labels(), strict=True):
            if lbl not in labels:
                handles.append(h)
                labels.append(lbl)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return to_svg(fig, name, label)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    low: float | None
    high: float | None
    suppressed: bool


@styled
def ae_bars(bars: Sequence[Bar], name: str, label: str) -> str:
    """Horizontal bars per adverse-event term with 95% whiskers; suppressed terms say so instead of a bar."""
    height = max(1.6, 0.55 + 0.2 * len(bars))
    fig, (ax,) = _figure(height)
    y = list(range(len(bars)))[::-1]
    values = [0.0 if b.value is None else float(b.value) for b in bars]
    ax.barh(y, values, color=SKY, edgecolor=BLUE, linewidth=0.6, height=0.62)
    for yi, bar in zip(y, bars, strict=True):
        if bar.value is not None and bar.low is not None and bar.high is not None:
            ax.errorbar([bar.value], [yi], xerr=[[bar.value - bar.low], [bar.high - bar.value]], fmt="none",
                        ecolor=INK, elinewidth=0.9, capsize=2.5, capthick=0.9)
        elif bar.suppressed:
            ax.annotate("suppressed (small cell)", (0, yi), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=6.5, color="#555555", style="italic")
    ax.set_yticks(y, [b.label for b in bars])
    ax.set_ylim(-0.6, len(bars) - 0.4)
    ax.set_xlim(left=0)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8))
    ax.set_xlabel("sessions with the event per 100 sessions, with 95% interval")
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)
    return to_svg(fig, name, label)


@dataclass(frozen=True)
class ControlPoint:
    month: date
    p: float | None
    p_bar: float | None
    ucl: float | None
    lcl: float | None
    signal: bool
    suppressed: bool
    provisional: bool = False  # limits from too few baseline months: drawn, never a signal


@styled
def p_chart(points: Sequence[ControlPoint], name: str, label: str, height: float = 2.6,
            width: float = WIDTH_IN, title: str | None = None) -> str:
    """p-chart: monthly proportion, centre line and control limits as steps, signals in vermillion.

    Limits change month to month (p_bar from the baseline months before, n from the month itself), so
    they are steps centred on each month rather than straight lines.
    """
    # Fixed margins: y labels are percentages ("100%" at most), x labels at most two lines, and the
    # legend is one row under them; a site page has dozens of these charts.
    fig, (ax,) = _figure(height, width=width, margins=(0.66, 0.1, 0.28 if title else 0.1, 0.62))
    x = list(range(len(points)))
    # Zoom to the data (limits included): proportions near 70% would otherwise be a flat line at the top.
    shown = [v for c in points for v in (c.p, c.ucl, c.lcl, c.p_bar) if v is not None] or [0.0, 0.1]
    pad = max(0.02, 0.12 * (max(shown) - min(shown)))
    bottom, top = max(0.0, min(shown) - pad), min(1.0, max(shown) + pad)
    ax.plot(x, [_nan(c.p) for c in points], color=BLUE, marker="o", linewidth=1.2,
            label="p: share of sessions with any AE", zorder=3)
    ax.step(x, [_nan(c.p_bar) for c in points], where="mid", color=GREEN, linewidth=1.3,
            label="centre line")
    ax.step(x, [_nan(c.ucl) for c in points], where="mid", color=GREY, linestyle="--", linewidth=1,
            label="3\u03c3 limits")
    ax.step(x, [_nan(c.lcl) for c in points], where="mid", color=GREY, linestyle="--", linewidth=1)
    provisional = [(xi, c.p) for xi, c in zip(x, points, strict=True)
                   if c.provisional and c.p is not None and c.p_bar is not None]
    if provisional:
        ax.plot([f[0] for f in provisional], [f[1] for f in provisional], linestyle="none", marker="o",
                markersize=5, markerfacecolor="white", markeredgecolor=BLUE, markeredgewidth=1.2,
                label="provisional limits", zorder=4)
    flagged = [(xi, c.p) for xi, c in zip(x, points, strict=True) if c.signal and c.p is not None]
    if flagged:
        ax.plot([f[0] for f in flagged], [f[1] for f in flagged], linestyle="none", marker="D",
                markersize=7, markerfacecolor=VERMILLION, markeredgecolor=INK, markeredgewidth=0.6,
                label="signal", zorder=5)
    _mark_suppressed(ax, x, [c.suppressed for c in points], bottom, label=any(c.suppressed for c in points))
    ax.set_xticks(x, month_labels([c.month for c in points]))
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.set_ylim(bottom, top)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("sessions with any AE", fontsize=7)
    ax.tick_params(axis="x", length=2)
    if title:
        ax.set_title(title, loc="left")
    fig.legend(loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=6, handlelength=1.8, columnspacing=1.2)
    return to_svg(fig, name, label)



@dataclass(frozen=True)
class FunnelPanel:
    """One funnel plot: sites' proportions against their denominators, around the network's."""

    title: str
    target: float  # the network's proportion over the same period
    points: Sequence[FunnelPoint]


@styled
def funnel_panels(panels: Sequence[FunnelPanel], name: str, label: str, x_title: str,
                  y_title: str, scale: float = 1.0, height: float = 2.7) -> str:
    """Funnel plots side by side (Spiegelhalter 2005): the network's proportion, its 95% (dashed)
    and 99.8% (dotted) limits over the denominator, a dot per site; sites outside are named.
    `scale`: 100 for rates per 100, 1 for proportions shown as percentages."""
    fig, axes = _figure(height, len(panels))
    for ax, panel in zip(axes, panels, strict=True):
        largest = max([p.n for p in panel.points] + [10])
        n = np.unique(np.linspace(1, largest * 1.15, 240).round().astype(int))
        n = n[n >= 1]
        ax.axhline(panel.target * scale, color=GREEN, linewidth=1.3, label="network", zorder=2)
        for coverage, style, text in ((0.95, "--", "95% limits"), (0.998, ":", "99.8% limits")):
            low, high = funnel_limits(panel.target, n, coverage)
            ax.plot(n, low * scale, color=GREY, linestyle=style, linewidth=1, label=text, zorder=1)
            ax.plot(n, high * scale, color=GREY, linestyle=style, linewidth=1, zorder=1)
        inside = [p for p in panel.points if not p.outside_95]
        outside = [p for p in panel.points if p.outside_95]
        ax.plot([p.n for p in inside], [p.proportion * scale for p in inside], linestyle="none", marker="o",
                markersize=5, color=BLUE, label="site", zorder=4)
        if outside:
            ax.plot([p.n for p in outside], [p.proportion * scale for p in outside], linestyle="none",
                    marker="D", markersize=6, markerfacecolor=VERMILLION, markeredgecolor=INK,
                    markeredgewidth=0.6, label="site outside 95%", zorder=5)
        for p in outside:
            ax.annotate(p.label, (p.n, p.proportion * scale), xytext=(4, 3), textcoords="offset points",
                        fontsize=7, color=INK, zorder=6)
        ax.set_title(panel.title, loc="left")
        ax.set_xlim(0, largest * 1.15)
        # zoom to the funnel where the sites are (the 99.8% limits at the smallest site) and the points
        smallest = min([p.n for p in panel.points] or [largest])
        low, high = funnel_limits(panel.target, smallest, 0.998)
        values = [low[0], high[0], panel.target, *(p.proportion for p in panel.points)]
        pad = 0.08 * (max(values) - min(values)) + 0.01
        ax.set_ylim(max(0.0, min(values) - pad) * scale, min(1.0, max(values) + pad) * scale)
        if scale == 1.0:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel(x_title)
        ax.set_ylabel(y_title)
    handles, labels = [], []
    for ax in axes:
        for h, lbl in zip(*ax.get_legend_handles_labels(), strict=True):
            if lbl not in labels:
                handles.append(h)
                labels.append(lbl)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return to_svg(fig, name, label)
