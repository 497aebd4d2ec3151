"""A poison key: a valid record whose feature name holds an escaped control character.

``{"features": {"a\\u0001b": 1.0, ...}}`` is valid JSON; the feature is named "a", U+0001,
"b". docs/architecture.md "Delivery semantics" 5: a record is processed or sent to the DLQ,
and never stops the service; a valid one is processed: its feature is tracked like any
other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.run_outcome import RunOutcome, log_tail, wait_until_covered
from tests.service_data import live_records, training_profile
from tests.service_harness import ServiceProcess, make_topics, produce_json, write_config

pytestmark = [pytest.mark.faults, pytest.mark.kafka]

N_RECORDS = 4_001
POISON_AT = 2_500  # past the first consume batch: the decoder has learned the fields by then
POISON_FEATURE = "a\x01b"
FEATURES = {"input": {"features_path": "features", "ignore": ["request_id"]}}


def _poison_record() -> bytes:
    record = live_records(1, change_at=None, seed=3)[0]
    record["features"][POISON_FEATURE] = 1.0
    payload = json.dumps(record).encode()
    assert b'"a\\u0001b": 1.0' in payload  # the key travels escaped, as JSON writers send it
    return payload


def test_a_feature_name_with_an_escaped_control_character_is_tracked_and_stops_nothing(
    kafka_bootstrap: str,
    kafka_topics: Callable[..., str],
    start_service: Callable[[Path, str], ServiceProcess],
    tmp_path: Path,
) -> None:
    topics = make_topics(kafka_topics)
    config = write_config(
        tmp_path / "config.yaml",
        kafka_bootstrap,
        topics,
        profile=training_profile(tmp_path / "profile.json"),
        extra=FEATURES,
    )
    stream: list[dict | bytes] = list(live_records(N_RECORDS - 1, change_at=None))
    stream.insert(POISON_AT, _poison_record())
    produce_json(kafka_bootstrap, topics.input, stream)

    service = start_service(config, "service")
    wait_until_covered(kafka_bootstrap, topics.state, N_RECORDS, 1, [service], timeout=90)
    assert service.stop() == 0, log_tail(service)

    outcome = RunOutcome.read(kafka_bootstrap, topics)
    assert (outcome.records_seen, outcome.dlq_records) == (N_RECORDS, 0), log_tail(service)
    [banks] = [
        s["banks"]["banks"]
        for s in outcome.snapshots.values()
        if POISON_FEATURE in s.get("banks", {}).get("banks", {})
    ]
    monitors = banks[POISON_FEATURE]["monitors"]
    assert POISON_FEATURE in monitors, sorted(monitors)
    assert monitors[POISON_FEATURE]["kind"] == "numeric", monitors[POISON_FEATURE]
