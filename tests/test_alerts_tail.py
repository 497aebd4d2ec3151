"""``driftwarden alerts tail`` against the real broker, and its formatting alone: of
detector-level events and of incidents (what the alerts topic carries by default)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import KafkaError, Message, Producer

from driftwarden.detectors.events import DriftEvent, EventType, Position, Severity
from driftwarden.detectors.incidents import IncidentEvent, IncidentEventType
from driftwarden.stream.cloudevents import (
    MalformedEvent,
    encode_cloudevent,
    encode_incident,
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


def _finding(kind: str, at: int, effect: dict[str, float], **extra: Any) -> dict[str, Any]:
    """A finding of ``kind`` detected at record ``at`` (offset ``at - 1``), begun 100 before."""
    return {
        "kind": kind,
        "detector": "test",
        "statistic": "z",
        "value": 9.0,
        "threshold": 6.0,
        "effect": effect,
        "severity": "warning",
        "status": "active",
        "detected_at": at,
        "detected_record": {"source": "features", "partition": 0, "offset": at - 1},
        "onset_at": at - 100,
        "onset_record": {"source": "features", "partition": 0, "offset": at - 101},
        **extra,
    }


def _incident(
    type: IncidentEventType, feature: str, at: int, findings: list[dict[str, Any]]
) -> bytes:
    event = IncidentEvent.model_validate(
        {
            "type": type,
            "incident_id": "9f2c41aa" + feature.encode().hex().ljust(24, "0"),
            "feature": feature,
            "severity": "critical" if type == IncidentEventType.UPDATED else "warning",
            "status": "resolved" if type == IncidentEventType.RESOLVED else "open",
            "reason": "test",
            "opened_at": 50_100,
            "index": 0,
            "record": {"source": "features", "partition": 0, "offset": at - 1},
            "records_seen": at,
            "findings": findings,
        }
    )
    return encode_incident(event, SOURCE, TIMESTAMP_MS + at)


INCIDENT_OPENED = _incident(
    IncidentEventType.OPENED,
    "age",
    50_100,
    [_finding("mean_shift", 50_100, {"mean_shift_sigma": 0.92})],
)
INCIDENT_UPDATED = _incident(
    IncidentEventType.UPDATED,
    "age",
    50_600,
    [
        _finding("mean_shift", 50_100, {"mean_shift_sigma": -1.256, "window_records": 500.0}),
        _finding("distribution_shift", 50_600, {"psi": 0.31234, "psi_excess": 0.3}),
        _finding("out_of_range", 50_400, {"share": 0.0132, "reference_share": 0.0}),
    ],
)
INCIDENT_RESOLVED = _incident(
    IncidentEventType.RESOLVED,
    "country",
    62_000,
    [
        _finding("novel_category", 60_000, {"share": 0.0048}, status="cleared",
                 detail={"values": ["BR", "PT", "MX", "US"]}),
        _finding("type_change", 60_500, {}, status="cleared",
                 detail={"expected_kind": "categorical", "observed_type": "number"}),
        _finding("missing_field", 61_000, {"absent_records": 1001.0}, status="cleared"),
        _finding("null_rate", 61_500, {"null_rate": 0.137}, status="cleared"),
    ],
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


def test_tail_shows_incidents_and_filters_them_by_family_and_type(
    kafka_bootstrap: str,
    kafka_topics: Callable[..., str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = kafka_topics(partitions=1)
    values = [INCIDENT_OPENED, DETECTED, INCIDENT_UPDATED, INCIDENT_RESOLVED]
    _produce(kafka_bootstrap, topic, values)
    config = _config(tmp_path, kafka_bootstrap, topic)
    _, lines, _ = _tail(capsys, "--config", config, "--from-beginning", "--max", "4")
    assert lines == [format_event(json.loads(value)) for value in values]
    _, lines, _ = _tail(
        capsys, "--config", config, "--from-beginning", "--max", "3", "--type", "incident"
    )
    assert [line.split()[1] for line in lines] == [
        "incident.opened",
        "incident.updated",
        "incident.resolved",
    ]
    _, lines, _ = _tail(capsys, "--config", config, "--from-beginning", "--max", "1",
                        "--type", "incident.resolved", "--json")  # fmt: skip
    assert [line.encode() for line in lines] == [INCIDENT_RESOLVED]


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


def _columns(line: str) -> list[str]:
    """The columns of an event line (two or more spaces apart; findings hold single ones)."""
    return re.split(r" {2,}", line)


def test_an_opened_incident_line_shows_its_finding_effect_and_onset() -> None:
    line = format_event(json.loads(INCIDENT_OPENED))
    assert line.split() == [
        "2023-11-14T22:14:10.100Z",
        "incident.opened",
        "warning",
        "age",
        "#9f2c41aa",
        "mean_shift(+0.92σ)",
        "onset=features[0]@49999",
        "features[0]@50099",
    ]


def test_an_updated_incident_line_shows_every_finding_in_plain_units_and_the_first_onset() -> None:
    assert _columns(format_event(json.loads(INCIDENT_UPDATED))) == [
        "2023-11-14T22:14:10.600Z",
        "incident.updated",
        "critical",
        "age",
        "#9f2c41aa",
        "mean_shift(-1.26σ) distribution_shift(psi 0.312) out_of_range(1.3%)",
        "onset=features[0]@49999",
        "features[0]@50599",
    ]


def test_a_resolved_incident_line_marks_every_finding_cleared() -> None:
    columns = _columns(format_event(json.loads(INCIDENT_RESOLVED)))
    assert columns[1:5] == ["incident.resolved", "warning", "country", "#9f2c41aa"]
    assert columns[5] == (
        "novel_category(0.5% BR,PT,MX) cleared type_change(number) cleared "
        "missing_field(absent 1001 records) cleared null_rate(null 13.7%) cleared"
    )
    assert columns[6:] == ["onset=features[0]@59899", "features[0]@61999"]


def test_incident_lines_survive_missing_fields() -> None:
    line = format_event({"type": "driftwarden.incident.opened.v1", "data": {"findings": [{}]}})
    assert line.split() == ["-", "incident.opened", "-", "?", "#?", "?", "-"]
