"""A DLQ that refuses records: the partition stops, loudly, and resumes once it accepts them.

docs/architecture.md "Delivery semantics" 5: an offset is committed only past records that
were either processed or confirmed on the DLQ; when the DLQ refuses a record, progress on
that partition stops rather than skip it.

How the DLQ refuses: ``min.insync.replicas=2`` does not refuse on a one-node broker (since
Kafka 3.7 the broker enforces min(min.insync.replicas, replica count), KAFKA-15583), so the
DLQ topic's ``max.message.bytes`` drops to 1 byte once the service runs: the broker then
refuses every DLQ message (MSG_SIZE_TOO_LARGE). It is lowered after start-up, so that the
service cannot size its DLQ records to the topic's limit when it starts; restoring the limit
makes the DLQ accept records again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from tests.faults.run_outcome import RunOutcome, log_tail, wait_until_covered
from tests.service_data import live_records
from tests.service_harness import (
    ServiceProcess,
    ServiceTopics,
    latest_snapshots,
    make_topics,
    produce_json,
    read_all,
    write_config,
)

pytestmark = [pytest.mark.faults, pytest.mark.kafka]

N_GOOD = 10_000
PARTITIONS = 2
# Positions in the produced stream; record i goes to partition i % 2, at offset i // 2.
BAD_AT = (3_000, 6_000, 9_000)
BAD_PARTITION = 0
REFUSING = "1"  # max.message.bytes: every message is larger
PROBE = b"{probe"  # what the test itself sends to the DLQ to learn whether it refuses
SOURCE_HEADERS = ("topic", "partition", "offset")
STALL_TIMEOUT_S = 120.0  # a partition held back a while (30 s by default) is called stalled
STALL_WATCH_S = 5.0  # how long the held-back position is still watched after the report
FEATURES = {"input": {"features_path": "features", "ignore": ["request_id"]}}
# A partition held for 2 s counts as stalled (30 s by default): the test waits less.
CHECKPOINTS = {"checkpoint": {"every_records": 1000, "every_seconds": 0.5, "stall_after_s": 2.0}}


def _set_dlq_limit(admin: AdminClient, topic: str, max_message_bytes: str | None) -> None:
    """Set the topic's ``max.message.bytes``, or (None) go back to the broker's default."""
    operation = AlterConfigOpType.SET if max_message_bytes else AlterConfigOpType.DELETE
    entry = ConfigEntry("max.message.bytes", max_message_bytes, incremental_operation=operation)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[entry])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)


def _refusal_of(bootstrap: str, topic: str) -> KafkaError | None:
    """The broker's answer to one acks=all message on ``topic`` (None: accepted)."""
    answers: list[KafkaError | None] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 5000})
    producer.produce(topic, PROBE, on_delivery=lambda err, _msg: answers.append(err))
    assert producer.flush(15) == 0
    return answers[0]


class HeldBack:
    """Watches one partition's snapshot and committed offsets against a bound.

    The committed offsets are read by a consumer with the group of the service's split stage
    (``<group_id>.split``, which commits the input offsets) that never subscribes:
    ``committed()`` asks the coordinator without joining the group.
    """

    def __init__(self, bootstrap: str, topics: ServiceTopics, group: str, bound: int) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.bound = bound
        self.offsets_reader = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"{group}.split",
                "enable.auto.commit": False,
            }
        )

    def close(self) -> None:
        self.offsets_reader.close()

    def assert_within_bound(self, logs: str) -> None:
        snapshot_offset = max(
            (
                s["next_offset"] or 0
                for s in latest_snapshots(self.bootstrap, self.topics.state).values()
                if (s["topic"], s["partition"]) == (self.topics.input, BAD_PARTITION)
            ),
            default=0,
        )
        assert snapshot_offset <= self.bound, (
            f"a snapshot covers offsets up to {snapshot_offset}, past the refused DLQ record "
            f"at {self.bound}:\n{logs}"
        )
        [committed] = self.offsets_reader.committed(
            [TopicPartition(self.topics.input, BAD_PARTITION)], timeout=10
        )
        assert committed.error is None, committed.error
        assert committed.offset <= self.bound, (
            f"the group committed offset {committed.offset}, past the refused DLQ record at "
            f"{self.bound}:\n{logs}"
        )

    def watch(self, service: ServiceProcess, stall_timeout_s: float) -> dict[str, Any]:
        """Hold the bound until ``partition_stalled`` is logged and ``STALL_WATCH_S`` more;
        return that event. A service that exits fails, after one last look at the offsets."""
        stalled: dict[str, Any] | None = None
        deadline = time.monotonic() + stall_timeout_s
        while True:
            exit_status = service.proc.poll()
            self.assert_within_bound(log_tail(service))
            assert exit_status is None, (
                f"the service exited with {exit_status} while the DLQ refuses:\n{log_tail(service)}"
            )
            if stalled is None:
                stalled = next(
                    (e for e in service.log_events() if e.get("event") == "partition_stalled"),
                    None,
                )
                if stalled is not None:
                    deadline = time.monotonic() + STALL_WATCH_S
            if time.monotonic() >= deadline:
                assert stalled is not None, (
                    f"no partition_stalled in the service log after {stall_timeout_s}s of "
                    f"refusals:\n{log_tail(service)}"
                )
                return stalled
            time.sleep(0.5)


