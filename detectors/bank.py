"""The DetectorBank: every detector of every feature over a FeatureBatch, events out."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.categorical_monitor import CategoricalMonitor
from driftwarden.detectors.events import DriftEvent, EventType, Finding, Position
from driftwarden.detectors.feature_batch import FeatureBatch, Kind, SourcePositions
from driftwarden.detectors.findings import PaneVerdicts
from driftwarden.detectors.incident_rollup import roll_up
from driftwarden.detectors.incidents import FeatureIncidents, IncidentEvent
from driftwarden.detectors.numeric_monitor import NumericMonitor
from driftwarden.detectors.profile import Profile
from driftwarden.detectors.schema_tracker import SchemaReport, SchemaTracker
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.detectors.snapshots import check_snapshot

__all__ = ["BankOutput", "DetectorBank", "event_of", "feature_limit_event"]

_SNAPSHOT_KIND = "DetectorBank"
_SNAPSHOT_VERSION = 2  # 2 added incidents and each monitor's pane evidence
_READABLE_VERSIONS = (1, 2)
# JSON types a categorical column holds as labels (anything else can stand for None).
_LABEL_TYPES = frozenset({"string", "number", "bool"})
_UNKNOWN = frozenset({"null"})
_EVIDENCE_STATISTICS = ("psi", "mean_shift_sigma", "null_rate", "out_of_range_rate")
Monitor = NumericMonitor | CategoricalMonitor

_SCHEMA_EVENTS: dict[str, EventType] = {
    "novel": EventType.FEATURE_NOVEL,
    "missing": EventType.FEATURE_MISSING,
    "returned": EventType.FEATURE_RETURNED,
    "type_changed": EventType.FEATURE_TYPE_CHANGED,
    "field_cap": EventType.FEATURE_LIMIT_REACHED,
}


@dataclass(frozen=True, slots=True)
class BankOutput:
    """What one batch gave: the detector-level events (the evidence) and the incident events,
    each ordered by record."""

    evidence: list[DriftEvent]
    incidents: list[IncidentEvent]


class DetectorBank:
    """Maps each feature to its detectors and turns their outcomes into events.

    Detectors come from ``DetectorSettings`` (defaults by kind, per-feature overrides,
    ignored features); references from the ``Profile`` (without one, each detector learns its
    reference from the first window of live data). Numeric values are standardised by the
    reference mean and std before ADWIN and Page-Hinkley, so thresholds are scale-free.

    Memory is bounded by ``max_features`` × the per-feature bound (see ``NumericMonitor`` and
    ``CategoricalMonitor``) plus the ``SchemaTracker``'s ``max_fields`` names; a feature past
    the cap is not tracked and the first one raises ``feature.limit_reached``.

    >>> from driftwarden.detectors.feature_batch import SourcePositions
    >>> rng = np.random.default_rng(11)
    >>> bank = DetectorBank(DetectorSettings())
    >>> def batch(mean, first):
    ...     n = 10_000
    ...     return FeatureBatch(
    ...         n, {"latency": rng.normal(mean, 5.0, n)}, {},
    ...         {"latency": np.ones(n, dtype=bool)}, {"latency": frozenset({"number"})},
    ...         SourcePositions.sequential("requests", n, first),
    ...     )
    >>> means = [100, 100, 100, 104, 104, 104]
    >>> events = [e for i, m in enumerate(means) for e in bank.process(batch(m, i * 10_000))]
    >>> [(e.type.value, e.detector, e.record.offset) for e in events][:2]
    [('drift.detected', 'adwin', 30119), ('drift.detected', 'page_hinkley', 30247)]
    >>> bank.records_seen
    60000
    """

    def __init__(self, settings: DetectorSettings, profile: Profile | None = None) -> None:
        self.settings = settings
        self.profile = profile
        ref_fields = (
            {name: feature.kind for name, feature in profile.features.items()}
            if profile is not None
            else None
        )
        self.schema = SchemaTracker(
            ref_fields,
            missing_grace=settings.schema_.missing_grace,
            max_fields=settings.schema_.max_fields,
        )
        self.monitors: dict[str, Monitor] = {}
        self.incidents: dict[str, FeatureIncidents] = {}
        self.records_seen = 0
        self.untracked_features = 0
        self._limit_reported = False

    @property
    def values_seen(self) -> int:
        """Values (missing ones included) fed to every feature's detectors so far."""
        return sum(monitor.values_seen for monitor in self.monitors.values())

    def update_settings(self, settings: DetectorSettings) -> None:
        """Apply new thresholds from the next batch on; every detector keeps its state.

        Structural settings (windows, bins, enabling a detector) apply to features first
        seen after the change.
        """
        self.settings = settings
        for name, monitor in self.monitors.items():
            if isinstance(monitor, NumericMonitor):
                monitor.apply_thresholds(settings.resolved(name, "numeric"))
            else:
                monitor.apply_thresholds(settings.resolved(name, "categorical"))
            if monitor.evidence is not None:
                monitor.evidence.apply(settings.incident_settings(name))

    def statistics(self) -> dict[str, dict[str, float]]:
        """The latest statistics per feature (for metrics gauges): each detector's, and the
        pane evidence's longest window (PSI, mean shift in training σ, null and out-of-range
        rates)."""
        out = {}
        for name, monitor in self.monitors.items():
            stats = dict(monitor.last_statistics)
            if monitor.evidence is not None:
                live = monitor.evidence.latest_summary().get("live", {})
                stats.update((key, float(live[key])) for key in _EVIDENCE_STATISTICS if key in live)
            out[name] = stats
        return out

    def process(self, batch: FeatureBatch) -> list[DriftEvent]:
        """Run every detector over ``batch``; return its detector-level events by record."""
        return self.run(batch).evidence

    def run(self, batch: FeatureBatch) -> BankOutput:
        """Run every detector over ``batch``; return its detector-level events and the
        incidents they and the features' pane evidence roll up into, each ordered by record."""
        base = self.records_seen
        verdicts: dict[str, PaneVerdicts] = {}
        pending: list[tuple[str, Finding]] = []
        for report in self.schema.update(batch):
            if report.field not in self.settings.ignore:
                pending.append((report.field, _schema_finding(report)))
        cooldown = self.settings.cooldown_records
        for name, values in batch.numeric.items():
            monitor = self._monitor(name, "numeric", batch, pending)
            if isinstance(monitor, NumericMonitor):
                pending.extend(self._feed(name, monitor, values, batch, base, verdicts))
        for name, column in batch.categorical.items():
            monitor = self._monitor(name, "categorical", batch, pending)
            if isinstance(monitor, CategoricalMonitor):
                pending.extend(self._feed(name, monitor, column, batch, base, verdicts))
        for name, monitor in self.monitors.items():
            if name in batch.numeric or name in batch.categorical:
                continue
            # A tracked feature absent from the whole batch: every record misses it.
            watching = self._watching(name)
            assessed: PaneVerdicts | None
            if isinstance(monitor, NumericMonitor):
                findings, assessed = monitor.observe(
                    np.full(batch.n_records, np.nan),
                    base,
                    batch.positions,
                    0,
                    cooldown,
                    self.settings.resolve_after_records,
                    watching,
                )
            else:
                findings, assessed = monitor.observe(
                    np.full(batch.n_records, None, dtype=object),
                    base,
                    batch.positions,
                    0,
                    cooldown,
                    watching=watching,
                )
            pending.extend((name, f) for f in findings)
            if assessed is not None:
                verdicts[name] = assessed
        self.records_seen += batch.n_records
        pending.sort(key=lambda item: (item[1].index, item[0], item[1].detector, item[1].type))
        events = [event_of(name, finding, batch, base) for name, finding in pending]
        incidents = roll_up(
            self.incidents,
            self.settings,
            batch.positions,
            base,
            batch.n_records,
            events,
            verdicts,
            self._latest_summary,
        )
        return BankOutput(events, incidents)

    def _watching(self, name: str) -> bool:
        tracker = self.incidents.get(name)
        return tracker is not None and tracker.is_open

    def _latest_summary(self, name: str) -> dict[str, Any]:
        monitor = self.monitors.get(name)
        if monitor is None or monitor.evidence is None:
            return {}
        return monitor.evidence.latest_summary()

    def _feed(
        self,
        name: str,
        monitor: Monitor,
        column: npt.NDArray[Any],
        batch: FeatureBatch,
        base: int,
        verdicts: dict[str, PaneVerdicts],
    ) -> list[tuple[str, Finding]]:
        """Run ``monitor`` over its column; a monitor created in this batch starts at the
        feature's first appearance, so its windows do not depend on where the batch began."""
        start = 0
        if monitor.values_seen == 0:
            present = batch.present.get(name)
            if present is not None and present.any():
                start = int(np.argmax(present))
        cooldown = self.settings.cooldown_records
        watching = self._watching(name)
        assessed: PaneVerdicts | None
        if isinstance(monitor, NumericMonitor):
            findings, assessed = monitor.observe(
                column[start:],
                base + start,
                batch.positions,
                start,
                cooldown,
                self.settings.resolve_after_records,
                watching,
            )
        else:
            # No null, no type read as missing and no record lacking it: no None to look for.
            present = batch.present.get(name)
            complete = (
                batch.types.get(name, _UNKNOWN) <= _LABEL_TYPES
                and present is not None
                and bool(present.all())
            )
            findings, assessed = monitor.observe(
                column[start:], base + start, batch.positions, start, cooldown, complete, watching
            )
        if assessed is not None:
            verdicts[name] = replace(assessed, ends=assessed.ends + start) if start else assessed
        return [(name, replace(f, index=f.index + start)) for f in findings]

    def _monitor(
        self, name: str, kind: Kind, batch: FeatureBatch, pending: list[tuple[str, Finding]]
    ) -> Monitor | None:
        monitor = self.monitors.get(name)
        if monitor is not None or name in self.settings.ignore:
            return monitor
        override = self.settings.features.get(name)
        feature_profile = self.profile.features.get(name) if self.profile is not None else None
        declared = (override.kind if override is not None else None) or (
            feature_profile.kind if feature_profile is not None else None
        )
        if declared is not None and declared != kind:
            return None  # the SchemaTracker reports the type change
        if len(self.monitors) >= self.settings.max_features:
            self.untracked_features += 1
            if not self._limit_reported:
                self._limit_reported = True
                pending.append((name, _limit_finding(self.settings.max_features)))
            return None
        created: Monitor
        if kind == "numeric":
            created = NumericMonitor.create(
                feature_profile,
                self.settings.resolved(name, "numeric"),
                self.settings.warmup,
                self.settings.clip_z,
                self.settings.incident_settings(name),
            )
        else:
            created = CategoricalMonitor.create(
                feature_profile,
                self.settings.resolved(name, "categorical"),
                self.settings.incident_settings(name),
            )
        self.monitors[name] = created
        return created

    def snapshot(self) -> dict[str, Any]:
        """The whole bank as a JSON-serialisable dict (settings and profile excluded)."""
        return {
            "kind": _SNAPSHOT_KIND,
            "version": _SNAPSHOT_VERSION,
            "records_seen": self.records_seen,
            "untracked_features": self.untracked_features,
            "limit_reported": self._limit_reported,
            "schema": self.schema.snapshot(),
            "monitors": {
                name: {
                    "kind": "numeric" if isinstance(m, NumericMonitor) else "categorical",
                    "state": m.snapshot(),
                }
                for name, m in self.monitors.items()
            },
            "incidents": {name: t.snapshot() for name, t in sorted(self.incidents.items())},
        }

    @classmethod
    def restore(
        cls, state: dict[str, Any], settings: DetectorSettings, profile: Profile | None = None
    ) -> DetectorBank:
        """Rebuild a bank from ``snapshot()``; it makes exactly the same future decisions."""
        if isinstance(state, dict) and "kind" not in state:
            state = {"kind": _SNAPSHOT_KIND, **state}  # written before the bank named its kind
        check_snapshot(state, _SNAPSHOT_KIND, _READABLE_VERSIONS)
        bank = cls(settings, profile)
        bank.records_seen = state["records_seen"]
        bank.untracked_features = state["untracked_features"]
        bank._limit_reported = state["limit_reported"]
        bank.schema = SchemaTracker.restore(state["schema"])
        for name, entry in state["monitors"].items():
            monitor_cls = NumericMonitor if entry["kind"] == "numeric" else CategoricalMonitor
            monitor = monitor_cls.restore(entry["state"])
            if monitor.evidence is None:
                # A snapshot from before incidents: judge the feature's panes from here on.
                incident_settings = settings.incident_settings(name)
                feature_profile = profile.features.get(name) if profile is not None else None
                if isinstance(monitor, NumericMonitor):
                    monitor.evidence = NumericMonitor.evidence_for(
                        feature_profile, incident_settings, settings.clip_z
                    )
                else:
                    monitor.evidence = CategoricalMonitor.evidence_for(
                        feature_profile, incident_settings
                    )
            bank.monitors[name] = monitor
        bank.incidents = {
            name: FeatureIncidents.restore(name, saved)
            for name, saved in state.get("incidents", {}).items()
        }
        bank.update_settings(settings)
        return bank


