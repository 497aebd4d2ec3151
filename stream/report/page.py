"""The report as one self-contained HTML page: inline CSS, inline SVG charts and a few lines
of inline script (sorting the overview); nothing is fetched when it is viewed.

Bounded: the overview lists every feature (one row and one small sparkline each); detailed
panels with charts are drawn for the ``max_panels`` most severe features only, and the page
says so.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from pathlib import Path
from typing import Final

import numpy as np

from driftwarden.stream.report.model import DEFAULT_MAX_PANELS, Axis, FeatureView, ReportData
from driftwarden.stream.report.panel import feature_key, feature_panel
from driftwarden.stream.report.thin_spots import thin_spots
from driftwarden.stream.report.words import at, percent, verdict

__all__ = ["DEFAULT_MAX_PANELS", "render_page", "sparkline", "write_page"]

_SPARK_W: Final = 120
_SPARK_H: Final = 24

_CSS: Final = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header,section{max-width:1180px;margin:0 auto;padding:12px 20px}
h1{font-size:22px;margin:8px 0 2px}
h2{font-size:18px;border-bottom:1px solid #ccd;padding-bottom:4px}
.source,.note,.quiet{color:#555}.how{background:#fff;border:1px solid #dde;padding:8px 12px}
table{border-collapse:collapse}#overview-table{width:100%;background:#fff}
#overview-table th,#overview-table td{padding:3px 6px;border-bottom:1px solid #eee;text-align:left;
font-size:13px;vertical-align:middle}#overview-table th{cursor:pointer;background:#eef0f4}
#overview-table td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{font-size:12px;padding:1px 6px;border-radius:8px;color:#fff;vertical-align:middle}
.badge.critical{background:#c62828}.badge.warning{background:#ef8a00}.badge.info{background:#5d7b9d}
tr[data-severity=critical] td:first-child{border-left:4px solid #c62828}
tr[data-severity=warning] td:first-child{border-left:4px solid #ef8a00}
article.feature{background:#fff;border:1px solid #dde;border-radius:6px;margin:14px 0;
padding:8px 14px}
article.feature h3{margin:6px 0}article.feature h3 small{color:#777;font-weight:normal}
.charts{display:flex;flex-wrap:wrap;gap:10px}.charts svg.chart{flex:1 1 460px;max-width:100%;
height:auto}.facts td,.facts th{padding:1px 10px 1px 0;font-size:13px;text-align:left}
.thin{background:#fff8e1;border-left:3px solid #f0b400;padding:4px 10px;margin:8px 0}
ul.incidents li{margin:2px 0}svg.spark{vertical-align:middle}
"""

# Sorts the overview by a clicked column; marks the page ready (tests read data-ready).
_SCRIPT: Final = """
(function () {
  var table = document.getElementById("overview-table");
  var body = table.tBodies[0];
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell, column) {
    cell.title = "sort by this column";
    cell.addEventListener("click", function () {
      var rows = Array.prototype.slice.call(body.rows);
      var down = cell.dataset.down !== "1";
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.sort || a.cells[column].textContent;
        var y = b.cells[column].dataset.sort || b.cells[column].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return down ? -order : order;
      });
      cell.dataset.down = down ? "1" : "0";
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  document.body.dataset.panels = String(document.querySelectorAll("article.feature").length);
  document.body.dataset.ready = "1";
})();
"""


def sparkline(view: FeatureView) -> str:
    """The feature's drift statistic over time as a small inline SVG (PSI, else the mean
    shift), incident onsets as red ticks; empty without points.

    >>> from driftwarden.stream.report.model import Timeline
    >>> view = FeatureView("x", "numeric", None, timeline=Timeline())
    >>> for i in range(3):
    ...     _ = view.timeline.add(float(i), {"psi": i / 10})
    >>> sparkline(view)[:42]
    '<svg class="spark" width="120" height="24"'
    """
    timeline = view.timeline
    if len(timeline.xs) < 2:
        return ""
    values = timeline.series("psi")
    if all(value is None for value in values):
        values = [None if v is None else abs(v) for v in timeline.series("mean_shift_sigma")]
    ys = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if not np.isfinite(ys).any():
        return ""
    xs = np.array(timeline.xs)
    x0, span = xs[0], max(xs[-1] - xs[0], 1e-9)
    top = max(float(np.nanmax(ys)), 1e-9)
    px = (xs - x0) / span * (_SPARK_W - 2) + 1
    py = _SPARK_H - 2 - np.nan_to_num(ys) / top * (_SPARK_H - 4)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px.tolist(), py.tolist(), strict=True))
    ticks = "".join(
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{_SPARK_H}" stroke="#c62828"/>'
        for x in ((span_.onset - x0) / span * (_SPARK_W - 2) + 1 for span_ in view.incidents[-20:])
        if 0 <= x <= _SPARK_W
    )
    return (
        f'<svg class="spark" width="{_SPARK_W}" height="{_SPARK_H}" '
        f'viewBox="0 0 {_SPARK_W} {_SPARK_H}">{ticks}'
        f'<polyline fill="none" stroke="#333" stroke-width="1" points="{points}"/></svg>'
    )


