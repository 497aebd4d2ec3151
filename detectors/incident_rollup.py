"""Feeds each feature's ``FeatureIncidents``, in record order, with what one batch brought: the
feature's pane verdicts, its detector-level events (point findings and evidence), the point
findings that expire; returns the incident events ordered by record."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Final

import numpy as np

from driftwarden.detectors.events import DriftEvent, EventType
from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.detectors.findings import FindingDetail, FindingKind, PaneVerdicts
from driftwarden.detectors.incidents import FeatureIncidents, IncidentEvent, Observation
from driftwarden.detectors.settings import DetectorSettings

__all__ = ["roll_up"]

_POINT_FINDINGS: Final[dict[EventType, FindingKind]] = {
    EventType.CATEGORY_NOVEL: FindingKind.NOVEL_CATEGORY,
    EventType.FEATURE_NOVEL: FindingKind.NOVEL_FIELD,
    EventType.FEATURE_MISSING: FindingKind.MISSING_FIELD,
    EventType.FEATURE_TYPE_CHANGED: FindingKind.TYPE_CHANGE,
}
_EVENT, _PANE = 0, 1  # at one record, its events come before the pane it closes


def roll_up(
    trackers: dict[str, FeatureIncidents],
    settings: DetectorSettings,
    positions: SourcePositions,
    base: int,
    n_records: int,
    events: list[DriftEvent],
    verdicts: dict[str, PaneVerdicts],
    latest_summary: Callable[[str], dict[str, Any]],
) -> list[IncidentEvent]:
    """The incident events of one batch of ``n_records`` whose first record is the bank's
    ``base + 1``; ``latest_summary(feature)`` summarises a feature's panes kept before it."""
    per_feature: dict[str, list[DriftEvent]] = {}
    for event in events:
        if event.type != EventType.FEATURE_LIMIT_REACHED:
            per_feature.setdefault(event.feature, []).append(event)
    out: list[IncidentEvent] = []
    names = set(per_feature) | {name for name, t in trackers.items() if t.is_open}
    names |= {name for name, v in verdicts.items() if v.firing}
    for name in sorted(names):
        tracker = trackers.get(name)
        if tracker is None:
            tracker = trackers[name] = FeatureIncidents(name)
        feed = _FeatureFeed(
            tracker, settings, name, positions, base, verdicts.get(name), latest_summary
        )
        out += feed.run(per_feature.get(name, []), base + n_records)
    out.sort(key=lambda e: (e.index, e.feature))
    return out


