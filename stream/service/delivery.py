"""A producer wrapper that tracks delivery per input partition, so a checkpoint covers only
what the broker has confirmed, and a refused message holds back its own partition alone.

Every message the service produces belongs to the input partition whose records caused it
(its *owner*): an alert, a DLQ record, a snapshot. ``TrackedProducer`` counts each owner's
unconfirmed messages and keeps the ones the broker refused. A refused alert or DLQ record is
produced again with backoff, never dropped: until it is confirmed its owner is *stalled* and
the checkpoint neither snapshots nor commits that partition, so a restart replays from before
it. A refused snapshot is retried the same way, so a newer one is written only after it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from functools import partial

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

__all__ = ["DeliveryFailed", "Headers", "Owner", "Refusal", "TrackedProducer", "headers_of"]

log = structlog.get_logger(__name__)

Headers = list[tuple[str, str | bytes | None]]
Owner = tuple[str, int]
"""The input (topic, partition) a produced message belongs to."""

_FIRST_RETRY_S = 1.0
_MAX_RETRY_S = 10.0


def headers_of(msg: Message) -> Headers:
    """A message's headers as a list of ``(name, value)`` pairs (empty when it has none)."""
    headers = msg.headers()
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers or ())


class DeliveryFailed(RuntimeError):
    """A message could not even be queued (bad topic name, producer fenced or fatal)."""


@dataclass(slots=True)
class Refusal:
    """A message the broker refused: produced again at ``retry_at`` until it is confirmed."""

    owner: Owner
    source_offset: int
    topic: str
    value: bytes | None
    key: bytes | None
    headers: Headers | None
    error: str
    attempts: int = 1
    retry_at: float = 0.0


class TrackedProducer:
    """Produces through one confluent-kafka ``Producer`` and accounts for delivery by owner.

    ``produce(..., owner=, source_offset=)`` queues a message (``source_offset``: the input
    record that caused it, or the snapshot's next offset). ``settle(timeout)`` serves
    delivery reports for up to ``timeout`` seconds without raising. ``unconfirmed(owner)``
    counts what is not yet confirmed (in flight or refused) and ``oldest_unconfirmed(owner)``
    names the earliest record it comes from; ``retry_due()`` produces refused messages
    again, with exponential backoff from 1 s to 10 s.

    Memory bound: one entry per distinct source offset with an unconfirmed message, which is
    at most the alerts, DLQ records and snapshots produced since the last confirmation.
    """

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.delivered = 0
        self.refusals: list[Refusal] = []
        self._in_flight: dict[Owner, Counter[int]] = {}

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        *,
        owner: Owner,
        source_offset: int,
    ) -> None:
        """Queue one message; waits for room (serving delivery reports) when the queue is full."""
        self._send(topic, value, key, headers, owner, source_offset, None)

    def _send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
        owner: Owner,
        source_offset: int,
        previous: Refusal | None,
    ) -> None:
        # Delivery reports carry no headers: keep them for a message that must be sent again.
        report = partial(self._on_delivery, owner, source_offset, headers, previous)
        while True:
            try:
                self.producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=report
                )
                break
            except BufferError:
                self.producer.poll(0.1)
            except KafkaException as exc:
                raise DeliveryFailed(f"cannot produce to {topic}: {exc}") from exc
        self._in_flight.setdefault(owner, Counter())[source_offset] += 1

    def _on_delivery(
        self,
        owner: Owner,
        source_offset: int,
        headers: Headers | None,
        previous: Refusal | None,
        err: KafkaError | None,
        msg: Message,
    ) -> None:
        offsets = self._in_flight[owner]
        offsets[source_offset] -= 1
        if offsets[source_offset] <= 0:
            del offsets[source_offset]
        if err is None:
            self.delivered += 1
            return
        log.warning(
            "delivery_failed",
            topic=msg.topic(),
            error=err.str(),
            source_topic=owner[0],
            source_partition=owner[1],
            source_offset=source_offset,
        )
        refusal = previous or Refusal(
            owner=owner,
            source_offset=source_offset,
            topic=msg.topic() or "",
            value=msg.value(),
            key=msg.key(),
            headers=headers,
            error=err.str(),
            attempts=0,
        )
        refusal.attempts += 1
        refusal.error = err.str()
        backoff = min(_MAX_RETRY_S, _FIRST_RETRY_S * 2 ** (refusal.attempts - 1))
        refusal.retry_at = time.monotonic() + backoff
        self.refusals.append(refusal)

    def poll(self) -> None:
        """Serve pending delivery reports without blocking."""
        self.producer.poll(0)

    def settle(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for every message in flight to be reported."""
        self.producer.flush(timeout)

    def unconfirmed(self, owner: Owner) -> int:
        """Messages of ``owner`` in flight or refused (0: everything it produced is durable)."""
        in_flight = self._in_flight.get(owner)
        return (sum(in_flight.values()) if in_flight else 0) + sum(
            r.owner == owner for r in self.refusals
        )

    def oldest_unconfirmed(self, owner: Owner) -> int | None:
        """The smallest source offset of ``owner`` with an unconfirmed message, if any."""
        offsets = [r.source_offset for r in self.refusals if r.owner == owner]
        offsets += list(self._in_flight.get(owner) or ())
        return min(offsets) if offsets else None

    def refusal_of(self, owner: Owner) -> Refusal | None:
        """The earliest refused message of ``owner`` still waiting to be produced again."""
        mine = [r for r in self.refusals if r.owner == owner]
        return min(mine, key=lambda r: r.source_offset) if mine else None

    def retry_due(self) -> None:
        """Produce again every refused message whose backoff has elapsed."""
        if not self.refusals:
            return
        now = time.monotonic()
        due = [r for r in self.refusals if r.retry_at <= now]
        for refusal in due:
            self.refusals.remove(refusal)
            self._send(
                refusal.topic,
                refusal.value,
                refusal.key,
                refusal.headers,
                refusal.owner,
                refusal.source_offset,
                refusal,
            )

    def forget(self, owner: Owner) -> None:
        """Drop the refusals of a partition this instance no longer owns: its next owner
        replays from the last snapshot, which precedes them."""
        self.refusals = [r for r in self.refusals if r.owner != owner]
