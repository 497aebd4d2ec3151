"""Shared fixtures: a real Apache Kafka broker and per-test topics.

The broker is the one ``scripts/kafka.sh`` runs (jars from Maven Central, KRaft single node
on 127.0.0.1), or the one named by ``DRIFTWARDEN_BOOTSTRAP``. Every test that uses
``kafka_bootstrap`` (directly or through ``kafka_topics``) is marked ``kafka`` automatically,
so ``pytest -m "not kafka"`` runs the fast unit suite alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from hypothesis import HealthCheck, settings

REPO_DIR = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO_DIR / "scripts" / "kafka.sh"
ADMIN_TIMEOUT_S = 30.0

# CI runs every property test on the same examples (derandomized: a red CI is a real bug that
# reproduces, never an unlucky draw); local runs stay random and keep finding new edges.
# ``HYPOTHESIS_PROFILE=ci`` reproduces CI's examples on a laptop.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


def _compile_kernels() -> None:
    """Run the decoder's and the detectors' compiled code once in this process, so numba
    caches it and the services the tests start load it instead of each compiling it (tens
    of seconds on a fresh clone, which would eat into their deadlines)."""
    from driftwarden.detectors.bank import DetectorBank
    from driftwarden.detectors.feature_batch import SourcePositions
    from driftwarden.detectors.settings import DetectorSettings
    from driftwarden.stream.decoding.decoder import Decoder

    decoder = Decoder(kinds={"x": "numeric", "c": "categorical"})
    bank = DetectorBank(DetectorSettings())
    payloads = [b'{"x": %d.5, "c": "k%d"}' % (i, i % 3) for i in range(6000)]
    for _ in range(2):  # the first batch teaches the decoder the fields; the second is scanned,
        # and closes the first histogram window against the reference learned from the first
        result = decoder.decode(payloads, SourcePositions.sequential("warm-up", len(payloads)))
        assert result.batch is not None
        bank.process(result.batch)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a running real broker; started for the session when none is named."""
    _compile_kernels()
    named = os.environ.get("DRIFTWARDEN_BOOTSTRAP")
    if named:
        yield named
        return
    already_running = (
        subprocess.run([str(KAFKA_SCRIPT), "status"], capture_output=True).returncode == 0
    )
    started = subprocess.run(
        [str(KAFKA_SCRIPT), "start"], capture_output=True, text=True, timeout=600
    )
    if started.returncode != 0:
        pytest.fail(f"scripts/kafka.sh start failed:\n{started.stderr}\n{started.stdout}")
    match = re.search(r"^bootstrap=(\S+)$", started.stdout, re.MULTILINE)
    if match is None:
        pytest.fail(f"scripts/kafka.sh start printed no bootstrap line:\n{started.stdout}")
    yield match.group(1)
    if not already_running:
        subprocess.run([str(KAFKA_SCRIPT), "stop"], capture_output=True, timeout=120)


def _wait_all(futures: dict[str, object]) -> None:
    for future in futures.values():
        future.result(timeout=ADMIN_TIMEOUT_S)  # type: ignore[attr-defined]


def _wait_until_visible(admin: AdminClient, topic: str, partitions: int) -> None:
    """Creation is acknowledged before every listener's metadata has the topic: poll for it."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while time.monotonic() < deadline:
        metadata = admin.list_topics(topic, timeout=5)
        described = metadata.topics.get(topic)
        if described is not None and described.error is None:
            if len(described.partitions) == partitions:
                return
        time.sleep(0.05)
    raise TimeoutError(f"topic {topic} not visible in metadata after {ADMIN_TIMEOUT_S}s")


@pytest.fixture
def kafka_topics(
    kafka_bootstrap: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """Factory creating uniquely named topics for one test; they are deleted afterwards.

    ``make_topic(partitions=1, config={"cleanup.policy": "compact"}) -> name``
    """
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    created: list[str] = []
    stem = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60].strip("-")

    def make_topic(partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = f"dw-{stem}-{uuid.uuid4().hex[:8]}"
        topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
        _wait_all(admin.create_topics([topic], operation_timeout=ADMIN_TIMEOUT_S))
        created.append(name)
        _wait_until_visible(admin, name, partitions)
        return name

    yield make_topic
    if created:
        _wait_all(admin.delete_topics(created, operation_timeout=ADMIN_TIMEOUT_S))
