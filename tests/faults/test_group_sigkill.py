"""SIGKILL in a two-instance consumer group: nothing lost, nothing counted twice, same alerts.

docs/architecture.md "Delivery semantics" 2-3 across a group: two instances (static members "a" and
"b", ``kafka.instance_id``) share a 4-partition input; one or the other is killed at seeded
random points while records arrive (``PacedFeed``) and restarted each time. Every record is
counted once, each alert id carries one payload, and the incidents are an uninterrupted
single-instance run's (the records' positions in each feature's stream follow the arrival
order of the four partitions, which timing decides in any run).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.paced_feed import PacedFeed
from tests.faults.run_outcome import (
    RunOutcome,
    assert_same_incidents,
    log_tail,
    logs_of,
    wait_until_covered,
)
from tests.service_data import live_records, training_profile
from tests.service_harness import (
    ServiceProcess,
    ServiceTopics,
    make_topics,
    outputs_for,
    write_config,
)

pytestmark = [pytest.mark.faults, pytest.mark.kafka]

N_RECORDS = 40_000
PARTITIONS = 4
KILLS = 5
RATE = 2_000  # records/s while the kills happen
SEED = 11
FEATURES = {"input": {"features_path": "features", "ignore": ["request_id"]}}
CHECKPOINTS = {"checkpoint": {"every_records": 3000, "every_seconds": 0.5}}


def _wait_until_assigned(service: ServiceProcess, timeout: float = 60.0) -> None:
    """Poll the log until the service has taken partitions (restored or new)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = {e.get("event") for e in service.log_events()}
        if events & {"partition_restored", "partition_new"}:
            return
        assert service.proc.poll() is None, (
            f"exited with {service.proc.returncode}:\n{log_tail(service)}"
        )
        time.sleep(0.1)
    raise AssertionError(f"no partitions assigned after {timeout}s:\n{log_tail(service)}")


def test_sigkills_in_a_two_instance_group_lose_nothing_count_nothing_twice_and_repeat_the_alerts(
    kafka_bootstrap: str,
    kafka_topics: Callable[..., str],
    start_service: Callable[[Path, str], ServiceProcess],
    start_feed: Callable[..., PacedFeed],
    tmp_path: Path,
) -> None:
    profile = training_profile(tmp_path / "profile.json")
    reference = make_topics(kafka_topics, partitions=PARTITIONS)
    grouped = outputs_for(reference.input, kafka_topics, columns_partitions=2)

    def config(topics: ServiceTopics, name: str, group: str, kafka: dict[str, str]) -> Path:
        return write_config(
            tmp_path / f"{name}.yaml",
            kafka_bootstrap,
            topics,
            group_id=group,
            profile=profile,
            extra={**FEATURES, **CHECKPOINTS, "kafka": kafka},
        )

    group = f"group-{grouped.state}"
    configs = {name: config(grouped, name, group, {"instance_id": name}) for name in ("a", "b")}
    records = live_records(N_RECORDS, change_at=N_RECORDS // 2)
    # One slice of the stream per kill interval, released once the group holds its partitions:
    # records are arriving at every kill. The last slice follows the last kill.
    slices = KILLS + 1
    feed = start_feed(kafka_bootstrap, reference.input, records, PARTITIONS, RATE, allowed=0)
    instances = {name: start_service(path, f"{name}-0") for name, path in configs.items()}
    for instance in instances.values():
        _wait_until_assigned(instance)
    feed.allow(N_RECORDS // slices)

    rng = random.Random(SEED)
    for kill in range(1, KILLS + 1):
        time.sleep(rng.uniform(0.2, 1.5))  # a random point while both consume
        victim = rng.choice(sorted(instances))
        for name, instance in instances.items():
            assert instance.proc.poll() is None, (
                f"instance {name} exited before kill {kill}:\n{logs_of(list(instances.values()))}"
            )
        instances[victim].kill()
        instances[victim] = start_service(configs[victim], f"{victim}-{kill}")
        _wait_until_assigned(instances[victim])
        feed.allow(N_RECORDS * (kill + 1) // slices)
    feed.finish()

    uninterrupted = start_service(
        config(reference, "reference", f"ref-{reference.state}", {}), "ref"
    )
    everyone = [*instances.values(), uninterrupted]
    wait_until_covered(kafka_bootstrap, grouped.state, N_RECORDS, PARTITIONS, everyone)
    wait_until_covered(kafka_bootstrap, reference.state, N_RECORDS, PARTITIONS, everyone)
    for service in everyone:
        assert service.stop() == 0, f"{service.log_path.name} did not exit 0:\n{logs_of(everyone)}"

    outcome = RunOutcome.read(kafka_bootstrap, grouped)
    counted = outcome.records_seen + outcome.dlq_records
    assert counted == N_RECORDS, f"{counted} records counted, not {N_RECORDS}:\n{logs_of(everyone)}"
    assert_same_incidents(outcome, RunOutcome.read(kafka_bootstrap, reference), logs_of(everyone))
