"""Stage one, ``split``: input records → per-feature column chunks on the columns topic.

One input partition's batch travels one way: payloads → its ``Decoder`` → ``FeatureBatch`` →
one chunk per feature (``split_by_feature``, Arrow IPC via ``encode_chunk``) → the columns
topic, keyed by feature so every chunk of a feature lands on the same columns partition;
rejected records go to the DLQ. The stage keeps no detector state: a ``SplitState`` is the
decoder's learned kinds and the next input offset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt
import structlog
from confluent_kafka import Message

from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.detectors.feature_split import split_by_feature
from driftwarden.detectors.profile import Profile
from driftwarden.detectors.snapshots import check_snapshot
from driftwarden.stream.config import ServiceConfig
from driftwarden.stream.decoding.column_chunks import encode_chunk
from driftwarden.stream.decoding.decoder import Decoder
from driftwarden.stream.decoding.decoder_options import decoder_options
from driftwarden.stream.ops.metrics import ServiceMetrics
from driftwarden.stream.service.dead_letters import DeadLetters
from driftwarden.stream.service.delivery import Owner, TrackedProducer
from driftwarden.stream.service.partition_state import PartitionState
from driftwarden.stream.service.service_stats import ServiceStats
from driftwarden.stream.service.stage import group_by_partition
from driftwarden.stream.service.time_alignment import TimeAligner

__all__ = ["SplitPath", "SplitStage", "SplitState"]

log = structlog.get_logger(__name__)

SNAPSHOT_KIND = "SplitState"
SNAPSHOT_VERSION = 1


@dataclass(slots=True)
class SplitState:
    """What stage one keeps for one input partition: its decoder and next offset."""

    topic: str
    partition: int
    decoder: Decoder
    next_offset: int | None = None
    dlq_records: int = 0

    @property
    def owner(self) -> Owner:
        """``(topic, partition)`` of the input partition."""
        return (self.topic, self.partition)

    def snapshot_bytes(self) -> bytes:
        """JSON with the decoder's learned kinds and the next offset."""
        return msgspec.json.encode(
            {
                "kind": SNAPSHOT_KIND,
                "version": SNAPSHOT_VERSION,
                "topic": self.topic,
                "partition": self.partition,
                "next_offset": self.next_offset,
                "dlq_records": self.dlq_records,
                "decoder": self.decoder.snapshot(),
            }
        )

    @classmethod
    def restore(cls, payload: bytes, decoder_options: dict[str, Any]) -> SplitState:
        """Rebuild from ``snapshot_bytes``; raises ``ValueError`` on a foreign payload."""
        state = msgspec.json.decode(payload)
        check_snapshot(state, SNAPSHOT_KIND, SNAPSHOT_VERSION)
        decoder = Decoder(**decoder_options)
        decoder.restore(state["decoder"])
        return cls(
            topic=state["topic"],
            partition=state["partition"],
            decoder=decoder,
            next_offset=state["next_offset"],
            dlq_records=state["dlq_records"],
        )


class SplitPath:
    """Decodes one input partition's records and produces their chunks and DLQ records, each
    on behalf of the input partition (``TrackedProducer``), so a checkpoint commits an input
    offset only once the broker holds every chunk and DLQ record before it."""

    def __init__(
        self,
        producer: TrackedProducer,
        config: ServiceConfig,
        dlq_record_limit: int,
        stats: ServiceStats,
        metrics: ServiceMetrics,
    ) -> None:
        self.producer = producer
        self.columns_topic = config.kafka.columns_topic
        self.dead_letters = DeadLetters(
            producer, config.kafka.dlq_topic, dlq_record_limit, stats, metrics
        )
        self.stats = stats
        self.metrics = metrics

    def process(
        self, state: SplitState, group: list[Message], stamps: npt.NDArray[np.int64]
    ) -> int:
        """Decode ``group`` (records of ``state``'s partition, in offset order, with their
        timestamps) and produce its chunks; returns how many records it covered."""
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
            self.dead_letters.send(
                group[rejected.index], state.owner, rejected.reason, rejected.detail
            )
        state.dlq_records += len(result.rejected)
        self.stats.dlq += len(result.rejected)
        if result.batch is not None:
            accepted_stamps = stamps[result.accepted_index]
            last = int(offsets[-1])
            for feature, chunk in split_by_feature(
                result.batch, state.decoder.known_fields
            ).items():
                self.producer.produce(
                    self.columns_topic,
                    encode_chunk(feature, chunk, accepted_stamps),
                    key=feature.encode(),
                    owner=state.owner,
                    source_offset=last,
                )
                self.stats.chunks_out += 1
        state.next_offset = int(offsets[-1]) + 1
        nbytes = sum(map(len, filter(None, payloads)))
        self.stats.records += n
        self.stats.bytes += nbytes
        self.metrics.observe_batch(state.topic, n, nbytes, time.perf_counter() - started)
        return n


class SplitStage:
    """Stage one for ``StageService``: input partitions → column chunks and DLQ records."""

    name: Final = "split"

    def __init__(
        self,
        config: ServiceConfig,
        profile: Profile | None,
        dlq_record_limit: int,
        stats: ServiceStats,
        metrics: ServiceMetrics,
    ) -> None:
        self.config = config
        self.compression = "none"
        self.topics = list(config.kafka.input_topics)
        self.options = decoder_options(config.detectors, config.input, profile)
        self.dlq_record_limit = dlq_record_limit
        self.stats = stats
        self.metrics = metrics
        self.aligner = TimeAligner()
        self._path: SplitPath | None = None

    def open(self, producer: TrackedProducer) -> None:
        self._path = SplitPath(
            producer, self.config, self.dlq_record_limit, self.stats, self.metrics
        )

    def new_state(self, topic: str, partition: int) -> SplitState:
        self.aligner.track((topic, partition))
        return SplitState(topic, partition, Decoder(**self.options))

    def restore_state(self, payload: bytes) -> SplitState:
        state = SplitState.restore(payload, self.options)
        self.aligner.track(state.owner)
        return state

    def process(
        self,
        messages: list[Message],
        state_of: Callable[[Owner], PartitionState],
        has_more: Callable[[Owner], bool],
    ) -> int:
        """Hold what was consumed and decode what the ``TimeAligner`` releases, partition by
        partition in event-time order."""
        assert self._path is not None
        for owner, group in group_by_partition(messages).items():
            self.aligner.add(owner, group)
        processed = 0
        for owner, group, stamps in self.aligner.release(has_more):
            state = state_of(owner)
            assert isinstance(state, SplitState)
            processed += self._path.process(state, group, stamps)
        return processed

    def forget(self, owner: Owner) -> None:
        self.aligner.forget(owner)

    def reload(self, config: ServiceConfig, states: list[PartitionState]) -> None:
        """Decoding does not change on a reload: kinds are fixed at start."""
        self.config = config

    def progress(self) -> int:
        return self.stats.records

    def report(self, states: list[PartitionState], seconds: float, before: int) -> None:
        log.info(
            "progress",
            stage=self.name,
            records_per_s=round((self.stats.records - before) / seconds),
            records=self.stats.records,
            chunks=self.stats.chunks_out,
            dlq=self.stats.dlq,
        )
