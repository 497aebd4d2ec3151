"""Delivery semantics under SIGKILL: nothing lost, nothing counted twice, identical alerts.

docs/architecture.md "Delivery semantics": produce N records, kill the service at random
points while it consumes, restart it each time, and compare with an uninterrupted run on the
same data.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from tests.service_data import live_records, training_profile
from tests.service_harness import (
    ServiceProcess,
    ServiceTopics,
    alerts_by_id,
    feature_records_seen,
    input_covered,
    latest_snapshots,
    make_topics,
    outputs_for,
    produce_json,
    records_counted,
    write_config,
)

N_RECORDS = 60_000
# One input partition: stage two merges partitions in arrival order, which timing decides
# in any run, so only a single partition's alerts can be compared id for id across runs.
# Its chunks still spread over the columns topic's partitions, one per feature.
PARTITIONS = 1
KILLS = 4
FEATURES = {"input": {"features_path": "features", "ignore": ["request_id"]}}


def _run_to_the_end(service: ServiceProcess, bootstrap: str, state_topic: str) -> None:
    """Wait until the snapshots cover every record, then stop cleanly."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        snapshots = latest_snapshots(bootstrap, state_topic)
        if input_covered(snapshots) == N_RECORDS and records_counted(snapshots) == N_RECORDS:
            break
        assert service.proc.poll() is None, service.tail()
        time.sleep(0.5)
    else:
        raise AssertionError(f"records not all consumed:\n{service.tail()}")
    assert service.stop() == 0, service.tail()


def test_sigkill_restarts_lose_nothing_count_nothing_twice_and_repeat_the_same_alerts(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path
) -> None:
    profile = training_profile(tmp_path / "profile.json")
    records = live_records(N_RECORDS, change_at=N_RECORDS // 2)
    checkpoints = {"checkpoint": {"every_records": 3000, "every_seconds": 0.5}}

    # One input topic; the uninterrupted and the crashing runs each have their own group,
    # alerts, DLQ and state topics.
    reference = make_topics(kafka_topics, partitions=PARTITIONS)
    crashing = outputs_for(reference.input, kafka_topics, columns_partitions=3)
    produce_json(kafka_bootstrap, reference.input, records, partition_of=lambda i: i % PARTITIONS)

    def config(topics: ServiceTopics, name: str) -> Path:
        return write_config(
            tmp_path / f"{name}.yaml",
            kafka_bootstrap,
            topics,
            group_id=f"{name}-{topics.state}",
            profile=profile,
            extra={**FEATURES, **checkpoints},
        )

    uninterrupted = ServiceProcess(config(reference, "reference"), tmp_path / "reference.log")
    _run_to_the_end(uninterrupted, kafka_bootstrap, reference.state)

    rng = random.Random(7)
    crash_config = config(crashing, "crashing")
    for attempt in range(KILLS):
        service = ServiceProcess(crash_config, tmp_path / f"crash-{attempt}.log")
        service.wait_for_log("service_started", timeout=60)
        time.sleep(rng.uniform(0.5, 3.0))  # a random point while it consumes
        service.kill()
    final = ServiceProcess(crash_config, tmp_path / "final.log")
    # The crashing runs may have consumed everything already: the stop must not race start-up.
    final.wait_for_log("service_started", timeout=60)
    _run_to_the_end(final, kafka_bootstrap, crashing.state)

    # (a) every record counted exactly once in detector state, by every feature's bank
    snapshots = latest_snapshots(kafka_bootstrap, crashing.state)
    assert feature_records_seen(snapshots) == feature_records_seen(
        latest_snapshots(kafka_bootstrap, reference.state)
    )
    assert records_counted(snapshots) == N_RECORDS
    # (b) a replayed alert is byte-identical to the first copy
    crashed = alerts_by_id(kafka_bootstrap, crashing.alerts)
    assert all(len(payloads) == 1 for payloads in crashed.values())
    # (c) the same alert ids as the uninterrupted run, with the same content
    expected = alerts_by_id(kafka_bootstrap, reference.alerts)
    assert expected, "the scenario must raise alerts"
    differing = set(crashed) ^ set(expected)
    shown = [next(iter(crashed.get(i) or expected[i])) for i in differing]
    assert set(crashed) == set(expected), shown
    assert {p for ps in crashed.values() for p in ps} == {p for ps in expected.values() for p in ps}
    # (d) those alerts are incidents, opened on the changed features, whose ids (and every
    # update and resolution) are the same after the kills as without them
    incidents = _incidents(crashed)
    assert incidents == _incidents(expected)
    opened = {feature for feature, _, kind in incidents if kind == "incident.opened"}
    assert {"f_shift", "f_range", "country", "promo_code", "device"} <= opened, incidents


def _incidents(by_id: dict[str, set[bytes]]) -> set[tuple[str, str, str]]:
    """(feature, incident id, short type) of every incident event."""
    out = set()
    for payloads in by_id.values():
        for payload in payloads:
            event = msgspec.json.decode(payload)
            short = event["type"].removeprefix("driftwarden.").removesuffix(".v1")
            if short.startswith("incident."):
                out.add((event["subject"], event["data"]["incident_id"], short))
    return out
