"""The report's charts, drawn with matplotlib as SVG text to inline in the page.

Each chart's series carry ids the page and its tests can find: ``<key>-reference`` and
``<key>-live`` (the two distributions), ``<key>-psi`` (the drift statistic over time).
Text stays text (``svg.fonttype: none``) and ids are salted with a constant, so one report
renders to the same bytes twice and its words can be searched in the page.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any, Final

import matplotlib
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from driftwarden.stream.report.model import Axis, FeatureView

__all__ = ["LIVE_COLOUR", "NEW_COLOUR", "REFERENCE_COLOUR", "distribution_svg", "timeline_svg"]

REFERENCE_COLOUR: Final = "#7f93ad"
LIVE_COLOUR: Final = "#e4572e"
NEW_COLOUR: Final = "#b10dc9"
_STYLE: Final[dict[Any, Any]] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "driftwarden-report",
    "font.size": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
}
_TOP_CATEGORIES: Final = 12
_SVG_START: Final = re.compile(r"^.*?(<svg\b)", re.S)
_SIZE: Final = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*"')


def _svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element that scales with the page (no XML prologue)."""
    buffer = io.StringIO()
    with matplotlib.rc_context(_STYLE):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = _SVG_START.sub(r"\1", buffer.getvalue(), count=1)
    return _SIZE.sub(r'<svg\1 class="chart"', text, count=1)


def distribution_svg(view: FeatureView, key: str) -> str | None:
    """Training and live distributions of ``view`` on one axis (None: nothing to compare).

    Numeric: densities over the profile's quantile bins, with values below the training min
    and above its max drawn as hatched bars beyond the range. Categorical: the shares of the
    top categories side by side, categories training never had in ``NEW_COLOUR``.
    """
    reference, live = view.reference, view.live
    if reference is None or live is None:
        return None
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(5.2, 2.6))
        ax = figure.subplots()
        if reference.numeric is not None and live.bin_counts is not None:
            _numeric(ax, reference.numeric, live.bin_counts, key)
        elif reference.categorical is not None:
            _categorical(ax, reference.categorical.top, live, set(view.novel_categories), key)
        else:
            return None
        ax.set_title(f"{view.name}: training vs live ({live.label})", loc="left")
        ax.legend(loc="best", frameon=False)
        return _svg(figure)


def _numeric(ax: Any, summary: Any, live_counts: list[int], key: str) -> None:
    bounds = np.array([summary.min, *summary.bin_edges, summary.max], dtype=np.float64)
    widths = np.diff(bounds)
    ref = np.asarray(summary.bin_counts, dtype=np.float64)
    now = np.asarray(live_counts, dtype=np.float64)
    span = float(bounds[-1] - bounds[0]) or 1.0
    pad = 0.08 * span
    edges = np.concatenate(([bounds[0] - pad], bounds, [bounds[-1] + pad]))
    all_widths = np.concatenate(([pad], np.where(widths > 0, widths, np.nan), [pad]))

    def density(counts: Any) -> Any:
        total = counts.sum()
        values = counts / total / all_widths if total else np.zeros_like(counts)
        return np.nan_to_num(values)

    ax.stairs(
        density(ref),
        edges,
        fill=True,
        color=REFERENCE_COLOUR,
        alpha=0.45,
        label="training",
        gid=f"{key}-reference",
    )
    ax.stairs(
        density(now), edges, color=LIVE_COLOUR, linewidth=1.8, label="live", gid=f"{key}-live"
    )
    for low, high in ((edges[0], edges[1]), (edges[-2], edges[-1])):
        ax.axvspan(low, high, color="#000000", alpha=0.04, hatch="///", linewidth=0)
    outside = now[0] + now[-1]
    if outside:
        share = outside / now.sum()
        ax.annotate(
            f"{share:.1%} of live values outside the training range (hatched)",
            xy=(0.01, 0.97),
            xycoords="axes fraction",
            va="top",
            color=LIVE_COLOUR,
        )
    ax.set_xlabel("value (bins: training quantiles; hatched: below min / above max)")
    ax.set_ylabel("density")


