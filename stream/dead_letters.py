"""DLQ records: a rejected input record, its reason and its source position, as one message
the DLQ topic will accept.

The value is the original bytes, cut to ``value_limit`` when longer (a record is often
rejected *because* it is too large, and the DLQ topic refuses what exceeds its
``max.message.bytes``); the header ``driftwarden.truncated`` then holds the original length.
The original headers come first and are kept (a replay tool needs them), unless together they
exceed ``HEADERS_LIMIT``; ``content-type`` is the original's, or ``application/octet-stream``.
"""

from __future__ import annotations

from typing import Final

from stream.delivery import Headers

__all__ = ["HEADERS_LIMIT", "RESERVED_BYTES", "dead_letter"]

HEADERS_LIMIT: Final = 16 * 1024
"""Original headers larger than this (names and values together) are dropped, and said so."""
RESERVED_BYTES: Final = 64 * 1024
"""What a DLQ message may need beyond its value: headers, key, record overhead."""
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
    value_limit: int,
) -> tuple[bytes, Headers]:
    """The DLQ message's value and headers for one rejected record.

    >>> value, headers = dead_letter(b"x" * 10, [("trace", b"t1")], reason="too_large",
    ...     detail="10 bytes", topic="features", partition=3, offset=41, value_limit=4)
    >>> value
    b'xxxx'
    >>> [name for name, _ in headers]  # doctest: +NORMALIZE_WHITESPACE
    ['trace', 'content-type', 'driftwarden.reason', 'driftwarden.detail',
     'driftwarden.source.topic', 'driftwarden.source.partition', 'driftwarden.source.offset',
     'driftwarden.truncated']
    >>> dict(headers)["driftwarden.truncated"]
    '10'
    """
    original = value or b""
    headers: Headers = []
    kept = list(original_headers or ())
    if sum(len(name) + len(item or b"") for name, item in kept) <= HEADERS_LIMIT:
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
    if len(original) > value_limit:
        headers.append(("driftwarden.truncated", str(len(original))))
        original = original[:value_limit]
    return original, headers
