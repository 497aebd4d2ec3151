"""One feature's panel of the report: verdict, the two distributions, the timeline, the
figures beside each other in a table, its incidents and the profile's thin spots."""

from __future__ import annotations

from html import escape

from driftwarden.stream.report.figures import distribution_svg, timeline_svg
from driftwarden.stream.report.model import Axis, FeatureView
from driftwarden.stream.report.thin_spots import thin_spots
from driftwarden.stream.report.words import percent, story

__all__ = ["feature_key", "feature_panel"]


def feature_key(index: int) -> str:
    """The id prefix of the ``index``-th feature's panel and chart series (ids stay valid
    whatever the feature's name).

    >>> feature_key(3)
    'f3'
    """
    return f"f{index}"


def _facts(view: FeatureView) -> str:
    """Training vs live, side by side."""
    reference, live = view.reference, view.live
    rows: list[tuple[str, str, str]] = []
    if reference is not None:
        values = reference.count - reference.null_count
        rows.append(("values", f"{values:,}", f"{live.values:,}" if live else "–"))
        rows.append(
            ("null rate", percent(reference.null_rate), percent(live.null_rate if live else None))
        )
        if live is not None and live.absent:
            rows.append(("records without the field", "–", f"{live.absent:,}"))
    elif live is not None:
        rows.append(("values", "not in training", f"{live.values:,}"))
    if reference is not None and reference.numeric is not None:
        summary = reference.numeric
        rows.append(("range", f"{summary.min:.4g} – {summary.max:.4g}", "–"))
        rows.append(("mean ± std", f"{summary.mean:.4g} ± {summary.std:.4g}", "–"))
        rows.append(("out of range", "0%", percent(live.out_of_range_rate if live else None)))
    if view.kind == "categorical" and live is not None:
        known = len(reference.categorical.top) if reference and reference.categorical else 0
        rows.append(("categories", f"{known:,}", f"{len(live.categories):,}"))
    if view.novel_categories:
        rows.append(("new categories", "–", ", ".join(view.novel_categories[:8])))
    for name, label in (("psi", "PSI (latest window)"), ("mean_shift_sigma", "mean shift (σ)")):
        value = view.statistics.get(name)
        if value is not None:
            shown = f"{value:+.3f}" if name == "mean_shift_sigma" else f"{value:.3f}"
            rows.append((label, "–", shown))
    if view.live is not None and view.live.label:
        rows.append(("live records", "", view.live.label))
    body = "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(ref)}</td><td>{escape(now)}</td></tr>"
        for name, ref, now in rows
    )
    return f'<table class="facts"><tr><th></th><th>training</th><th>live</th></tr>{body}</table>'


def feature_panel(view: FeatureView, index: int, axis: Axis) -> str:
    """The ``<article>`` of one feature (``index`` is its rank on the page)."""
    key = feature_key(index)
    severity = view.severity or "none"
    badge = f'<span class="badge {severity}">{escape(severity)}</span>' if view.severity else ""
    lines = [
        f'<article class="feature" id="{key}" data-feature="{escape(view.name)}" '
        f'data-severity="{severity}">',
        f"<h3>{escape(view.name)} <small>{escape(view.kind or 'unknown kind')}</small>"
        f" {badge}</h3>",
    ]
    if view.incidents:
        items = "".join(f"<li>{escape(story(span, axis))}</li>" for span in view.incidents[-5:])
        more = len(view.incidents) - 5
        lines.append(f'<ul class="incidents">{items}</ul>')
        if more > 0:
            lines.append(f'<p class="note">… and {more} earlier incident(s).</p>')
    else:
        lines.append('<p class="quiet">No incident: nothing this feature did crossed a floor.</p>')
    if view.reference is None:
        lines.append(
            '<p class="note">Not in the training profile: a field training never had, so '
            "there is no distribution to compare with.</p>"
        )
    distribution = distribution_svg(view, key)
    timeline = timeline_svg(view, key, axis)
    charts = [chart for chart in (distribution, timeline) if chart is not None]
    if charts:
        lines.append('<div class="charts">' + "".join(charts) + "</div>")
    lines.append(_facts(view))
    spots = thin_spots(view.reference) if view.reference is not None else []
    if spots:
        items = "".join(f"<li>{escape(spot)}</li>" for spot in spots)
        lines.append(f'<div class="thin"><b>Thin training data:</b><ul>{items}</ul></div>')
    if view.events:
        counts = ", ".join(f"{escape(kind)} {n:,}" for kind, n in view.events.items())
        lines.append(f'<p class="note">Events: {counts}</p>')
    lines.append("</article>")
    return "\n".join(lines)