def _categorical(ax: Any, top: dict[str, int], live: Any, novel: set[str], key: str) -> None:
    ref_total = sum(top.values()) or 1
    live_total = live.values or 1
    shares = {label: (count / ref_total, 0.0) for label, count in top.items()}
    for label, count in live.categories.items():
        shares[label] = (shares.get(label, (0.0, 0.0))[0], count / live_total)
    order = sorted(shares, key=lambda label: -max(shares[label]))[:_TOP_CATEGORIES]
    order = sorted(order, key=lambda label: -shares[label][0])[::-1]
    y = np.arange(len(order), dtype=np.float64)
    height = 0.38

    def bars(values: list[float], offset: float) -> list[list[tuple[float, float]]]:
        return [
            [
                (0.0, yi + offset),
                (v, yi + offset),
                (v, yi + offset + height),
                (0.0, yi + offset + height),
            ]
            for yi, v in zip(y.tolist(), values, strict=True)
        ]

    reference = PolyCollection(
        bars([shares[label][0] for label in order], 0.0),
        facecolors=REFERENCE_COLOUR,
        alpha=0.75,
        label="training",
    )
    reference.set_gid(f"{key}-reference")
    colours = [NEW_COLOUR if label in novel else LIVE_COLOUR for label in order]
    current = PolyCollection(
        bars([shares[label][1] for label in order], -height),
        facecolors=colours,
        label="live",
    )
    current.set_gid(f"{key}-live")
    ax.add_collection(reference)
    ax.add_collection(current)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{label} (new)" if label in novel else label for label in order])
    for tick, label in zip(ax.get_yticklabels(), order, strict=True):
        if label in novel:
            tick.set_color(NEW_COLOUR)
            tick.set_fontweight("bold")
    widest = max([max(shares[label]) for label in order] or [1.0])
    ax.set_xlim(0, widest * 1.1)
    ax.set_ylim(-0.6, len(order) - 0.2)
    ax.set_xlabel("share of values")


def timeline_svg(view: FeatureView, key: str, axis: Axis) -> str | None:
    """The feature's statistics over the stream with its incidents marked: onset (dashed),
    detection (red), updates (orange, dotted), resolution (green); an incident's stretch is
    shaded. None without points."""
    timeline = view.timeline
    if not timeline.xs:
        return None
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(5.2, 2.9))
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        xs = _xs(timeline.xs, axis)
        psi = _series(timeline.series("psi"))
        top.plot(xs, psi, color=LIVE_COLOUR, linewidth=1.4, label="PSI", gid=f"{key}-psi")
        top.set_ylabel("PSI")
        shift = _series(timeline.series("mean_shift_sigma"))
        if np.isfinite(shift).any():
            twin = top.twinx()
            twin.plot(xs, shift, color="#2e86ab", linewidth=1.0, label="mean shift (σ)")
            twin.set_ylabel("mean shift (training σ)")
            twin.spines["right"].set_visible(True)
            twin.legend(loc="upper right", frameon=False)
        top.legend(loc="upper left", frameon=False)
        for name, colour, label in (
            ("null_rate", "#555555", "null rate"),
            ("out_of_range_rate", "#b10dc9", "out of range"),
        ):
            values = _series(timeline.series(name))
            if np.isfinite(values).any():
                bottom.plot(xs, values * 100, color=colour, linewidth=1.0, label=label)
        bottom.set_ylabel("% of records")
        bottom.set_xlabel("record number" if axis == "record" else "time (UTC)")
        last = timeline.xs[-1]
        for span in view.incidents:
            for ax in (top, bottom):
                end = span.resolved if span.resolved is not None else last
                ax.axvspan(*_xs([span.onset, end], axis), color=LIVE_COLOUR, alpha=0.08)
                ax.axvline(_x(span.onset, axis), color="#333333", linestyle="--", linewidth=0.8)
                ax.axvline(_x(span.opened, axis), color="#d62728", linewidth=1.1)
                for update in span.updates:
                    ax.axvline(_x(update, axis), color="#ff7f0e", linestyle=":", linewidth=0.8)
                if span.resolved is not None:
                    ax.axvline(_x(span.resolved, axis), color="#2ca02c", linewidth=1.1)
        if bottom.get_legend_handles_labels()[0]:
            bottom.legend(loc="upper left", frameon=False)
        if axis == "time":
            figure.autofmt_xdate()
        return _svg(figure)


def _series(values: list[float | None]) -> Any:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _x(value: float, axis: Axis) -> Any:
    return datetime.fromtimestamp(value, tz=UTC) if axis == "time" else value


def _xs(values: list[float], axis: Axis) -> list[Any]:
    return [_x(value, axis) for value in values]
