"""A live input stream: records produced at a steady rate from a background thread.

A fault injected while the service reads a topic that is already full may land after it has
read everything; with records still arriving, the service is mid-stream whenever the fault
hits. The producer is idempotent with a long delivery timeout, so records produced during a
broker outage wait in its queue and arrive in order once the broker is back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from confluent_kafka import KafkaError, Message, Producer

__all__ = ["PacedFeed"]

DELIVERY_TIMEOUT_S = 600.0


class PacedFeed:
    """Produces ``records`` (dicts as JSON, bytes as they are) to ``topic``, record ``i`` to
    partition ``i % partitions``, ``rate`` records a second, and only the first ``allowed``
    (all by default) until ``allow()`` says more; ``release()`` lifts rate and limit: the rest
    goes out at once. ``finish()`` waits until the broker has confirmed every record."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        records: Sequence[dict[str, Any] | bytes],
        partitions: int,
        rate: float,
        allowed: int | None = None,
    ) -> None:
        self.topic = topic
        self.records = records
        self.partitions = partitions
        self.rate = rate
        self.produced = 0
        self._allowed = len(records) if allowed is None else allowed
        self._released = False
        self._closed = False
        self._gate = threading.Condition()
        self._errors: list[str] = []
        self._unflushed = 0
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "linger.ms": 20,
                "message.timeout.ms": int(DELIVERY_TIMEOUT_S * 1000),
                # Quiet about the connections it retries while the broker is down.
                "log_level": 0,
            }
        )
        self._thread = threading.Thread(target=self._run, name="paced-feed", daemon=True)

    def start(self) -> PacedFeed:
        self._thread.start()
        return self

    def allow(self, n: int) -> None:
        """Let the feed go on up to ``n`` records in all."""
        with self._gate:
            self._allowed = max(self._allowed, n)
            self._gate.notify_all()

    def release(self) -> None:
        """No more pacing or limit: the records not produced yet go out at once."""
        with self._gate:
            self._released = True
            self._gate.notify_all()

    def close(self) -> None:
        """Abandon the feed (test teardown): no more records, the unsent ones dropped."""
        with self._gate:
            self._closed = True
            self._gate.notify_all()
        self._thread.join(30)

    def _wait_for_turn(self, i: int, due: float) -> float:
        """Block until record ``i`` may go; return when the next one is due."""
        with self._gate:
            self._gate.wait_for(lambda: self._released or self._closed or i < self._allowed)
            due = max(due, time.monotonic())
            while not (self._released or self._closed) and time.monotonic() < due:
                # Pacing a live source, not waiting for a condition.
                self._gate.wait(due - time.monotonic())
        return due + 1.0 / self.rate

    def finish(self, timeout: float = 180.0) -> None:
        """Release, then wait until every record is produced and confirmed by the broker."""
        self.release()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"feed not done after {timeout}s"
        assert self._unflushed == 0, f"{self._unflushed} record(s) never confirmed"
        assert self._errors == [], self._errors[:5]
        assert self.produced == len(self.records)

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._errors.append(err.str())

    def _run(self) -> None:
        try:
            self._produce_all()
        except Exception as exc:  # reported by finish(), in the test's thread
            self._errors.append(repr(exc))

    def _produce_all(self) -> None:
        encoder = msgspec.json.Encoder()
        due = time.monotonic()
        for i, record in enumerate(self.records):
            due = self._wait_for_turn(i, due)
            if self._closed:
                break
            value = record if isinstance(record, bytes) else encoder.encode(record)
            while True:
                try:
                    self._producer.produce(
                        self.topic,
                        value=value,
                        partition=i % self.partitions,
                        on_delivery=self._on_delivery,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)
            self._producer.poll(0)
            self.produced = i + 1
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while self._producer.flush(0.5) and not self._closed and time.monotonic() < deadline:
            pass  # flush() in short steps, so that close() is heard
        if self._closed:
            self._producer.purge()
            self._producer.flush(0)
        self._unflushed = len(self._producer)