def event_of(feature: str, finding: Finding, batch: FeatureBatch, base: int) -> DriftEvent:
    """The event of ``finding`` on ``feature``, placed on its record of ``batch`` (the
    ``base``-th record seen before it)."""
    positions = batch.positions
    index = min(max(finding.index, 0), batch.n_records - 1)
    return DriftEvent(
        type=finding.type,
        feature=feature,
        detector=finding.detector,
        statistic=finding.statistic,
        value=_finite_or_none(finding.value),
        threshold=_finite_or_none(finding.threshold),
        severity=finding.severity,
        index=index,
        record=_position(positions, index),
        records_seen=base + index + 1,
        reference=finding.reference,
        live=finding.live,
        detail=finding.detail,
    )


def feature_limit_event(
    feature: str, max_features: int, batch: FeatureBatch, base: int
) -> DriftEvent:
    """``feature.limit_reached`` for ``feature``, the first past ``max_features``."""
    return event_of(feature, _limit_finding(max_features), batch, base)


def _position(positions: SourcePositions, index: int) -> Position:
    source, partition, offset = positions.describe(index)
    return Position(source=source, partition=partition, offset=offset)


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return float(value)


def _schema_finding(report: SchemaReport) -> Finding:
    detail: dict[str, Any] = {}
    if report.expected_kind is not None:
        detail["expected_kind"] = report.expected_kind
    if report.observed_type is not None:
        detail["observed_type"] = report.observed_type
    if report.absent_records:
        detail["absent_records"] = report.absent_records
    return Finding(
        _SCHEMA_EVENTS[report.kind], "schema", report.kind, None, None, report.index, detail=detail
    )


def _limit_finding(max_features: int) -> Finding:
    return Finding(
        EventType.FEATURE_LIMIT_REACHED,
        "bank",
        "tracked_features",
        float(max_features),
        float(max_features),
        0,
    )
