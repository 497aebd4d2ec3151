"""Typed events the DetectorBank emits; ``stream/`` wraps them in CloudEvents envelopes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DriftEvent", "EventType", "Finding", "Position", "Severity"]


class EventType(StrEnum):
    """What happened; the CloudEvents ``type`` is ``driftwarden.<value>.v1``.

    >>> EventType.CATEGORY_NOVEL.cloudevent_type
    'driftwarden.category.novel.v1'
    """

    DRIFT_DETECTED = "drift.detected"
    DRIFT_RESOLVED = "drift.resolved"
    FEATURE_NOVEL = "feature.novel"
    FEATURE_MISSING = "feature.missing"
    FEATURE_RETURNED = "feature.returned"
    FEATURE_TYPE_CHANGED = "feature.type_changed"
    FEATURE_LIMIT_REACHED = "feature.limit_reached"
    CATEGORY_NOVEL = "category.novel"
    SUPPORT_OUT_OF_RANGE = "support.out_of_range"
    SUPPORT_SPARSE = "support.sparse"

    @property
    def cloudevent_type(self) -> str:
        """The versioned CloudEvents ``type``, e.g. ``driftwarden.drift.detected.v1``.

        >>> EventType("drift.detected").cloudevent_type
        'driftwarden.drift.detected.v1'
        """
        return f"driftwarden.{self.value}.v1"


class Severity(StrEnum):
    """``critical`` when the statistic is at least twice its threshold.

    >>> Severity("critical") is Severity.CRITICAL
    True
    """

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Position(BaseModel):
    """Where the triggering record came from (topic or file, partition or -1, offset or line).

    >>> Position(source="features", partition=3, offset=1200).model_dump()
    {'source': 'features', 'partition': 3, 'offset': 1200}
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    partition: int
    offset: int


class DriftEvent(BaseModel):
    """One event about one feature, from one detector.

    ``record`` is the triggering record's source position and ``records_seen`` its number in
    the bank's stream (1-based). Nothing in an event depends on how the stream was cut into
    batches, so a replay after a crash produces the same events. ``index`` is the record's
    position in its batch, for the caller; it is excluded from serialisation.

    >>> where = Position(source="features", partition=0, offset=7)
    >>> event = DriftEvent(
    ...     type=EventType.DRIFT_DETECTED, feature="age", detector="histogram",
    ...     statistic="psi", value=0.31, threshold=0.2, severity=Severity.WARNING, index=7,
    ...     record=where, records_seen=8,
    ... )
    >>> event.type.cloudevent_type, event.record.offset
    ('driftwarden.drift.detected.v1', 7)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: EventType
    feature: str
    detector: str
    statistic: str
    value: float | None
    threshold: float | None
    severity: Severity
    index: int = Field(ge=0, exclude=True)
    record: Position
    records_seen: int = Field(ge=1, description="number of the triggering record in the stream")
    reference: dict[str, Any] = Field(default_factory=dict)
    live: dict[str, Any] = Field(default_factory=dict)
    detail: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finding:
    """An event before the bank attaches source positions: what a feature monitor returns.

    >>> Finding(EventType.DRIFT_DETECTED, "histogram", "psi", 0.5, 0.2, index=3).severity
    <Severity.CRITICAL: 'critical'>
    """

    type: EventType
    detector: str
    statistic: str
    value: float | None
    threshold: float | None
    index: int
    reference: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        """``critical`` at twice the threshold (for larger-is-worse statistics), ``info`` for
        resolutions, ``warning`` otherwise.

        >>> Finding(EventType.DRIFT_RESOLVED, "adwin", "delta", None, None, 0).severity.value
        'info'
        """
        if self.type in (EventType.DRIFT_RESOLVED, EventType.FEATURE_RETURNED):
            return Severity.INFO
        if (
            self.value is not None
            and self.threshold is not None
            and self.threshold > 0
            and self.statistic not in _SMALLER_IS_WORSE
            and abs(self.value) >= 2 * self.threshold
        ):
            return Severity.CRITICAL
        return Severity.WARNING


_SMALLER_IS_WORSE = frozenset({"p_value", "delta"})
