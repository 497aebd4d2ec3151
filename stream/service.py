"""The drift service: Kafka consumer → decoder → DetectorBank → CloudEvents alerts.

One batch travels one way: ``consume(n)`` → per-partition payload lists → ``Decoder`` →
``FeatureBatch`` → the partition's ``DetectorBank`` → events on the alerts topic, bad records
on the DLQ. ``Checkpointer`` makes it durable every N records or T seconds, on partition
revoke and on shutdown.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import numpy as np
import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from detectors.bank import DetectorBank
from detectors.feature_batch import SourcePositions
from detectors.profile import Profile
from stream.checkpointer import Checkpointer
from stream.cloudevents import encode_cloudevent
from stream.config import ServiceConfig
from stream.decoder import Decoder
from stream.decoder_options import decoder_options
from stream.delivery import TrackedProducer
from stream.health_server import HealthServer, is_ready
from stream.metrics import ServiceMetrics, merge_feature_statistics
from stream.partition_state import PartitionState
from stream.state_store import read_latest, state_key
from stream.topics import ensure_topics

__all__ = ["DriftService", "ServiceStats"]

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class ServiceStats:
    """Counters the progress line, the metrics and the tests read."""

    records: int = 0
    bytes: int = 0
    dlq: int = 0
    events: dict[str, int] = field(default_factory=dict)
    dlq_reasons: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    batch_seconds: list[float] = field(default_factory=list)


class DriftService:
    """Runs until ``stop()`` (or SIGTERM/SIGINT); SIGHUP reloads thresholds.

    ``config_loader`` re-reads the config for a reload; detectors keep their state and the
    new thresholds apply from the next batch.
    """

    def __init__(
        self,
        config: ServiceConfig,
        profile: Profile | None = None,
        config_loader: Callable[[], ServiceConfig] | None = None,
        verify_topics: bool = True,
    ) -> None:
        self.config = config
        self.profile = profile
        self.config_loader = config_loader
        self.verify_topics = verify_topics
        # The monitored stream is the context of every event (CloudEvents ``source``).
        self.source = "/driftwarden/" + ",".join(sorted(config.kafka.input_topics))
        self.stats = ServiceStats()
        self.metrics = ServiceMetrics(topics=config.kafka.input_topics)
        self.states: dict[tuple[str, int], PartitionState] = {}
        self.assigned = False
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._consumer: Consumer | None = None
        self._producer: TrackedProducer | None = None
        self._checkpointer: Checkpointer | None = None

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its batch, checkpoint and exit."""
        self._stop.set()

    def request_reload(self) -> None:
        """Ask the loop to reload thresholds before its next batch."""
        self._reload.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop cleanly; SIGHUP reloads thresholds."""

        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal_received", signal=signal.Signals(signum).name)
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

    def _clients(self) -> tuple[Consumer, TrackedProducer]:
        kafka = self.config.kafka
        consumer_conf = self.config.librdkafka(
            **{
                "group.id": kafka.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                **self.metrics.librdkafka_settings(),
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
            }
        )
        if kafka.exactly_once:
            producer_conf["transactional.id"] = (
                f"driftwarden-{kafka.group_id}-{socket.gethostname()}"
            )
        producer = Producer(producer_conf)
        if kafka.exactly_once:
            producer.init_transactions(30)
        return Consumer(consumer_conf), TrackedProducer(producer)

    # -- rebalance -------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {
            state_key(self.config.kafka.group_id, tp.topic, tp.partition): tp for tp in partitions
        }
        saved = read_latest(self.config.librdkafka(), self.config.kafka.state_topic, keys)
        options = self._decoder_options()
        for key, tp in keys.items():
            payload = saved.get(key)
            if payload is not None:
                state = PartitionState.restore(
                    payload, self.config.detectors, self.profile, options
                )
                if state.next_offset is not None:
                    tp.offset = state.next_offset
                log.info(
                    "partition_restored",
                    topic=tp.topic,
                    partition=tp.partition,
                    next_offset=state.next_offset,
                    records_seen=state.bank.records_seen,
                )
            else:
                state = self._new_state(tp.topic, tp.partition)
                log.info("partition_new", topic=tp.topic, partition=tp.partition)
            self.states[(tp.topic, tp.partition)] = state
        consumer.assign(partitions)
        self.assigned = True
        self.metrics.set_assigned(len(self.states))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._checkpointer is not None and self.states:
            self._checkpointer.checkpoint(self.states.values())
        for tp in partitions:
            self.states.pop((tp.topic, tp.partition), None)
        self.assigned = bool(self.states)
        self.metrics.set_assigned(len(self.states))
        log.info("partitions_revoked", partitions=len(partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.states.pop((tp.topic, tp.partition), None)
        self.assigned = bool(self.states)
        self.metrics.set_assigned(len(self.states))
        log.warning("partitions_lost", partitions=len(partitions))

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until stopped; always finishes with a checkpoint when it can."""
        kafka = self.config.kafka
        if self.verify_topics:
            ensure_topics(self.config)
        consumer, producer = self._clients()
        self._consumer, self._producer = consumer, producer
        checkpointer = Checkpointer(
            consumer, producer, kafka.state_topic, kafka.group_id, kafka.exactly_once
        )
        self._checkpointer = checkpointer
        consumer.subscribe(
            list(kafka.input_topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        checkpointer.begin()
        health = self._start_health_server()
        since_checkpoint = 0
        last_checkpoint = time.monotonic()
        last_progress = time.monotonic()
        progress_records = 0
        log.info("service_started", topics=list(kafka.input_topics), group=kafka.group_id)
        try:
            while not self._stop.is_set():
                if self._reload.is_set():
                    self._reload.clear()
                    self._apply_reload()
                messages = consumer.consume(kafka.consume_batch, kafka.consume_timeout_s)
                if messages:
                    started = time.perf_counter()
                    since_checkpoint += self._process(messages)
                    self.stats.batch_seconds.append(time.perf_counter() - started)
                    del self.stats.batch_seconds[:-1000]
                    producer.poll()
                now = time.monotonic()
                if since_checkpoint and (
                    since_checkpoint >= self.config.checkpoint.every_records
                    or now - last_checkpoint >= self.config.checkpoint.every_seconds
                ):
                    checkpointer.checkpoint(self.states.values())
                    self.metrics.observe_checkpoint()
                    since_checkpoint, last_checkpoint = 0, now
                if now - last_progress >= self.config.service.progress_every_s:
                    rate = (self.stats.records - progress_records) / (now - last_progress)
                    log.info(
                        "progress",
                        records_per_s=round(rate),
                        records=self.stats.records,
                        lag=self.lag(),
                        events=sum(self.stats.events.values()),
                        dlq=self.stats.dlq,
                    )
                    last_progress, progress_records = now, self.stats.records
                    self.metrics.update_feature_statistics(
                        merge_feature_statistics(
                            [s.bank.statistics() for s in self.states.values()]
                        )
                    )
            if self.states:
                checkpointer.checkpoint(self.states.values())
                self.metrics.observe_checkpoint()
        finally:
            if health is not None:
                health.stop()
            consumer.close()
            producer.producer.flush(10)
            log.info("service_stopped", records=self.stats.records, dlq=self.stats.dlq)

    def _start_health_server(self) -> HealthServer | None:
        settings = self.config.service.metrics
        if not settings.enabled:
            return None
        server = HealthServer(
            self.metrics,
            host=settings.host,
            port=settings.port,
            live=lambda: not self._stop.is_set(),
            ready=lambda: is_ready(self.assigned, self.lag(), self.config.service.ready_max_lag),
        )
        server.start()
        log.info("metrics_server_started", host=settings.host, port=server.port)
        return server

    def _process(self, messages: list[Message]) -> int:
        groups: dict[tuple[str, int], list[Message]] = {}
        # Usually the whole batch is good records of one partition: checked at C speed.
        clean = not any(map(Message.error, messages))
        topics, partitions = (
            set(map(Message.topic, messages)),
            set(map(Message.partition, messages)),
        )
        if clean and len(topics) == 1 and len(partitions) == 1:
            groups[(topics.pop() or "", partitions.pop() or 0)] = messages
            messages = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise KafkaException(err)
                log.warning("consume_error", error=err.str())
                continue
            groups.setdefault((msg.topic() or "", msg.partition() or 0), []).append(msg)
        processed = 0
        for (topic, partition), group in groups.items():
            state = self.states.get((topic, partition))
            if state is None:
                state = self.states[(topic, partition)] = self._new_state(topic, partition)
            processed += self._process_partition(state, group)
        self.stats.batches += 1
        return processed

    def _process_partition(self, state: PartitionState, group: list[Message]) -> int:
        started = time.perf_counter()
        producer = self._producer
        assert producer is not None
        n = len(group)
        payloads = list(map(Message.value, group))
        offsets = np.fromiter(map(Message.offset, group), dtype=np.int64, count=n)
        positions = SourcePositions(
            sources=(state.topic,),
            source_ids=np.zeros(n, dtype=np.int32),
            partitions=np.full(n, state.partition, dtype=np.int32),
            offsets=offsets,
        )
        result = state.decoder.decode(payloads, positions)
        kafka = self.config.kafka
        for rejected in result.rejected:
            msg = group[rejected.index]
            headers: list[tuple[str, str | bytes | None]] = [
                ("driftwarden.reason", rejected.reason),
                ("driftwarden.detail", rejected.detail[:1000]),
                ("driftwarden.source.topic", state.topic),
                ("driftwarden.source.partition", str(state.partition)),
                ("driftwarden.source.offset", str(msg.offset())),
            ]
            producer.produce(kafka.dlq_topic, msg.value() or b"", key=msg.key(), headers=headers)
            self.stats.dlq_reasons[rejected.reason] = (
                self.stats.dlq_reasons.get(rejected.reason, 0) + 1
            )
            self.metrics.observe_dlq(rejected.reason)
        state.dlq_records += len(result.rejected)
        self.stats.dlq += len(result.rejected)
        if result.batch is not None:
            for event in state.bank.process(result.batch):
                original = group[int(result.accepted_index[event.index])]
                timestamp_type, timestamp = original.timestamp()
                value = encode_cloudevent(event, self.source, timestamp if timestamp_type else None)
                producer.produce(kafka.alerts_topic, value, key=event.feature.encode())
                kind = event.type.value
                self.stats.events[kind] = self.stats.events.get(kind, 0) + 1
                self.metrics.observe_event(kind)
        state.next_offset = int(offsets[-1]) + 1
        nbytes = sum(map(len, filter(None, payloads)))
        self.stats.records += n
        self.stats.bytes += nbytes
        self.metrics.observe_batch(state.topic, n, nbytes, time.perf_counter() - started)
        return n

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
        self.config = new
        self.metrics.observe_reload(True)
        log.info("config_reloaded", changes=[list(c) for c in changes])

    def lag(self) -> int | None:
        """Records between the consumer's position and the high watermark, all partitions."""
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
