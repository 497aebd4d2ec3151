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

from driftwarden.stream.service.delivery import Headers

__all__ = ["HEADERS_LIMIT", "KAFKA_DEFAULT_LIMIT", "RESERVED_BYTES", "dead_letter"]

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
