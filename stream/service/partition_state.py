"""Everything the service keeps for one input partition: its bank, its decoder, its offset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.profile import Profile
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.detectors.snapshots import check_snapshot
from driftwarden.stream.decoding.decoder import Decoder

__all__ = ["SNAPSHOT_KIND", "SNAPSHOT_VERSION", "PartitionState"]

SNAPSHOT_KIND = "PartitionState"
SNAPSHOT_VERSION = 1


@dataclass(slots=True)
class PartitionState:
    """Detector state of one input partition; it moves with the partition on a rebalance.

    ``next_offset`` is the offset of the next record to process (None until the first
    record); a snapshot names it, so a restore seeks exactly there.
    """

    topic: str
    partition: int
    bank: DetectorBank
    decoder: Decoder
    next_offset: int | None = None
    dlq_records: int = 0

    @property
    def owner(self) -> tuple[str, int]:
        """``(topic, partition)``: whose outputs the producer accounts for (``Owner``)."""
        return (self.topic, self.partition)

    def snapshot_bytes(self) -> bytes:
        """The state-topic value: JSON with the bank, the decoder's learned kinds, the offset."""
        return msgspec.json.encode(
            {
                "kind": SNAPSHOT_KIND,
                "version": SNAPSHOT_VERSION,
                "topic": self.topic,
                "partition": self.partition,
                "next_offset": self.next_offset,
                "dlq_records": self.dlq_records,
                "decoder": self.decoder.snapshot(),
                "bank": self.bank.snapshot(),
            }
        )

    @classmethod
    def restore(
        cls,
        payload: bytes,
        settings: DetectorSettings,
        profile: Profile | None,
        decoder_options: dict[str, Any],
    ) -> PartitionState:
        """Rebuild from ``snapshot_bytes`` output; raises ``ValueError`` on a foreign payload."""
        state = msgspec.json.decode(payload)
        if isinstance(state, dict) and "kind" not in state:
            state = {"kind": SNAPSHOT_KIND, **state}  # written before snapshots named their kind
        check_snapshot(state, SNAPSHOT_KIND, SNAPSHOT_VERSION)
        decoder = Decoder(**decoder_options)
        decoder.restore(state["decoder"])
        return cls(
            topic=state["topic"],
            partition=state["partition"],
            bank=DetectorBank.restore(state["bank"], settings, profile),
            decoder=decoder,
            next_offset=state["next_offset"],
            dlq_records=state["dlq_records"],
        )
