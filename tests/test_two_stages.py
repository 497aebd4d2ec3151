"""The feature-partitioned second stage on the real broker: one feature, one detector state,
however many input partitions and processes.

Each test reads the real alerts and state topics of ``driftwarden run`` processes: both
stages in one process, or ``--stage split`` and ``--stage detect`` apart.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.service_data import shifted_records, training_profile
from tests.service_harness import (
    ServiceProcess,
    ServiceTopics,
    alert_payloads,
    alerts_by_id,
    feature_records_seen,
    latest_snapshots,
    make_topics,
    outputs_for,
    produce_json,
    read_all,
    wait_for_state,
    write_config,
)

pytestmark = pytest.mark.kafka

FEATURES = {"input": {"features_path": "features", "ignore": ["request_id"]}}
ALL_FEATURES = {"f_shift", "f_range", "f_stable", "f_stable2", "country", "device"}
OPENED = "driftwarden.incident.opened.v1"


def _config(
    tmp_path: Path, bootstrap: str, topics: ServiceTopics, profile: Path, name: str, **extra: Any
) -> Path:
    return write_config(
        tmp_path / f"{name}.yaml",
        bootstrap,
        topics,
        group_id=f"{name}-{topics.state}",
        profile=profile,
        extra={
            **FEATURES,
            "checkpoint": {"every_records": 3000, "every_seconds": 0.5},
            **extra,
        },
    )


def _stop_all(*services: ServiceProcess | None) -> list[int]:
    return [s.stop() for s in services if s is not None]


def _opened(bootstrap: str, alerts_topic: str) -> list[dict[str, Any]]:
    return [ce for ce in alert_payloads(read_all(bootstrap, alerts_topic)) if ce["type"] == OPENED]


@pytest.mark.parametrize("separate", [False, True], ids=["one-process", "split-and-detect-apart"])
def test_a_drift_on_a_12_partition_topic_opens_one_incident_on_its_feature_only(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path, separate: bool
) -> None:
    """The issue's case: a +1σ shift of one feature, records round-robin over 12 input
    partitions. Per-partition banks raised 36 events here; one bank per feature raises one
    incident, on that feature, and nothing on the five that did not change."""
    n, change_at = 120_000, 60_000
    topics = make_topics(kafka_topics, partitions=12, columns_partitions=4)
    profile = training_profile(tmp_path / "profile.json")
    config = _config(tmp_path, kafka_bootstrap, topics, profile, "twelve")
    # One millisecond per record: the merge by event time restores the input's order exactly
    # (records stamped in the same millisecond on different partitions could interleave).
    start_ms = int(time.time() * 1000) - n
    produce_json(
        kafka_bootstrap,
        topics.input,
        shifted_records(n, change_at),
        partition_of=lambda i: i % 12,
        timestamp_of=lambda i: start_ms + i,
    )
    if separate:
        services = [
            ServiceProcess(config, tmp_path / "split.log", "--stage", "split"),
            ServiceProcess(config, tmp_path / "detect.log", "--stage", "detect"),
        ]
    else:
        services = [ServiceProcess(config, tmp_path / "both.log")]
    try:
        wait_for_state(kafka_bootstrap, topics.state, n, n, timeout=120, every_feature=True)
    finally:
        statuses = _stop_all(*services)
    assert statuses == [0] * len(services), "\n".join(s.tail() for s in services)
    seen = feature_records_seen(latest_snapshots(kafka_bootstrap, topics.state))
    assert seen == dict.fromkeys(ALL_FEATURES, n), "each feature: one bank, every record once"
    alerts = alert_payloads(read_all(kafka_bootstrap, topics.alerts))
    assert {ce["subject"] for ce in alerts} == {"f_shift"}, [
        (ce["subject"], ce["type"]) for ce in alerts
    ]
    outline = [
        (ce["type"], ce["data"]["records_seen"], [f["kind"] for f in ce["data"]["findings"]])
        for ce in alerts
    ]
    opened_ones = [ce for ce in alerts if ce["type"] == OPENED]
    assert len(opened_ones) == 1, outline
    (opened,) = opened_ones
    assert {f["kind"] for f in opened["data"]["findings"]} >= {"mean_shift"}
    # Merged by event time, the feature's stream changes at its 60,000th record, as the input.
    assert change_at - 100 < opened["data"]["records_seen"] <= change_at + 1000, outline


def _delay(bootstrap: str, tmp_path: Path, kafka_topics: Callable[..., str], parts: int) -> int:
    """Records f_shift's bank counted after the change until the incident opened, with the
    input on ``parts`` partitions. The records before the change are consumed first, so the
    change falls at the same record of the feature's stream however many partitions feed it."""
    n, change_at = 40_000, 20_000
    topics = make_topics(kafka_topics, partitions=parts, columns_partitions=2)
    profile = training_profile(tmp_path / f"profile-{parts}.json")
    config = _config(tmp_path, bootstrap, topics, profile, f"delay-{parts}")
    records = shifted_records(n, change_at)
    produce_json(bootstrap, topics.input, records[:change_at], partition_of=lambda i: i % parts)
    service = ServiceProcess(config, tmp_path / f"delay-{parts}.log")
    try:
        wait_for_state(bootstrap, topics.state, covered=change_at, counted=change_at)
        produce_json(
            bootstrap,
            topics.input,
            records[change_at:],
            partition_of=lambda i: (change_at + i) % parts,
        )
        wait_for_state(bootstrap, topics.state, covered=n, counted=n, timeout=90)
    finally:
        assert service.stop() == 0, service.tail()
    (opened,) = _opened(bootstrap, topics.alerts)
    assert opened["subject"] == "f_shift"
    return int(opened["data"]["records_seen"]) - change_at


