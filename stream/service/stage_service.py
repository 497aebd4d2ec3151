"""One stage of the service on its own consumer group: the loop, checkpoints, rebalances.

A ``StageService`` consumes its stage's topics (stage one, ``split``: the input topics; stage
two, ``detect``: the columns topic) in its own group (``<group_id>.split`` /
``<group_id>.detect``), keeps one state per assigned partition, and runs each consumed batch
through its ``Stage``: ``consume(n)`` → per-partition message lists → ``Stage.process`` →
outputs produced on behalf of their partition. ``Checkpointer`` makes it durable every N
records or T seconds, on partition revoke and on shutdown; a partition whose outputs the
broker will not confirm is held back alone (``Stalls``). The loop, never the HTTP thread,
decides liveness and readiness, and a broker outage only pauses it (``BrokerWatch``).
"""

from __future__ import annotations

import functools
import json
import threading
import time

import structlog
from confluent_kafka import (
    OFFSET_STORED,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from driftwarden.stream.config import ServiceConfig
from driftwarden.stream.ops.health_server import Probes, readiness
from driftwarden.stream.ops.logs import LibrdkafkaLog
from driftwarden.stream.ops.metrics import ServiceMetrics
from driftwarden.stream.service.broker_watch import BrokerWatch
from driftwarden.stream.service.checkpointer import (
    Checkpointer,
    CheckpointResult,
    TransactionAborted,
)
from driftwarden.stream.service.delivery import Owner, TrackedProducer
from driftwarden.stream.service.instance import InstanceIdentity
from driftwarden.stream.service.partition_state import PartitionState
from driftwarden.stream.service.service_stats import ServiceStats
from driftwarden.stream.service.stage import Stage
from driftwarden.stream.service.stalls import Stalls
from driftwarden.stream.service.state_store import read_latest, state_key

__all__ = ["StageService"]

log = structlog.get_logger(__name__)

_EOS_RETRY_S = 1.0
_OUTAGE_CHECKPOINT_S = 30.0


class StageService:
    """Runs one ``Stage`` until ``stop`` is set (see the module docstring).

    ``stats``, ``metrics`` and ``watch`` are shared with the other stage when both run in
    one process (each stage's consumer reports to ``watch`` under the stage's name, so the
    process logs one outage whichever stage notices it first); ``probes`` and ``stop`` (set:
    finish the batch, checkpoint, close) are this stage's own.
    """

    def __init__(
        self,
        config: ServiceConfig,
        stage: Stage,
        stats: ServiceStats,
        metrics: ServiceMetrics,
        stop: threading.Event,
        watch: BrokerWatch,
    ) -> None:
        self.config = config
        self.stage = stage
        self.group_id = f"{config.kafka.group_id}.{stage.name}"
        self.stats = stats
        self.metrics = metrics
        self.watch = watch
        self.probes = Probes(liveness_timeout_s=config.service.liveness_timeout_s)
        self.states: dict[tuple[str, int], PartitionState] = {}
        self.assigned = False
        self.stop = stop
        self._reloaded: ServiceConfig | None = None
        self._consumer: Consumer | None = None
        self._producer: TrackedProducer | None = None
        self._checkpointer: Checkpointer | None = None
        self._stalls: Stalls | None = None

    def request_reload(self, config: ServiceConfig) -> None:
        """Apply ``config``'s thresholds before the next batch."""
        self._reloaded = config

    def assigned_changed(self) -> None:
        self.metrics.set_assigned(self.stage.name, len(self.states))

    # -- set-up ----------------------------------------------------------------------------

    def _clients(self, identity: InstanceIdentity) -> tuple[Consumer, TrackedProducer]:
        kafka = self.config.kafka
        consumer_conf = self.config.librdkafka(
            **{
                "group.id": self.group_id,
                # Static membership: a restarted instance takes its partitions back at once.
                "group.instance.id": identity.name,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "statistics.interval.ms": 5000,
                "stats_cb": self._on_statistics,
                # The consumer's report opens an outage (one per process, see BrokerWatch).
                "error_cb": functools.partial(self.watch.on_error, consumer=self.stage.name),
                "logger": LibrdkafkaLog(),
            }
        )
        producer_conf = self.config.librdkafka(
            **{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                # Column chunks are mostly float64 bits, which lz4 barely shrinks.
                "compression.type": self.stage.compression,
                # Snapshots of many features exceed librdkafka's 1 MB default; the state
                # topic is created with the same 16 MiB limit (stream/topics.py).
                "message.max.bytes": 16 * 1024 * 1024,
                "error_cb": self.watch.on_producer_error,
                "logger": LibrdkafkaLog(),
            }
        )
        if kafka.exactly_once:
            producer_conf["transactional.id"] = identity.transactional_id(self.group_id)
        producer = Producer(producer_conf)
        if kafka.exactly_once:
            producer.init_transactions(30)
        return Consumer(consumer_conf), TrackedProducer(producer)

    def _on_statistics(self, stats_json: str) -> None:
        try:
            stats = json.loads(stats_json)
        except (ValueError, TypeError) as exc:
            log.warning("kafka_statistics_unreadable", error=str(exc))
            return
        self.metrics.observe_statistics(stats)
        try:
            self.watch.on_stats(stats, consumer=self.stage.name)
        except (AttributeError, TypeError):
            pass  # not a statistics document: observe_statistics logged it

    # -- rebalance -------------------------------------------------------------------------

    def _restore(self, partitions: list[TopicPartition]) -> None:
        """Each partition's state from its latest snapshot (fresh without one), and the
        partition's position set to the offset the snapshot names."""
        keys = {state_key(self.group_id, tp.topic, tp.partition): tp for tp in partitions}
        saved = read_latest(
            self.config.librdkafka(logger=LibrdkafkaLog(), error_cb=self.watch.on_producer_error),
            self.config.kafka.state_topic,
            keys,
        )
        for key, tp in keys.items():
            payload = saved.get(key)
            if payload is not None:
                state = self.stage.restore_state(payload)
                tp.offset = state.next_offset if state.next_offset is not None else OFFSET_STORED
                log.info(
                    "partition_restored",
                    topic=tp.topic,
                    partition=tp.partition,
                    next_offset=state.next_offset,
                    stage=self.stage.name,
                )
            else:
                state = self.stage.new_state(tp.topic, tp.partition)
                tp.offset = OFFSET_STORED
                log.info(
                    "partition_new", topic=tp.topic, partition=tp.partition, stage=self.stage.name
                )
            self.states[(tp.topic, tp.partition)] = state

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._restore(partitions)
        consumer.assign(partitions)
        # A partition paused while stalled and then lost (a broker outage past the session
        # timeout) keeps librdkafka's pause flag when it is assigned again; its stall was
        # forgotten with it, so nothing would ever resume it.
        consumer.resume(partitions)
        self.assigned = True
        self.assigned_changed()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._checkpointer is not None and self.states:
            self._checkpoint(time.monotonic())
        self._drop(partitions)
        log.info("partitions_revoked", partitions=len(partitions), stage=self.stage.name)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop(partitions)
        log.warning("partitions_lost", partitions=len(partitions), stage=self.stage.name)

    def _drop(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            owner = (tp.topic, tp.partition)
            self.states.pop(owner, None)
            self.stage.forget(owner)
            if self._producer is not None:
                self._producer.forget(owner)
            if self._stalls is not None:
                self._stalls.forget(owner)
        self.assigned = bool(self.states)
        self.assigned_changed()

    def _rewind(self, consumer: Consumer) -> None:
        """Exactly-once, after an aborted transaction: every partition back to its last
        snapshot, so the aborted outputs are produced again and nothing is counted twice."""
        partitions = [TopicPartition(t, p) for t, p in self.states]
        for owner in self.states:
            self.stage.forget(owner)
        self.states.clear()
        self._restore(partitions)
        for tp in partitions:
            if tp.offset == OFFSET_STORED:
                committed = consumer.committed([TopicPartition(tp.topic, tp.partition)], 30)
                tp.offset = committed[0].offset if committed[0].offset >= 0 else 0
            consumer.seek(tp)
        log.warning("partitions_rewound", partitions=len(partitions))

    # -- the loop --------------------------------------------------------------------------

    def serve(self, identity: InstanceIdentity) -> None:
        """Clients up, the loop until stopped, a last checkpoint, clients down."""
        consumer, producer = self._clients(identity)
        self._consumer, self._producer = consumer, producer
        checkpointer = Checkpointer(
            consumer,
            producer,
            self.config.kafka.state_topic,
            self.group_id,
            self.config.kafka.exactly_once,
            self.config.checkpoint.timeout_s,
        )
        self._checkpointer = checkpointer
        self._stalls = Stalls(producer, self.config.checkpoint.stall_after_s)
        self.stage.open(producer)
        try:
            consumer.subscribe(
                self.stage.topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            checkpointer.begin()
            log.info(
                "stage_started",
                stage=self.stage.name,
                topics=self.stage.topics,
                group=self.group_id,
                instance=identity.name,
            )
            self._loop(consumer, producer, checkpointer)
            if self.states:
                result = self._checkpoint(time.monotonic())
                if result.held:
                    log.warning(
                        "stopped_with_unconfirmed_outputs",
                        stage=self.stage.name,
                        partitions=[f"{s.topic}[{s.partition}]" for s in result.held],
                        note="a restart replays these partitions from their last snapshot",
                    )
        finally:
            consumer.close()
            producer.producer.flush(self.config.checkpoint.timeout_s)

    def _loop(
        self, consumer: Consumer, producer: TrackedProducer, checkpointer: Checkpointer
    ) -> None:
        kafka = self.config.kafka
        since_checkpoint = 0
        owed = False  # the last checkpoint had to hold partitions back
        last_checkpoint = last_probe = time.monotonic()
        last_progress, progress_records = last_checkpoint, self.stage.progress()
        while not self.stop.is_set():
            now = time.monotonic()
            self.probes.beat(now)
            if self._reloaded is not None:
                self._apply_reload()
            producer.retry_due()
            if checkpointer.pending:  # exactly-once: a commit waits for the broker
                self.stop.wait(_EOS_RETRY_S)
                consumer.consume(1, 0)  # serve rebalance callbacks; partitions are paused
                owed = bool(self._checkpoint(time.monotonic(), consumer).held)
                continue
            messages = consumer.consume(kafka.consume_batch, kafka.consume_timeout_s)
            started = time.perf_counter()
            processed = self._process(messages)
            if processed:
                since_checkpoint += processed
                self.stats.batch_seconds.append(time.perf_counter() - started)
                del self.stats.batch_seconds[:-1000]
            producer.poll()
            now = time.monotonic()
            # While no broker is reachable a checkpoint can only wait out its timeout, so it
            # is tried rarely then, yet still tried: a missed "recovered" never stops progress.
            every = (
                self.config.checkpoint.every_seconds
                if self.watch.reachable
                else max(self.config.checkpoint.every_seconds, _OUTAGE_CHECKPOINT_S)
            )
            due = now - last_checkpoint >= every
            if (since_checkpoint or owed) and (
                due
                or (
                    self.watch.reachable
                    and since_checkpoint >= self.config.checkpoint.every_records
                )
            ):
                result = self._checkpoint(now, consumer)
                owed = bool(result.held)
                since_checkpoint, last_checkpoint = 0, time.monotonic()
            if now - last_probe >= 1.0:
                self._update_readiness()
                last_probe = now
            if now - last_progress >= self.config.service.progress_every_s:
                self._log_progress(now - last_progress, progress_records)
                last_progress, progress_records = now, self.stage.progress()

    def _checkpoint(self, now: float, consumer: Consumer | None = None) -> CheckpointResult:
        """One checkpoint, then pause the partitions it stalls and resume the ones it frees."""
        checkpointer, stalls = self._checkpointer, self._stalls
        assert checkpointer is not None and stalls is not None
        consumer = consumer or self._consumer
        try:
            result = checkpointer.checkpoint(list(self.states.values()))
        except TransactionAborted:
            assert consumer is not None
            self._rewind(consumer)
            return CheckpointResult([], list(self.states.values()))
        if result.committed:
            self.metrics.observe_checkpoint()
        covered: list[Owner] = [(tp.topic, tp.partition) for tp in result.committed]
        to_pause, to_resume = stalls.update((s.owner for s in result.held), covered, now)
        if checkpointer.exactly_once:  # nothing is consumed while a commit is pending
            paused = checkpointer.pending
            to_pause, to_resume = (list(self.states), []) if paused else ([], covered)
        if consumer is not None and to_pause:
            consumer.pause([TopicPartition(t, p) for t, p in to_pause])
        if consumer is not None and to_resume:
            consumer.resume([TopicPartition(t, p) for t, p in to_resume])
        self.metrics.set_stalled(self.stage.name, len(stalls.stalled))
        return result

    def _update_readiness(self) -> None:
        stalled = self._stalls.stalled if self._stalls is not None else []
        if stalled:
            self.probes.set_ready(False, f"{len(stalled)} partition(s) stalled")
            return
        lag, max_lag = self.lag(), self.config.service.ready_max_lag
        self.probes.set_ready(*readiness(self.assigned, lag, max_lag, self.watch.reachable))

    def _log_progress(self, seconds: float, before: int) -> None:
        self.stage.report(list(self.states.values()), seconds, before)

    def _process(self, messages: list[Message]) -> int:
        processed = self.stage.process(messages, self._state_of, self._has_more)
        if processed:
            self.stats.batches += 1
        return processed

    def _state_of(self, owner: Owner) -> PartitionState:
        state = self.states.get(owner)
        if state is None:
            state = self.states[owner] = self.stage.new_state(*owner)
        return state

    def _has_more(self, owner: Owner) -> bool:
        """Whether the broker holds records of the partition this consumer has not
        returned yet (its position is behind the cached high watermark)."""
        consumer = self._consumer
        if consumer is None:
            return False
        tp = TopicPartition(*owner)
        try:
            (position,) = consumer.position([tp])
            low, high = consumer.get_watermark_offsets(tp, cached=True)
        except KafkaException:
            return False
        if high < 0:
            return True  # not fetched yet: the partition waits for up to max_wait_s
        offset = position.offset
        if offset < 0:  # nothing returned yet: it starts where its state left off
            state = self.states.get(owner)
            offset = state.next_offset if state is not None and state.next_offset else low
        return offset < high

    def _apply_reload(self) -> None:
        new, self._reloaded = self._reloaded, None
        if new is None:
            return
        self.stage.reload(new, list(self.states.values()))
        self.config = new

    def lag(self) -> int | None:
        """Records between each partition's next offset and its high watermark, summed.

        Only the loop's thread calls this: the consumer is not safe to share with the HTTP
        thread (a call from there waits behind ``consume()``).
        """
        consumer = self._consumer
        if consumer is None or not self.states:
            return None
        total = 0
        for (topic, partition), state in self.states.items():
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                return None
            if high < 0:
                return None
            total += max(high - (state.next_offset or 0), 0)
        return total
