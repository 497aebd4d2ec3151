"""Instances in a consumer group: static membership and exactly-once transactional ids."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from tests.service_data import live_records, training_profile
from tests.service_harness import (
    ServiceProcess,
    feature_records_seen,
    input_covered,
    latest_snapshots,
    make_topics,
    produce_json,
    read_all,
    records_counted,
    write_config,
)

FEATURES = {"input": {"features_path": "features", "ignore": ["request_id"]}}
# librdkafka's default session timeout: without static membership a restarted instance
# waits this long for the dead member's partitions.
SESSION_TIMEOUT_S = 45.0


def _covered(bootstrap: str, state_topic: str) -> int:
    snapshots = latest_snapshots(bootstrap, state_topic)
    return min(input_covered(snapshots), records_counted(snapshots))


def _wait_covered(bootstrap: str, state_topic: str, n: int, services: list[ServiceProcess]) -> None:
    deadline = time.monotonic() + 120
    while _covered(bootstrap, state_topic) < n:
        for service in services:
            assert service.proc.poll() is None, service.tail()
        assert time.monotonic() < deadline, "\n".join(s.tail() for s in services)
        time.sleep(0.5)


def _kill_if_running(*services: ServiceProcess | None) -> None:
    """A failed test leaves no service behind to disturb the next ones."""
    for service in services:
        if service is not None and service.proc.poll() is None:
            service.kill()


def test_a_killed_instance_takes_its_partitions_back_before_its_old_session_expires(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    topics = make_topics(kafka_topics, partitions=2)
    config = write_config(tmp_path / "service.yaml", kafka_bootstrap, topics, extra=FEATURES)
    produce_json(kafka_bootstrap, topics.input, live_records(4000, change_at=None))
    first = ServiceProcess(config, tmp_path / "first.log")
    second = None
    try:
        _wait_covered(kafka_bootstrap, topics.state, 4000, [first])
        first.kill()
        second = ServiceProcess(config, tmp_path / "second.log")
        # Same host, same slot, same group.instance.id: the broker hands the partitions
        # straight back instead of waiting for the killed member's session to time out.
        second.wait_for_log("partition_restored", timeout=SESSION_TIMEOUT_S / 2)
        assert second.stop() == 0, second.tail()
    finally:
        _kill_if_running(first, second)


def test_two_exactly_once_instances_on_one_host_do_not_fence_each_other(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    topics = make_topics(kafka_topics, partitions=4)
    profile = training_profile(tmp_path / "profile.json")
    config = write_config(
        tmp_path / "service.yaml",
        kafka_bootstrap,
        topics,
        profile=profile,
        extra={**FEATURES, "kafka": {"exactly_once": True}},
    )
    n = 40_000
    produce_json(
        kafka_bootstrap,
        topics.input,
        live_records(n, change_at=n // 2),
        partition_of=lambda i: i % 4,
    )
    first = ServiceProcess(config, tmp_path / "first.log")
    second = None
    try:
        first.wait_for_log("service_started")
        second = ServiceProcess(config, tmp_path / "second.log")
        started = second.wait_for_log("service_started")
        assert started["instance"] != first.wait_for_log("service_started")["instance"]
        _wait_covered(kafka_bootstrap, topics.state, n, [first, second])
        for service in (first, second):
            service.signal(signal.SIGTERM)
        assert (first.stop(), second.stop()) == (0, 0), first.tail() + second.tail()
    finally:
        _kill_if_running(first, second)
    snapshots = latest_snapshots(kafka_bootstrap, topics.state)
    # Each profiled feature's bank counts every record once; promo_code's, from its first
    # record on (record n // 2, after which records of the other partitions still arrive).
    seen = feature_records_seen(snapshots)
    assert n - n // 2 <= seen.pop("promo_code") < n
    assert set(seen.values()) == {n}
    ids = [msgspec.json.decode(m.value())["id"] for m in read_all(kafka_bootstrap, topics.alerts)]
    assert ids and len(ids) == len(set(ids)), "read_committed sees each alert once"
