"""Partitions whose progress has stopped because the broker will not confirm their outputs.

A partition the checkpoint had to hold (``CheckpointResult.held``) for ``stall_after_s``
seconds is *stalled*: it is logged as ``partition_stalled`` (an error, with the offset of the
first record whose output is unconfirmed and the broker's reason), counted in the
``driftwarden_partitions_stalled`` gauge, paused so that detector state does not run further
ahead of what is durable, and logged again every ``repeat_s`` seconds while it lasts. Once
a checkpoint covers it again: ``partition_resumed``, and it is consumed again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from driftwarden.stream.service.delivery import Owner, TrackedProducer

__all__ = ["Stalls"]

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Held:
    since: float
    stalled: bool = False
    last_logged: float = 0.0


class Stalls:
    """Follows held partitions from one checkpoint to the next (see the module docstring)."""

    def __init__(self, producer: TrackedProducer, stall_after_s: float, repeat_s: float = 60.0):
        self.producer = producer
        self.stall_after_s = stall_after_s
        self.repeat_s = repeat_s
        self._held: dict[Owner, _Held] = {}

    @property
    def stalled(self) -> list[Owner]:
        """The partitions stalled now."""
        return [owner for owner, held in self._held.items() if held.stalled]

    def update(
        self, held: Iterable[Owner], covered: Iterable[Owner], now: float
    ) -> tuple[list[Owner], list[Owner]]:
        """Note one checkpoint's outcome; return the partitions to pause and to resume."""
        to_pause, to_resume = [], []
        for owner in covered:
            was = self._held.pop(owner, None)
            if was is not None and was.stalled:
                log.info(
                    "partition_resumed",
                    topic=owner[0],
                    partition=owner[1],
                    stalled_s=round(now - was.since, 1),
                )
                to_resume.append(owner)
        for owner in held:
            state = self._held.setdefault(owner, _Held(since=now))
            if now - state.since < self.stall_after_s:
                continue
            if not state.stalled:
                state.stalled = True
                to_pause.append(owner)
            elif now - state.last_logged < self.repeat_s:
                continue
            state.last_logged = now
            self._log_stall(owner, now - state.since)
        return to_pause, to_resume

    def forget(self, owner: Owner) -> None:
        """The partition left this instance (revoked or lost)."""
        self._held.pop(owner, None)

    def _log_stall(self, owner: Owner, seconds: float) -> None:
        refusal = self.producer.refusal_of(owner)
        if refusal is not None:
            reason = f"{refusal.topic} refused it ({refusal.error}); attempt {refusal.attempts}"
        else:
            n = self.producer.unconfirmed(owner)
            reason = f"{n} output message(s) not confirmed by the broker"
        log.error(
            "partition_stalled",
            topic=owner[0],
            partition=owner[1],
            offset=self.producer.oldest_unconfirmed(owner),
            reason=reason,
            stalled_s=round(seconds, 1),
            action="progress on this partition waits until the broker accepts the record; "
            "see docs/operations.md, failure modes",
        )