def test_detection_delay_on_12_partitions_is_within_10_percent_of_one_partition(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    one = _delay(kafka_bootstrap, tmp_path, kafka_topics, parts=1)
    twelve = _delay(kafka_bootstrap, tmp_path, kafka_topics, parts=12)
    assert 0 < one and abs(twelve - one) <= 0.1 * one, (one, twelve)


def test_sigkill_of_either_stage_counts_every_record_once_and_repeats_the_same_alerts(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    """Split and detect run apart; each is killed at random points, several times. One input
    partition, so the uninterrupted run's alerts can be compared id for id (stage two merges
    several partitions in arrival order, which timing decides in any run)."""
    n = 60_000
    profile = training_profile(tmp_path / "profile.json")
    reference = make_topics(kafka_topics, partitions=1, columns_partitions=3)
    crashing = outputs_for(reference.input, kafka_topics, columns_partitions=3)
    produce_json(kafka_bootstrap, reference.input, shifted_records(n, n // 2))

    uninterrupted = ServiceProcess(
        _config(tmp_path, kafka_bootstrap, reference, profile, "reference"),
        tmp_path / "reference.log",
    )
    try:
        wait_for_state(kafka_bootstrap, reference.state, covered=n, counted=n, timeout=120)
    finally:
        assert uninterrupted.stop() == 0, uninterrupted.tail()

    config = _config(tmp_path, kafka_bootstrap, crashing, profile, "crashing")
    rng = random.Random(11)
    split = ServiceProcess(config, tmp_path / "split-0.log", "--stage", "split")
    detect = ServiceProcess(config, tmp_path / "detect-0.log", "--stage", "detect")
    try:
        for attempt in range(1, 4):
            for stage in ("split", "detect"):
                victim = split if stage == "split" else detect
                victim.wait_for_log("stage_started", timeout=60)
                time.sleep(rng.uniform(0.3, 2.0))  # a random point while it works
                victim.kill()
                fresh = ServiceProcess(
                    config, tmp_path / f"{stage}-{attempt}.log", "--stage", stage
                )
                if stage == "split":
                    split = fresh
                else:
                    detect = fresh
        wait_for_state(kafka_bootstrap, crashing.state, covered=n, counted=n, timeout=120)
    finally:
        statuses = _stop_all(split, detect)
    assert statuses == [0, 0], split.tail() + detect.tail()

    # (a) every record counted exactly once, by every feature's bank
    seen = feature_records_seen(latest_snapshots(kafka_bootstrap, crashing.state))
    assert seen == dict.fromkeys(ALL_FEATURES, n)
    # (b) a replayed alert is byte-identical to its first copy, (c) ids and contents equal
    crashed = alerts_by_id(kafka_bootstrap, crashing.alerts)
    expected = alerts_by_id(kafka_bootstrap, reference.alerts)
    assert expected, "the scenario must raise alerts"
    assert all(len(payloads) == 1 for payloads in crashed.values())
    assert crashed == expected


def test_a_detect_process_joining_and_leaving_mid_stream_neither_resets_nor_double_counts(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    """A second detect process takes over some columns partitions (their features' banks move
    to it through the state topic), then leaves and hands them back."""
    n, third = 90_000, 30_000
    topics = make_topics(kafka_topics, partitions=3, columns_partitions=6)
    profile = training_profile(tmp_path / "profile.json")
    # A static member that leaves hands its partitions back when its session times out.
    config = _config(
        tmp_path,
        kafka_bootstrap,
        topics,
        profile,
        "join-leave",
        kafka={"client": {"session.timeout.ms": 6000}},
    )
    records = shifted_records(n, n // 2)

    def produce(part: slice) -> None:
        produce_json(
            kafka_bootstrap,
            topics.input,
            records[part],
            partition_of=lambda i: ((part.start or 0) + i) % 3,
        )

    produce(slice(0, third))
    split = ServiceProcess(config, tmp_path / "split.log", "--stage", "split")
    first = ServiceProcess(config, tmp_path / "detect-a.log", "--stage", "detect")
    second = None
    try:
        wait_for_state(kafka_bootstrap, topics.state, third, third, every_feature=True)
        second = ServiceProcess(config, tmp_path / "detect-b.log", "--stage", "detect")
        first.wait_for_log("partitions_revoked", timeout=60)  # the group rebalanced

        produce(slice(third, 2 * third))
        wait_for_state(kafka_bootstrap, topics.state, 2 * third, 2 * third, every_feature=True)
        assert second.stop() == 0, second.tail()
        produce(slice(2 * third, n))
        wait_for_state(kafka_bootstrap, topics.state, n, n, timeout=90, every_feature=True)
    finally:
        statuses = _stop_all(split, first, second)
    assert statuses[:2] == [0, 0], split.tail() + first.tail()
    seen = feature_records_seen(latest_snapshots(kafka_bootstrap, topics.state))
    assert seen == dict.fromkeys(ALL_FEATURES, n)
    taken = [
        e for e in second.log_events() if e["event"] in ("partition_restored", "partition_new")
    ]
    assert taken, "the second detect process took columns partitions over"
    handed_back = [e for e in first.log_events() if e["event"] == "partition_restored"]
    assert handed_back, "the first detect process restored the partitions handed back"
    opened = _opened(kafka_bootstrap, topics.alerts)
    assert [ce["subject"] for ce in opened] == ["f_shift"]
