"""The drift service against the real broker: alerts, DLQ, reload, restart, bad config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from tests.service_data import CHANGED, UNCHANGED, live_records, training_profile
from tests.service_harness import (
    REPO_DIR,
    ServiceProcess,
    ServiceTopics,
    alert_payloads,
    feature_records_seen,
    input_covered,
    latest_snapshots,
    make_topics,
    produce_json,
    read_all,
    read_until,
    records_counted,
    split_snapshots,
    wait_for_state,
    write_config,
)

FEATURES = {"input": {"features_path": "features", "ignore": ["request_id"]}}


def _events(messages: list) -> set[tuple[str, str]]:
    return {(ce["subject"], ce["type"]) for ce in alert_payloads(messages)}


def _findings(messages: list) -> set[tuple[str, str]]:
    """(feature, finding kind) of every active finding of the incident events read."""
    return {
        (ce["subject"], finding["kind"])
        for ce in alert_payloads(messages)
        if ce["type"].startswith("driftwarden.incident.")
        for finding in ce["data"]["findings"]
        if finding["status"] == "active"
    }


def test_every_pitfall_reaches_the_alerts_topic_on_the_right_feature(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    topics = make_topics(kafka_topics)
    profile = training_profile(tmp_path / "profile.json")
    config = write_config(
        tmp_path / "config.yaml", kafka_bootstrap, topics, profile=profile, extra=FEATURES
    )
    produce_json(kafka_bootstrap, topics.input, live_records(40_000, change_at=20_000))
    service = ServiceProcess(config, tmp_path / "service.log")
    expected = {
        ("f_shift", "mean_shift"),
        ("f_range", "out_of_range"),
        ("country", "novel_category"),
        ("promo_code", "novel_field"),
        ("device", "missing_field"),
    }
    try:
        messages = read_until(
            kafka_bootstrap, topics.alerts, lambda m: expected <= _findings(m), timeout=90
        )
    finally:
        assert service.stop() == 0, service.tail()
    findings = _findings(messages)
    assert expected <= findings, sorted(findings)
    # Incidents only by default (detector-level events are their evidence), one per feature.
    assert {kind for _, kind in _events(messages)} <= {
        "driftwarden.incident.opened.v1",
        "driftwarden.incident.updated.v1",
        "driftwarden.incident.resolved.v1",
    }
    assert {feature for feature, _ in findings} <= set(CHANGED)
    assert not any(feature in UNCHANGED for feature, _ in findings)
    opened: dict[str, list[str]] = {}
    for ce in alert_payloads(messages):
        assert ce["specversion"] == "1.0"
        assert ce["data"]["record"]["offset"] >= 20_000
        # onset_at counts the feature's own records: a novel field's start at its first one.
        assert all(
            (f["onset_record"] or f["detected_record"])["offset"] >= 20_000
            for f in ce["data"]["findings"]
        )
        if ce["type"] == "driftwarden.incident.opened.v1":
            opened.setdefault(ce["subject"], []).append(ce["data"]["incident_id"])
    assert all(len(ids) == 1 for ids in opened.values()), opened
    (shift,) = [
        ce
        for ce in alert_payloads(messages)
        if ce["subject"] == "f_shift" and ce["type"] == "driftwarden.incident.opened.v1"
    ]
    # What changed, in plain units: +1σ from record 20,000 (the truth), found soon after.
    (mean_shift,) = [f for f in shift["data"]["findings"] if f["kind"] == "mean_shift"]
    assert 0.7 <= mean_shift["effect"]["mean_shift_sigma"] <= 1.3
    assert abs(mean_shift["onset_at"] - 20_001) <= 500
    assert shift["data"]["summary"]["reference"]["mean"] == pytest.approx(100.0, abs=0.5)
    keys = {m.key().decode() for m in messages}
    assert keys == {ce["subject"] for ce in alert_payloads(messages)}
    # Structured mode of the CloudEvents Kafka binding: without this header SDKs read the
    # message as binary mode and reject it.
    content_types = {dict(m.headers() or [])["content-type"] for m in messages}
    assert content_types == {b"application/cloudevents+json"}


def test_poison_records_land_in_the_dlq_and_the_service_stays_up(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    topics = make_topics(kafka_topics)
    config = write_config(
        tmp_path / "config.yaml",
        kafka_bootstrap,
        topics,
        extra={"input": {"max_message_bytes": 10_000}},
    )
    poison: list[bytes | None] = [
        b"{not json",
        b"[1, 2, 3]",
        b'{"amount": NaN}',
        b'{"amount": Infinity}',
        b'{"amount": 1e999}',
        b"",
        None,
        b'{"amount": "' + b"x" * 20_000 + b'"}',
        b"\xff\xfe",
    ]
    good = [{"amount": float(i), "country": "FR"} for i in range(3000)]
    produce_json(kafka_bootstrap, topics.input, [*good[:1000], *poison, *good[1000:2000]])
    service = ServiceProcess(config, tmp_path / "service.log")
    try:
        dlq = read_until(kafka_bootstrap, topics.dlq, lambda m: len(m) >= len(poison), 60)
        assert len(dlq) == len(poison)
        # Still running: more good records are consumed after the poison.
        produce_json(kafka_bootstrap, topics.input, good[2000:])
        wait_for_state(kafka_bootstrap, topics.state, covered=3000 + len(poison), counted=3000)
        assert service.proc.poll() is None
    finally:
        assert service.stop() == 0, service.tail()
    reasons = [dict(m.headers())["driftwarden.reason"].decode() for m in dlq]
    assert set(reasons) >= {"malformed_json", "not_an_object", "empty", "too_large"}
    assert any(r == "non_finite_number" for r in reasons)
    originals = {m.value() for m in dlq}
    assert b"{not json" in originals and b"\xff\xfe" in originals
    for m in dlq:
        headers = dict(m.headers())
        assert headers["driftwarden.source.topic"].decode() == topics.input
        assert int(headers["driftwarden.source.offset"]) >= 1000
        assert headers["content-type"] == b"application/octet-stream"
    # Too large for input.max_message_bytes, not for the DLQ topic: kept whole.
    (large,) = [m for m in dlq if dict(m.headers())["driftwarden.reason"] == b"too_large"]
    assert large.value() == poison[7]
    assert "driftwarden.truncated" not in dict(large.headers())
    snapshots = latest_snapshots(kafka_bootstrap, topics.state)
    assert set(feature_records_seen(snapshots).values()) == {3000}
    ((_, split),) = split_snapshots(snapshots).items()
    assert split["dlq_records"] == len(poison)


def _next_offset(msg: object) -> int | None:
    import msgspec

    value = msg.value()  # type: ignore[attr-defined]
    return msgspec.json.decode(value)["next_offset"] if value else None


def test_sighup_reload_applies_a_new_threshold_and_keeps_state(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    topics = make_topics(kafka_topics)
    profile = training_profile(tmp_path / "profile.json")
    lenient = {
        **FEATURES,
        "detectors": {
            "numeric": {"adwin": {"enabled": False}, "page_hinkley": {"enabled": False}},
            "incidents": {"z_threshold": 1000.0, "p_value_threshold": 1e-300},
        },
    }
    config_path = write_config(
        tmp_path / "config.yaml", kafka_bootstrap, topics, profile=profile, extra=lenient
    )
    records = live_records(60_000, change_at=0)
    produce_json(kafka_bootstrap, topics.input, records[:20_000])
    service = ServiceProcess(config_path, tmp_path / "service.log")
    try:
        wait_for_state(kafka_bootstrap, topics.state, covered=20_000, counted=20_000)
        alerts = read_all(kafka_bootstrap, topics.alerts)
        assert ("f_shift", "mean_shift") not in _findings(alerts)

        config = yaml.safe_load(config_path.read_text())
        config["detectors"]["incidents"]["z_threshold"] = 6.0
        config_path.write_text(yaml.safe_dump(config))
        lines_before = len(service.log_events())
        service.signal(signal.SIGHUP)
        reload = service.wait_for_log("config_reloaded", after=lines_before)
        assert any("z_threshold" in str(change) for change in reload["changes"])

        produce_json(kafka_bootstrap, topics.input, records[20_000:])
        alerts = read_until(
            kafka_bootstrap,
            topics.alerts,
            lambda m: ("f_shift", "mean_shift") in _findings(m),
            60,
        )
        wait_for_state(kafka_bootstrap, topics.state, covered=60_000, counted=60_000)
    finally:
        assert service.stop() == 0, service.tail()
    detected = [
        finding
        for ce in alert_payloads(alerts)
        if ce["subject"] == "f_shift"
        for finding in ce["data"]["findings"]
        if finding["kind"] == "mean_shift"
    ]
    assert detected and detected[0]["threshold"] == 6.0
    assert detected[0]["detected_record"]["offset"] >= 20_000
    # State was kept: the banks count every record once across the reload.
    snapshots = latest_snapshots(kafka_bootstrap, topics.state)
    assert records_counted(snapshots) == 60_000


def test_sigterm_checkpoints_and_a_restart_resumes_exactly(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    topics = make_topics(kafka_topics)
    config = write_config(
        tmp_path / "config.yaml",
        kafka_bootstrap,
        topics,
        extra={**FEATURES, "checkpoint": {"every_records": 10**9, "every_seconds": 3600.0}},
    )
    records = live_records(30_000, change_at=None)
    produce_json(kafka_bootstrap, topics.input, records[:12_345])
    first = ServiceProcess(config, tmp_path / "first.log")
    first.wait_for_log("partition_new")
    first.wait_for_log("progress")
    _wait_consumed(first, 12_345)
    assert first.stop() == 0, first.tail()
    # A stop drains stage two: both stages' snapshots stop at the same record.
    snapshots = latest_snapshots(kafka_bootstrap, topics.state)
    assert input_covered(snapshots) == 12_345
    assert set(feature_records_seen(snapshots).values()) == {12_345}

    produce_json(kafka_bootstrap, topics.input, records[12_345:])
    second = ServiceProcess(config, tmp_path / "second.log")
    _wait_consumed(second, 30_000 - 12_345)
    restored = [e for e in second.log_events() if e["event"] == "partition_restored"]
    assert [e["next_offset"] for e in restored if e["stage"] == "split"] == [12_345]
    assert [e["stage"] for e in restored].count("detect") >= 1
    assert second.stop() == 0, second.tail()
    snapshots = latest_snapshots(kafka_bootstrap, topics.state)
    assert input_covered(snapshots) == 30_000
    assert set(feature_records_seen(snapshots).values()) == {30_000}


def _wait_consumed(service: ServiceProcess, n: int, timeout: float = 60.0) -> None:
    """Poll the service's progress lines until it has processed ``n`` records."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(
            e.get("event") == "progress" and e.get("records", 0) >= n for e in service.log_events()
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"service did not consume {n} records:\n{service.tail()}")


