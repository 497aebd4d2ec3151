"""Run ``driftwarden run`` as a real process against the real broker, and read its topics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

__all__ = [
    "ServiceProcess",
    "ServiceTopics",
    "alert_payloads",
    "alerts_by_id",
    "feature_records_seen",
    "input_covered",
    "latest_snapshots",
    "make_topics",
    "outputs_for",
    "produce_json",
    "read_all",
    "read_until",
    "records_counted",
    "split_snapshots",
    "wait_for_state",
    "write_config",
]

REPO_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class ServiceTopics:
    """The five topics of one service under test."""

    input: str
    alerts: str
    dlq: str
    state: str
    columns: str


def make_topics(
    make_topic: Callable[..., str], partitions: int = 1, columns_partitions: int = 2
) -> ServiceTopics:
    """Create input (``partitions``), alerts, DLQ, compacted state and columns
    (``columns_partitions``) topics."""
    return outputs_for(make_topic(partitions=partitions), make_topic, columns_partitions)


def outputs_for(
    input_topic: str, make_topic: Callable[..., str], columns_partitions: int = 2
) -> ServiceTopics:
    """Fresh alerts, DLQ, compacted state and columns (``columns_partitions``) topics for a
    run over ``input_topic`` (a second run over an input another run reads, say)."""
    return ServiceTopics(
        input=input_topic,
        alerts=make_topic(partitions=1),
        dlq=make_topic(partitions=1),
        state=make_topic(partitions=1, config={"cleanup.policy": "compact"}),
        columns=make_topic(partitions=columns_partitions),
    )


def write_config(
    path: Path,
    bootstrap: str,
    topics: ServiceTopics,
    group_id: str | None = None,
    profile: Path | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a service config for the test topics; ``extra`` is merged in at the top level."""
    config: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "input_topics": [topics.input],
            "group_id": group_id or f"dw-test-{uuid.uuid4().hex[:8]}",
            "alerts_topic": topics.alerts,
            "dlq_topic": topics.dlq,
            "state_topic": topics.state,
            "columns_topic": topics.columns,
            "consume_batch": 2000,
            "consume_timeout_s": 0.2,
        },
        "reference": {"profile": str(profile) if profile else None},
        "checkpoint": {"every_records": 5000, "every_seconds": 1.0},
        "service": {"log_format": "json", "progress_every_s": 1.0, "metrics": {"enabled": False}},
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config))
    return path


class ServiceProcess:
    """``python -m driftwarden.stream.cli run --config PATH`` in a subprocess, its log in a file."""

    def __init__(self, config: Path, log_path: Path, *extra_args: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "driftwarden.stream.cli",
                "run",
                "--config",
                str(config),
                *extra_args,
            ],
            cwd=REPO_DIR,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def wait_for_log(self, event: str, timeout: float = 60.0, after: int = 0) -> dict[str, Any]:
        """Poll the log until a line with ``event`` appears (after the first ``after`` lines)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.log_events()[after:]
            for line in lines:
                if line.get("event") == event:
                    return line
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited with {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.1)
        raise AssertionError(f"no {event!r} in the service log after {timeout}s:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL: no checkpoint, no goodbye."""
        self.proc.kill()
        self.proc.wait(30)
        self._log.close()


def produce_json(
    bootstrap: str,
    topic: str,
    records: Iterable[dict[str, Any] | bytes | None],
    partition_of: Callable[[int], int] | None = None,
    timestamp_of: Callable[[int], int] | None = None,
) -> int:
    """Produce records (dicts as JSON; bytes/None as they are); returns how many.
    ``timestamp_of(i)``: the i-th record's timestamp in ms (default: the producer's clock,
    which stamps many records with the same millisecond)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    encoder = msgspec.json.Encoder()
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    n = 0
    for n, record in enumerate(records, start=1):
        value = encoder.encode(record) if isinstance(record, dict) else record
        kwargs: dict[str, Any] = {"on_delivery": on_delivery}
        if partition_of is not None:
            kwargs["partition"] = partition_of(n - 1)
        if timestamp_of is not None:
            kwargs["timestamp"] = timestamp_of(n - 1)
        while True:
            try:
                producer.produce(topic, value=value, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert errors == [], errors
    return n


def read_all(bootstrap: str, topic: str, timeout: float = 10.0) -> list[Any]:
    """Every message currently in ``topic`` (all partitions, up to the high watermark)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        ends = {}
        for p in metadata.partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])
        messages = []
        deadline = time.monotonic() + timeout
        while any(ends.values()) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error():
                    continue
                messages.append(msg)
                if msg.offset() + 1 >= ends[msg.partition()]:
                    ends[msg.partition()] = 0
        return messages
    finally:
        consumer.close()


