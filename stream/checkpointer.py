"""The checkpoint: the one place where the delivery guarantee is made.

At-least-once (default), in this order and only in this order:

1. confirm delivery of every alert and DLQ record produced so far;
2. produce a snapshot of each partition's detector state, naming the next offset it covers,
   to the compacted state topic, and confirm its delivery;
3. commit those offsets to the consumer group (synchronously; partition errors inspected).

A crash anywhere before step 3 replays the records since the previous checkpoint from the
previous snapshot: the detectors see each record exactly once in their state, and the
replayed alerts carry the same deterministic ids. Exactly-once mode puts alerts, DLQ records,
snapshots and offsets in one Kafka transaction (``send_offsets_to_transaction``).
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from confluent_kafka import Consumer, KafkaException, TopicPartition

from stream.delivery import TrackedProducer
from stream.partition_state import PartitionState
from stream.state_store import state_key

__all__ = ["Checkpointer", "CommitFailed"]

log = structlog.get_logger(__name__)


class CommitFailed(RuntimeError):
    """The offset commit was refused for at least one partition."""


class Checkpointer:
    """Runs checkpoints for a consumer and its producer (see the module docstring)."""

    def __init__(
        self,
        consumer: Consumer,
        producer: TrackedProducer,
        state_topic: str,
        group_id: str,
        exactly_once: bool = False,
        timeout_s: float = 30.0,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.state_topic = state_topic
        self.group_id = group_id
        self.exactly_once = exactly_once
        self.timeout_s = timeout_s
        self.checkpoints = 0

    def begin(self) -> None:
        """Exactly-once: open the transaction the next records' outputs belong to."""
        if self.exactly_once:
            self.producer.producer.begin_transaction()

    def checkpoint(self, states: Iterable[PartitionState]) -> list[TopicPartition]:
        """Make everything processed so far durable; return the committed offsets."""
        covered = [s for s in states if s.next_offset is not None]
        if self.exactly_once:
            return self._transactional(covered)
        # 1. Alerts and DLQ records first: a snapshot must never cover an unconfirmed alert.
        self.producer.confirm(self.timeout_s)
        # 2. State, naming the offsets it covers.
        for state in covered:
            key = state_key(self.group_id, state.topic, state.partition)
            self.producer.produce(self.state_topic, state.snapshot_bytes(), key=key)
        self.producer.confirm(self.timeout_s)
        # 3. Offsets last.
        offsets = [TopicPartition(s.topic, s.partition, int(s.next_offset or 0)) for s in covered]
        if offsets:
            self._commit(offsets)
        self.checkpoints += 1
        log.debug("checkpoint", partitions=len(offsets), n=self.checkpoints)
        return offsets

    def _transactional(self, covered: list[PartitionState]) -> list[TopicPartition]:
        txn = self.producer.producer
        for state in covered:
            key = state_key(self.group_id, state.topic, state.partition)
            self.producer.produce(self.state_topic, state.snapshot_bytes(), key=key)
        offsets = [TopicPartition(s.topic, s.partition, int(s.next_offset or 0)) for s in covered]
        try:
            if offsets:
                txn.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata(), self.timeout_s
                )
            txn.commit_transaction(self.timeout_s)
        except KafkaException as exc:
            error = exc.args[0]
            if error.txn_requires_abort():
                txn.abort_transaction(self.timeout_s)
            raise CommitFailed(f"transaction not committed: {error.str()}") from exc
        self.producer.confirm(self.timeout_s)
        self.checkpoints += 1
        txn.begin_transaction()
        return offsets

    def _commit(self, offsets: list[TopicPartition]) -> None:
        try:
            result = self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise CommitFailed(f"offset commit failed: {exc}") from exc
        failed = [tp for tp in result or [] if tp.error is not None]
        if failed:
            detail = ", ".join(f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed)
            raise CommitFailed(f"offset commit refused for {detail}")