def _overview_row(view: FeatureView, rank: int, axis: Axis, panel: bool) -> str:
    name = escape(view.name)
    link = f'<a href="#{feature_key(rank)}">{name}</a>' if panel else name
    severity = view.severity or ""
    psi = view.statistics.get("psi")
    shift = view.statistics.get("mean_shift_sigma")
    live = view.live
    null_ref = percent(view.reference.null_rate) if view.reference else "–"
    null_live = percent(live.missing_rate) if live else "–"
    first = view.incidents[0].onset if view.incidents else None
    cells = [
        f"<td>{link}</td>",
        f"<td>{escape(view.kind or '–')}</td>",
        f'<td data-sort="{-rank}">{escape(verdict(view, axis))}</td>',
        f'<td data-sort="{-rank}">'
        + (f'<span class="badge {severity}">{severity}</span>' if severity else "")
        + "</td>",
        f'<td class="num">{len(view.incidents)}</td>',
        f'<td data-sort="{first if first is not None else ""}">'
        f"{escape(at(first, axis)) if first is not None else '–'}</td>",
        f'<td class="num">{"–" if psi is None else f"{psi:.3f}"}</td>',
        f'<td class="num">{"–" if shift is None else f"{shift:+.2f}"}</td>',
        f'<td class="num">{null_ref} → {null_live}</td>',
        f'<td class="num">{percent(live.out_of_range_rate) if live else "–"}</td>',
        f"<td>{sparkline(view)}</td>",
    ]
    return f'<tr data-feature="{name}" data-severity="{severity or "none"}">{"".join(cells)}</tr>'


_HEADINGS: Final = (
    "feature",
    "kind",
    "status",
    "severity",
    "incidents",
    "first onset",
    "PSI (latest)",
    "mean shift σ",
    "missing training → live",
    "out of range (live)",
    "drift statistic over time",
)


def render_page(data: ReportData, max_panels: int = DEFAULT_MAX_PANELS) -> str:
    """The whole page of ``data``."""
    ordered = data.ordered()
    shown = ordered[:max_panels]
    severities = Counter(view.severity for view in ordered if view.severity)
    drifted = sum(1 for view in ordered if view.incidents)
    summary = (
        f"{len(ordered):,} features, {drifted:,} with incidents"
        + "".join(
            f", {severities[name]:,} {name}"
            for name in ("critical", "warning", "info")
            if severities[name]
        )
        + (f"; {data.records:,} records." if data.records else ".")
    )
    notes = list(data.notes)
    if len(ordered) > len(shown):
        notes.append(
            f"Detailed panels are drawn for the {len(shown):,} most severe features of "
            f"{len(ordered):,}; the others are in the overview table only."
        )
    rows = "".join(
        _overview_row(view, rank, data.axis, rank < len(shown)) for rank, view in enumerate(ordered)
    )
    thin = [(view.name, thin_spots(view.reference)) for view in ordered if view.reference]
    thin_items = "".join(
        f"<li><b>{escape(name)}</b>: {escape('; '.join(spots))}</li>"
        for name, spots in thin
        if spots
    )
    panels = "\n".join(feature_panel(view, rank, data.axis) for rank, view in enumerate(shown))
    heads = "".join(f"<th>{escape(h)}</th>" for h in _HEADINGS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(data.title)}</title><style>{_CSS}</style></head>
<body data-ready="0">
<header><h1>{escape(data.title)}</h1>
<p class="source">{escape(data.source)}</p>
<p><b>{escape(summary)}</b></p>
{"".join(f'<p class="note">{escape(note)}</p>' for note in notes)}
<div class="how"><b>How to read it.</b> Features are sorted most severe first. Each panel draws
the training distribution (grey, filled) and the live one (orange line or bars) on one axis;
categories training never had are purple and marked <i>(new)</i>. The timeline shows the
drift statistic (PSI: 0.1 is a noticeable shift, 0.25 a large one) and null / out-of-range
rates; a dashed line marks where an incident most likely began, a red line where it was
detected, orange dotted lines its updates, a green line its resolution.</div>
</header>
<section id="overview"><h2>Overview</h2><p class="note">Click a column to sort, a feature to
jump to its panel.</p>
<table id="overview-table"><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table>
</section>
<section id="thin-spots"><h2>Where the training data is thin</h2>
{f"<ul>{thin_items}</ul>" if thin_items else '<p class="quiet">No thin spots found.</p>'}
</section>
<section id="features"><h2>Features</h2>
{panels}
</section>
<script>{_SCRIPT}</script>
</body></html>
"""


def write_page(data: ReportData, path: str | Path, max_panels: int = DEFAULT_MAX_PANELS) -> Path:
    """Render ``data`` and write it to ``path`` (UTF-8); returns the path written."""
    target = Path(path)
    target.write_text(render_page(data, max_panels), encoding="utf-8")
    return target
