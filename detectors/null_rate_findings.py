"""The events a NullRate window outcome becomes, shared by numeric and categorical monitors."""

from __future__ import annotations

from driftwarden.detectors.alert_state import AlertState
from driftwarden.detectors.events import EventType, Finding
from driftwarden.detectors.null_rate import NullRateReport

__all__ = ["null_rate_finding"]


def null_rate_finding(
    report: NullRateReport, state: AlertState, base: int, cooldown: int, z_threshold: float
) -> Finding | None:
    """``drift.detected`` when a drifting window starts a drift, ``drift.resolved`` when a
    clean window ends one, else None; ``state`` is the feature's null-rate AlertState.

    >>> from driftwarden.detectors.null_rate import NullRate
    >>> import numpy as np
    >>> (report,) = NullRate(0.0, window=100).update_many(np.arange(100) % 4 == 0)
    >>> finding = null_rate_finding(report, AlertState(), base=0, cooldown=0, z_threshold=6.0)
    >>> finding.type.value, finding.live["null_rate"], finding.index
    ('drift.detected', 0.25, 99)
    """
    record = base + report.index
    if report.drift and state.on_detection(record, cooldown):
        return Finding(
            EventType.DRIFT_DETECTED,
            "null_rate",
            "z",
            report.z,
            z_threshold,
            report.index,
            {"null_rate": report.ref_null_rate},
            {"null_rate": report.null_rate, "n": report.n},
        )
    if not report.drift and state.on_clear(record):
        return Finding(
            EventType.DRIFT_RESOLVED, "null_rate", "z", report.z, z_threshold, report.index
        )
    return None
