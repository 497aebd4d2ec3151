"""DLQ records: a rejected input record, its reason and its source position, as one message
the DLQ topic will accept.

The value is the original bytes, cut so that the whole message fits in ``record_limit`` (the
DLQ topic's ``max.message.bytes``: a record is often rejected *because* it is too large, and
the DLQ topic refuses what exceeds its limit); the header ``driftwarden.truncated`` then holds
the original length.
The original headers come first and are kept (a replay tool needs them), unless together they
exceed ``HEADERS_LIMIT``; ``content-type`` is the original's, or ``application/octet-stream``.
"""

from __future__ import annotations

from typing import Final

from confluent_kafka import Message

from driftwarden.stream.ops.metrics import ServiceMetrics
from driftwarden.stream.service.delivery import Headers, Owner, TrackedProducer, headers_of
from driftwarden.stream.service.service_stats import ServiceStats

__all__ = ["HEADERS_LIMIT", "KAFKA_DEFAULT_LIMIT", "RESERVED_BYTES", "DeadLetters", "dead_letter"]

HEADERS_LIMIT: Final = 16 * 1024
"""Original headers larger than this (names and values together) are dropped, and said so."""
RESERVED_BYTES: Final = 64 * 1024
"""Room beyond ``input.max_message_bytes`` in the DLQ topics the service creates."""
KAFKA_DEFAULT_LIMIT: Final = 1_048_588
"""A topic's ``max.message.bytes`` unless set: Kafka's default (1 MiB + 12)."""
_RECORD_OVERHEAD: Final = 512  # batch and record framing, timestamps, lengths
_DETAIL_LIMIT: Final = 1000
_OCTETS: Final = "application/octet-stream"


def dead_letter(
    value: bytes | None,
    original_headers: Headers | None,
    *,
    reason: str,
    detail: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    record_limit: int,
) -> tuple[bytes, Headers]:
    """The DLQ message's value and headers for one rejected record.

    >>> value, headers = dead_letter(b"x" * 5000, [("trace", b"t1")], reason="too_large",
    ...     detail="5000 bytes", topic="features", partition=3, offset=41, key=None,
    ...     record_limit=1000)
    >>> len(value) + sum(len(name) + len(item) for name, item in headers) + 512 <= 1000
    True
    >>> [name for name, _ in headers]  # doctest: +NORMALIZE_WHITESPACE
    ['trace', 'content-type', 'driftwarden.reason', 'driftwarden.detail',
     'driftwarden.source.topic', 'driftwarden.source.partition', 'driftwarden.source.offset',
     'driftwarden.truncated']
    >>> dict(headers)["driftwarden.truncated"]
    '5000'
    """
    original = value or b""
    headers: Headers = []
    kept = list(original_headers or ())
    if _size(kept) <= HEADERS_LIMIT:
        headers += [(name, item) for name, item in kept if not name.startswith("driftwarden.")]
    else:
        headers.append(("driftwarden.headers_dropped", str(len(kept))))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", _OCTETS))
    headers += [
        ("driftwarden.reason", reason),
        ("driftwarden.detail", detail[:_DETAIL_LIMIT]),
        ("driftwarden.source.topic", topic),
        ("driftwarden.source.partition", str(partition)),
        ("driftwarden.source.offset", str(offset)),
    ]
    truncated = ("driftwarden.truncated", str(len(original)))
    room = record_limit - _RECORD_OVERHEAD - len(key or b"") - _size([*headers, truncated])
    if len(original) > room:
        headers.append(truncated)
        original = original[: max(room, 0)]
    return original, headers


def _size(headers: Headers) -> int:
    return sum(
        len(name) + len(item.encode() if isinstance(item, str) else item or b"")
        for name, item in headers
    )


class DeadLetters:
    """Sends rejected messages to the DLQ topic, each on behalf of the partition it was read
    from (so a checkpoint covers it only once the broker holds it), and counts them by
    reason in ``stats`` and ``metrics``."""

    def __init__(
        self,
        producer: TrackedProducer,
        topic: str,
        record_limit: int,
        stats: ServiceStats,
        metrics: ServiceMetrics,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.record_limit = record_limit
        self.stats = stats
        self.metrics = metrics

    def send(self, msg: Message, owner: Owner, reason: str, detail: str) -> None:
        """``msg`` (of partition ``owner``) to the DLQ, with ``reason`` and ``detail``."""
        offset = int(msg.offset() or 0)
        value, headers = dead_letter(
            msg.value(),
            headers_of(msg),
            reason=reason,
            detail=detail,
            topic=owner[0],
            partition=owner[1],
            offset=offset,
            key=msg.key(),
            record_limit=self.record_limit,
        )
        self.producer.produce(
            self.topic, value, key=msg.key(), headers=headers, owner=owner, source_offset=offset
        )
        self.stats.dlq_reasons[reason] = self.stats.dlq_reasons.get(reason, 0) + 1
        self.metrics.observe_dlq(reason)
