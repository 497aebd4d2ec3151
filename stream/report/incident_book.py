"""Incident events (the ``data`` of ``driftwarden.incident.*.v1`` CloudEvents) turned into
the spans a report marks: onset, detection, updates and resolution of each incident."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from driftwarden.stream.report.model import SEVERITY_RANK, IncidentSpan

__all__ = ["IncidentBook", "describe_finding"]

_MAX_SPANS: Final = 100  # per feature: the latest ones are kept
_MAX_UPDATES: Final = 50  # per incident: the first ones are kept
_EFFECT_FORMATS: Final[dict[str, str]] = {
    "mean_shift_sigma": "{:+.2f}σ",
    "psi": "PSI {:.3f}",
    "share": "{:.1%} of values",
    "null_rate": "null rate {:.1%}",
    "out_of_range_rate": "{:.1%} out of range",
    "sparse_rate": "{:.1%} in sparse bins",
    "absent_records": "absent from {:.0f} records",
}


def describe_finding(finding: Mapping[str, Any]) -> str:
    """A finding in words: its kind and effect, with the novel values when it names some.

    >>> describe_finding({"kind": "mean_shift", "effect": {"mean_shift_sigma": 0.81}})
    'mean_shift +0.81σ'
    >>> describe_finding({"kind": "novel_category", "effect": {"share": 0.04},
    ...                   "detail": {"values": ["crypto"]}})
    'novel_category 4.0% of values: crypto'
    """
    effect = finding.get("effect") or {}
    parts = [
        text.format(effect[name])
        for name, text in _EFFECT_FORMATS.items()
        if isinstance(effect.get(name), int | float)
    ]
    words = " ".join([str(finding.get("kind", "?")), *parts[:2]])
    values = (finding.get("detail") or {}).get("values")
    if isinstance(values, list) and values:
        words += ": " + ", ".join(map(str, values[:5]))
    return words


class IncidentBook:
    """The incidents of every feature, from their events in any order of arrival.

    ``add(data, x)`` takes one incident event's ``data`` and where it sits on the timeline
    (``x``); ``onset_x`` maps a finding's ``onset_at`` record number to the axis (identity
    for a record axis). Per feature, the latest ``100`` incidents are kept.

    >>> book = IncidentBook()
    >>> opened = {"type": "incident.opened", "incident_id": "a1", "feature": "age",
    ...           "severity": "warning", "findings": [{"kind": "out_of_range",
    ...           "onset_at": 9001, "effect": {"out_of_range_rate": 0.03}}]}
    >>> book.add(opened, 9400.0)
    >>> book.add({**opened, "type": "incident.resolved", "severity": "critical"}, 20000.0)
    >>> span = book.spans("age")[0]
    >>> span.onset, span.opened, span.resolved, span.severity, span.kinds
    (9001.0, 9400.0, 20000.0, 'critical', ['out_of_range'])
    """

    def __init__(self) -> None:
        self._spans: dict[str, dict[str, IncidentSpan]] = {}

    def add(self, data: Mapping[str, Any], x: float, onset_x: float | None = None) -> None:
        """Record one incident event (``IncidentEvent`` JSON); ignores one without an id."""
        feature, identifier = data.get("feature"), data.get("incident_id")
        if not isinstance(feature, str) or not isinstance(identifier, str):
            return
        findings = [f for f in data.get("findings") or [] if isinstance(f, Mapping)]
        onsets = [f["onset_at"] for f in findings if isinstance(f.get("onset_at"), int | float)]
        onset = onset_x if onset_x is not None else float(min(onsets)) if onsets else x
        severity = str(data.get("severity", "warning"))
        spans = self._spans.setdefault(feature, {})
        span = spans.get(identifier)
        if span is None:
            span = spans[identifier] = IncidentSpan(identifier, severity, x, min(onset, x))
            if len(spans) > _MAX_SPANS:
                del spans[min(spans, key=lambda key: spans[key].opened)]
        kind = str(data.get("type", ""))
        if kind.endswith("opened"):
            span.opened = min(span.opened, x)
        elif kind.endswith("resolved"):
            span.resolved = x
        elif len(span.updates) < _MAX_UPDATES:
            span.updates.append(x)
        span.onset = min(span.onset, onset)
        if SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(span.severity, 0):
            span.severity = severity
        for finding in findings:
            finding_kind = str(finding.get("kind", "?"))
            if finding_kind not in span.kinds:
                span.kinds.append(finding_kind)
                span.effects.append(describe_finding(finding))

    def features(self) -> list[str]:
        """Features with at least one incident."""
        return list(self._spans)

    def spans(self, feature: str) -> list[IncidentSpan]:
        """A feature's incidents, by detection."""
        return sorted(self._spans.get(feature, {}).values(), key=lambda span: span.opened)
