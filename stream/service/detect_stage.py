"""Stage two, ``detect``: column chunks → each feature's one bank → incidents on the alerts topic.

One columns-topic partition's messages travel one way: Arrow IPC chunks (``decode_chunk``) →
the partition's ``FeatureBanks`` (one ``DetectorBank`` per feature, fed the feature's chunks
from every input partition, records already counted dropped) → incident CloudEvents (and,
when asked, detector-level events) on the alerts topic, each pointing at its source record.
A message that is not a chunk goes to the DLQ with its reason. A ``DetectState`` moves with
its columns partition on a rebalance, restored from the state topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec
import structlog
from confluent_kafka import Message

from driftwarden.detectors.feature_banks import FeatureBanks
from driftwarden.detectors.feature_split import Piece
from driftwarden.detectors.profile import Profile
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.detectors.snapshots import check_snapshot
from driftwarden.stream.cloudevents import CONTENT_TYPE, alerts_of
from driftwarden.stream.config import ServiceConfig
from driftwarden.stream.decoding.column_chunks import NO_TIMESTAMP, MalformedChunk, decode_chunk
from driftwarden.stream.ops.metrics import ServiceMetrics, merge_feature_statistics
from driftwarden.stream.service.dead_letters import DeadLetters
from driftwarden.stream.service.delivery import Headers, Owner, TrackedProducer
from driftwarden.stream.service.partition_state import PartitionState
from driftwarden.stream.service.service_stats import ServiceStats
from driftwarden.stream.service.stage import group_by_partition

__all__ = ["BAD_CHUNK", "DetectPath", "DetectStage", "DetectState"]

log = structlog.get_logger(__name__)

SNAPSHOT_KIND = "DetectState"
SNAPSHOT_VERSION = 1
BAD_CHUNK = "bad_column_chunk"
"""The DLQ reason of a columns-topic message that is not a column chunk."""

_ALERT_HEADERS: Headers = [("content-type", CONTENT_TYPE)]  # CloudEvents structured mode


@dataclass(slots=True)
class DetectState:
    """What stage two keeps for one columns-topic partition: the banks of its features."""

    topic: str
    partition: int
    banks: FeatureBanks
    next_offset: int | None = None
    bad_chunks: int = 0
    foreign_chunks: int = 0

    @property
    def owner(self) -> Owner:
        """``(topic, partition)`` of the columns-topic partition."""
        return (self.topic, self.partition)

    def snapshot_bytes(self) -> bytes:
        """JSON with every feature's bank, the marks of what was counted, the next offset."""
        return msgspec.json.encode(
            {
                "kind": SNAPSHOT_KIND,
                "version": SNAPSHOT_VERSION,
                "topic": self.topic,
                "partition": self.partition,
                "next_offset": self.next_offset,
                "bad_chunks": self.bad_chunks,
                "foreign_chunks": self.foreign_chunks,
                "banks": self.banks.snapshot(),
            }
        )

    @classmethod
    def restore(
        cls, payload: bytes, settings: DetectorSettings, profile: Profile | None
    ) -> DetectState:
        """Rebuild from ``snapshot_bytes``; raises ``ValueError`` on a foreign payload."""
        state = msgspec.json.decode(payload)
        check_snapshot(state, SNAPSHOT_KIND, SNAPSHOT_VERSION)
        return cls(
            topic=state["topic"],
            partition=state["partition"],
            banks=FeatureBanks.restore(state["banks"], settings, profile, dedupe=True),
            next_offset=state["next_offset"],
            bad_chunks=state["bad_chunks"],
            foreign_chunks=state["foreign_chunks"],
        )


