"""Typed events the DetectorBank emits; ``stream/`` wraps them in CloudEvents envelopes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DriftEvent", "EventType", "Finding", "Position", "Severity"]


class EventType(StrEnum):
    """What happened; the CloudEvents ``type`` is ``driftwarden.<value>.v1``."""

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
        """The versioned CloudEvents ``type``, e.g. ``driftwarden.drift.detected.v1``."""
        return f"driftwarden.{self.value}.v1"


class Severity(StrEnum):
    """``critical`` when the statistic is at least twice its threshold."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Position(BaseModel):
    """Where the triggering record came from (topic or file, partition or -1, offset or line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    partition: int
    offset: int


class DriftEvent(BaseModel):
    """One event about one feature, from one detector.

    ``index`` is the position of the triggering record in its batch; ``record`` is that
    record's source position, and ``first`` / ``last`` bound the batch.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: EventType
    feature: str
    detector: str
    statistic: str
    value: float | None
    threshold: float | None
    severity: Severity
    index: int = Field(ge=0)
    record: Position
    first: Position
    last: Position
    records_seen: int = Field(ge=0, description="records of this feature seen by the bank")
    reference: dict[str, Any] = Field(default_factory=dict)
    live: dict[str, Any] = Field(default_factory=dict)
    detail: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finding:
    """An event before the bank attaches source positions: what a feature monitor returns."""

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
        resolutions, ``warning`` otherwise."""
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
