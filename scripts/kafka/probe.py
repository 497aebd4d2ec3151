"""Ask a Kafka broker for its metadata, with nothing but the standard library.

Used by scripts/kafka.sh to decide that a freshly started broker is ready: it is ready when
a Metadata request (v4, the oldest version Kafka 4.x still serves) lists at least one broker.
Exit status 0 when ready, 1 otherwise; prints the broker count and cluster id on success.

    python3 scripts/kafka/probe.py 127.0.0.1:19092
"""

from __future__ import annotations

import socket
import struct
import sys

METADATA_API_KEY = 3
METADATA_VERSION = 4
CORRELATION_ID = 0x0D21F7


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        chunks += chunk
    return bytes(chunks)


def _read_string(payload: bytes, pos: int) -> tuple[str | None, int]:
    (length,) = struct.unpack_from(">h", payload, pos)
    pos += 2
    if length < 0:
        return None, pos
    return payload[pos : pos + length].decode(), pos + length


def metadata(host: str, port: int, timeout: float = 2.0) -> tuple[int, str | None]:
    """Return ``(number of brokers, cluster id)`` from one Metadata v4 round trip."""
    client_id = b"driftwarden-probe"
    body = struct.pack(">ib", -1, 0)  # all topics (null array), no auto-creation
    header = struct.pack(
        ">hhih", METADATA_API_KEY, METADATA_VERSION, CORRELATION_ID, len(client_id)
    )
    request = header + client_id + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _read_exactly(sock, 4))
        payload = _read_exactly(sock, size)
    correlation_id, _throttle_ms, n_brokers = struct.unpack_from(">iii", payload, 0)
    if correlation_id != CORRELATION_ID:
        raise ConnectionError(f"unexpected correlation id {correlation_id}")
    pos = 12
    for _ in range(n_brokers):
        pos += 4  # node id
        _host, pos = _read_string(payload, pos)
        pos += 4  # port
        _rack, pos = _read_string(payload, pos)
    cluster_id, _ = _read_string(payload, pos)
    return n_brokers, cluster_id


def main(argv: list[str]) -> int:
    if len(argv) != 2 or ":" not in argv[1]:
        print("usage: probe.py HOST:PORT", file=sys.stderr)
        return 2
    host, port = argv[1].rsplit(":", 1)
    try:
        n_brokers, cluster_id = metadata(host, int(port))
    except (OSError, struct.error) as exc:
        print(f"not ready: {exc}", file=sys.stderr)
        return 1
    if n_brokers < 1:
        print("not ready: metadata lists no broker yet", file=sys.stderr)
        return 1
    print(f"brokers={n_brokers} cluster_id={cluster_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
