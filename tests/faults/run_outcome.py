"""What a service run left on its topics, and the checks every fault test makes on it.

docs/architecture.md "Delivery semantics": however a run was disturbed, the latest
snapshots count every record exactly once (detector state plus DLQ), and the alerts are the
uninterrupted run's: the same ids, and one payload per id, equal to the reference's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from tests.service_harness import (
    ServiceProcess,
    ServiceTopics,
    input_covered,
    latest_snapshots,
    read_all,
    records_counted,
    split_snapshots,
)

__all__ = [
    "RunOutcome",
    "assert_same_alerts",
    "assert_same_incidents",
    "incident_outline",
    "log_tail",
    "logs_of",
    "wait_until_covered",
]

Snapshots = dict[bytes, dict[str, Any]]


def _noise(line: str) -> bool:
    # librdkafka's own log lines (%<level>|...) during outages, and nanobind's report of
    # objects alive at interpreter exit: they would push the service's events out of a tail.
    return line.startswith("%") or "leaked" in line or line.startswith("nanobind:")


def log_tail(service: ServiceProcess, n: int = 40) -> str:
    """The last ``n`` lines of the service's log that are its own (events, tracebacks)."""
    lines = service.log_path.read_text(errors="replace").splitlines()
    return "\n".join([line for line in lines if not _noise(line)][-n:])


def logs_of(services: Sequence[ServiceProcess]) -> str:
    """The log tail of each service, for assertion messages."""
    return "\n".join(f"--- {s.log_path.name}:\n{log_tail(s)}" for s in services)


def _covered(snapshots: Snapshots) -> int:
    """Input records both stages are done with: offsets stage one covers, when stage two has
    counted every accepted one."""
    split = split_snapshots(snapshots)
    dlq = sum(s["dlq_records"] for s in split.values())
    covered = input_covered(snapshots)
    return covered if records_counted(snapshots) + dlq == covered else 0


def wait_until_covered(
    bootstrap: str,
    state_topic: str,
    n_records: int,
    partitions: int,
    services: Sequence[ServiceProcess],
    timeout: float = 120.0,
) -> Snapshots:
    """Poll until the latest snapshots of all ``partitions`` cover ``n_records`` offsets in
    total; every one of ``services`` must stay alive meanwhile."""
    deadline = time.monotonic() + timeout
    snapshots: Snapshots = {}
    while time.monotonic() < deadline:
        for service in services:
            assert service.proc.poll() is None, (
                f"{service.log_path.name} exited with {service.proc.returncode}:\n"
                + logs_of(services)
            )
        snapshots = latest_snapshots(bootstrap, state_topic)
        if len(split_snapshots(snapshots)) == partitions and _covered(snapshots) == n_records:
            return snapshots
        time.sleep(0.5)
    raise AssertionError(
        f"after {timeout}s the snapshots cover {_covered(snapshots)} of {n_records} offsets "
        f"in {len(split_snapshots(snapshots))} of {partitions} partitions:\n{logs_of(services)}"
    )


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """The latest snapshot of each partition, and every alert by id (id → distinct payloads)."""

    snapshots: Snapshots
    alerts: dict[str, set[bytes]]

    @classmethod
    def read(cls, bootstrap: str, topics: ServiceTopics) -> RunOutcome:
        alerts: dict[str, set[bytes]] = {}
        for msg in read_all(bootstrap, topics.alerts, timeout=20):
            alerts.setdefault(msgspec.json.decode(msg.value())["id"], set()).add(msg.value())
        return cls(latest_snapshots(bootstrap, topics.state), alerts)

    @property
    def records_seen(self) -> int:
        """Records in stage two's detector state (``records_counted``)."""
        return records_counted(self.snapshots)

    @property
    def dlq_records(self) -> int:
        """Records counted as sent to the DLQ, over all input partitions."""
        return sum(s["dlq_records"] for s in split_snapshots(self.snapshots).values())


def assert_same_alerts(run: RunOutcome, reference: RunOutcome, logs: str = "") -> None:
    """Each alert id carries one payload, and ids and payloads are the reference run's."""
    assert reference.alerts, "the scenario must raise alerts in the uninterrupted run"
    replayed_differently = {i: sorted(p) for i, p in run.alerts.items() if len(p) > 1}
    assert not replayed_differently, (
        f"alert ids with differing payloads: {replayed_differently}\n{logs}"
    )
    missing = sorted(set(reference.alerts) - set(run.alerts))
    extra = sorted(set(run.alerts) - set(reference.alerts))
    assert not missing and not extra, (
        f"alert ids missing: {[next(iter(reference.alerts[i])) for i in missing]}\n"
        f"alert ids not in the reference: {[next(iter(run.alerts[i])) for i in extra]}\n{logs}"
    )
    differing = {i for i in run.alerts if run.alerts[i] != reference.alerts[i]}
    assert not differing, (
        "payloads differ from the reference: "
        f"{[(run.alerts[i], reference.alerts[i]) for i in sorted(differing)]}\n{logs}"
    )


def incident_outline(run: RunOutcome) -> set[tuple[str, str]]:
    """What the incidents said, without what the arrival order of several input partitions
    decides (the record positions, and which of a feature's findings came first when two
    instances' stage one interleave): each feature with an opened incident, as
    ``(feature, "opened")``, and each (feature, finding kind) its incident events carried.

    Left out: ``null_rate`` on ``promo_code``, the field the scenario starts sending at the
    change. Its bank starts at its first record, and how many records of the other
    partitions that are older still arrive after it (and lack it) is a matter of timing.
    """
    outline = set()
    for payloads in run.alerts.values():
        for payload in payloads:
            event = msgspec.json.decode(payload)
            if not event["type"].startswith("driftwarden.incident."):
                continue
            if event["type"] == "driftwarden.incident.opened.v1":
                outline.add((event["subject"], "opened"))
            for finding in event["data"]["findings"]:
                if (event["subject"], finding["kind"]) != ("promo_code", "null_rate"):
                    outline.add((event["subject"], finding["kind"]))
    return outline


def assert_same_incidents(run: RunOutcome, reference: RunOutcome, logs: str = "") -> None:
    """Each alert id carries one payload, and the incidents are the reference run's in
    ``incident_outline``: for inputs of several partitions, whose merge order into each
    feature's stream is the arrival order in any run."""
    assert reference.alerts, "the scenario must raise alerts in the uninterrupted run"
    replayed_differently = {i: sorted(p) for i, p in run.alerts.items() if len(p) > 1}
    assert not replayed_differently, (
        f"alert ids with differing payloads: {replayed_differently}\n{logs}"
    )
    got, expected = incident_outline(run), incident_outline(reference)
    assert got == expected, (
        f"missing: {expected - got}\nnot in the reference: {got - expected}\n{logs}"
    )
