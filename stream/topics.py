"""Check, and on request create, the topics the service reads and writes."""

from __future__ import annotations

import structlog
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from stream.config import ServiceConfig

__all__ = ["TopicsMissing", "ensure_topics"]

log = structlog.get_logger(__name__)

# Snapshots of many features exceed Kafka's 1 MB default message size.
STATE_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "max.message.bytes": str(16 * 1024 * 1024),
    "min.cleanable.dirty.ratio": "0.1",
}


class TopicsMissing(RuntimeError):
    """Topics the service needs do not exist and ``kafka.create_topics`` is false."""


def ensure_topics(config: ServiceConfig, timeout_s: float = 30.0) -> list[str]:
    """Return the topics created; raise ``TopicsMissing`` naming every absent topic."""
    kafka = config.kafka
    admin = AdminClient(config.librdkafka())
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise TopicsMissing(
            f"cannot list topics on {kafka.bootstrap_servers}: {exc.args[0].str()}"
        ) from exc
    wanted = {name: "input" for name in kafka.input_topics}
    wanted.update(
        {kafka.alerts_topic: "alerts", kafka.dlq_topic: "dlq", kafka.state_topic: "state"}
    )
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    if not kafka.create_topics:
        described = ", ".join(f"{name} ({wanted[name]})" for name in missing)
        raise TopicsMissing(
            f"missing topics on {kafka.bootstrap_servers}: {described}; create them, or set "
            "kafka.create_topics: true"
        )
    new_topics = [
        NewTopic(
            name,
            num_partitions=kafka.topic_partitions,
            replication_factor=kafka.topic_replication,
            config=STATE_TOPIC_CONFIG if name == kafka.state_topic else {},
        )
        for name in missing
    ]
    for name, future in admin.create_topics(new_topics, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            raise TopicsMissing(f"could not create topic {name}: {exc.args[0].str()}") from exc
        log.info("topic_created", topic=name, role=wanted[name])
    return missing