def _malformed(i: int) -> bytes:
    return b'{"request_id": "bad-%d", "features": {"f_shift": 1.0,' % i


def test_a_refusing_dlq_holds_the_partition_back_loudly_and_it_resumes_once_the_dlq_accepts(
    kafka_bootstrap: str,
    kafka_topics: Callable[..., str],
    start_service: Callable[[Path, str], ServiceProcess],
    tmp_path: Path,
) -> None:
    topics = make_topics(kafka_topics, partitions=PARTITIONS)
    group = f"dlq-{topics.state}"
    config = write_config(
        tmp_path / "config.yaml",
        kafka_bootstrap,
        topics,
        group_id=group,
        extra={**FEATURES, **CHECKPOINTS},
    )
    stream: list[dict | bytes] = list(live_records(N_GOOD, change_at=None))
    for i in BAD_AT:
        assert i % PARTITIONS == BAD_PARTITION
        stream.insert(i, _malformed(i))
    n_records = len(stream)
    bad_offsets = {i // PARTITIONS: stream[i] for i in BAD_AT}
    first_bad = min(bad_offsets)

    service = start_service(config, "service")
    service.wait_for_log("service_started", timeout=60)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    _set_dlq_limit(admin, topics.dlq, REFUSING)
    # The broker applies a topic's new config shortly after it acknowledged the change.
    deadline = time.monotonic() + 30
    while (refusal := _refusal_of(kafka_bootstrap, topics.dlq)) is None:
        assert time.monotonic() < deadline, "the DLQ topic still accepts after 30 s"
        time.sleep(0.5)
    assert refusal.code() == KafkaError.MSG_SIZE_TOO_LARGE, refusal
    produce_json(kafka_bootstrap, topics.input, stream, partition_of=lambda i: i % PARTITIONS)

    # From the first record on, while the DLQ refuses: neither the snapshot nor the group's
    # commit of that partition passes the first bad record, also when the service gives up.
    held_back = HeldBack(kafka_bootstrap, topics, group, first_bad)
    try:
        stalled = held_back.watch(service, stall_timeout_s=STALL_TIMEOUT_S)
    finally:
        held_back.close()
    assert stalled["level"] == "error", stalled
    assert (stalled["topic"], stalled["partition"]) == (topics.input, BAD_PARTITION), stalled
    assert stalled["offset"] in bad_offsets, stalled

    _set_dlq_limit(admin, topics.dlq, None)
    deadline = time.monotonic() + 30
    while _refusal_of(kafka_bootstrap, topics.dlq) is not None:
        assert time.monotonic() < deadline, "the DLQ topic still refuses after 30 s"
        time.sleep(0.5)
    wait_until_covered(kafka_bootstrap, topics.state, n_records, PARTITIONS, [service])
    service.wait_for_log("partition_resumed", timeout=60)
    assert service.stop() == 0, log_tail(service)

    outcome = RunOutcome.read(kafka_bootstrap, topics)
    assert outcome.records_seen == N_GOOD, log_tail(service)
    assert outcome.dlq_records == len(BAD_AT), log_tail(service)
    # Each bad record once (at-least-once may repeat it, identical), with its original bytes,
    # a reason and its source position in the headers.
    on_dlq: dict[tuple[bytes | None, ...], set[tuple[bool, bytes]]] = {}
    dlq_messages = [m for m in read_all(kafka_bootstrap, topics.dlq) if m.value() != PROBE]
    for msg in dlq_messages:
        headers = dict(msg.headers() or [])
        source = tuple(headers.get(f"driftwarden.source.{n}") for n in SOURCE_HEADERS)
        on_dlq.setdefault(source, set()).add((bool(headers.get("driftwarden.reason")), msg.value()))
    expected = {
        (topics.input.encode(), str(BAD_PARTITION).encode(), str(offset).encode()): {(True, value)}
        for offset, value in bad_offsets.items()
    }
    assert on_dlq == expected, (
        "DLQ messages (headers, value): "
        f"{[(m.headers(), m.value()) for m in dlq_messages]}\n{log_tail(service)}"
    )