class _FeatureFeed:
    """One feature's inputs of one batch, merged by record and fed to its tracker."""

    def __init__(
        self,
        tracker: FeatureIncidents,
        settings: DetectorSettings,
        feature: str,
        positions: SourcePositions,
        base: int,
        verdicts: PaneVerdicts | None,
        latest_summary: Callable[[str], dict[str, Any]],
    ) -> None:
        self.tracker = tracker
        self.settings = settings.incident_settings(feature)
        self.feature = feature
        self.positions = positions
        self.base = base
        self.verdicts = verdicts
        self.latest_summary = latest_summary
        self.out: list[IncidentEvent] = []

    def run(self, events: list[DriftEvent], end: int) -> list[IncidentEvent]:
        inputs: list[tuple[int, int, int]] = [(e.index, _EVENT, k) for k, e in enumerate(events)]
        verdicts = self.verdicts
        if verdicts is not None:
            first = verdicts.ends.size
            if self.tracker.is_open or events:
                # An incident open, or one a point finding may open mid-batch: every pane
                # counts towards its findings clearing.
                first = 0
            elif verdicts.firing:
                firing = np.zeros(verdicts.ends.size, dtype=np.bool_)
                for kind in verdicts.kinds.values():
                    firing |= kind.firing
                first = int(np.argmax(firing))
            inputs += [(int(verdicts.ends[j]), _PANE, j) for j in range(first, verdicts.ends.size)]
        inputs.sort()
        for index, source, k in inputs:
            record = self.base + index + 1
            self._due(record - 1)
            if source == _EVENT:
                self._event(events[k], index, record)
            else:
                self._pane(k, index, record)
        self._due(end)
        return self.out

    def _where(self, index: int) -> tuple[str, int, int]:
        return self.positions.describe(index)

    def _summary_before(self, index: int) -> Callable[[], dict[str, Any]]:
        """The summary of the latest pane that ended before batch record ``index``."""
        verdicts = self.verdicts
        if verdicts is None:
            return partial(self.latest_summary, self.feature)
        h = verdicts.history.first_new + int(np.searchsorted(verdicts.ends, index)) - 1
        return partial(verdicts.summary, h) if h >= 0 else dict

    def _due(self, upto: int) -> None:
        for record in self.tracker.pending(upto, self.settings):
            index = record - self.base - 1
            if index < 0:
                continue
            self.out += self.tracker.on_due(
                record, self._where(index), index, self.settings, self._summary_before(index)
            )

    def _event(self, event: DriftEvent, index: int, record: int) -> None:
        self.tracker.note_evidence(
            {
                "type": event.type.value,
                "detector": event.detector,
                "statistic": event.statistic,
                "value": event.value,
                "threshold": event.threshold,
                "records_seen": event.records_seen,
                "record": event.record.model_dump(),
            }
        )
        where = self._where(index)
        if event.type == EventType.FEATURE_RETURNED:
            self.out += self.tracker.on_return(record, where, index, self._summary_before(index))
            return
        kind = _POINT_FINDINGS.get(event.type)
        if kind is None:
            return
        seen = self._point(kind, event, index)
        self.out += self.tracker.on_observation(
            kind,
            seen.detail.strength,
            lambda: seen,
            record,
            where,
            index,
            self.settings,
            self._summary_before(index),
        )

    def _point(self, kind: FindingKind, event: DriftEvent, index: int) -> Observation:
        s = self.settings
        record = self.base + index + 1
        effect: dict[str, float] = {}
        strength = 1.0
        extra: dict[str, Any] = dict(event.detail)
        onset = record
        onset_record: tuple[str, int, int] | None = self._where(index)
        if kind == FindingKind.NOVEL_CATEGORY:
            share = float(event.value or 0.0)
            effect = {"share": share}
            strength = share / s.novel_share_floor if s.novel_share_floor > 0 else 1.0
            extra = {"values": [event.live.get("value")]}
            # The onset may lie in an earlier batch, whose positions are gone: its record
            # number only (a source position here would depend on where batches began).
            onset, onset_record = int(event.detail.get("first_record", record)), None
        elif kind == FindingKind.MISSING_FIELD:
            absent = int(event.detail.get("absent_records", 1))
            onset, onset_record = max(1, record - absent + 1), None
            effect = {"absent_records": float(absent)}
        detail = FindingDetail(
            event.detector,
            event.statistic,
            event.value,
            event.threshold,
            effect,
            -1,
            strength,
        )
        return Observation(kind, detail, onset, onset_record, extra)

    def _pane(self, j: int, index: int, record: int) -> None:
        verdicts = self.verdicts
        assert verdicts is not None
        summary = partial(verdicts.summary, verdicts.history.first_new + j)
        where = self._where(index)
        for kind, kind_verdicts in verdicts.kinds.items():
            if kind_verdicts.firing[j]:
                self.out += self.tracker.on_observation(
                    kind,
                    float(kind_verdicts.strength[j]),
                    partial(self._observe, kind, j),
                    record,
                    where,
                    index,
                    self.settings,
                    summary,
                )
            elif self.tracker.is_open:
                self.out += self.tracker.on_clean(
                    kind, bool(kind_verdicts.clean[j]), record, where, index, self.settings, summary
                )

    def _observe(self, kind: FindingKind, j: int) -> Observation:
        """The details of new pane ``j``'s finding of ``kind`` (numpy: only when needed)."""
        verdicts = self.verdicts
        assert verdicts is not None
        detail = verdicts.kinds[kind].describe(j)
        onset = detail.onset_pane
        return Observation(
            kind,
            detail,
            int(verdicts.history.starts[onset]) + 1,
            verdicts.history.position(onset),
        )
