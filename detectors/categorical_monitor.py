"""Every default detector of one categorical feature, and the events their outcomes become."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.alert_state import AlertState
from driftwarden.detectors.base import WindowedDetector
from driftwarden.detectors.categorical_drift import (
    CategoricalDrift,
    CategoricalReport,
    NovelCategoryReport,
)
from driftwarden.detectors.categorical_evidence import CategoricalEvidence
from driftwarden.detectors.events import EventType, Finding
from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.detectors.findings import PaneVerdicts
from driftwarden.detectors.null_rate import NullRate, NullRateReport
from driftwarden.detectors.null_rate_findings import null_rate_finding
from driftwarden.detectors.profile import FeatureProfile
from driftwarden.detectors.settings import CategoricalDefaults, IncidentSettings

__all__ = ["CategoricalMonitor"]

if TYPE_CHECKING:
    # The monitor holds its windowed detectors by their own types, whose thresholds it reads
    # and sets; mypy checks here that each honours the shared WindowedDetector protocol.
    _categorical: type[WindowedDetector[CategoricalReport | NovelCategoryReport]] = CategoricalDrift
    _null_rate: type[WindowedDetector[NullRateReport]] = NullRate


class CategoricalMonitor:
    """Category mix and novel categories (``CategoricalDrift``), optionally the null rate (off
    by default), and the pane evidence incidents are judged on (``CategoricalEvidence``), for
    one categorical feature.

    ``process(values, base)`` takes the feature's object column of a batch (``None`` =
    missing) and returns ``Finding``s with batch indices; ``observe`` also returns the pane
    verdicts, coding the values by category once for both. Memory: ``CategoricalDrift``'s
    bound (reference categories, top-K, at most 1,000 reported novel values, an HLL sketch),
    ``NullRate``'s O(1), the evidence's ring of panes, and two ``AlertState``s.

    >>> from driftwarden.detectors.settings import DetectorSettings
    >>> settings = DetectorSettings().resolved("device", "categorical")
    >>> monitor = CategoricalMonitor.create(None, settings)
    >>> rng = np.random.default_rng(3)
    >>> devices = np.array(["ios", "android", "web", "tv"], dtype=object)
    >>> stream = np.concatenate([devices[rng.choice(3, 10_000)], devices[rng.choice(4, 10_000)]])
    >>> [(f.type.value, f.index, f.live.get("value")) for f in monitor.process(stream, base=0)][:2]
    [('category.novel', 10117, 'tv'), ('drift.detected', 14999, None)]
    """

    def __init__(
        self,
        categorical: CategoricalDrift | None,
        null_rate: NullRate | None,
        states: dict[str, AlertState] | None = None,
        values_seen: int = 0,
        evidence: CategoricalEvidence | None = None,
    ) -> None:
        self.categorical = categorical
        self.evidence = evidence
        self._shared: bool | None = None
        self.null_rate = null_rate
        self.states = states or {}
        self.values_seen = values_seen
        self.last_statistics: dict[str, float] = {}

    @classmethod
    def create(
        cls,
        profile: FeatureProfile | None,
        settings: CategoricalDefaults,
        incidents: IncidentSettings | None = None,
    ) -> CategoricalMonitor:
        """Build the detectors ``settings`` (from ``DetectorSettings.resolved``) enable, and
        the pane evidence incidents are judged on when ``incidents`` is given."""
        cat_s, null_s = settings.categorical, settings.null_rate
        summary = profile.categorical if profile is not None else None
        categorical = None
        if cat_s.enabled:
            categorical = CategoricalDrift(
                summary.top if summary is not None and summary.top else None,
                ref_other_count=summary.other_count if summary is not None else 0,
                ref_complete=summary.complete if summary is not None else True,
                **cat_s.model_dump(exclude={"enabled"}),
            )
        null_rate = None
        if null_s.enabled:
            null_rate = NullRate(
                profile.null_rate if profile is not None and profile.count else None,
                window=null_s.window,
                z_threshold=null_s.z_threshold,
                min_abs_change=null_s.min_abs_change,
            )
        evidence = cls.evidence_for(profile, incidents) if incidents is not None else None
        return cls(categorical, null_rate, evidence=evidence)

    @staticmethod
    def evidence_for(
        profile: FeatureProfile | None, settings: IncidentSettings
    ) -> CategoricalEvidence:
        """The pane evidence of a feature, against its profile (or learned without one)."""
        summary = profile.categorical if profile is not None else None
        null_rate = profile.null_rate if profile is not None and profile.count else None
        if summary is None or not summary.top:
            return CategoricalEvidence(settings, null_rate=null_rate)
        return CategoricalEvidence(settings, dict(summary.top), summary.other_count, null_rate)

    def apply_thresholds(self, settings: CategoricalDefaults) -> None:
        """Take new thresholds from ``settings``; detector state is kept."""
        if self.categorical is not None:
            self.categorical.js_threshold = settings.categorical.js_threshold
            self.categorical.p_value_threshold = settings.categorical.p_value_threshold
            self.categorical.novel_min_share = settings.categorical.novel_min_share
        if self.null_rate is not None:
            self.null_rate.z_threshold = settings.null_rate.z_threshold
            self.null_rate.min_abs_change = settings.null_rate.min_abs_change

    def process(
        self,
        values: npt.NDArray[np.object_],
        base: int,
        cooldown: int = 10_000,
        complete: bool = False,
    ) -> list[Finding]:
        """Run every detector over one batch column; return the events it gives rise to.

        ``complete``: the caller knows no value is ``None`` (spares a pass over the column).
        """
        return self._detect(values, base, cooldown, complete, None)

    def observe(
        self,
        values: npt.NDArray[np.object_],
        base: int,
        positions: SourcePositions,
        offset: int,
        cooldown: int = 10_000,
        complete: bool = False,
        watching: bool = True,
    ) -> tuple[list[Finding], PaneVerdicts | None]:
        """``process`` and the pane verdicts of the same column (see ``CategoricalEvidence``);
        the values are coded by category once, for both."""
        evidence = self.evidence
        codes = evidence.codes(values) if evidence is not None else None
        findings = self._detect(values, base, cooldown, complete, codes)
        if evidence is None:
            return findings, None
        return findings, evidence.assess(values, base, positions, offset, watching, codes)

    def _detect(
        self,
        values: npt.NDArray[np.object_],
        base: int,
        cooldown: int,
        complete: bool,
        codes: npt.NDArray[np.int32] | None,
    ) -> list[Finding]:
        findings: list[Finding] = []
        self.values_seen += len(values)
        if self.null_rate is not None:
            if complete:
                missing = np.zeros(len(values), dtype=np.bool_)
            elif codes is not None:
                missing = codes < 0
            else:
                missing = np.asarray(values == None)  # noqa: E711 (elementwise on an array)
            for report in self.null_rate.update_many(missing):
                finding = null_rate_finding(
                    report, self._state("null_rate"), base, cooldown, self.null_rate.z_threshold
                )
                if finding is not None:
                    findings.append(finding)
                self.last_statistics["null_rate"] = report.null_rate
        if self.categorical is not None:
            shared = codes if codes is not None and self._codes_shared() else None
            for item in self.categorical.update_many(values, shared):
                if isinstance(item, NovelCategoryReport):
                    findings.append(self._novel(item, base))
                else:
                    self._on_window(item, base, cooldown, findings)
        return findings

    def _codes_shared(self) -> bool:
        """Whether the evidence codes values by the categorical detector's reference too."""
        if self._shared is None:
            keys = self.categorical.reference_keys if self.categorical is not None else None
            evidence_keys = self.evidence.keys if self.evidence is not None else None
            if keys is None or evidence_keys is None or not self.evidence.ready:  # type: ignore[union-attr]
                return False
            self._shared = keys == evidence_keys
        return self._shared

    def _state(self, name: str) -> AlertState:
        state = self.states.get(name)
        if state is None:
            state = self.states[name] = AlertState()
        return state

    def _novel(self, report: NovelCategoryReport, base: int) -> Finding:
        assert self.categorical is not None
        return Finding(
            EventType.CATEGORY_NOVEL,
            "categorical",
            "share",
            report.share,
            self.categorical.novel_min_share,
            report.index,
            live={"value": report.value, "count": report.count, "share": report.share},
            detail={"first_record": base + report.first_index + 1, "confirmed": report.confirmed},
        )

    def _on_window(
        self, report: CategoricalReport, base: int, cooldown: int, out: list[Finding]
    ) -> None:
        cat = self.categorical
        assert cat is not None
        self.last_statistics.update(js=report.js, cardinality=report.cardinality_estimate)
        live = {
            "n": report.n,
            "js": report.js,
            "p_value": report.p_value,
            "top": [list(pair) for pair in report.top_live],
            "cardinality_estimate": report.cardinality_estimate,
        }
        state = self._state("categorical")
        record = base + report.index
        if report.drift and state.on_detection(record, cooldown):
            out.append(
                Finding(
                    EventType.DRIFT_DETECTED,
                    "categorical",
                    "js",
                    report.js,
                    cat.js_threshold,
                    report.index,
                    live=live,
                    detail={"p_value": report.p_value},
                )
            )
        elif not report.drift and state.on_clear(record):
            out.append(
                Finding(
                    EventType.DRIFT_RESOLVED,
                    "categorical",
                    "js",
                    report.js,
                    cat.js_threshold,
                    report.index,
                    live=live,
                )
            )

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state of every detector and alert state."""
        return {
            "categorical": self.categorical.snapshot() if self.categorical else None,
            "null_rate": self.null_rate.snapshot() if self.null_rate else None,
            "states": {name: state.snapshot() for name, state in self.states.items()},
            "values_seen": self.values_seen,
            "evidence": self.evidence.snapshot() if self.evidence else None,
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> CategoricalMonitor:
        """Inverse of ``snapshot``."""
        return cls(
            CategoricalDrift.restore(state["categorical"]) if state["categorical"] else None,
            NullRate.restore(state["null_rate"]) if state["null_rate"] else None,
            {name: AlertState.restore(s) for name, s in state["states"].items()},
            state["values_seen"],
            CategoricalEvidence.restore(state["evidence"], IncidentSettings())
            if state.get("evidence")
            else None,
        )
