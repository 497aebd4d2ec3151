"""One consumed batch, one way: messages grouped by input partition → the partition's
``Decoder`` → its ``DetectorBank`` → incidents (and, when asked, detector-level events) as
CloudEvents on the alerts topic, rejected records on the DLQ. Every output is produced on
behalf of its input partition (``TrackedProducer``), so a checkpoint covers a partition only
once the broker holds all of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import structlog
from confluent_kafka import KafkaError, KafkaException, Message

from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.stream.cloudevents import CONTENT_TYPE, alerts_of
from driftwarden.stream.ops.metrics import ServiceMetrics
from driftwarden.stream.service.dead_letters import dead_letter
from driftwarden.stream.service.delivery import Headers, Owner, TrackedProducer, headers_of
from driftwarden.stream.service.partition_state import PartitionState

__all__ = ["RecordPath", "ServiceStats", "group_by_partition"]

log = structlog.get_logger(__name__)

_ALERT_HEADERS: Headers = [("content-type", CONTENT_TYPE)]  # CloudEvents structured mode


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


def group_by_partition(messages: list[Message]) -> dict[Owner, list[Message]]:
    """The records of a ``consume()`` result by (topic, partition), in order; an error
    message is skipped (end of partition) or logged (``consume_error``), and a fatal one
    raises ``KafkaException``."""
    # Usually the whole batch is good records of one partition: checked at C speed.
    clean = not any(map(Message.error, messages))
    topics, partitions = set(map(Message.topic, messages)), set(map(Message.partition, messages))
    if clean and len(topics) == 1 and len(partitions) == 1:
        return {(topics.pop() or "", partitions.pop() or 0): messages}
    groups: dict[Owner, list[Message]] = {}
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
    return groups


class RecordPath:
    """Runs one partition's records through its state and produces what comes out.

    ``source`` is the CloudEvents ``source`` of every event; ``dlq_record_limit`` the
    largest message the DLQ topic takes (``topics.dlq_record_limit``); ``detector_events``
    whether detector-level events go out beside the incidents.
    """

    def __init__(
        self,
        producer: TrackedProducer,
        alerts_topic: str,
        dlq_topic: str,
        source: str,
        dlq_record_limit: int,
        stats: ServiceStats,
        metrics: ServiceMetrics,
        detector_events: bool = False,
    ) -> None:
        self.producer = producer
        self.alerts_topic = alerts_topic
        self.dlq_topic = dlq_topic
        self.source = source
        self.dlq_record_limit = dlq_record_limit
        self.stats = stats
        self.metrics = metrics
        self.detector_events = detector_events

    def process(self, state: PartitionState, group: list[Message]) -> int:
        """Decode, detect and publish ``group`` (records of ``state``'s partition, in
        offset order); returns how many records it covered."""
        started = time.perf_counter()
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
        for rejected in result.rejected:
            self._dead_letter(state, group[rejected.index], rejected.reason, rejected.detail)
        state.dlq_records += len(result.rejected)
        self.stats.dlq += len(result.rejected)
        if result.batch is not None:
            output = state.bank.run(result.batch)
            for alert in alerts_of(output, self.source, self.detector_events):
                original = group[int(result.accepted_index[alert.record_index])]
                timestamp_type, timestamp = original.timestamp()
                self.producer.produce(
                    self.alerts_topic,
                    alert.encode(timestamp if timestamp_type else None),
                    key=alert.feature.encode(),
                    headers=_ALERT_HEADERS,
                    owner=state.owner,
                    source_offset=int(original.offset() or 0),
                )
                self.stats.events[alert.kind] = self.stats.events.get(alert.kind, 0) + 1
                self.metrics.observe_event(alert.kind)
        state.next_offset = int(offsets[-1]) + 1
        nbytes = sum(map(len, filter(None, payloads)))
        self.stats.records += n
        self.stats.bytes += nbytes
        self.metrics.observe_batch(state.topic, n, nbytes, time.perf_counter() - started)
        return n

    def _dead_letter(self, state: PartitionState, msg: Message, reason: str, detail: str) -> None:
        offset = int(msg.offset() or 0)
        value, headers = dead_letter(
            msg.value(),
            headers_of(msg),
            reason=reason,
            detail=detail,
            topic=state.topic,
            partition=state.partition,
            offset=offset,
            key=msg.key(),
            record_limit=self.dlq_record_limit,
        )
        self.producer.produce(
            self.dlq_topic,
            value,
            key=msg.key(),
            headers=headers,
            owner=state.owner,
            source_offset=offset,
        )
        self.stats.dlq_reasons[reason] = self.stats.dlq_reasons.get(reason, 0) + 1
        self.metrics.observe_dlq(reason)
