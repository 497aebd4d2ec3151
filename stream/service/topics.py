"""Check, and on request create, the topics the service reads and writes; learn how large a
DLQ record may be."""

from __future__ import annotations

import structlog
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from driftwarden.stream.config import ServiceConfig
from driftwarden.stream.ops.logs import LibrdkafkaLog
from driftwarden.stream.service.dead_letters import KAFKA_DEFAULT_LIMIT, RESERVED_BYTES

__all__ = ["TopicsMissing", "dlq_record_limit", "ensure_topics"]

log = structlog.get_logger(__name__)

# Snapshots of many features exceed Kafka's 1 MB default message size.
STATE_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "max.message.bytes": str(16 * 1024 * 1024),
    "min.cleanable.dirty.ratio": "0.1",
}


# Chunks are read once by stage two and then only needed to replay after a crash: a day is
# plenty; a chunk of many records of one feature can exceed Kafka's 1 MB default.
COLUMNS_TOPIC_CONFIG = {
    "retention.ms": str(24 * 3600 * 1000),
    "max.message.bytes": str(16 * 1024 * 1024),
}


class TopicsMissing(RuntimeError):
    """Topics the service needs do not exist and ``kafka.create_topics`` is false."""


def ensure_topics(config: ServiceConfig, timeout_s: float = 30.0) -> list[str]:
    """Return the topics created; raise ``TopicsMissing`` naming every absent topic."""
    kafka = config.kafka
    admin = AdminClient(config.librdkafka(logger=LibrdkafkaLog()))
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise TopicsMissing(
            f"cannot list topics on {kafka.bootstrap_servers}: {exc.args[0].str()}"
        ) from exc
    wanted = {name: "input" for name in kafka.input_topics}
    wanted.update(
        {
            kafka.alerts_topic: "alerts",
            kafka.dlq_topic: "dlq",
            kafka.state_topic: "state",
            kafka.columns_topic: "columns",
        }
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
    # The DLQ takes a rejected record whole up to input.max_message_bytes (cut beyond it).
    dlq_config = {"max.message.bytes": str(config.input.max_message_bytes + RESERVED_BYTES)}
    topic_configs = {
        kafka.state_topic: STATE_TOPIC_CONFIG,
        kafka.dlq_topic: dlq_config,
        kafka.columns_topic: COLUMNS_TOPIC_CONFIG,
    }
    partitions = {kafka.columns_topic: kafka.columns_partitions}
    new_topics = [
        NewTopic(
            name,
            num_partitions=partitions.get(name, kafka.topic_partitions),
            replication_factor=kafka.topic_replication,
            config=topic_configs.get(name, {}),
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


def dlq_record_limit(config: ServiceConfig, timeout_s: float = 30.0) -> int:
    """The largest DLQ message the DLQ topic takes: its ``max.message.bytes``, read from the
    broker (Kafka's default when it cannot be read: no DescribeConfigs permission, say).

    A topic too small for a record of ``input.max_message_bytes`` is reported once
    (``dlq_topic_limit_low``, with the fix): such records reach the DLQ cut.
    """
    topic = config.kafka.dlq_topic
    admin = AdminClient(config.librdkafka(logger=LibrdkafkaLog()))
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    try:
        described = admin.describe_configs([resource])[resource].result(timeout=timeout_s)
        limit = int(described["max.message.bytes"].value)
    except (KafkaException, KeyError, ValueError, TypeError) as exc:
        log.warning("dlq_limit_unknown", topic=topic, error=str(exc), assumed=KAFKA_DEFAULT_LIMIT)
        return KAFKA_DEFAULT_LIMIT
    wanted = config.input.max_message_bytes
    if limit < wanted:
        log.warning(
            "dlq_topic_limit_low",
            topic=topic,
            max_message_bytes=limit,
            fix=f"set max.message.bytes of {topic} to {wanted + RESERVED_BYTES} to keep rejected "
            "records whole",
        )
    return limit
