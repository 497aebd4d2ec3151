"""Broker outages: the service waits for the broker, never exits, loses and doubles nothing.

docs/architecture.md "Delivery semantics" 6: broker outages of minutes are survived (retry
with backoff), never a crash. The broker is this module's own (``private_broker``); records
keep arriving through the outage (``PacedFeed``), so the service is mid-stream when the
broker goes down. An uninterrupted run over the same input topic, after the outage, is the
reference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.paced_feed import PacedFeed
from tests.faults.private_broker import PrivateBroker, create_topic, service_topics
from tests.faults.run_outcome import (
    RunOutcome,
    assert_same_incidents,
    log_tail,
    logs_of,
    wait_until_covered,
)
from tests.service_data import live_records, training_profile
from tests.service_harness import ServiceProcess, ServiceTopics, latest_snapshots, write_config

pytestmark = [pytest.mark.faults, pytest.mark.kafka]

N_RECORDS = 40_000
PARTITIONS = 2
RATE = 2_500  # records/s
FEATURES = {"input": {"features_path": "features", "ignore": ["request_id"]}}
CHECKPOINTS = {"checkpoint": {"every_records": 3000, "every_seconds": 0.5}}

StartService = Callable[[Path, str], ServiceProcess]
StartFeed = Callable[..., PacedFeed]


@dataclass(frozen=True, slots=True)
class OutageRun:
    """A service that lived through an outage, and what it and the reference left."""

    service: ServiceProcess
    events_before_restart: list[str | None]
    outcome: RunOutcome
    reference: RunOutcome
    logs: str


def _wait_until_consuming(service: ServiceProcess, bootstrap: str, state_topic: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert service.proc.poll() is None, log_tail(service)
        if any(s["next_offset"] for s in latest_snapshots(bootstrap, state_topic).values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"no snapshot with consumed records after 60s:\n{log_tail(service)}")


def _run_through_outage(
    broker: PrivateBroker,
    start_service: StartService,
    start_feed: StartFeed,
    tmp_path: Path,
    outage_s: float,
) -> OutageRun:
    bootstrap = broker.bootstrap
    profile = training_profile(tmp_path / "profile.json")
    input_topic = create_topic(bootstrap, partitions=PARTITIONS)
    disturbed = service_topics(bootstrap, input_topic)
    undisturbed = service_topics(bootstrap, input_topic)

    def config(topics: ServiceTopics, name: str) -> Path:
        return write_config(
            tmp_path / f"{name}.yaml",
            bootstrap,
            topics,
            group_id=f"{name}-{topics.state}",
            profile=profile,
            extra={**FEATURES, **CHECKPOINTS},
        )

    records = live_records(N_RECORDS, change_at=N_RECORDS // 2)
    # Half the stream before the outage; the other half starts as the broker goes down, so
    # records are arriving then, and queue up in the feed's producer meanwhile.
    feed = start_feed(bootstrap, input_topic, records, PARTITIONS, RATE, allowed=N_RECORDS // 2)
    service = start_service(config(disturbed, "disturbed"), "disturbed")
    _wait_until_consuming(service, bootstrap, disturbed.state)
    feed.allow(N_RECORDS)
    broker.stop()
    deadline = time.monotonic() + outage_s
    while time.monotonic() < deadline:  # the outage itself: the service must live through it
        assert service.proc.poll() is None, (
            f"the service exited with {service.proc.returncode} during the outage:\n"
            f"{log_tail(service)}"
        )
        time.sleep(0.2)
    events_before_restart = [e.get("event") for e in service.log_events()]
    broker.start()
    feed.finish()

    reference_service = start_service(config(undisturbed, "reference"), "reference")
    services = [service, reference_service]
    wait_until_covered(bootstrap, disturbed.state, N_RECORDS, PARTITIONS, services)
    wait_until_covered(bootstrap, undisturbed.state, N_RECORDS, PARTITIONS, services)
    for each in services:
        assert each.stop() == 0, f"{each.log_path.name} did not exit 0:\n{logs_of(services)}"
    return OutageRun(
        service=service,
        events_before_restart=events_before_restart,
        outcome=RunOutcome.read(bootstrap, disturbed),
        reference=RunOutcome.read(bootstrap, undisturbed),
        logs=logs_of(services),
    )


def _assert_every_record_counted_once_and_the_same_alerts(run: OutageRun) -> None:
    counted = run.outcome.records_seen + run.outcome.dlq_records
    assert counted == N_RECORDS, f"{counted} records counted, not {N_RECORDS}:\n{run.logs}"
    assert_same_incidents(run.outcome, run.reference, run.logs)


def test_a_5s_broker_outage_mid_stream_loses_nothing_counts_nothing_twice_and_repeats_the_alerts(
    private_broker: PrivateBroker,
    start_service: StartService,
    start_feed: StartFeed,
    tmp_path: Path,
) -> None:
    run = _run_through_outage(private_broker, start_service, start_feed, tmp_path, outage_s=5.0)
    _assert_every_record_counted_once_and_the_same_alerts(run)


def test_a_90s_broker_outage_is_logged_once_as_unreachable_then_recovered_and_never_ends_the_run(
    private_broker: PrivateBroker,
    start_service: StartService,
    start_feed: StartFeed,
    tmp_path: Path,
) -> None:
    run = _run_through_outage(private_broker, start_service, start_feed, tmp_path, outage_s=90.0)
    _assert_every_record_counted_once_and_the_same_alerts(run)
    assert "broker_unreachable" in run.events_before_restart, (
        f"no broker_unreachable during 90s without a broker:\n{run.logs}"
    )
    broker_events = [
        (e["event"], e.get("timestamp"))
        for e in run.service.log_events()
        if e.get("event") in {"broker_unreachable", "broker_recovered"}
    ]
    assert [name for name, _ in broker_events] == ["broker_unreachable", "broker_recovered"], (
        f"{broker_events}\n{run.logs}"
    )
