"""What a running or stopped service left on Kafka, read for the report: each feature's
latest live state from the state topic, and the events on the alerts topic in a time range.

``read_live_state`` is the one place that knows the state topic's snapshot format (stage two's
``DetectState``: one per columns-topic partition, with the bank of each of its features);
everything after it works from ``LiveFeatureState``, one per feature.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from driftwarden.detectors.numeric_evidence import NumericEvidence
from driftwarden.detectors.profile import Profile
from driftwarden.stream.cloudevents import MalformedEvent, parse_event
from driftwarden.stream.config import ServiceConfig
from driftwarden.stream.service.detect_stage import DetectState
from driftwarden.stream.service.state_store import read_latest, state_key

__all__ = ["LiveFeatureState", "read_alert_events", "read_live_state"]

log = structlog.get_logger(__name__)

_BATCH = 1000


@dataclass(slots=True)
class LiveFeatureState:
    """One feature's latest live window as the service's detectors hold it: their
    statistics, the live-vs-reference ``summary`` (``live.top`` categories with shares,
    ``live.records``, ...), and for a numeric feature the window's counts in the profile's
    full bins (``bin_counts``, empty when unknown)."""

    statistics: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    bin_counts: list[int] = field(default_factory=list)


def read_live_state(
    config: ServiceConfig, profile: Profile | None, timeout_s: float = 60.0
) -> dict[str, LiveFeatureState]:
    """Each feature's latest live state from the detect stage's snapshots on the state topic.

    Reads the snapshot of every partition of ``kafka.columns_topic`` (a partition without one
    is skipped) and restores its banks: one per feature, fed by every input partition.
    Raises ``KafkaException`` or ``TimeoutError`` when Kafka does not answer, ``ValueError``
    on a snapshot of another format.
    """
    client = config.librdkafka()
    topic, group = config.kafka.columns_topic, f"{config.kafka.group_id}.detect"
    probe = Consumer({**client, "group.id": f"driftwarden-report-{uuid.uuid4().hex[:8]}"})
    try:
        described = probe.list_topics(topic, timeout=timeout_s).topics.get(topic)
        keys = (
            [state_key(group, topic, p) for p in described.partitions]
            if described is not None and described.error is None
            else []
        )
    finally:
        probe.close()
    saved = read_latest(client, config.kafka.state_topic, keys, timeout_s)
    live: dict[str, LiveFeatureState] = {}
    for key in sorted(saved):
        banks = DetectState.restore(saved[key], config.detectors, profile).banks
        for name, bank in banks.banks.items():
            monitor = bank.monitors.get(name)
            state = live.setdefault(name, LiveFeatureState())
            state.statistics = bank.statistics().get(name, {})
            evidence = monitor.evidence if monitor is not None else None
            if evidence is None:
                continue
            state.summary = evidence.latest_summary()
            if isinstance(evidence, NumericEvidence):
                state.bin_counts = evidence.latest_bin_counts()
    log.info("report_state_read", snapshots=len(saved), features=len(live))
    return live


def read_alert_events(
    config: ServiceConfig,
    since_ms: int | None,
    until_ms: int | None,
    timeout_s: float = 60.0,
    limit: int = 1_000_000,
) -> list[dict[str, Any]]:
    """The CloudEvents on the alerts topic published from ``since_ms`` to ``until_ms``
    (Kafka timestamps, ms; None: no bound), up to the topic's end when called and at most
    ``limit`` of them; a message that is not a CloudEvent is skipped and logged."""
    consumer = Consumer(
        config.librdkafka(
            **{
                "group.id": f"driftwarden-report-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
            }
        )
    )
    topic = config.kafka.alerts_topic
    events: list[dict[str, Any]] = []
    try:
        described = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if described is None or described.error is not None:
            raise KafkaException(f"alerts topic {topic!r} is not available on the cluster")
        ends, starts = {}, []
        for p in described.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout_s)
            if high > low:
                ends[p] = high
                starts.append(TopicPartition(topic, p, since_ms if since_ms is not None else low))
        if since_ms is not None and starts:
            starts = consumer.offsets_for_times(starts, timeout=timeout_s)
        starts = [tp for tp in starts if 0 <= tp.offset < ends[tp.partition]]
        ends = {tp.partition: ends[tp.partition] for tp in starts}
        consumer.assign(starts)
        deadline = time.monotonic() + timeout_s
        while ends and len(events) < limit:
            if time.monotonic() > deadline:
                raise TimeoutError(f"alerts topic {topic!r} not read to its end in time")
            for msg in consumer.consume(_BATCH, timeout=0.5):
                err = msg.error()
                partition = int(msg.partition() or 0)
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        ends.pop(partition, None)
                        continue
                    raise KafkaException(err)
                offset = int(msg.offset() or 0)
                if offset + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
                stamp = msg.timestamp()[1]
                if until_ms is not None and stamp > until_ms:
                    ends.pop(partition, None)
                    continue
                try:
                    envelope = parse_event(msg.value())
                except MalformedEvent as exc:
                    log.warning(
                        "report_event_skipped", partition=partition, offset=offset, why=str(exc)
                    )
                    continue
                envelope.setdefault("_timestamp_ms", stamp)
                events.append(envelope)
    finally:
        consumer.close()
    log.info("report_alerts_read", topic=topic, events=len(events))
    return events
