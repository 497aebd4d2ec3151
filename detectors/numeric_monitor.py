"""Every default detector of one numeric feature, and the events their outcomes become."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.adwin import ADWIN
from driftwarden.detectors.alert_state import AlertState
from driftwarden.detectors.base import WindowedDetector
from driftwarden.detectors.events import EventType, Finding
from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.detectors.findings import PaneVerdicts
from driftwarden.detectors.histogram_drift import HistogramDrift, HistogramReport
from driftwarden.detectors.histogram_reference import HistogramReference
from driftwarden.detectors.null_rate import NullRate, NullRateReport
from driftwarden.detectors.null_rate_findings import null_rate_finding
from driftwarden.detectors.numeric_evidence import NumericEvidence
from driftwarden.detectors.page_hinkley import PageHinkley
from driftwarden.detectors.profile import FeatureProfile
from driftwarden.detectors.settings import IncidentSettings, NumericDefaults
from driftwarden.detectors.standardiser import Standardiser

__all__ = ["NumericMonitor"]

if TYPE_CHECKING:
    # The monitor holds its windowed detectors by their own types, whose thresholds it reads
    # and sets; mypy checks here that each honours the shared WindowedDetector protocol.
    _histogram: type[WindowedDetector[HistogramReport]] = HistogramDrift
    _null_rate: type[WindowedDetector[NullRateReport]] = NullRate

_HISTOGRAM_THRESHOLDS = (
    "sparse_min_count",
    "psi_threshold",
    "js_threshold",
    "p_value_threshold",
    "out_of_range_threshold",
    "sparse_threshold",
)


class NumericMonitor:
    """ADWIN and Page-Hinkley on standardised values, optionally a tumbling histogram against
    the reference's quantile bins and the null rate (off by default), and the pane evidence
    incidents are judged on (``NumericEvidence``), for one numeric feature.

    ``process(values, base)`` takes the feature's float64 column of a batch (NaN = missing)
    and the bank's record number of the batch's first record, and returns ``Finding``s with
    batch indices; ``observe`` also returns the column's pane verdicts. Memory: the sum of
    the detectors' bounds (ADWIN ≤ 64 bucket rows, Page-Hinkley O(1), histogram O(bins), null
    rate O(1), the evidence's ring of panes) plus four ``AlertState``s.

    >>> from driftwarden.detectors.settings import DetectorSettings
    >>> monitor = NumericMonitor.create(None, DetectorSettings().resolved("x", "numeric"), 1000)
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(10, 2, 20_000), rng.normal(12, 2, 20_000)])
    >>> findings = monitor.process(stream, base=0)
    >>> sorted({f.detector for f in findings if f.type.value == "drift.detected"})
    ['adwin', 'page_hinkley']
    """

    def __init__(
        self,
        standardiser: Standardiser,
        adwin: ADWIN | None,
        page_hinkley: PageHinkley | None,
        histogram: HistogramDrift | None,
        null_rate: NullRate | None,
        states: dict[str, AlertState] | None = None,
        values_seen: int = 0,
        raw_detections: dict[str, int] | None = None,
        evidence: NumericEvidence | None = None,
    ) -> None:
        self.standardiser = standardiser
        self.evidence = evidence
        self.adwin = adwin
        self.page_hinkley = page_hinkley
        self.histogram = histogram
        self.null_rate = null_rate
        self.states = states or {}
        self.values_seen = values_seen
        # Detector decisions before the alert state machine (drifting windows included).
        self.raw_detections = raw_detections or {}
        self.last_statistics: dict[str, float] = {}

    @classmethod
    def create(
        cls,
        profile: FeatureProfile | None,
        settings: NumericDefaults,
        warmup: int = 1000,
        clip_z: float = 5.0,
        incidents: IncidentSettings | None = None,
    ) -> NumericMonitor:
        """Build the detectors ``settings`` (from ``DetectorSettings.resolved``) enable, and
        the pane evidence incidents are judged on when ``incidents`` is given."""
        summary = profile.numeric if profile is not None else None
        adwin_s, ph_s = settings.adwin, settings.page_hinkley
        hist_s, null_s = settings.histogram, settings.null_rate
        standardiser = Standardiser(
            summary.mean if summary else None, summary.std if summary else None, warmup, clip_z
        )
        adwin = ADWIN(**adwin_s.model_dump(exclude={"enabled"})) if adwin_s.enabled else None
        page_hinkley = PageHinkley(**ph_s.model_dump(exclude={"enabled"})) if ph_s.enabled else None
        histogram = None
        if hist_s.enabled:
            thresholds = {name: getattr(hist_s, name) for name in _HISTOGRAM_THRESHOLDS}
            if summary is not None and sum(summary.bin_counts) > 0:
                histogram = HistogramDrift(
                    summary.bin_edges,
                    summary.bin_counts,
                    summary.min,
                    summary.max,
                    window=hist_s.window,
                    n_bins=hist_s.bins,
                    ref_rank_error=summary.bin_counts_rank_error,
                    **thresholds,
                )
            else:
                histogram = HistogramDrift(window=hist_s.window, n_bins=hist_s.bins, **thresholds)
        null_rate = None
        if null_s.enabled:
            null_rate = NullRate(
                profile.null_rate if profile is not None and profile.count else None,
                window=null_s.window,
                z_threshold=null_s.z_threshold,
                min_abs_change=null_s.min_abs_change,
            )
        evidence = cls.evidence_for(profile, incidents, clip_z) if incidents is not None else None
        return cls(standardiser, adwin, page_hinkley, histogram, null_rate, evidence=evidence)

    @staticmethod
    def evidence_for(
        profile: FeatureProfile | None, settings: IncidentSettings, clip_z: float = 5.0
    ) -> NumericEvidence:
        """The pane evidence of a feature, against its profile (or learned without one)."""
        summary = profile.numeric if profile is not None else None
        null_rate = profile.null_rate if profile is not None and profile.count else None
        if summary is None or sum(summary.bin_counts) == 0:
            return NumericEvidence(settings, null_rate=null_rate, clip=clip_z)
        reference = HistogramReference.from_profile(
            summary.bin_edges, summary.bin_counts, summary.min, summary.max
        )
        return NumericEvidence(
            settings,
            reference,
            summary.mean,
            summary.std,
            null_rate,
            summary.bin_counts_rank_error,
            clip_z,
        )

    def observe(
        self,
        values: npt.NDArray[np.float64],
        base: int,
        positions: SourcePositions,
        offset: int,
        cooldown: int = 10_000,
        resolve_after: int = 20_000,
        watching: bool = True,
    ) -> tuple[list[Finding], PaneVerdicts | None]:
        """``process`` and the pane verdicts of the same column (see ``NumericEvidence``)."""
        findings = self.process(values, base, cooldown, resolve_after)
        if self.evidence is None:
            return findings, None
        return findings, self.evidence.assess(values, base, positions, offset, watching)

    def apply_thresholds(self, settings: NumericDefaults) -> None:
        """Take new thresholds from ``settings``; detector state is kept."""
        if self.histogram is not None:
            for name in _HISTOGRAM_THRESHOLDS:
                setattr(self.histogram, name, getattr(settings.histogram, name))
        if self.null_rate is not None:
            self.null_rate.z_threshold = settings.null_rate.z_threshold
            self.null_rate.min_abs_change = settings.null_rate.min_abs_change
        if self.page_hinkley is not None:
            self.page_hinkley.threshold = settings.page_hinkley.threshold

    def process(
        self,
        values: npt.NDArray[np.float64],
        base: int,
        cooldown: int = 10_000,
        resolve_after: int = 20_000,
    ) -> list[Finding]:
        """Run every detector over one batch column; return the events it gives rise to."""
        findings: list[Finding] = []
        self.values_seen += len(values)
        missing = np.isnan(values)
        if self.null_rate is not None:
            for null_report in self.null_rate.update_many(missing):
                self._on_null_rate(null_report, base, cooldown, findings)
        start, z = self.standardiser.transform(values)
        for name, detector in (("adwin", self.adwin), ("page_hinkley", self.page_hinkley)):
            if detector is None or z.size == 0:
                continue
            detections = detector.update_many(z)
            if detections.size:
                self.raw_detections[name] = self.raw_detections.get(name, 0) + detections.size
            state = self._state(name)
            for idx in detections.tolist():
                index = start + idx
                # A resolution due before this detection happens first, wherever the batch
                # boundaries fall, so events do not depend on how the stream was cut.
                self._resolve(name, state, base + index - 1, base, resolve_after, findings)
                if state.on_detection(base + index, cooldown):
                    findings.append(self._change_finding(name, detector, index))
        if self.histogram is not None:
            for report in self.histogram.update_many(values):
                self._on_histogram(report, base, cooldown, findings)
        end = base + len(values) - 1
        for name in ("adwin", "page_hinkley"):
            self._resolve(name, self._state(name), end, base, resolve_after, findings)
        return findings

    @staticmethod
    def _resolve(
        name: str,
        state: AlertState,
        record: int,
        base: int,
        resolve_after: int,
        out: list[Finding],
    ) -> None:
        due = state.resolve_due(record, resolve_after)
        if due is not None:
            out.append(
                Finding(
                    EventType.DRIFT_RESOLVED,
                    name,
                    "records_without_detection",
                    float(resolve_after),
                    float(resolve_after),
                    due - base,
                )
            )

    def _state(self, name: str) -> AlertState:
        state = self.states.get(name)
        if state is None:
            state = self.states[name] = AlertState()
        return state

    def _reference_summary(self) -> dict[str, Any]:
        return {"mean": self.standardiser.mean, "std": self.standardiser.std}

    def _change_finding(self, name: str, detector: ADWIN | PageHinkley, index: int) -> Finding:
        # Only parameters go into the event: the detector's state after the whole batch
        # depends on where the batch ends, and a replay must give identical events.
        if isinstance(detector, ADWIN):
            return Finding(
                EventType.DRIFT_DETECTED,
                name,
                "delta",
                detector.delta,
                detector.delta,
                index,
                self._reference_summary(),
                {"clock": detector.clock, "min_window_length": detector.min_window_length},
            )
        return Finding(
            EventType.DRIFT_DETECTED,
            name,
            "threshold",
            detector.threshold,
            detector.threshold,
            index,
            self._reference_summary(),
            {"mode": detector.mode, "delta": detector.delta},
        )

    def _on_null_rate(
        self, report: NullRateReport, base: int, cooldown: int, out: list[Finding]
    ) -> None:
        self.last_statistics["null_rate"] = report.null_rate
        assert self.null_rate is not None
        if report.drift:
            self.raw_detections["null_rate"] = self.raw_detections.get("null_rate", 0) + 1
        state = self._state("null_rate")
        finding = null_rate_finding(report, state, base, cooldown, self.null_rate.z_threshold)
        if finding is not None:
            out.append(finding)

    def _on_histogram(
        self, report: HistogramReport, base: int, cooldown: int, out: list[Finding]
    ) -> None:
        hist = self.histogram
        assert hist is not None
        self.last_statistics.update(
            psi=report.psi,
            js=report.js,
            out_of_range_rate=report.out_of_range_rate,
            sparse_rate=report.sparse_rate,
        )
        record = base + report.index
        if report.drift:
            self.raw_detections["histogram"] = self.raw_detections.get("histogram", 0) + 1
        live = {
            "n": report.n,
            "psi": report.psi,
            "js": report.js,
            "p_value": report.p_value,
            "mean": report.live_summary.mean,
            "std": report.live_summary.std,
            "min": report.live_summary.min,
            "max": report.live_summary.max,
        }
        reference = {"mean": self.standardiser.mean, "std": self.standardiser.std}
        state = self._state("histogram")
        if report.drift and state.on_detection(record, cooldown):
            statistic, value, threshold = _strongest_histogram_statistic(report, hist)
            out.append(
                Finding(
                    EventType.DRIFT_DETECTED,
                    "histogram",
                    statistic,
                    value,
                    threshold,
                    report.index,
                    reference,
                    live,
                )
            )
        elif not report.drift and state.on_clear(record):
            out.append(
                Finding(
                    EventType.DRIFT_RESOLVED,
                    "histogram",
                    "psi",
                    report.psi,
                    hist.psi_threshold,
                    report.index,
                    reference,
                    live,
                )
            )
        for flag, kind, rate, threshold in (
            (
                report.out_of_range,
                EventType.SUPPORT_OUT_OF_RANGE,
                report.out_of_range_rate,
                hist.out_of_range_threshold,
            ),
            (report.sparse, EventType.SUPPORT_SPARSE, report.sparse_rate, hist.sparse_threshold),
        ):
            support_state = self._state(kind.value)
            if flag and support_state.on_detection(record, cooldown):
                out.append(
                    Finding(
                        kind,
                        "histogram",
                        kind.value.split(".")[1] + "_rate",
                        rate,
                        threshold,
                        report.index,
                        reference,
                        live,
                    )
                )
            elif not flag:
                support_state.on_clear(record)

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state of every detector and alert state."""
        return {
            "standardiser": self.standardiser.snapshot(),
            "adwin": self.adwin.snapshot() if self.adwin else None,
            "page_hinkley": self.page_hinkley.snapshot() if self.page_hinkley else None,
            "histogram": self.histogram.snapshot() if self.histogram else None,
            "null_rate": self.null_rate.snapshot() if self.null_rate else None,
            "states": {name: state.snapshot() for name, state in self.states.items()},
            "values_seen": self.values_seen,
            "raw_detections": dict(sorted(self.raw_detections.items())),
            "evidence": self.evidence.snapshot() if self.evidence else None,
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> NumericMonitor:
        """Inverse of ``snapshot``."""
        return cls(
            Standardiser.restore(state["standardiser"]),
            ADWIN.restore(state["adwin"]) if state["adwin"] else None,
            PageHinkley.restore(state["page_hinkley"]) if state["page_hinkley"] else None,
            HistogramDrift.restore(state["histogram"]) if state["histogram"] else None,
            NullRate.restore(state["null_rate"]) if state["null_rate"] else None,
            {name: AlertState.restore(s) for name, s in state["states"].items()},
            state["values_seen"],
            state["raw_detections"],
            NumericEvidence.restore(state["evidence"], IncidentSettings())
            if state.get("evidence")
            else None,
        )


def _strongest_histogram_statistic(
    report: HistogramReport, hist: HistogramDrift
) -> tuple[str, float, float]:
    """The statistic that crossed its threshold by the widest margin."""
    candidates = [
        ("psi", report.psi, hist.psi_threshold, report.psi / hist.psi_threshold),
        ("js", report.js, hist.js_threshold, report.js / hist.js_threshold),
        (
            "p_value",
            report.p_value,
            hist.p_value_threshold,
            hist.p_value_threshold / max(report.p_value, 1e-300),
        ),
    ]
    name, value, threshold, _ = max(candidates, key=lambda c: c[3])
    return name, value, threshold
