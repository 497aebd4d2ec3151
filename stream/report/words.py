"""How the report says positions, rates and an incident's story in words."""

from __future__ import annotations

from datetime import UTC, datetime

from driftwarden.stream.report.model import Axis, FeatureView, IncidentSpan

__all__ = ["at", "percent", "story", "verdict"]


def at(x: float, axis: Axis) -> str:
    """A timeline position in words.

    >>> at(4001.0, "record"), at(1_700_000_000.0, "time")
    ('record 4,001', '2023-11-14 22:13 UTC')
    """
    if axis == "time":
        return datetime.fromtimestamp(x, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"record {round(x):,}"


def percent(value: float | None) -> str:
    """A rate as a percentage, ``–`` when unknown.

    >>> percent(0.0312), percent(None)
    ('3.1%', '–')
    """
    return "–" if value is None else f"{value:.1%}"


def story(span: IncidentSpan, axis: Axis) -> str:
    """One incident in a sentence: what, since when, detected when, resolved or not.

    >>> span = IncidentSpan("9f2c41aa00", "critical", opened=4400.0, onset=4001.0,
    ...                     resolved=None, effects=["mean_shift +0.81σ"])
    >>> story(span, "record")
    'critical: mean_shift +0.81σ; began near record 4,001, detected at record 4,400, still open'
    """
    what = "; ".join(span.effects) or ", ".join(span.kinds) or "drift"
    ending = f"resolved at {at(span.resolved, axis)}" if span.resolved is not None else "still open"
    return (
        f"{span.severity}: {what}; began near {at(span.onset, axis)}, "
        f"detected at {at(span.opened, axis)}, {ending}"
    )


def verdict(view: FeatureView, axis: Axis) -> str:
    """The feature's state in a few words, for the overview's status column.

    >>> verdict(FeatureView("age", "numeric", None), "record")
    'no incident'
    """
    if not view.incidents:
        return "no incident"
    since = at(view.incidents[0].onset, axis)
    count = len(view.incidents)
    many = f" ({count} incidents)" if count > 1 else ""
    if view.open_incident:
        return f"drifting since near {since}, still open{many}"
    return f"drifted near {since}, resolved{many}"
