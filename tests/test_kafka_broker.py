"""The real broker fixture works: round trips and topic configuration."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

N_RECORDS = 10_000


def test_round_trip_delivers_every_record_exactly_once(
    kafka_bootstrap: str, kafka_topics: Callable[..., str]
) -> None:
    topic = kafka_topics(partitions=3)
    errors: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(N_RECORDS):
        producer.produce(topic, key=f"k{i}", value=f"v{i}", on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen: dict[str, str] = {}
    duplicates = 0
    deadline = time.monotonic() + 60
    try:
        while len(seen) < N_RECORDS and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1.0):
                assert msg.error() is None, msg.error()
                key = msg.key().decode()
                duplicates += key in seen
                seen[key] = msg.value().decode()
        # Drain briefly: a duplicate would arrive right behind the last record.
        duplicates += len(consumer.consume(1000, timeout=1.0))
    finally:
        consumer.close()

    assert duplicates == 0
    assert seen == {f"k{i}": f"v{i}" for i in range(N_RECORDS)}


def test_compacted_topic_config_reads_back(
    kafka_bootstrap: str, kafka_topics: Callable[..., str]
) -> None:
    topic = kafka_topics(
        partitions=1, config={"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
    )
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["min.cleanable.dirty.ratio"].value == "0.1"
    assert configs["cleanup.policy"].source != configs["retention.ms"].source
