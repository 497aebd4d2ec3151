"""The drift service: Kafka consumer → decoder → DetectorBank → CloudEvents alerts.

One batch travels one way: ``consume(n)`` → per-partition payload lists → ``Decoder`` →
``FeatureBatch`` → the partition's ``DetectorBank`` → events on the alerts topic, bad records
on the DLQ (``RecordPath``). ``Checkpointer`` makes it durable every N records or T seconds,
on partition revoke and on shutdown; a partition whose outputs the broker will not confirm
is held back alone (``Stalls``). The loop, never the HTTP thread, decides liveness and
readiness, and a broker outage only pauses it (``BrokerWatch``).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog
from confluent_kafka import (
    OFFSET_STORED,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.profile import Profile
from driftwarden.detectors.warm_up import compile_kernels
from driftwarden.stream.config import ServiceConfig
from driftwarden.stream.decoding.decoder import Decoder
from driftwarden.stream.decoding.decoder_options import decoder_options
from driftwarden.stream.ops.health_server import HealthServer, Probes, readiness
from driftwarden.stream.ops.logs import LibrdkafkaLog
from driftwarden.stream.ops.metrics import ServiceMetrics, merge_feature_statistics
from driftwarden.stream.service.broker_watch import BrokerWatch
from driftwarden.stream.service.checkpointer import (
    Checkpointer,
    CheckpointResult,
    TransactionAborted,
)
from driftwarden.stream.service.dead_letters import KAFKA_DEFAULT_LIMIT
from driftwarden.stream.service.delivery import Owner, TrackedProducer
from driftwarden.stream.service.instance import InstanceIdentity, claim_identity
from driftwarden.stream.service.partition_state import PartitionState
from driftwarden.stream.service.record_path import RecordPath, ServiceStats, group_by_partition
from driftwarden.stream.service.stalls import Stalls
from driftwarden.stream.service.state_store import read_latest, state_key
from driftwarden.stream.service.topics import dlq_record_limit, ensure_topics

__all__ = ["DriftService", "ServiceStats"]

log = structlog.get_logger(__name__)

_EOS_RETRY_S = 1.0
_OUTAGE_CHECKPOINT_S = 30.0


class DriftService:
    """Runs until ``stop()`` (or SIGTERM/SIGINT); SIGHUP reloads thresholds.

    ``config_loader`` re-reads the config for a reload; detectors keep their state and the
    new thresholds apply from the next batch. ``stop_requested`` lets a caller that installed
    signal handlers before the (slow) start-up hand over a stop asked for meanwhile.
    """

    def __init__(
        self,
        config: ServiceConfig,
        profile: Profile | None = None,
        config_loader: Callable[[], ServiceConfig] | None = None,
        verify_topics: bool = True,
        stop_requested: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.profile = profile
        self.config_loader = config_loader
        self.verify_topics = verify_topics
        # The monitored stream is the context of every event (CloudEvents ``source``).
        self.source = "/driftwarden/" + ",".join(sorted(config.kafka.input_topics))
        self.stats = ServiceStats()
        self.metrics = ServiceMetrics(topics=config.kafka.input_topics)
        self.watch = BrokerWatch()
        self.probes = Probes(liveness_timeout_s=config.service.liveness_timeout_s)
        self.states: dict[tuple[str, int], PartitionState] = {}
        self.assigned = False
        self.identity: InstanceIdentity | None = None
        self._stop = stop_requested or threading.Event()
        self._stop_signal: int | None = None
        self._reload = threading.Event()
        self._consumer: Consumer | None = None
        self._producer: TrackedProducer | None = None
        self._checkpointer: Checkpointer | None = None
        self._stalls: Stalls | None = None
        self._path: RecordPath | None = None
        self._dlq_record_limit = KAFKA_DEFAULT_LIMIT

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its batch, checkpoint and exit."""
        self._stop.set()

    def request_reload(self) -> None:
        """Ask the loop to reload thresholds before its next batch."""
        self._reload.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop cleanly; SIGHUP reloads thresholds.

        The handlers only set flags: a handler runs between two bytecodes of the loop, which
        may be inside the logger holding its lock, so a handler that logged could deadlock
        (it did: a SIGTERM during a log line hung the service). The loop logs the signal.
        """

        def on_stop(signum: int, _frame: FrameType | None) -> None:
            self._stop_signal = signum
            self.stop()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    # -- set-up ----------------------------------------------------------------------------

    def _decoder_options(self) -> dict[str, Any]:
        return decoder_options(self.config.detectors, self.config.input, self.profile)

    def _new_state(self, topic: str, partition: int) -> PartitionState:
        bank = DetectorBank(self.config.detectors, self.profile)
        return PartitionState(topic, partition, bank, Decoder(**self._decoder_options()))

    def _clients(self, identity: InstanceIdentity) -> tuple[Consumer, TrackedProducer]:
        kafka = self.config.kafka
        consumer_conf = self.config.librdkafka(
            **{
                "group.id": kafka.group_id,
                # Static membership: a restarted instance takes its partitions back at once.
                "group.instance.id": identity.name,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "statistics.interval.ms": 5000,
                "stats_cb": self._on_statistics,
                "error_cb": self.watch.on_error,  # the consumer's report opens an outage
                "logger": LibrdkafkaLog(),
            }
        )
        producer_conf = self.config.librdkafka(
            **{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                # Snapshots of many features exceed librdkafka's 1 MB default; the state
                # topic is created with the same 16 MiB limit (stream/topics.py).
                "message.max.bytes": 16 * 1024 * 1024,
                "error_cb": self.watch.on_producer_error,
                "logger": LibrdkafkaLog(),
            }
        )
        if kafka.exactly_once:
            producer_conf["transactional.id"] = identity.transactional_id(kafka.group_id)
        producer = Producer(producer_conf)
        if kafka.exactly_once:
            producer.init_transactions(30)
        return Consumer(consumer_conf), TrackedProducer(producer)

    def _on_statistics(self, stats_json: str) -> None:
        self.metrics.stats_callback(stats_json)
        try:
            self.watch.on_stats(json.loads(stats_json))
        except (ValueError, AttributeError, TypeError):
            pass  # already logged by metrics.stats_callback

    # -- rebalance -------------------------------------------------------------------------

    def _restore(self, partitions: list[TopicPartition]) -> None:
        """Each partition's state from its latest snapshot (fresh without one), and the
        partition's position set to the offset the snapshot names."""
        keys = {
            state_key(self.config.kafka.group_id, tp.topic, tp.partition): tp for tp in partitions
        }
        saved = read_latest(
            self.config.librdkafka(logger=LibrdkafkaLog(), error_cb=self.watch.on_producer_error),
            self.config.kafka.state_topic,
            keys,
        )
        options = self._decoder_options()
        for key, tp in keys.items():
            payload = saved.get(key)
            if payload is not None:
                state = PartitionState.restore(
                    payload, self.config.detectors, self.profile, options
                )
                tp.offset = state.next_offset if state.next_offset is not None else OFFSET_STORED
                log.info(
                    "partition_restored",
                    topic=tp.topic,
                    partition=tp.partition,
                    next_offset=state.next_offset,
                    records_seen=state.bank.records_seen,
                )
            else:
                state = self._new_state(tp.topic, tp.partition)
                tp.offset = OFFSET_STORED
                log.info("partition_new", topic=tp.topic, partition=tp.partition)
            self.states[(tp.topic, tp.partition)] = state

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._restore(partitions)
        consumer.assign(partitions)
        # A partition paused while stalled and then lost (a broker outage past the session
        # timeout) keeps librdkafka's pause flag when it is assigned again; its stall was
        # forgotten with it, so nothing would ever resume it.
        consumer.resume(partitions)
        self.assigned = True
        self.metrics.set_assigned(len(self.states))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._checkpointer is not None and self.states:
            self._checkpoint(time.monotonic())
        self._drop(partitions)
        log.info("partitions_revoked", partitions=len(partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop(partitions)
        log.warning("partitions_lost", partitions=len(partitions))

    def _drop(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            owner = (tp.topic, tp.partition)
            self.states.pop(owner, None)
            if self._producer is not None:
                self._producer.forget(owner)
            if self._stalls is not None:
                self._stalls.forget(owner)
        self.assigned = bool(self.states)
        self.metrics.set_assigned(len(self.states))

    def _rewind(self, consumer: Consumer) -> None:
        """Exactly-once, after an aborted transaction: every partition back to its last
        snapshot, so the aborted outputs are produced again and nothing is counted twice."""
        partitions = [TopicPartition(t, p) for t, p in self.states]
        self.states.clear()
        self._restore(partitions)
        for tp in partitions:
            if tp.offset == OFFSET_STORED:
                committed = consumer.committed([TopicPartition(tp.topic, tp.partition)], 30)
                tp.offset = committed[0].offset if committed[0].offset >= 0 else 0
            consumer.seek(tp)
        log.warning("partitions_rewound", partitions=len(partitions))

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until stopped; always finishes with a checkpoint when it can."""
        if self._stop.is_set():
            log.info("service_stopped", records=0, dlq=0, before_start=True)
            return
        kafka = self.config.kafka
        if self.verify_topics:
            ensure_topics(self.config)
            self._dlq_record_limit = dlq_record_limit(self.config)
        self.identity = claim_identity(kafka.group_id, kafka.instance_id)
        # Compiled before joining the group: a fresh install's first batch would otherwise
        # stall for seconds while the group and the broker expect it to keep up.
        log.info("kernels_ready", seconds=round(compile_kernels(), 2))
        health = self._start_health_server()  # first: a port in use leaves no client open
        try:
            self._serve(self.identity)
        finally:
            if health is not None:
                health.stop()
            log.info("service_stopped", records=self.stats.records, dlq=self.stats.dlq)

    def _serve(self, identity: InstanceIdentity) -> None:
        """Clients up, the loop, a last checkpoint, clients down."""
        kafka = self.config.kafka
        consumer, producer = self._clients(identity)
        self._consumer, self._producer = consumer, producer
        checkpointer = Checkpointer(
            consumer,
            producer,
            kafka.state_topic,
            kafka.group_id,
            kafka.exactly_once,
            self.config.checkpoint.timeout_s,
        )
        self._checkpointer = checkpointer
        self._stalls = Stalls(producer, self.config.checkpoint.stall_after_s)
        self._path = RecordPath(
            producer,
            kafka.alerts_topic,
            kafka.dlq_topic,
            self.source,
            self._dlq_record_limit,
            self.stats,
            self.metrics,
            self.config.alerts.detector_events,
        )
        try:
            consumer.subscribe(
                list(kafka.input_topics),
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            checkpointer.begin()
            log.info(
                "service_started",
                topics=list(kafka.input_topics),
                group=kafka.group_id,
                instance=identity.name,
            )
            self._loop(consumer, producer, checkpointer)
            if self._stop_signal is not None:
                log.info("signal_received", signal=signal.Signals(self._stop_signal).name)
            if self.states:
                result = self._checkpoint(time.monotonic())
                if result.held:
                    log.warning(
                        "stopped_with_unconfirmed_outputs",
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
        last_progress, progress_records = last_checkpoint, 0
        while not self._stop.is_set():
            now = time.monotonic()
            self.probes.beat(now)
            if self._reload.is_set():
                self._reload.clear()
                self._apply_reload()
            producer.retry_due()
            if checkpointer.pending:  # exactly-once: a commit waits for the broker
                self._stop.wait(_EOS_RETRY_S)
                consumer.consume(1, 0)  # serve rebalance callbacks; partitions are paused
                owed = bool(self._checkpoint(time.monotonic(), consumer).held)
                continue
            messages = consumer.consume(kafka.consume_batch, kafka.consume_timeout_s)
            if messages:
                started = time.perf_counter()
                since_checkpoint += self._process(messages)
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
                last_progress, progress_records = now, self.stats.records

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
        self.metrics.set_stalled(len(stalls.stalled))
        return result

    def _update_readiness(self) -> None:
        stalled = self._stalls.stalled if self._stalls is not None else []
        if stalled:
            self.probes.set_ready(False, f"{len(stalled)} partition(s) stalled")
            return
        lag, max_lag = self.lag(), self.config.service.ready_max_lag
        self.probes.set_ready(*readiness(self.assigned, lag, max_lag, self.watch.reachable))

    def _log_progress(self, seconds: float, records_before: int) -> None:
        log.info(
            "progress",
            records_per_s=round((self.stats.records - records_before) / seconds),
            records=self.stats.records,
            lag=self.lag(),
            events=sum(self.stats.events.values()),
            dlq=self.stats.dlq,
        )
        self.metrics.update_feature_statistics(
            merge_feature_statistics([s.bank.statistics() for s in self.states.values()])
        )

    def _start_health_server(self) -> HealthServer | None:
        settings = self.config.service.metrics
        if not settings.enabled:
            return None
        server = HealthServer(self.metrics, self.probes, host=settings.host, port=settings.port)
        server.start()
        log.info("metrics_server_started", host=settings.host, port=server.port)
        return server

    def _process(self, messages: list[Message]) -> int:
        groups = group_by_partition(messages)
        assert self._path is not None
        processed = 0
        for owner, group in groups.items():
            state = self.states.get(owner)
            if state is None:
                state = self.states[owner] = self._new_state(*owner)
            processed += self._path.process(state, group)
        self.stats.batches += 1
        return processed

    def _apply_reload(self) -> None:
        if self.config_loader is None:
            return
        try:
            new = self.config_loader()
        except Exception as exc:  # a bad reload must never stop the service
            log.error("reload_failed", error=str(exc))
            self.metrics.observe_reload(False)
            return
        changes = self.config.diff(new)
        for state in self.states.values():
            state.bank.update_settings(new.detectors)
        if self._path is not None:
            self._path.detector_events = new.alerts.detector_events
        self.config = new
        self.metrics.observe_reload(True)
        log.info("config_reloaded", changes=[list(c) for c in changes])

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
