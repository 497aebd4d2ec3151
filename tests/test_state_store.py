"""Reading the state topic: offsets asked again while a new topic has no leader yet."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from driftwarden.stream.service.state_store import _watermarks


class LeaderlessFor:
    """Stands in for a consumer whose partition gets a leader after ``failures`` asks."""

    def __init__(self, failures: int, code: int = KafkaError.NOT_LEADER_FOR_PARTITION) -> None:
        self.failures = failures
        self.code = code
        self.asked = 0

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float) -> tuple[int, int]:
        self.asked += 1
        if self.asked <= self.failures:
            raise KafkaException(KafkaError(self.code))
        return 0, 7


def test_offsets_are_asked_again_until_the_new_topic_has_a_leader() -> None:
    consumer = LeaderlessFor(2)
    offsets = _watermarks(consumer, TopicPartition("state", 0), time.monotonic() + 10)  # type: ignore[arg-type]
    assert offsets == (0, 7) and consumer.asked == 3


def test_a_leader_that_never_comes_raises_at_the_deadline() -> None:
    consumer = LeaderlessFor(10**6)
    with pytest.raises(KafkaException):
        _watermarks(consumer, TopicPartition("state", 0), time.monotonic() + 0.5)  # type: ignore[arg-type]
    assert consumer.asked >= 2


def test_other_errors_are_raised_at_once() -> None:
    consumer = LeaderlessFor(1, code=KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        _watermarks(consumer, TopicPartition("state", 0), time.monotonic() + 10)  # type: ignore[arg-type]
    assert consumer.asked == 1
