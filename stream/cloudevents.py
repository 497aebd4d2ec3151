"""Incidents and detector-level events as CloudEvents 1.0 (structured JSON mode), with
deterministic ids; which of them a bank's output publishes; and back: reading an envelope
off the alerts topic and showing it as one line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, NamedTuple

import msgspec

from driftwarden.detectors.bank import BankOutput
from driftwarden.detectors.events import DriftEvent, EventType
from driftwarden.detectors.incident_events import IncidentEvent

__all__ = [
    "CONTENT_TYPE",
    "SPEC_VERSION",
    "Alert",
    "MalformedEvent",
    "alerts_of",
    "encode_cloudevent",
    "encode_incident",
    "event_id",
    "format_event",
    "incident_to_cloudevent",
    "parse_event",
    "short_type",
    "to_cloudevent",
    "type_matches",
]

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
_ENCODER = msgspec.json.Encoder()


def event_id(source: str, event: DriftEvent) -> str:
    """A hash of source, type, feature, detector, the triggering record's position and what
    tells apart two events of one kind at one record (a novel category's value, a type
    change's new type).

    The same event found again after a crash and replay gets the same id, so consumers can
    drop duplicates.

    >>> from driftwarden.detectors.events import EventType, Position, Severity
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

    >>> from driftwarden.detectors.events import EventType, Position, Severity
    >>> where = Position(source="features", partition=0, offset=7)
    >>> e = DriftEvent(type=EventType.DRIFT_DETECTED, feature="age", detector="adwin",
    ...                statistic="delta", value=1e-5, threshold=1e-5,
    ...                severity=Severity.WARNING, index=7, record=where, records_seen=8)
    >>> ce = to_cloudevent(e, "/driftwarden/prod", timestamp_ms=1_700_000_000_000)
    >>> ce["type"], ce["subject"], ce["time"], ce["data"]["record"]["offset"]
    ('driftwarden.drift.detected.v1', 'age', '2023-11-14T22:13:20.000Z', 7)
    """
    return _envelope(
        event_id(source, event),
        source,
        event.type.cloudevent_type,
        event.feature,
        timestamp_ms,
        event.model_dump(mode="json"),
    )


def _envelope(
    identifier: str,
    source: str,
    kind: str,
    subject: str,
    timestamp_ms: int | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": identifier,
        "source": source,
        "type": kind,
        "subject": subject,
        "datacontenttype": "application/json",
    }
    if timestamp_ms is not None and timestamp_ms > 0:
        moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
        envelope["time"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    envelope["data"] = data
    return envelope


def encode_cloudevent(event: DriftEvent, source: str, timestamp_ms: int | None = None) -> bytes:
    """``to_cloudevent`` serialised as compact JSON bytes."""
    return _ENCODER.encode(to_cloudevent(event, source, timestamp_ms))


def incident_to_cloudevent(
    event: IncidentEvent, source: str, timestamp_ms: int | None = None
) -> dict[str, Any]:
    """The CloudEvents envelope of an incident event: ``subject`` is the feature, ``id`` a
    hash of source, type, incident id, the triggering record's number and the reason (two
    kinds may join at one record), so a replay after a crash produces the same ids; ``time``
    the triggering record's timestamp.

    >>> from driftwarden.detectors.events import Position, Severity
    >>> from driftwarden.detectors.incident_events import IncidentEventType
    >>> where = Position(source="features", partition=0, offset=41)
    >>> e = IncidentEvent(type=IncidentEventType.OPENED, incident_id="a1", feature="age",
    ...                   severity=Severity.WARNING, status="open", reason="opened by mean_shift",
    ...                   opened_at=42, index=0, record=where, records_seen=42, findings=[])
    >>> ce = incident_to_cloudevent(e, "/driftwarden/prod")
    >>> ce["type"], ce["subject"], ce["id"], ce["data"]["incident_id"]
    ('driftwarden.incident.opened.v1', 'age', '8055a678b8fbc1859d57fbbfdb2a55d8', 'a1')
    """
    material = "\x1f".join(
        (
            source,
            event.type.cloudevent_type,
            event.incident_id,
            str(event.records_seen),
            event.reason,
        )
    )
    return _envelope(
        hashlib.sha256(material.encode()).hexdigest()[:32],
        source,
        event.type.cloudevent_type,
        event.feature,
        timestamp_ms,
        event.model_dump(mode="json"),
    )


def encode_incident(event: IncidentEvent, source: str, timestamp_ms: int | None = None) -> bytes:
    """``incident_to_cloudevent`` serialised as compact JSON bytes."""
    return _ENCODER.encode(incident_to_cloudevent(event, source, timestamp_ms))


class Alert(NamedTuple):
    """One message for the alerts topic: its feature (the key), the batch index of the record
    that triggered it, its short type and a function of the record's timestamp that encodes
    it (so the caller reads timestamps only for what it publishes)."""

    feature: str
    record_index: int
    kind: str
    encode: Callable[[int | None], bytes]


def alerts_of(output: BankOutput, source: str, detector_events: bool) -> list[Alert]:
    """What a batch publishes, in record order: every incident event, and the detector-level
    events when ``detector_events`` is set (a feature-limit event always: it is about the
    service, not a feature).

    >>> alerts_of(BankOutput([], []), "/driftwarden/prod", detector_events=True)
    []
    """
    alerts = [
        Alert(e.feature, e.index, e.type.value, partial(encode_incident, e, source))
        for e in output.incidents
    ]
    alerts += [
        Alert(e.feature, e.index, e.type.value, partial(encode_cloudevent, e, source))
        for e in output.evidence
        if detector_events or e.type == EventType.FEATURE_LIMIT_REACHED
    ]
    alerts.sort(key=lambda alert: alert.record_index)
    return alerts


# -- reading ---------------------------------------------------------------------------------


class MalformedEvent(ValueError):
    """A message on the alerts topic that is not a CloudEvent driftwarden can show."""


def short_type(cloudevent_type: str) -> str:
    """The short form of an event type: no ``driftwarden.`` prefix, no ``.v<N>`` suffix.

    >>> short_type("driftwarden.drift.detected.v1"), short_type("category.novel")
    ('drift.detected', 'category.novel')
    """
    name = cloudevent_type.removeprefix("driftwarden.")
    head, dot, version = name.rpartition(".")
    if dot and version[:1] == "v" and version[1:].isdigit():
        return head
    return name


def type_matches(cloudevent_type: str, wanted: Sequence[str]) -> bool:
    """Whether an event type passes the ``--type`` filters (any of them; none passes all).

    A filter is a full type (exact match, version included), a short type, or a family
    (``drift`` matches ``drift.detected`` and ``drift.resolved``).

    >>> t = "driftwarden.drift.resolved.v1"
    >>> [type_matches(t, w) for w in ([], ["drift"], ["drift.detected"], [t], ["feature"])]
    [True, True, False, True, False]
    """
    if not wanted:
        return True
    short = short_type(cloudevent_type)
    return any(
        w == cloudevent_type or w == short or short.startswith(w + ".")
        for w in wanted
        if w  # an empty filter matches nothing rather than everything
    )


def parse_event(value: bytes | None) -> dict[str, Any]:
    """The CloudEvents envelope in a message value; ``MalformedEvent`` says why it is not one.

    An event is a UTF-8 JSON object with a string ``type``; its ``data``, when present, is
    an object.

    >>> parse_event(b'{"type": "driftwarden.feature.novel.v1", "data": {}}')["type"]
    'driftwarden.feature.novel.v1'
    >>> parse_event(b"[1, 2]")
    Traceback (most recent call last):
    ...
    driftwarden.stream.cloudevents.MalformedEvent: JSON but not an object (a list)
    """
    if not value:
        raise MalformedEvent("empty message")
    try:
        envelope = json.loads(value.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedEvent("not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"not JSON ({exc})") from None
    if not isinstance(envelope, dict):
        raise MalformedEvent(f"JSON but not an object (a {type(envelope).__name__})")
    if not isinstance(envelope.get("type"), str):
        raise MalformedEvent("no string 'type': not a CloudEvent")
    if not isinstance(envelope.get("data", {}), dict):
        raise MalformedEvent("'data' is not an object")
    return envelope


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def format_event(envelope: dict[str, Any]) -> str:
    """One readable line: time, short type, severity, feature, detector,
    ``statistic=value vs threshold``, source position (``topic[partition]@offset``), and
    the scalar ``detail`` fields (e.g. ``observed_type=str``).

    >>> print(format_event({
    ...     "type": "driftwarden.drift.detected.v1", "time": "2023-11-14T22:13:20.000Z",
    ...     "subject": "age", "data": {"feature": "age", "detector": "histogram",
    ...     "statistic": "psi", "value": 0.31234, "threshold": 0.2, "severity": "critical",
    ...     "record": {"source": "features", "partition": 0, "offset": 7}}}))
    ... # doctest: +NORMALIZE_WHITESPACE
    2023-11-14T22:13:20.000Z  drift.detected  critical  age  histogram  psi=0.3123 vs 0.2
    features[0]@7
    """
    data: dict[str, Any] = envelope.get("data") or {}
    if short_type(envelope["type"]).startswith("incident."):
        return _format_incident(envelope, data)
    statistic = str(data.get("statistic", "?"))
    value, threshold = data.get("value"), data.get("threshold")
    if value is not None:
        statistic += f"={_number(value)}"
    if threshold is not None:
        statistic += f" vs {_number(threshold)}"
    record = data.get("record")
    position = (
        f"{record.get('source')}[{record.get('partition')}]@{record.get('offset')}"
        if isinstance(record, dict)
        else "-"
    )
    parts = [
        str(envelope.get("time") or "-"),
        f"{short_type(envelope['type']):<20}",
        f"{data.get('severity', '-')!s:<8}",
        str(data.get("feature", envelope.get("subject", "?"))),
        str(data.get("detector", "?")),
        statistic,
        position,
    ]
    detail = data.get("detail")
    if isinstance(detail, dict):
        parts += [
            f"{key}={_number(item)}"
            for key, item in detail.items()
            if isinstance(item, str | int | float | bool)
        ]
    return "  ".join(parts)


_EFFECT_UNITS: dict[str, str] = {
    "mean_shift_sigma": "{:+.2f}σ",
    "psi": "psi {:.3f}",
    "share": "{:.1%}",
    "null_rate": "null {:.1%}",
    "absent_records": "absent {:.0f} records",
}


def _effect(finding: dict[str, Any]) -> str:
    effect = finding.get("effect") or {}
    parts = [
        unit.format(effect[name])
        for name, unit in _EFFECT_UNITS.items()
        if isinstance(effect.get(name), int | float)
    ]
    detail = finding.get("detail") or {}
    values = detail.get("values")
    if isinstance(values, list) and values:
        parts.append(",".join(map(str, values[:3])))
    if isinstance(detail.get("observed_type"), str):
        parts.append(detail["observed_type"])
    state = "" if finding.get("status", "active") == "active" else " cleared"
    shown = f"({' '.join(parts)})" if parts else ""
    return f"{finding.get('kind', '?')}{shown}{state}"


def _format_incident(envelope: dict[str, Any], data: dict[str, Any]) -> str:
    """One line for an incident event: what changed, by how much, since when.

    >>> print(format_event({
    ...     "type": "driftwarden.incident.opened.v1", "time": "2023-11-14T22:13:20.000Z",
    ...     "subject": "age", "data": {"incident_id": "9f2c41aa00", "feature": "age",
    ...     "severity": "warning", "records_seen": 50100, "findings": [{"kind": "mean_shift",
    ...     "effect": {"mean_shift_sigma": 0.92}, "onset_at": 50001}],
    ...     "record": {"source": "features", "partition": 0, "offset": 50099}}}))
    ... # doctest: +NORMALIZE_WHITESPACE
    2023-11-14T22:13:20.000Z  incident.opened  warning  age  #9f2c41aa  mean_shift(+0.92σ)
    onset=#50001  features[0]@50099
    """
    findings = [f for f in data.get("findings") or [] if isinstance(f, dict)]
    record = data.get("record")
    position = (
        f"{record.get('source')}[{record.get('partition')}]@{record.get('offset')}"
        if isinstance(record, dict)
        else "-"
    )
    onsets = sorted(
        (
            (f["onset_at"], f.get("onset_record"))
            for f in findings
            if isinstance(f.get("onset_at"), int)
        ),
        key=lambda onset: onset[0],
    )
    parts = [
        str(envelope.get("time") or "-"),
        f"{short_type(envelope['type']):<20}",
        f"{data.get('severity', '-')!s:<8}",
        str(data.get("feature", envelope.get("subject", "?"))),
        f"#{str(data.get('incident_id', '?'))[:8]}",
        " ".join(map(_effect, findings)) or "-",
    ]
    if onsets:
        # Where the change began: its source position when known, else its record number in
        # the partition's stream (#n), which only matches offset + 1 without rejected records.
        number, where = onsets[0]
        parts.append(
            f"onset={where.get('source')}[{where.get('partition')}]@{where.get('offset')}"
            if isinstance(where, dict)
            else f"onset=#{number}"
        )
    parts.append(position)
    return "  ".join(parts)
