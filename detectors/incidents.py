"""Incidents: at most one open per feature, opened by its first finding, updated when a new kind
of finding joins or its severity rises, resolved once every finding has cleared against the
reference.

``FeatureIncidents`` is the per-feature state machine; the ``DetectorBank`` feeds it, in record
order, the feature's pane verdicts (``findings.PaneVerdicts``) and its point findings (a novel
category or field, a missing field, a type change). Positions are the bank's record numbers,
never clocks, so a replay after a crash makes the same incidents with the same ids.

A finding from the pane evidence clears after ``resolve_panes`` consecutive panes in which the
longest window's effect is under ``resolve_fraction`` × its floor; a novel category clears the
same way on the share of values outside the reference; a missing field when it returns; a
novel field or a type change, which are facts rather than states, ``resolve_panes`` ×
``pane_records`` records after the last report of it.

Memory bound: per feature at most one open incident holding at most one finding per kind
(nine kinds), and the last ``EVIDENCE_KEPT`` detector-level events. The event models are in
``incident_events`` (and importable from here).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from driftwarden.detectors.events import Position, Severity
from driftwarden.detectors.findings import FindingDetail, FindingKind
from driftwarden.detectors.incident_events import (
    IncidentEvent,
    IncidentEventType,
    IncidentFinding,
    incident_id,
)
from driftwarden.detectors.settings import IncidentSettings

__all__ = [
    "EVIDENCE_KEPT",
    "FeatureIncidents",
    "FindingKind",
    "IncidentEvent",
    "IncidentEventType",
    "IncidentFinding",
    "Observation",
    "incident_id",
]

EVIDENCE_KEPT: Final[int] = 8
_POINT_KINDS: Final[frozenset[FindingKind]] = frozenset(
    {FindingKind.NOVEL_FIELD, FindingKind.TYPE_CHANGE}
)
_ALWAYS_CRITICAL: Final[frozenset[FindingKind]] = frozenset(
    {FindingKind.MISSING_FIELD, FindingKind.TYPE_CHANGE}
)
# Point findings whose every report adds to the finding (the novel values seen).
_MERGED_KINDS: Final[frozenset[FindingKind]] = frozenset({FindingKind.NOVEL_CATEGORY})
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(slots=True)
class _Finding:
    kind: FindingKind
    detector: str
    statistic: str
    value: float | None
    threshold: float | None
    effect: dict[str, float]
    severity: Severity
    detected_at: int
    detected_record: tuple[str, int, int]
    onset_at: int
    onset_record: tuple[str, int, int] | None
    active: bool = True
    cleared_at: int | None = None
    clean_run: int = 0
    expires_at: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def model(self) -> IncidentFinding:
        return IncidentFinding(
            kind=self.kind,
            detector=self.detector,
            statistic=self.statistic,
            value=self.value,
            threshold=self.threshold,
            effect=self.effect,
            severity=self.severity,
            status="active" if self.active else "cleared",
            detected_at=self.detected_at,
            detected_record=_position(self.detected_record),
            onset_at=self.onset_at,
            onset_record=None if self.onset_record is None else _position(self.onset_record),
            cleared_at=self.cleared_at,
            detail=self.detail,
        )


@dataclass(slots=True)
class _Incident:
    incident_id: str
    opened_at: int
    severity: Severity
    last_event_at: int
    findings: dict[FindingKind, _Finding] = field(default_factory=dict)
    rise_pending: bool = False


@dataclass(frozen=True, slots=True)
class Observation:
    """A finding as one input reports it: the detail of a firing pane or a point finding."""

    kind: FindingKind
    detail: FindingDetail
    onset_at: int
    onset_record: tuple[str, int, int] | None
    extra: dict[str, Any] = field(default_factory=dict)


class FeatureIncidents:
    """The incident state of one feature (see the module docstring).

    Every ``on_*`` call takes the record number (1-based, bank stream) and source position of
    the record it is about and its batch ``index``, and returns the events it caused.
    """

    def __init__(self, feature: str) -> None:
        self.feature = feature
        self.incident: _Incident | None = None
        self.evidence: deque[dict[str, Any]] = deque(maxlen=EVIDENCE_KEPT)
        self.opened = 0
        self.resolved = 0

    @property
    def is_open(self) -> bool:
        """Whether an incident is open."""
        return self.incident is not None

    def note_evidence(self, event: dict[str, Any]) -> None:
        """Remember a detector-level event of the feature (the last few go with incidents)."""
        self.evidence.append(event)

    def on_observation(
        self,
        kind: FindingKind,
        strength: float,
        observe: Callable[[], Observation],
        record: int,
        where: tuple[str, int, int],
        index: int,
        settings: IncidentSettings,
        summary: Callable[[], dict[str, Any]],
    ) -> list[IncidentEvent]:
        """A finding of ``kind`` fired (a pane) or was reported (a point finding), with its
        effect at ``strength`` floors. ``observe`` and ``summary`` are called only when the
        finding's details are needed: when it opens, joins, rejoins or its severity rises
        (a finding's value and effect are those of its latest such moment)."""
        severity = _severity(kind, strength, settings)
        incident = self.incident
        if incident is None:
            seen = observe()
            opened = _Incident(
                incident_id(self.feature, _position(where), record), record, severity, record
            )
            opened.findings[kind] = self._finding(seen, severity, record, where, settings)
            self.incident = opened
            self.opened += 1
            reason = f"opened by {kind.value}"
            return [self._event(IncidentEventType.OPENED, reason, record, where, index, summary)]
        known = incident.findings.get(kind)
        if known is None:
            incident.findings[kind] = self._finding(observe(), severity, record, where, settings)
            return self._rise(
                incident, severity, record, where, index, summary, settings, joined=kind
            )
        was_active = known.active
        known.active, known.cleared_at, known.clean_run = True, None, 0
        if known.expires_at is not None:
            known.expires_at = record + settings.resolve_panes * settings.pane_records
        rose = _RANK[severity] > _RANK[known.severity]
        if not was_active or rose or kind in _MERGED_KINDS:
            seen = observe()
            known.value, known.effect = seen.detail.value, seen.detail.effect
            if seen.extra.get("values"):
                values = [*known.detail.get("values", []), *seen.extra["values"]]
                known.detail = {**known.detail, "values": list(dict.fromkeys(values))[:10]}
        if rose:
            known.severity = severity
        joined = None if was_active else kind
        return self._rise(incident, severity, record, where, index, summary, settings, joined)

    def on_clean(
        self,
        kind: FindingKind,
        clean: bool,
        record: int,
        where: tuple[str, int, int],
        index: int,
        settings: IncidentSettings,
        summary: Callable[[], dict[str, Any]],
    ) -> list[IncidentEvent]:
        """A pane ended without ``kind`` firing; ``clean``: back inside its resolve threshold."""
        incident = self.incident
        finding = None if incident is None else incident.findings.get(kind)
        if finding is None or not finding.active or finding.expires_at is not None:
            return []
        finding.clean_run = finding.clean_run + 1 if clean else 0
        if finding.clean_run < settings.resolve_panes:
            return []
        return self._clear(finding, record, where, index, summary)

    def on_return(
        self,
        record: int,
        where: tuple[str, int, int],
        index: int,
        summary: Callable[[], dict[str, Any]],
    ) -> list[IncidentEvent]:
        """The feature arrives again after being missing."""
        incident = self.incident
        finding = None if incident is None else incident.findings.get(FindingKind.MISSING_FIELD)
        if finding is None or not finding.active:
            return []
        return self._clear(finding, record, where, index, summary)

    def pending(self, upto: int, settings: IncidentSettings) -> list[int]:
        """Record numbers ``<= upto`` at which a point finding expires or a held severity
        rise may be published, in order."""
        incident = self.incident
        if incident is None:
            return []
        due = [
            f.expires_at
            for f in incident.findings.values()
            if f.active and f.expires_at is not None and f.expires_at <= upto
        ]
        if incident.rise_pending:
            allowed = incident.last_event_at + settings.update_min_records
            if allowed <= upto:
                due.append(allowed)
        return sorted(set(due))

    def on_due(
        self,
        record: int,
        where: tuple[str, int, int],
        index: int,
        settings: IncidentSettings,
        summary: Callable[[], dict[str, Any]],
    ) -> list[IncidentEvent]:
        """Expire the point findings due at ``record``; publish a held severity rise."""
        incident = self.incident
        if incident is None:
            return []
        events: list[IncidentEvent] = []
        for finding in list(incident.findings.values()):
            if finding.active and finding.expires_at is not None and finding.expires_at <= record:
                events += self._clear(finding, record, where, index, summary)
                if self.incident is None:
                    return events
        if incident.rise_pending and incident.last_event_at + settings.update_min_records <= record:
            events += self._rise(
                incident, incident.severity, record, where, index, summary, settings
            )
        return events

    # -- transitions -----------------------------------------------------------------------

    def _finding(
        self,
        seen: Observation,
        severity: Severity,
        record: int,
        where: tuple[str, int, int],
        settings: IncidentSettings,
    ) -> _Finding:
        detail = seen.detail
        return _Finding(
            kind=seen.kind,
            detector=detail.detector,
            statistic=detail.statistic,
            value=detail.value,
            threshold=detail.threshold,
            effect=detail.effect,
            severity=severity,
            detected_at=record,
            detected_record=where,
            onset_at=min(seen.onset_at, record),
            onset_record=seen.onset_record,
            expires_at=record + settings.resolve_panes * settings.pane_records
            if seen.kind in _POINT_KINDS
            else None,
            detail=seen.extra,
        )

    def _rise(
        self,
        incident: _Incident,
        severity: Severity,
        record: int,
        where: tuple[str, int, int],
        index: int,
        summary: Callable[[], dict[str, Any]],
        settings: IncidentSettings,
        joined: FindingKind | None = None,
    ) -> list[IncidentEvent]:
        rose = _RANK[severity] > _RANK[incident.severity]
        if rose:
            incident.severity = severity
        if joined is not None:
            reason = f"{joined.value} joined"
        elif rose or incident.rise_pending:
            if record - incident.last_event_at < settings.update_min_records:
                incident.rise_pending = True
                return []
            reason = f"severity rose to {incident.severity.value}"
        else:
            return []
        incident.rise_pending = False
        incident.last_event_at = record
        return [self._event(IncidentEventType.UPDATED, reason, record, where, index, summary)]

    def _clear(
        self,
        finding: _Finding,
        record: int,
        where: tuple[str, int, int],
        index: int,
        summary: Callable[[], dict[str, Any]],
    ) -> list[IncidentEvent]:
        finding.active, finding.cleared_at = False, record
        incident = self.incident
        assert incident is not None
        if any(f.active for f in incident.findings.values()):
            return []
        event = self._event(
            IncidentEventType.RESOLVED, "every finding cleared", record, where, index, summary
        )
        self.incident = None
        self.resolved += 1
        return [event]

    def _event(
        self,
        kind: IncidentEventType,
        reason: str,
        record: int,
        where: tuple[str, int, int],
        index: int,
        summary: Callable[[], dict[str, Any]],
    ) -> IncidentEvent:
        incident = self.incident
        assert incident is not None
        incident.last_event_at = record
        return IncidentEvent(
            type=kind,
            incident_id=incident.incident_id,
            feature=self.feature,
            severity=incident.severity,
            status="resolved" if kind == IncidentEventType.RESOLVED else "open",
            reason=reason,
            opened_at=incident.opened_at,
            index=index,
            record=_position(where),
            records_seen=record,
            findings=[f.model() for f in incident.findings.values()],
            summary=summary(),
            evidence=[e for e in self.evidence if e["records_seen"] <= record],
        )

    # -- state -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        incident = self.incident
        return {
            "incident": None
            if incident is None
            else {
                **{k: v for k, v in asdict(incident).items() if k != "findings"},
                "severity": incident.severity.value,
                "findings": [
                    {**asdict(f), "kind": f.kind.value, "severity": f.severity.value}
                    for f in incident.findings.values()
                ],
            },
            "evidence": list(self.evidence),
            "opened": self.opened,
            "resolved": self.resolved,
        }

    @classmethod
    def restore(cls, feature: str, state: dict[str, Any]) -> FeatureIncidents:
        """Inverse of ``snapshot``."""
        tracker = cls(feature)
        tracker.evidence.extend(state["evidence"])
        tracker.opened, tracker.resolved = state["opened"], state["resolved"]
        saved = state["incident"]
        if saved is not None:
            findings = {}
            for f in saved["findings"]:
                restored = _Finding(
                    **{
                        **f,
                        "kind": FindingKind(f["kind"]),
                        "severity": Severity(f["severity"]),
                        "detected_record": tuple(f["detected_record"]),
                        "onset_record": None
                        if f["onset_record"] is None
                        else tuple(f["onset_record"]),
                    }
                )
                findings[restored.kind] = restored
            tracker.incident = _Incident(
                incident_id=saved["incident_id"],
                opened_at=saved["opened_at"],
                severity=Severity(saved["severity"]),
                last_event_at=saved["last_event_at"],
                findings=findings,
                rise_pending=saved["rise_pending"],
            )
        return tracker


def _severity(kind: FindingKind, strength: float, settings: IncidentSettings) -> Severity:
    if kind in _ALWAYS_CRITICAL or strength >= settings.critical_multiple:
        return Severity.CRITICAL
    return Severity.WARNING


def _position(where: tuple[str, int, int]) -> Position:
    return Position(source=where[0], partition=where[1], offset=where[2])