def read_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Any]], bool],
    timeout: float = 60.0,
) -> list[Any]:
    """Poll ``topic`` from the beginning until ``done(messages)`` or the deadline."""
    deadline = time.monotonic() + timeout
    messages: list[Any] = []
    while time.monotonic() < deadline:
        messages = read_all(bootstrap, topic)
        if done(messages):
            return messages
        time.sleep(0.5)
    return messages


def latest_snapshots(bootstrap: str, state_topic: str) -> dict[bytes, dict[str, Any]]:
    """The last snapshot of each partition key on the state topic."""
    latest = {}
    for msg in read_all(bootstrap, state_topic):
        if msg.value() is not None:
            latest[msg.key()] = msgspec.json.decode(msg.value())
    return latest


def feature_records_seen(snapshots: dict[bytes, dict[str, Any]]) -> dict[str, int]:
    """Records each feature's bank counted, from stage two's latest snapshots (``DetectState``:
    one per columns partition, each holding the banks of its features)."""
    seen: dict[str, int] = {}
    for snapshot in snapshots.values():
        if snapshot.get("kind") != "DetectState":
            continue
        for feature, bank in snapshot["banks"]["banks"].items():
            assert feature not in seen, f"feature {feature!r} has banks in two partitions"
            seen[feature] = bank["records_seen"]
    return seen


def split_snapshots(snapshots: dict[bytes, dict[str, Any]]) -> dict[bytes, dict[str, Any]]:
    """Stage one's snapshots (``SplitState``: one per input partition, with its next offset
    and DLQ count)."""
    return {key: s for key, s in snapshots.items() if s.get("kind") == "SplitState"}


def records_counted(snapshots: dict[bytes, dict[str, Any]]) -> int:
    """Records in stage two's state: what the banks of features held by every record
    counted (the largest feature count; ``feature_records_seen`` has each)."""
    return max(feature_records_seen(snapshots).values(), default=0)


def input_covered(snapshots: dict[bytes, dict[str, Any]]) -> int:
    """Input offsets stage one's snapshots cover, over all input partitions."""
    return sum(s["next_offset"] or 0 for s in split_snapshots(snapshots).values())


def wait_for_state(
    bootstrap: str,
    state_topic: str,
    covered: int,
    counted: int,
    timeout: float = 60.0,
    every_feature: bool = False,
) -> dict[bytes, dict[str, Any]]:
    """Poll the state topic until stage one covers ``covered`` input offsets and stage two
    has counted ``counted`` records (``input_covered``, ``records_counted``; with
    ``every_feature``, in every feature's bank)."""
    deadline = time.monotonic() + timeout
    snapshots: dict[bytes, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        snapshots = latest_snapshots(bootstrap, state_topic)
        counts = set(feature_records_seen(snapshots).values()) if every_feature else set()
        if (
            input_covered(snapshots) == covered
            and records_counted(snapshots) == counted
            and (not every_feature or counts == {counted})
        ):
            return snapshots
        time.sleep(0.3)
    raise AssertionError(
        f"after {timeout}s the state covers {input_covered(snapshots)} of {covered} input "
        f"offsets and counts {records_counted(snapshots)} of {counted} records"
    )


def alerts_by_id(bootstrap: str, topic: str) -> dict[str, set[bytes]]:
    """Alert id → every distinct payload carrying it, from the whole alerts topic."""
    by_id: dict[str, set[bytes]] = {}
    for msg in read_all(bootstrap, topic, timeout=20):
        by_id.setdefault(msgspec.json.decode(msg.value())["id"], set()).add(msg.value())
    return by_id


def alert_payloads(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """Decoded CloudEvents from alerts-topic messages."""
    return [msgspec.json.decode(m.value()) for m in messages]
