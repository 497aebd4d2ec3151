"""The demo's Kafka plumbing: the in-process mock cluster, producing records, reading topics.

librdkafka's mock cluster (``test.mock.num.brokers``) lives as long as the client that
started it, so ``MockCluster`` keeps that client open until it exits. It auto-creates a
topic (4 partitions) on the first produce to it, but does not answer CreateTopics, and a
consumer subscribed to a topic that does not exist yet never joins its group. So the demo
produces every record to partition 0, creates the state topic with a tombstone
(``produce_records(..., create=[state])``), and reads the alerts and DLQ topics with a
``TopicReader``, which assigns their partitions once they exist instead of subscribing.
"""

from __future__ import annotations

import gc
import threading
import time
import uuid
from collections.abc import Sequence
from types import TracebackType

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

__all__ = ["QUIET_CLIENT", "MockCluster", "TopicReader", "produce_records"]

#: librdkafka settings for the demo's clients: no log line each time the mock closes an
#: idle connection.
QUIET_CLIENT: dict[str, str | int | float | bool] = {"log.connection.close": False}


class MockCluster:
    """librdkafka's in-process mock cluster; ``bootstrap`` is its address while open.

    >>> with MockCluster() as cluster:
    ...     cluster.bootstrap.startswith("127.0.0.1:")
    True
    """

    def __init__(self) -> None:
        self._owner: Producer | None = None
        self.bootstrap = ""

    def __enter__(self) -> MockCluster:
        # log_level 3: no notice that the mock replaces bootstrap.servers.
        self._owner = Producer({"test.mock.num.brokers": 1, "log_level": 3, **QUIET_CLIENT})
        brokers = self._owner.list_topics(timeout=10).brokers.values()
        self.bootstrap = ",".join(f"{b.host}:{b.port}" for b in brokers)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Clients of the cluster held only by reference cycles (a consumer and its
        # bound-method callbacks) would keep reconnecting to the vanished cluster, loudly.
        gc.collect()
        self._owner = None
        self.bootstrap = ""


def produce_records(
    bootstrap: str, topic: str, payloads: Sequence[bytes], create: Sequence[str] = ()
) -> None:
    """Produce ``payloads`` in order to partition 0 of ``topic``, so that offset ``i`` is
    ``payloads[i]`` on a fresh topic; first create each topic of ``create`` on the mock
    cluster with a tombstone. Raises ``KafkaException`` if any delivery failed.

    >>> with MockCluster() as cluster:
    ...     produce_records(cluster.bootstrap, "t", [b"a", b"b"])
    ...     reader = TopicReader(cluster.bootstrap, "t")
    ...     print([(m.partition(), m.offset(), m.value()) for m in reader.drain(10)])
    ...     reader.close()
    [(0, 0, b'a'), (0, 1, b'b')]
    """
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4", **QUIET_CLIENT}
    )
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(err.str())

    for name in create:
        producer.produce(name, None, key=b"driftwarden-demo/created", on_delivery=on_delivery)
    for payload in payloads:
        while True:
            try:
                producer.produce(topic, payload, partition=0, on_delivery=on_delivery)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
    remaining = producer.flush(60)
    if remaining or failures:
        raise KafkaException(
            f"producing to {topic} on {bootstrap} failed: {remaining} record(s) undelivered"
            + (f"; {'; '.join(failures[:3])}" if failures else "")
        )


class TopicReader:
    """Reads every partition of a topic from the beginning, by assignment (no group, no
    commits), once the topic exists; see ``produce_records`` for an example."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"driftwarden-demo-reader-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                **QUIET_CLIENT,
            }
        )
        self.partitions: list[int] = []
        self._next: dict[int, int] = {}

    def _assign(self) -> bool:
        if self.partitions:
            return True
        described = self.consumer.list_topics(self.topic, timeout=5).topics.get(self.topic)
        if described is None or described.error is not None or not described.partitions:
            return False
        self.partitions = sorted(described.partitions)
        self.consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self.partitions]
        )
        return True

    def end_offsets(self, timeout: float = 10.0) -> dict[int, int]:
        """The high watermark of each partition ({} while the topic does not exist)."""
        if not self._assign():
            return {}
        return {
            p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout)[1]
            for p in self.partitions
        }

    def poll(self, timeout: float, idle: threading.Event) -> list[Message]:
        """The next messages; waits up to ``timeout`` (on ``idle`` while the topic is absent)."""
        if not self._assign():
            idle.wait(timeout)
            return []
        messages = []
        for msg in self.consumer.consume(1000, timeout):
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise KafkaException(err)
                continue  # transient (e.g. a partition EOF); librdkafka retries
            self._next[int(msg.partition() or 0)] = int(msg.offset() or 0) + 1
            messages.append(msg)
        return messages

    def drain(self, timeout: float) -> list[Message]:
        """Every message not read yet, up to the current end of the topic."""
        ends = {p: end for p, end in self.end_offsets(timeout).items() if end > 0}
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        never = threading.Event()
        while any(self._next.get(p, 0) < end for p, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {self.topic} not read to its end in {timeout:.0f} s")
            messages += self.poll(0.2, never)
        return messages

    def close(self) -> None:
        """Leave the cluster."""
        self.consumer.close()
