"""What a checkpoint needs of one partition's state, whichever stage owns it."""

from __future__ import annotations

from typing import Protocol

from driftwarden.stream.service.delivery import Owner

__all__ = ["PartitionState"]


class PartitionState(Protocol):
    """The state of one consumed partition; it moves with the partition on a rebalance.

    ``next_offset`` is the offset of the next record to process (None until the first
    record); the snapshot names it, so a restore seeks exactly there. Stage one keeps a
    ``SplitState`` per input partition, stage two a ``DetectState`` per columns partition.
    """

    topic: str
    partition: int
    next_offset: int | None

    @property
    def owner(self) -> Owner:
        """``(topic, partition)``: whose outputs the producer accounts for."""
        ...

    def snapshot_bytes(self) -> bytes:
        """The state-topic value: everything a restore needs, with ``next_offset``."""
        ...
