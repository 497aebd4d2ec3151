"""The broker of a benchmark run, and preloaded input topics that later runs reuse.

``broker()`` yields a bootstrap address: ``DRIFTWARDEN_BOOTSTRAP`` when set; otherwise the
local broker of ``scripts/kafka.sh``, reused when it is already running and started (then
stopped on exit) when it is not. A broker this process did not start is never stopped.

``preload`` fills a topic named after what is in it (records, seed, widths, partitions), so
a rerun with the same arguments finds it complete and skips the preload; an incomplete one
(an interrupted preload) is deleted and written again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.inference_log import Widths, record_chunks

__all__ = ["broker", "preload", "topic_name", "topic_records"]

REPO_DIR = Path(__file__).resolve().parent.parent
KAFKA_SH = REPO_DIR / "scripts" / "kafka.sh"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _bootstrap_of(output: str) -> str | None:
    for word in output.split():
        if word.startswith("bootstrap="):
            return word.split("=", 1)[1]
    return None


@contextmanager
def broker() -> Iterator[str]:
    """The bootstrap address of the broker to use (see the module docstring)."""
    given = os.environ.get("DRIFTWARDEN_BOOTSTRAP")
    if given:
        yield given
        return
    status = subprocess.run([str(KAFKA_SH), "status"], capture_output=True, text=True)
    running = _bootstrap_of(status.stdout) if status.returncode == 0 else None
    if running is not None:
        _say(f"using the running local broker at {running} (left running)")
        yield running
        return
    started = subprocess.run([str(KAFKA_SH), "start"], capture_output=True, text=True)
    bootstrap = _bootstrap_of(started.stdout)
    if started.returncode != 0 or bootstrap is None:
        raise RuntimeError(f"scripts/kafka.sh start failed:\n{started.stderr}")
    _say(f"started the local broker at {bootstrap}; it is stopped at the end")
    try:
        yield bootstrap
    finally:
        subprocess.run([str(KAFKA_SH), "stop"], check=False)


def topic_name(n: int, seed: int, widths: Widths, partitions: int) -> str:
    """The name of the preloaded topic holding exactly these records.

    >>> topic_name(2_000_000, 1, Widths(20, 5), 1)
    'dwbench-n2000000-s1-w20x5-p1'
    """
    return f"dwbench-n{n}-s{seed}-w{widths.n_numeric}x{widths.n_categorical}-p{partitions}"


def topic_records(bootstrap: str, topic: str) -> int | None:
    """Records in ``topic`` (sum of high watermarks; None when it does not exist)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"dwbench-{uuid.uuid4()}"})
    try:
        described = consumer.list_topics(topic, timeout=30).topics.get(topic)
        if described is None or described.error is not None:
            return None
        total = 0
        for partition in described.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            total += high - low
        return total
    finally:
        consumer.close()


def _recreate(bootstrap: str, topic: str, partitions: int, exists: bool) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if exists:
        admin.delete_topics([topic], operation_timeout=60)[topic].result(60)
        deadline = time.monotonic() + 60
        while topic in admin.list_topics(timeout=30).topics:
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {topic} was not deleted within 60 s")
            time.sleep(0.5)
    new = NewTopic(topic, num_partitions=partitions, replication_factor=1)
    new.config = {"retention.ms": "-1", "retention.bytes": "-1"}
    admin.create_topics([new], operation_timeout=60)[topic].result(60)


def preload(bootstrap: str, n: int, seed: int, widths: Widths, partitions: int = 1) -> str:
    """Make sure the topic of these records holds exactly them; return its name."""
    topic = topic_name(n, seed, widths, partitions)
    found = topic_records(bootstrap, topic)
    if found == n:
        _say(f"reusing preloaded topic {topic} ({n:,} records)")
        return topic
    if found is not None:
        _say(f"topic {topic} holds {found:,} records, not {n:,}: writing it again")
    _recreate(bootstrap, topic, partitions, exists=found is not None)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": 100,
            "batch.size": 1_000_000,
            "batch.num.messages": 100_000,
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 1024 * 1024,
        }
    )
    errors: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    started, sent = time.monotonic(), 0
    produce, poll = producer.produce, producer.poll
    for chunk in record_chunks(n, seed, widths):
        for payload in chunk:
            while True:
                try:
                    produce(topic, payload, partition=sent % partitions, on_delivery=on_delivery)
                    break
                except BufferError:
                    poll(0.1)
            sent += 1
        poll(0)
        if errors:
            raise KafkaException(f"preload of {topic} failed: {errors[0]}")
        if sent % 500_000 < len(chunk):
            _say(f"  preload {topic}: {sent:,}/{n:,} ({time.monotonic() - started:.0f} s)")
    if producer.flush(300) or errors:
        raise KafkaException(f"preload of {topic} not confirmed: {errors[:1]}")
    found = topic_records(bootstrap, topic)
    if found != n:
        raise RuntimeError(f"preloaded topic {topic} holds {found} records, expected {n}")
    _say(f"preloaded {topic}: {n:,} records in {time.monotonic() - started:.0f} s")
    return topic