def test_a_config_with_an_unknown_key_fails_at_start_with_the_key_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": "127.0.0.1:1", "input_topics": ["x"]},
                "detectors": {"numeric": {"adwin": {"deltaa": 0.1}}},
            }
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "driftwarden.stream.cli", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
        timeout=60,
    )
    assert result.returncode == 2
    assert "detectors.numeric.adwin.deltaa" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_record_too_large_for_the_dlq_topic_is_kept_cut_with_its_reason_and_never_lost(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    """A 2.4 MB incompressible record: rejected as too large, its DLQ record cut to fit the
    DLQ topic the service created, and the partition goes on past it only once it is there."""
    source = kafka_topics(partitions=1, config={"max.message.bytes": str(4 * 1024 * 1024)})
    names = {role: f"{source}-{role}" for role in ("alerts", "dlq", "state", "columns")}
    topics = ServiceTopics(input=source, **names)
    config = write_config(
        tmp_path / "config.yaml", kafka_bootstrap, topics, extra={"kafka": {"create_topics": True}}
    )
    huge = b'{"blob": "' + os.urandom(1_200_000).hex().encode() + b'"}'
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 8 << 20})
    good = [b'{"amount": %d}' % i for i in range(2000)]
    for value in [*good[:1000], huge, *good[1000:]]:
        producer.produce(source, value)
    assert producer.flush(60) == 0
    service = ServiceProcess(config, tmp_path / "service.log")
    try:
        snapshots = read_until(
            kafka_bootstrap, topics.state, lambda m: any(_next_offset(x) == 2001 for x in m), 90
        )
        assert snapshots, service.tail()
    finally:
        assert service.stop() == 0, service.tail()
        AdminClient({"bootstrap.servers": kafka_bootstrap}).delete_topics(list(names.values()))
    (dead,) = read_all(kafka_bootstrap, topics.dlq)
    headers = dict(dead.headers())
    assert headers["driftwarden.reason"] == b"too_large"
    assert headers["driftwarden.source.offset"] == b"1000"
    assert headers["driftwarden.truncated"] == str(len(huge)).encode()
    # Cut to fit the DLQ topic the service created: at least input.max_message_bytes of it.
    assert dead.value() == huge[: len(dead.value())]
    assert 1_048_576 <= len(dead.value()) < len(huge)
    snapshots = latest_snapshots(kafka_bootstrap, topics.state)
    ((_, split),) = split_snapshots(snapshots).items()
    assert (records_counted(snapshots), split["dlq_records"]) == (2000, 1)


def test_detector_events_switch_publishes_them_beside_the_incidents(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    topics = make_topics(kafka_topics)
    profile = training_profile(tmp_path / "profile.json")
    config = write_config(
        tmp_path / "config.yaml",
        kafka_bootstrap,
        topics,
        profile=profile,
        extra={**FEATURES, "alerts": {"detector_events": True}},
    )
    produce_json(kafka_bootstrap, topics.input, live_records(30_000, change_at=15_000))
    service = ServiceProcess(config, tmp_path / "service.log")
    wanted = {
        ("f_shift", "driftwarden.incident.opened.v1"),
        ("f_shift", "driftwarden.drift.detected.v1"),
        ("country", "driftwarden.category.novel.v1"),
    }
    try:
        messages = read_until(
            kafka_bootstrap, topics.alerts, lambda m: wanted <= _events(m), timeout=90
        )
    finally:
        assert service.stop() == 0, service.tail()
    assert wanted <= _events(messages)
    # The detector-level events are also each incident's evidence.
    (opened,) = [
        ce
        for ce in alert_payloads(messages)
        if ce["subject"] == "country" and ce["type"] == "driftwarden.incident.opened.v1"
    ]
    assert any(e["type"] == "category.novel" for e in opened["data"]["evidence"])
