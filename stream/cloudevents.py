"""DriftEvents as CloudEvents 1.0 (structured JSON mode), with deterministic ids."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import msgspec

from detectors.events import DriftEvent

__all__ = ["CONTENT_TYPE", "SPEC_VERSION", "encode_cloudevent", "event_id", "to_cloudevent"]

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
_ENCODER = msgspec.json.Encoder()


def event_id(source: str, event: DriftEvent) -> str:
    """A hash of source, type, feature, detector, the triggering record's position and what
    tells apart two events of one kind at one record (a novel category's value, a type
    change's new type).

    The same event found again after a crash and replay gets the same id, so consumers can
    drop duplicates.

    >>> from detectors.events import EventType, Position, Severity
    >>> where = Position(source="features", partition=2, offset=1041)
    >>> e = DriftEvent(type=EventType.CATEGORY_NOVEL, feature="country", detector="categorical",
    ...                statistic="share", value=0.02, threshold=0.005,
    ...                severity=Severity.WARNING, index=0, record=where, records_seen=9)
    >>> event_id("/driftwarden/prod", e)
    '2a602e959c189fb1b6bf0f7fbb114c04'
    """
    record = event.record
    material = "\x1f".join(
        (
            source,
            event.type.cloudevent_type,
            event.feature,
            event.detector,
            record.source,
            str(record.partition),
            str(record.offset),
            str(event.live.get("value", "")),
            str(event.detail.get("observed_type", "")),
        )
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def to_cloudevent(
    event: DriftEvent, source: str, timestamp_ms: int | None = None
) -> dict[str, Any]:
    """The CloudEvents envelope of ``event``; ``time`` is the triggering record's timestamp
    (never the wall clock, so a replay yields byte-identical events).

    >>> from detectors.events import EventType, Position, Severity
    >>> where = Position(source="features", partition=0, offset=7)
    >>> e = DriftEvent(type=EventType.DRIFT_DETECTED, feature="age", detector="adwin",
    ...                statistic="delta", value=1e-5, threshold=1e-5,
    ...                severity=Severity.WARNING, index=7, record=where, records_seen=8)
    >>> ce = to_cloudevent(e, "/driftwarden/prod", timestamp_ms=1_700_000_000_000)
    >>> ce["type"], ce["subject"], ce["time"], ce["data"]["record"]["offset"]
    ('driftwarden.drift.detected.v1', 'age', '2023-11-14T22:13:20.000Z', 7)
    """
    envelope: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id(source, event),
        "source": source,
        "type": event.type.cloudevent_type,
        "subject": event.feature,
        "datacontenttype": "application/json",
    }
    if timestamp_ms is not None and timestamp_ms > 0:
        moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
        envelope["time"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    envelope["data"] = event.model_dump(mode="json")
    return envelope


def encode_cloudevent(event: DriftEvent, source: str, timestamp_ms: int | None = None) -> bytes:
    """``to_cloudevent`` serialised as compact JSON bytes."""
    return _ENCODER.encode(to_cloudevent(event, source, timestamp_ms))
