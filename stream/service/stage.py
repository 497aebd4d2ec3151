"""What a stage of the service is (``Stage``), and how a consumed batch is grouped by partition.

``StageService`` runs any ``Stage``: the split stage (``split_stage.py``) and the detect stage
(``detect_stage.py``) say what happens to a partition's messages; the service does the loop,
the checkpoints and the rebalances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import structlog
from confluent_kafka import KafkaError, KafkaException, Message

from driftwarden.stream.config import ServiceConfig
from driftwarden.stream.service.delivery import Owner, TrackedProducer
from driftwarden.stream.service.partition_state import PartitionState

__all__ = ["Stage", "StageName", "group_by_partition"]

log = structlog.get_logger(__name__)

StageName = Literal["split", "detect"]


class Stage(Protocol):
    """What a stage does with its partitions; the service does the rest."""

    @property
    def name(self) -> StageName:
        """``split`` or ``detect``: the suffix of the stage's consumer group."""
        ...

    topics: list[str]
    compression: str
    """The producer's ``compression.type``."""

    def open(self, producer: TrackedProducer) -> None:
        """Bind the stage's outputs to the producer (once, before the first batch)."""
        ...

    def new_state(self, topic: str, partition: int) -> PartitionState:
        """A fresh state for a partition without a snapshot."""
        ...

    def restore_state(self, payload: bytes) -> PartitionState:
        """The state a snapshot holds (``ValueError`` when it is not this stage's)."""
        ...

    def process(
        self,
        messages: list[Message],
        state_of: Callable[[Owner], PartitionState],
        has_more: Callable[[Owner], bool],
    ) -> int:
        """Run what a ``consume()`` returned (perhaps nothing: a stage may hold records
        back); ``state_of`` gives a partition's state, ``has_more`` whether the broker holds
        records of it not consumed yet. Returns how many records it covered."""
        ...

    def forget(self, owner: Owner) -> None:
        """Drop whatever the stage holds of a partition that is no longer this process's,
        or that is rewound to its snapshot."""
        ...

    def reload(self, config: ServiceConfig, states: list[PartitionState]) -> None:
        """New thresholds from the next batch on, for ``states`` too."""
        ...

    def progress(self) -> int:
        """What the progress line counts (records for split, chunks for detect)."""
        ...

    def report(self, states: list[PartitionState], seconds: float, before: int) -> None:
        """Log the progress line and update the stage's metrics."""
        ...


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
