"""CloudEvents envelopes: deterministic ids that still tell distinct events apart."""

from __future__ import annotations

import msgspec

from driftwarden.detectors.events import DriftEvent, EventType, Position, Severity
from driftwarden.stream.cloudevents import encode_cloudevent, event_id, to_cloudevent


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


def test_the_same_event_gets_the_same_id_and_bytes_on_replay() -> None:
    assert event_id("/driftwarden/features", _event()) == event_id(
        "/driftwarden/features", _event(index=0)
    )
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
    ce = msgspec.json.decode(encode_cloudevent(_event(), "/driftwarden/features", 86_400_000))
    assert ce["specversion"] == "1.0"
    assert ce["type"] == "driftwarden.feature.type_changed.v1"
    assert ce["subject"] == "amount"
    assert ce["time"] == "1970-01-02T00:00:00.000Z"
    assert ce["data"]["record"] == {"source": "features", "partition": 1, "offset": 1001}
    assert "index" not in ce["data"]
    assert "time" not in to_cloudevent(_event(), "/s", None)