class DetectPath:
    """Runs one columns partition's chunks through its banks and produces what comes out,
    on behalf of the columns partition (``TrackedProducer``).

    ``source`` is the CloudEvents ``source`` of every event (the monitored input topics);
    ``detector_events`` whether detector-level events go out beside the incidents.
    """

    def __init__(
        self,
        producer: TrackedProducer,
        config: ServiceConfig,
        source: str,
        dlq_record_limit: int,
        stats: ServiceStats,
        metrics: ServiceMetrics,
    ) -> None:
        self.producer = producer
        self.alerts_topic = config.kafka.alerts_topic
        self.dead_letters = DeadLetters(
            producer, config.kafka.dlq_topic, dlq_record_limit, stats, metrics
        )
        self.source = source
        self.stats = stats
        self.metrics = metrics
        self.detector_events = config.alerts.detector_events
        self.input_topics = frozenset(config.kafka.input_topics)
        self._foreign_reported: set[str] = set()

    def _foreign(self, state: DetectState, msg: Message, source: str) -> None:
        """A chunk of a topic this service does not read: another service shares the
        columns topic. Skipped (it is that service's), said once per topic."""
        state.foreign_chunks += 1
        if source not in self._foreign_reported and len(self._foreign_reported) < 100:
            self._foreign_reported.add(source)
            log.warning(
                "foreign_column_chunk",
                topic=state.topic,
                partition=state.partition,
                offset=msg.offset(),
                source=source,
                fix="give each service its own kafka.columns_topic",
            )

    def process(self, state: DetectState, group: list[Message]) -> int:
        """Run ``group`` (chunks of ``state``'s partition, in offset order): each feature's
        chunks as one batch, merged by event time across input partitions. Returns how
        many messages it covered."""
        by_feature: dict[str, list[Piece]] = {}
        for msg in group:
            if msg.value() is None:
                continue  # a tombstone carries no records (the demo creates topics with one)
            try:
                chunk = decode_chunk(msg.value())
            except MalformedChunk as exc:
                state.bad_chunks += 1
                self.dead_letters.send(msg, state.owner, BAD_CHUNK, str(exc))
                continue
            self.stats.chunks_in += 1
            source = chunk.batch.positions.sources[0] if chunk.batch.n_records else ""
            if source not in self.input_topics:
                self._foreign(state, msg, source)
                continue
            by_feature.setdefault(chunk.feature, []).append((chunk.batch, chunk.timestamps))
        last = int(group[-1].offset() or 0)
        for feature, chunks in by_feature.items():
            output, stamps = state.banks.run_chunks(feature, chunks)
            for alert in alerts_of(output, self.source, self.detector_events):
                stamp = int(stamps[alert.record_index])
                self.producer.produce(
                    self.alerts_topic,
                    alert.encode(None if stamp == NO_TIMESTAMP else stamp),
                    key=alert.feature.encode(),
                    headers=_ALERT_HEADERS,
                    owner=state.owner,
                    source_offset=last,
                )
                self.stats.events[alert.kind] = self.stats.events.get(alert.kind, 0) + 1
                self.metrics.observe_event(alert.kind)
        state.next_offset = last + 1
        return len(group)


class DetectStage:
    """Stage two for ``StageService``: columns partitions → feature banks → alerts."""

    name: Final = "detect"

    def __init__(
        self,
        config: ServiceConfig,
        profile: Profile | None,
        source: str,
        dlq_record_limit: int,
        stats: ServiceStats,
        metrics: ServiceMetrics,
    ) -> None:
        self.config = config
        self.profile = profile
        self.compression = "lz4"
        self.topics = [config.kafka.columns_topic]
        self.source = source
        self.dlq_record_limit = dlq_record_limit
        self.stats = stats
        self.metrics = metrics
        self._path: DetectPath | None = None

    def open(self, producer: TrackedProducer) -> None:
        self._path = DetectPath(
            producer, self.config, self.source, self.dlq_record_limit, self.stats, self.metrics
        )

    def new_state(self, topic: str, partition: int) -> DetectState:
        banks = FeatureBanks(self.config.detectors, self.profile, dedupe=True)
        return DetectState(topic, partition, banks)

    def restore_state(self, payload: bytes) -> DetectState:
        return DetectState.restore(payload, self.config.detectors, self.profile)

    def process(
        self,
        messages: list[Message],
        state_of: Callable[[Owner], PartitionState],
        has_more: Callable[[Owner], bool],
    ) -> int:
        """Run each columns partition's chunks, in offset order."""
        assert self._path is not None
        processed = 0
        for owner, group in group_by_partition(messages).items():
            state = state_of(owner)
            assert isinstance(state, DetectState)
            processed += self._path.process(state, group)
        return processed

    def forget(self, owner: Owner) -> None:
        """Detect holds nothing beyond the partition's state."""

    def reload(self, config: ServiceConfig, states: list[PartitionState]) -> None:
        """New thresholds for every bank, and whether detector-level events go out."""
        self.config = config
        for state in states:
            if isinstance(state, DetectState):
                state.banks.update_settings(config.detectors)
        if self._path is not None:
            self._path.detector_events = config.alerts.detector_events

    def progress(self) -> int:
        return self.stats.chunks_in

    def report(self, states: list[PartitionState], seconds: float, before: int) -> None:
        banks = [s.banks for s in states if isinstance(s, DetectState)]
        log.info(
            "progress",
            stage=self.name,
            chunks_per_s=round((self.stats.chunks_in - before) / seconds),
            chunks=self.stats.chunks_in,
            features=sum(len(b.banks) for b in banks),
            events=sum(self.stats.events.values()),
        )
        self.metrics.update_feature_statistics(
            merge_feature_statistics([b.statistics() for b in banks])
        )
