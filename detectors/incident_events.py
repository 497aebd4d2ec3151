"""The incident events on the alerts topic: what an incident looks like when it opens,
changes or resolves (the pydantic models are the schema), and its stable id."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from driftwarden.detectors.events import Position, Severity
from driftwarden.detectors.findings import FindingKind

__all__ = ["IncidentEvent", "IncidentEventType", "IncidentFinding", "incident_id"]


class IncidentEventType(StrEnum):
    """The incident events; the CloudEvents ``type`` is ``driftwarden.<value>.v1``.

    >>> IncidentEventType.OPENED.cloudevent_type
    'driftwarden.incident.opened.v1'
    """

    OPENED = "incident.opened"
    UPDATED = "incident.updated"
    RESOLVED = "incident.resolved"

    @property
    def cloudevent_type(self) -> str:
        """The versioned CloudEvents ``type``."""
        return f"driftwarden.{self.value}.v1"


class IncidentFinding(BaseModel):
    """One finding of an incident: what changed, by how much, where it was detected and where
    it most likely began (``onset_at``, a record number of the bank's stream, 1-based, with
    its source position when known)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FindingKind
    detector: str
    statistic: str
    value: float | None
    threshold: float | None
    effect: dict[str, float] = Field(description="size of the change in plain units")
    severity: Severity
    status: Literal["active", "cleared"]
    detected_at: int = Field(ge=1)
    detected_record: Position
    onset_at: int = Field(ge=1)
    onset_record: Position | None
    cleared_at: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class IncidentEvent(BaseModel):
    """An incident's state when it opened, changed or resolved.

    ``record`` is the source position of the record that triggered the event and
    ``records_seen`` its number in the bank's stream; ``index`` its batch position (not
    serialised, so a published event validates with it left at 0). ``summary`` compares
    the live window with the reference; ``evidence`` lists the feature's latest
    detector-level events.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: IncidentEventType
    incident_id: str
    feature: str
    severity: Severity
    status: Literal["open", "resolved"]
    reason: str
    opened_at: int = Field(ge=1)
    index: int = Field(default=0, ge=0, exclude=True)
    record: Position
    records_seen: int = Field(ge=1)
    findings: list[IncidentFinding]
    summary: dict[str, Any] = Field(default_factory=dict)
    evidence: list[dict[str, Any]] = Field(default_factory=list)


def incident_id(feature: str, record: Position, records_seen: int) -> str:
    """A hash of the feature and the record that opened the incident.

    >>> incident_id("age", Position(source="features", partition=3, offset=1200), 1201)
    'f7ea5531f70185e068a870d6e7afc63a'
    """
    material = "\x1f".join(
        (feature, record.source, str(record.partition), str(record.offset), str(records_seen))
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32]
