"""A producer wrapper that tracks delivery reports, so a checkpoint can confirm them."""

from __future__ import annotations

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

__all__ = ["DeliveryFailed", "TrackedProducer"]

log = structlog.get_logger(__name__)

Headers = list[tuple[str, str | bytes | None]]


class DeliveryFailed(RuntimeError):
    """At least one message was not acknowledged by the broker; offsets must not be committed."""


class TrackedProducer:
    """Produces through one confluent-kafka ``Producer`` and counts unconfirmed deliveries.

    ``confirm(timeout)`` flushes and raises ``DeliveryFailed`` when any delivery report since
    the last confirmation carried an error, or when messages are still in flight after the
    timeout; the caller then must not commit offsets (the records will be replayed).
    """

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self._failures: list[str] = []
        self.delivered = 0

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(f"{msg.topic()}: {err.str()}")
            log.error("delivery_failed", topic=msg.topic(), error=err.str())
        else:
            self.delivered += 1

    def produce(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        """Queue one message; waits for room (serving delivery reports) when the queue is full."""
        while True:
            try:
                self.producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery
                )
                return
            except BufferError:
                self.producer.poll(0.1)
            except KafkaException as exc:
                raise DeliveryFailed(f"cannot produce to {topic}: {exc}") from exc

    def poll(self) -> None:
        """Serve pending delivery reports without blocking."""
        self.producer.poll(0)

    def confirm(self, timeout: float = 30.0) -> None:
        """Flush, then raise ``DeliveryFailed`` if anything since the last call failed."""
        remaining = self.producer.flush(timeout)
        failures, self._failures = self._failures, []
        if remaining:
            failures.append(f"{remaining} message(s) still in flight after {timeout:.0f}s")
        if failures:
            raise DeliveryFailed("; ".join(failures[:5]))
