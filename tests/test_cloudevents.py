"""CloudEvents envelopes: deterministic ids that still tell distinct events apart, for
detector-level events and incidents; and what a bank's output publishes (``alerts_of``)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from driftwarden.detectors.bank import BankOutput
from driftwarden.detectors.events import DriftEvent, EventType, Position, Severity
from driftwarden.detectors.incidents import IncidentEvent, IncidentEventType
from driftwarden.stream.cloudevents import (
    alerts_of,
    encode_cloudevent,
    encode_incident,
    event_id,
    incident_to_cloudevent,
    to_cloudevent,
)

SOURCE = "/driftwarden/features"


def _event(**changes: object) -> DriftEvent:
    fields: dict[str, object] = {
        "type": EventType.FEATURE_TYPE_CHANGED,
        "feature": "amount",
        "detector": "schema",
        "statistic": "type_changed",
        "value": None,
        "threshold": None,
        "severity": Severity.WARNING,
        "index": 3,
        "record": Position(source="features", partition=1, offset=1001),
        "records_seen": 1002,
        "detail": {"expected_kind": "numeric", "observed_type": "string"},
    }
    fields.update(changes)
    return DriftEvent.model_validate(fields)


def _finding(kind: str, detected_at: int, **changes: object) -> dict[str, Any]:
    finding: dict[str, Any] = {
        "kind": kind,
        "detector": "mean_test",
        "statistic": "z",
        "value": 9.5,
        "threshold": 6.0,
        "effect": {"mean_shift_sigma": 0.92, "window_records": 500.0},
        "severity": "warning",
        "status": "active",
        "detected_at": detected_at,
        "detected_record": {"source": "features", "partition": 1, "offset": detected_at - 1},
        "onset_at": detected_at - 99,
        "onset_record": {"source": "features", "partition": 1, "offset": detected_at - 100},
    }
    finding.update(changes)
    return finding


def _incident(**changes: object) -> IncidentEvent:
    """An opened incident of ``age`` at record 50 100 (offset 50 099 of partition 1)."""
    fields: dict[str, object] = {
        "type": IncidentEventType.OPENED,
        "incident_id": "9f2c41aa00b7e1d3c5a4f6e8d0b2c4a6",
        "feature": "age",
        "severity": Severity.WARNING,
        "status": "open",
        "reason": "opened by mean_shift",
        "opened_at": 50_100,
        "index": 4,
        "record": Position(source="features", partition=1, offset=50_099),
        "records_seen": 50_100,
        "findings": [_finding("mean_shift", 50_100)],
        "summary": {"reference": {"mean": 41.0, "std": 11.0}, "live": {"mean": 51.1}},
        "evidence": [
            {
                "type": "drift.detected",
                "detector": "adwin",
                "statistic": "delta",
                "value": 1e-5,
                "threshold": 1e-5,
                "records_seen": 50_042,
                "record": {"source": "features", "partition": 1, "offset": 50_041},
            }
        ],
    }
    fields.update(changes)
    return IncidentEvent.model_validate(fields)


def _updated(at: int = 50_600, **changes: object) -> IncidentEvent:
    """The same incident, updated when a distribution shift joined at record ``at``."""
    fields: dict[str, object] = {
        "type": IncidentEventType.UPDATED,
        "reason": "distribution_shift joined",
        "record": Position(source="features", partition=1, offset=at - 1),
        "records_seen": at,
        "findings": [
            _finding("mean_shift", 50_100),
            _finding("distribution_shift", at, effect={"psi": 0.31}),
        ],
    }
    fields.update(changes)
    return _incident(**fields)


# -- detector-level events -------------------------------------------------------------------


def test_the_same_event_gets_the_same_id_and_bytes_on_replay() -> None:
    assert event_id(SOURCE, _event()) == event_id(SOURCE, _event(index=0))
    assert encode_cloudevent(_event(), "/s", 1_700_000_000_000) == encode_cloudevent(
        _event(index=9), "/s", 1_700_000_000_000
    )


def test_two_type_changes_at_one_record_get_distinct_ids() -> None:
    as_string = _event()
    as_bool = _event(detail={"expected_kind": "numeric", "observed_type": "bool"})
    assert event_id("/s", as_string) != event_id("/s", as_bool)


def test_ids_differ_by_record_position_and_feature() -> None:
    base = event_id("/s", _event())
    moved = _event(record=Position(source="features", partition=1, offset=1002))
    assert event_id("/s", moved) != base
    assert event_id("/s", _event(feature="age")) != base


def test_envelope_is_cloudevents_1_0_structured_json() -> None:
    ce = msgspec.json.decode(encode_cloudevent(_event(), SOURCE, 86_400_000))
    assert ce["specversion"] == "1.0"
    assert ce["type"] == "driftwarden.feature.type_changed.v1"
    assert ce["subject"] == "amount"
    assert ce["time"] == "1970-01-02T00:00:00.000Z"
    assert ce["data"]["record"] == {"source": "features", "partition": 1, "offset": 1001}
    assert "index" not in ce["data"]
    assert "time" not in to_cloudevent(_event(), "/s", None)


# -- incidents ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "cloudevent_type"),
    [
        (IncidentEventType.OPENED, "driftwarden.incident.opened.v1"),
        (IncidentEventType.UPDATED, "driftwarden.incident.updated.v1"),
        (IncidentEventType.RESOLVED, "driftwarden.incident.resolved.v1"),
    ],
)
def test_incident_envelope_is_cloudevents_1_0_about_its_feature(
    kind: IncidentEventType, cloudevent_type: str
) -> None:
    status = "resolved" if kind == IncidentEventType.RESOLVED else "open"
    ce = msgspec.json.decode(encode_incident(_incident(type=kind, status=status), SOURCE, 1))
    assert (ce["specversion"], ce["source"], ce["datacontenttype"]) == (
        "1.0",
        SOURCE,
        "application/json",
    )
    assert (ce["type"], ce["subject"]) == (cloudevent_type, "age")
    assert ce["time"] == "1970-01-01T00:00:00.001Z"
    assert ce["data"]["type"] == kind.value and ce["data"]["status"] == status
    assert "time" not in incident_to_cloudevent(_incident(type=kind), SOURCE, None)
    assert "time" not in incident_to_cloudevent(_incident(type=kind), SOURCE, 0)


def test_incident_id_and_bytes_are_the_same_on_every_encode_whatever_the_batch_index() -> None:
    first = encode_incident(_incident(), SOURCE, 1_700_000_000_000)
    again = encode_incident(_incident(index=0), SOURCE, 1_700_000_000_000)
    assert first == again
    ids = {incident_to_cloudevent(_incident(index=i), SOURCE)["id"] for i in range(3)}
    assert len(ids) == 1 and len(ids.pop()) == 32


def test_each_event_of_one_incident_gets_its_own_id() -> None:
    opened = incident_to_cloudevent(_incident(), SOURCE)
    updated = incident_to_cloudevent(_updated(), SOURCE)
    resolved = incident_to_cloudevent(
        _updated(
            52_600,
            type=IncidentEventType.RESOLVED,
            status="resolved",
            reason="every finding cleared",
        ),
        SOURCE,
    )
    assert opened["data"]["incident_id"] == updated["data"]["incident_id"]
    assert len({opened["id"], updated["id"], resolved["id"]}) == 3
    # An opened and an updated event at the same record (a second kind joined at once).
    at_once = incident_to_cloudevent(_updated(50_100), SOURCE)
    assert at_once["id"] != opened["id"]
    # Updates at two records differ; so do two incidents, and two sources.
    later = incident_to_cloudevent(_updated(60_600), SOURCE)
    assert later["id"] != updated["id"]
    other = incident_to_cloudevent(_incident(incident_id="0" * 32), SOURCE)
    assert other["id"] != opened["id"]
    assert incident_to_cloudevent(_incident(), "/driftwarden/other")["id"] != opened["id"]


def test_two_kinds_joining_one_incident_at_one_record_give_two_ids() -> None:
    joined = _updated(50_600)
    also = _updated(50_600, reason="out_of_range joined")
    assert (
        incident_to_cloudevent(joined, SOURCE)["id"] != incident_to_cloudevent(also, SOURCE)["id"]
    )


def test_incident_data_round_trips_through_the_model() -> None:
    for event in (_incident(), _updated()):
        data = msgspec.json.decode(encode_incident(event, SOURCE, 1_700_000_000_000))["data"]
        assert "index" not in data  # a batch position, meaningless to a consumer
        again = IncidentEvent.model_validate({**data, "index": event.index})
        assert again == event
        assert again.findings[-1].onset_record == Position(
            source="features", partition=1, offset=event.records_seen - 100
        )


# -- what a batch publishes ------------------------------------------------------------------


def _output() -> BankOutput:
    """Incidents at batch indices 4, 4 and 9; detector-level events at 2, 4, 7 and 9 (one a
    feature-limit event)."""
    return BankOutput(
        evidence=[
            _event(type=EventType.DRIFT_DETECTED, feature="age", detail={}, index=2),
            _event(type=EventType.CATEGORY_NOVEL, feature="zip", detail={}, index=4),
            _event(type=EventType.FEATURE_LIMIT_REACHED, feature="f10001", detail={}, index=7),
            _event(index=9),
        ],
        incidents=[
            _incident(index=4),
            _updated(50_100, index=4),
            _incident(index=9, feature="amount", incident_id="1" * 32),
        ],
    )


def test_alerts_are_the_incidents_and_the_feature_limit_without_detector_events() -> None:
    alerts = alerts_of(_output(), SOURCE, detector_events=False)
    assert [(a.record_index, a.kind, a.feature) for a in alerts] == [
        (4, "incident.opened", "age"),
        (4, "incident.updated", "age"),
        (7, "feature.limit_reached", "f10001"),
        (9, "incident.opened", "amount"),
    ]


def test_alerts_with_detector_events_are_every_event_in_record_order() -> None:
    alerts = alerts_of(_output(), SOURCE, detector_events=True)
    assert [(a.record_index, a.kind) for a in alerts] == [
        (2, "drift.detected"),
        (4, "incident.opened"),
        (4, "incident.updated"),
        (4, "category.novel"),
        (7, "feature.limit_reached"),
        (9, "incident.opened"),
        (9, "feature.type_changed"),
    ]


def test_an_alert_encodes_its_event_with_the_timestamp_it_is_given() -> None:
    output = _output()
    alerts = alerts_of(output, SOURCE, detector_events=True)
    opened = next(a for a in alerts if a.kind == "incident.opened")
    assert opened.encode(1_700_000_000_000) == encode_incident(
        output.incidents[0], SOURCE, 1_700_000_000_000
    )
    drift = next(a for a in alerts if a.kind == "drift.detected")
    assert drift.encode(None) == encode_cloudevent(output.evidence[0], SOURCE, None)
    assert alerts_of(BankOutput([], []), SOURCE, detector_events=True) == []
