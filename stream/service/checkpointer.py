"""The checkpoint: the one place where the delivery guarantee is made.

At-least-once (default), in this order and only in this order, partition by partition:

1. serve delivery reports for what is in flight (waiting at most ``timeout_s``); a partition
   whose alerts or DLQ records are not all confirmed is *held*: steps 2 and 3 skip it;
2. produce a snapshot of each other partition's detector state, naming the next offset it
   covers, to the compacted state topic, and wait for its confirmation;
3. commit the offsets of the partitions whose snapshot is confirmed (synchronously; partition
   errors inspected and logged, never fatal: the snapshot, not the committed offset, is what a
   restart resumes from).

A crash anywhere before step 2 completes replays the records since the previous checkpoint
from the previous snapshot: the detectors see each record exactly once in their state, and
the replayed alerts carry the same deterministic ids. A held partition is never committed
past an unconfirmed record, however long the broker refuses it (``delivery``). A
checkpoint never raises for a broker that is away: it covers less, and the next one retries.

Exactly-once mode puts alerts, DLQ records, snapshots and offsets in one Kafka transaction
(``send_offsets_to_transaction``). A commit that fails with a retriable error stays pending
(``pending``) and is tried again by the next call; one that needs an abort is aborted and
raises ``TransactionAborted``: the caller restores every partition from its last snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from driftwarden.stream.service.delivery import TrackedProducer
from driftwarden.stream.service.partition_state import PartitionState
from driftwarden.stream.service.state_store import state_key

__all__ = ["CheckpointResult", "Checkpointer", "CommitFailed", "TransactionAborted"]

log = structlog.get_logger(__name__)


class CommitFailed(RuntimeError):
    """The transaction cannot be committed, ever (the producer is fenced or fatal)."""


class TransactionAborted(RuntimeError):
    """The transaction was aborted: outputs since the last checkpoint are gone, and every
    partition must be restored from its last snapshot."""


@dataclass(slots=True)
class CheckpointResult:
    """What one checkpoint made durable (``committed``) and what it had to leave (``held``)."""

    committed: list[TopicPartition] = field(default_factory=list)
    held: list[PartitionState] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every partition with new records is covered."""
        return not self.held


class Checkpointer:
    """Runs checkpoints for a consumer and its producer (see the module docstring)."""

    def __init__(
        self,
        consumer: Consumer,
        producer: TrackedProducer,
        state_topic: str,
        group_id: str,
        exactly_once: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.state_topic = state_topic
        self.group_id = group_id
        self.exactly_once = exactly_once
        self.timeout_s = timeout_s
        self.checkpoints = 0
        self.pending = False  # exactly-once: a commit is waiting to be retried

    def begin(self) -> None:
        """Exactly-once: open the transaction the next records' outputs belong to."""
        if self.exactly_once:
            self.producer.producer.begin_transaction()

    def checkpoint(self, states: Iterable[PartitionState]) -> CheckpointResult:
        """Make everything processed so far durable, as far as the broker allows."""
        covered = [s for s in states if s.next_offset is not None]
        if self.exactly_once:
            return self._transactional(covered)
        # 1. Alerts and DLQ records first: a snapshot must never cover an unconfirmed one.
        self.producer.settle(self.timeout_s)
        ready = [s for s in covered if not self.producer.unconfirmed(s.owner)]
        # 2. State, naming the offsets it covers.
        self._produce_snapshots(ready)
        self.producer.settle(self.timeout_s)
        durable = [s for s in ready if not self.producer.unconfirmed(s.owner)]
        # 3. Offsets last.
        offsets = [TopicPartition(s.topic, s.partition, int(s.next_offset or 0)) for s in durable]
        if offsets:
            self._commit(offsets)
        self.checkpoints += 1
        held = [s for s in covered if s not in durable]
        log.debug("checkpoint", partitions=len(offsets), held=len(held), n=self.checkpoints)
        return CheckpointResult(offsets, held)

    def _transactional(self, covered: list[PartitionState]) -> CheckpointResult:
        offsets = [TopicPartition(s.topic, s.partition, int(s.next_offset or 0)) for s in covered]
        if not self.pending:
            self._produce_snapshots(covered)
        txn = self.producer.producer
        try:
            if offsets and not self.pending:
                txn.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata(), self.timeout_s
                )
            txn.commit_transaction(self.timeout_s)
        except KafkaException as exc:
            self._on_transaction_error(exc.args[0])
            return CheckpointResult([], covered)
        self.pending = False
        self.producer.settle(0)
        self.checkpoints += 1
        txn.begin_transaction()
        return CheckpointResult(offsets, [])

    def _produce_snapshots(self, states: list[PartitionState]) -> None:
        """Each partition's state, keyed by partition, naming the next offset it covers."""
        for state in states:
            self.producer.produce(
                self.state_topic,
                state.snapshot_bytes(),
                key=state_key(self.group_id, state.topic, state.partition),
                owner=state.owner,
                source_offset=int(state.next_offset or 0),
            )

    def _on_transaction_error(self, error: KafkaError) -> None:
        txn = self.producer.producer
        if error.fatal():
            raise CommitFailed(
                f"transaction cannot commit: {error.str()} (another instance with the same "
                "transactional id took over, or the producer failed for good)"
            )
        if error.txn_requires_abort():
            log.warning("transaction_aborted", error=error.str())
            txn.abort_transaction(self.timeout_s)
            self.pending = False
            txn.begin_transaction()
            raise TransactionAborted(error.str())
        # Retriable (a broker away, a timeout): commit_transaction is called again.
        self.pending = True
        log.warning("transaction_commit_pending", error=error.str())

    def _commit(self, offsets: list[TopicPartition]) -> None:
        try:
            result = self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("commit_failed", error=str(exc.args[0].str() if exc.args else exc))
            return
        failed = [tp for tp in result or [] if tp.error is not None]
        if failed:
            log.warning(
                "commit_failed",
                partitions=[f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed],
            )
