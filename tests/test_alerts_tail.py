"""``driftwarden alerts tail`` against the real broker, and its formatting alone."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import KafkaError, Message, Producer

from driftwarden.detectors.events import DriftEvent, EventType, Position, Severity
from driftwarden.stream.cloudevents import (
    MalformedEvent,
    encode_cloudevent,
    format_event,
    parse_event,
    short_type,
    type_matches,
)
from driftwarden.stream.commands import alerts_tail
from driftwarden.stream.commands.alerts_tail import run

SOURCE = "/driftwarden/features"
GARBAGE = b"{not a cloudevent"
TIMESTAMP_MS = 1_700_000_000_000


def _event(
    type: EventType,
    feature: str,
    detector: str,
    statistic: str,
    value: float | None,
    threshold: float | None,
    offset: int,
    **detail: Any,
) -> bytes:
    event = DriftEvent(
        type=type,
        feature=feature,
        detector=detector,
        statistic=statistic,
        value=value,
        threshold=threshold,
        severity=Severity.WARNING,
        index=0,
        record=Position(source="features", partition=0, offset=offset),
        records_seen=offset + 1,
        detail=detail,
    )
    return encode_cloudevent(event, SOURCE, TIMESTAMP_MS + offset)


DETECTED = _event(EventType.DRIFT_DETECTED, "age", "histogram", "psi", 0.31, 0.2, 1041)
NOVEL = _event(EventType.CATEGORY_NOVEL, "country", "categorical", "share", 0.02, 0.005, 1500)
RESOLVED = _event(EventType.DRIFT_RESOLVED, "age", "adwin", "delta", None, None, 2200)
TYPE_CHANGED = _event(
    EventType.FEATURE_TYPE_CHANGED, "zip", "schema", "type_changed", None, None, 90,
    observed_type="str",
)  # fmt: skip


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    errors: list[KafkaError] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value, key=b"k", on_delivery=delivered)
    assert producer.flush(30) == 0
    assert errors == []


def _config(tmp_path: Path, bootstrap: str, alerts_topic: str) -> str:
    path = tmp_path / "service.yaml"
    config = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "input_topics": ["features"],
            "alerts_topic": alerts_topic,
        }
    }
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def alerts(kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path) -> str:
    """A config whose alerts topic holds RESOLVED, garbage, DETECTED, NOVEL, TYPE_CHANGED."""
    topic = kafka_topics(partitions=1)
    _produce(kafka_bootstrap, topic, [RESOLVED, GARBAGE, DETECTED, NOVEL, TYPE_CHANGED])
    return _config(tmp_path, kafka_bootstrap, topic)


def _tail(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    status = run([*argv, "--timeout", "30"])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


# -- against the real broker ---------------------------------------------------------------


def test_tail_prints_one_readable_line_per_event_and_skips_malformed_messages(
    alerts: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines, err = _tail(capsys, "--config", alerts, "--from-beginning", "--max", "4")
    assert status == 0
    assert [line.split()[1] for line in lines] == [
        "drift.resolved",
        "drift.detected",
        "category.novel",
        "feature.type_changed",
    ]
    detected = lines[1].split()
    assert detected[0] == "2023-11-14T22:13:21.041Z"
    assert detected[2:] == [
        "warning",
        "age",
        "histogram",
        "psi=0.31",
        "vs",
        "0.2",
        "features[0]@1041",
    ]
    assert lines[0].split()[3:] == ["age", "adwin", "delta", "features[0]@2200"]
    assert lines[3].endswith("features[0]@90  observed_type=str")
    assert "skipped" in err and "[0]@1:" in err and "not JSON" in err


def test_tail_type_filter_accepts_short_full_and_family_names(
    alerts: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lines, _ = _tail(
        capsys,
        *("--config", alerts, "--from-beginning", "--max", "2"),
        *("--type", "drift.detected", "--type", "driftwarden.category.novel.v1"),
    )
    assert [line.split()[1] for line in lines] == ["drift.detected", "category.novel"]

    _, lines, _ = _tail(
        capsys, "--config", alerts, "--from-beginning", "--max", "1", "--type", "feature"
    )
    assert [line.split()[1] for line in lines] == ["feature.type_changed"]


def test_tail_json_prints_each_event_exactly_as_published(
    alerts: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lines, _ = _tail(capsys, "--config", alerts, "--from-beginning", "--max", "4", "--json")
    assert [line.encode() for line in lines] == [RESOLVED, DETECTED, NOVEL, TYPE_CHANGED]
    assert json.loads(lines[1])["type"] == "driftwarden.drift.detected.v1"


def test_tail_starts_at_the_end_of_the_topic_by_default(
    alerts: str, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = yaml.safe_load(Path(alerts).read_text())["kafka"]["alerts_topic"]
    result: list[int] = []
    tail = threading.Thread(
        target=lambda: result.append(run(["--config", alerts, "--max", "1", "--timeout", "60"]))
    )
    tail.start()
    later = _event(EventType.FEATURE_NOVEL, "late_field", "schema", "novel", None, None, 5000)
    deadline = time.monotonic() + 60
    # Until the tail is assigned, new events land before its starting point: keep producing.
    while tail.is_alive() and time.monotonic() < deadline:
        _produce(kafka_bootstrap, topic, [later])
        tail.join(timeout=0.5)
    tail.join(timeout=60)
    assert result == [0]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "late_field" in lines[0]


def test_tail_of_a_missing_topic_exits_1_and_names_it(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, kafka_bootstrap, "dw-no-such-alerts-topic")
    status, lines, err = _tail(capsys, "--config", config)
    assert status == 1 and lines == []
    assert "dw-no-such-alerts-topic" in err


# -- without a broker ----------------------------------------------------------------------


def test_tail_with_an_unusable_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kafka:\n  bootstrap_servers: b:1\n  input_topcs: [x]\n")
    assert run(["--config", str(bad)]) == 2
    assert "input_topcs" in capsys.readouterr().err


class _InterruptedConsumer:
    """Stands in for a consumer whose ``consume`` is interrupted by Ctrl-C."""

    def __init__(self) -> None:
        self.closed = False

    def subscribe(self, topics: list[str]) -> None:
        self.topics = topics

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        raise KeyboardInterrupt

    def close(self) -> None:
        self.closed = True


def test_ctrl_c_stops_the_tail_cleanly_and_closes_the_consumer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = _InterruptedConsumer()
    monkeypatch.setattr(alerts_tail, "_consumer", lambda config, from_beginning: consumer)
    assert run(["--config", _config(tmp_path, "127.0.0.1:1", "alerts")]) == 0
    assert consumer.closed


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        ("{}".encode("utf-16"), "not UTF-8"),
        (b"{oops", "not JSON"),
        (b'"text"', "not an object"),
        (b'{"data": {}}', "'type'"),
        (b'{"type": 3}', "'type'"),
        (b'{"type": "driftwarden.drift.detected.v1", "data": [1]}', "'data'"),
    ],
)
def test_messages_that_are_not_events_are_rejected_with_a_reason(
    value: bytes | None, reason: str
) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        parse_event(value)


def test_event_lines_survive_missing_and_odd_fields() -> None:
    line = format_event({"type": "vendor.thing", "data": {"value": "high", "record": 5}})
    assert line.split() == ["-", "vendor.thing", "-", "?", "?", "?=high", "-"]


def test_short_types_drop_prefix_and_version_only() -> None:
    assert short_type("driftwarden.support.out_of_range.v12") == "support.out_of_range"
    assert short_type("driftwarden.drift.detected.vX") == "drift.detected.vX"


def test_type_filters_do_not_match_partial_words() -> None:
    assert not type_matches("driftwarden.drift.detected.v1", ["dri"])
    assert not type_matches("driftwarden.drift.detected.v1", ["driftwarden.drift.detected.v2"])
    assert type_matches(json.loads(NOVEL)["type"], ["category"])
