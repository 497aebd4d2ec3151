"""Detector-state snapshots on the compacted state topic, one key per input partition."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

__all__ = ["read_latest", "state_key"]

log = structlog.get_logger(__name__)

# Right after a topic is created its partitions may have no leader for a moment.
_LEADERLESS = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)
_RETRY_PAUSE_S = 0.2


def state_key(group_id: str, topic: str, partition: int) -> bytes:
    """The compaction key of one input partition's state.

    >>> state_key("driftwarden", "features", 3)
    b'driftwarden/features/3'
    """
    return f"{group_id}/{topic}/{partition}".encode()


def read_latest(
    client_config: Mapping[str, Any],
    state_topic: str,
    keys: Iterable[bytes],
    timeout_s: float = 60.0,
) -> dict[bytes, bytes]:
    """Read the state topic from the beginning to its end; return the last value of each key.

    A tombstone (null value) removes the key. Raises ``TimeoutError`` if the end is not
    reached within ``timeout_s`` (the caller must not start from stale state).
    """
    wanted = set(keys)
    found: dict[bytes, bytes] = {}
    if not wanted:
        return found
    consumer = Consumer(
        {
            **client_config,
            "group.id": f"driftwarden-state-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        metadata = consumer.list_topics(state_topic, timeout=timeout_s)
        described = metadata.topics.get(state_topic)
        if described is None or described.error is not None:
            raise KafkaException(
                f"state topic {state_topic!r} is not available: "
                f"{described.error if described else 'missing'}"
            )
        partitions = []
        ends: dict[int, int] = {}
        setup_deadline = time.monotonic() + timeout_s
        for p in described.partitions:
            low, high = _watermarks(consumer, TopicPartition(state_topic, p), setup_deadline)
            if high > low:
                ends[p] = high
                partitions.append(TopicPartition(state_topic, p, OFFSET_BEGINNING))
        if not partitions:
            return found
        consumer.assign(partitions)
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise TimeoutError(f"state topic {state_topic!r} not read to its end in time")
            for msg in consumer.consume(1000, timeout=0.5):
                err = msg.error()
                partition = int(msg.partition() or 0)
                if err is not None:
                    if err.code() == err._PARTITION_EOF:
                        ends.pop(partition, None)
                        continue
                    raise KafkaException(err)
                key = msg.key()
                if key in wanted:
                    value = msg.value()
                    if value is None:
                        found.pop(key, None)
                    else:
                        found[key] = value
                offset = msg.offset()
                if offset is not None and offset + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
    finally:
        consumer.close()
    log.info("state_read", topic=state_topic, keys=len(wanted), found=len(found))
    return found


def _watermarks(consumer: Consumer, partition: TopicPartition, deadline: float) -> tuple[int, int]:
    """The partition's low and high offsets, asked again while it has no leader yet."""
    while True:
        try:
            low, high = consumer.get_watermark_offsets(
                partition, timeout=max(0.1, deadline - time.monotonic())
            )
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not isinstance(error, KafkaError) or time.monotonic() >= deadline:
                raise
            if error.code() not in _LEADERLESS and not error.retriable():
                raise
            log.info("state_topic_not_ready", topic=partition.topic, error=error.str())
            time.sleep(_RETRY_PAUSE_S)
