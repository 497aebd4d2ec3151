"""Incidents: at most one open per feature, updated when a kind joins or severity rises (rate
limited), resolved only when every finding has cleared; ``FeatureIncidents`` driven directly
(tests/test_incident_bank.py drives it through the ``DetectorBank``)."""

from __future__ import annotations

import json
from typing import Any

import numpy.typing as npt
import pytest

from driftwarden.detectors.events import Severity
from driftwarden.detectors.findings import FindingDetail, FindingKind
from driftwarden.detectors.incidents import (
    FeatureIncidents,
    IncidentEvent,
    IncidentEventType,
    Observation,
    incident_id,
)
from driftwarden.detectors.settings import IncidentSettings

OPENED, UPDATED, RESOLVED = (
    IncidentEventType.OPENED,
    IncidentEventType.UPDATED,
    IncidentEventType.RESOLVED,
)
SETTINGS = IncidentSettings()  # resolve_panes 20, pane_records 100, update_min_records 10,000
Columns = dict[str, npt.NDArray[Any]]


# -- driving FeatureIncidents directly ------------------------------------------------------


def where(record: int) -> tuple[str, int, int]:
    return ("features", 0, record - 1)


def seen(kind: FindingKind, strength: float = 1.0, onset: int = 1) -> Observation:
    detail = FindingDetail("test", "z", 7.0, 6.0, {"effect": strength}, -1, strength)
    return Observation(kind, detail, onset, where(onset))


def observe(
    tracker: FeatureIncidents,
    kind: FindingKind,
    record: int,
    strength: float = 1.0,
    settings: IncidentSettings = SETTINGS,
) -> list[IncidentEvent]:
    return tracker.on_observation(
        kind,
        strength,
        lambda: seen(kind, strength, record),
        record,
        where(record),
        0,
        settings,
        dict,
    )


def clean(
    tracker: FeatureIncidents, kind: FindingKind, record: int, is_clean: bool = True
) -> list[IncidentEvent]:
    return tracker.on_clean(kind, is_clean, record, where(record), 0, SETTINGS, dict)


def due(tracker: FeatureIncidents, upto: int, settings: IncidentSettings = SETTINGS):
    """Publish what is due up to ``upto``, in order, as the bank does."""
    return [
        e
        for record in tracker.pending(upto, settings)
        for e in tracker.on_due(record, where(record), 0, settings, dict)
    ]


def test_the_first_finding_opens_an_incident_and_a_new_kind_joins_it() -> None:
    tracker = FeatureIncidents("age")

    [first] = observe(tracker, FindingKind.MEAN_SHIFT, 1000)
    again = observe(tracker, FindingKind.MEAN_SHIFT, 1100)
    [joined] = observe(tracker, FindingKind.DISTRIBUTION_SHIFT, 1200)
    [third] = observe(tracker, FindingKind.NULL_RATE, 1300)

    assert (first.type, first.reason, first.opened_at) == (OPENED, "opened by mean_shift", 1000)
    assert again == []  # the same kind firing again is no news
    assert (joined.type, joined.reason) == (UPDATED, "distribution_shift joined")
    assert (third.type, third.reason) == (UPDATED, "null_rate joined")
    assert [f.kind for f in third.findings] == [
        FindingKind.MEAN_SHIFT,
        FindingKind.DISTRIBUTION_SHIFT,
        FindingKind.NULL_RATE,
    ]
    assert {first.incident_id, joined.incident_id, third.incident_id} == {
        incident_id("age", first.record, 1000)
    }
    assert tracker.opened == 1 and tracker.is_open


@pytest.mark.parametrize("published_by", ["due", "next_observation"])
def test_a_severity_rise_waits_for_update_min_records_and_is_published_once(
    published_by: str,
) -> None:
    tracker = FeatureIncidents("age")
    [first] = observe(tracker, FindingKind.MEAN_SHIFT, 1000, strength=1.0)
    assert first.severity is Severity.WARNING

    held = observe(tracker, FindingKind.MEAN_SHIFT, 2000, strength=SETTINGS.critical_multiple)
    assert held == [] and due(tracker, 10_999) == []
    assert tracker.pending(20_000, SETTINGS) == [1000 + SETTINGS.update_min_records]
    if published_by == "due":
        [rise] = due(tracker, 20_000)
    else:
        [rise] = observe(tracker, FindingKind.MEAN_SHIFT, 15_000, strength=1.0)

    assert (rise.type, rise.severity) == (UPDATED, Severity.CRITICAL)
    assert rise.reason == "severity rose to critical"
    assert rise.records_seen == (11_000 if published_by == "due" else 15_000)
    assert rise.findings[0].severity is Severity.CRITICAL
    assert due(tracker, 100_000) == []
    assert observe(tracker, FindingKind.MEAN_SHIFT, 50_000, strength=9.0) == []


def test_a_kind_joining_carries_a_held_severity_rise_at_once() -> None:
    tracker = FeatureIncidents("age")
    observe(tracker, FindingKind.MEAN_SHIFT, 1000)
    assert observe(tracker, FindingKind.MEAN_SHIFT, 2000, strength=5.0) == []

    [joined] = observe(tracker, FindingKind.NULL_RATE, 3000)

    assert (joined.reason, joined.severity) == ("null_rate joined", Severity.CRITICAL)
    assert due(tracker, 100_000) == []  # nothing left to publish


def test_an_incident_resolves_only_after_every_finding_has_clean_panes_in_a_row() -> None:
    tracker = FeatureIncidents("age")
    observe(tracker, FindingKind.MEAN_SHIFT, 1000)
    observe(tracker, FindingKind.DISTRIBUTION_SHIFT, 1100)
    record = 1100

    def panes(kind: FindingKind, count: int, is_clean: bool = True) -> list[IncidentEvent]:
        nonlocal record
        events = []
        for _ in range(count):
            record += 100
            events += clean(tracker, kind, record, is_clean)
        return events

    assert panes(FindingKind.MEAN_SHIFT, SETTINGS.resolve_panes - 1) == []
    assert panes(FindingKind.MEAN_SHIFT, 1, is_clean=False) == []  # the run starts again
    assert panes(FindingKind.MEAN_SHIFT, SETTINGS.resolve_panes - 1) == []
    assert panes(FindingKind.MEAN_SHIFT, 1) == []  # cleared, but distribution_shift is not
    assert tracker.is_open
    assert panes(FindingKind.DISTRIBUTION_SHIFT, SETTINGS.resolve_panes - 1) == []
    [resolved] = panes(FindingKind.DISTRIBUTION_SHIFT, 1)

    assert (resolved.type, resolved.status, resolved.reason) == (
        RESOLVED,
        "resolved",
        "every finding cleared",
    )
    assert [(f.status, f.cleared_at) for f in resolved.findings] == [
        ("cleared", 1100 + 100 * (2 * SETTINGS.resolve_panes)),
        ("cleared", record),
    ]
    assert not tracker.is_open and tracker.resolved == 1


def test_a_cleared_finding_that_fires_again_joins_again_and_a_new_incident_gets_a_new_id() -> None:
    tracker = FeatureIncidents("age")
    [first] = observe(tracker, FindingKind.MEAN_SHIFT, 1000)
    observe(tracker, FindingKind.NULL_RATE, 1100)
    for k in range(SETTINGS.resolve_panes):
        clean(tracker, FindingKind.MEAN_SHIFT, 1200 + 100 * k)

    [back] = observe(tracker, FindingKind.MEAN_SHIFT, 5000)
    for k in range(SETTINGS.resolve_panes):
        clean(tracker, FindingKind.MEAN_SHIFT, 5100 + 100 * k)
    [resolved] = [
        e
        for k in range(SETTINGS.resolve_panes)
        for e in clean(tracker, FindingKind.NULL_RATE, 7200 + 100 * k)
    ]
    [reopened] = observe(tracker, FindingKind.MEAN_SHIFT, 20_000)

    assert back.reason == "mean_shift joined" and back.incident_id == first.incident_id
    assert resolved.incident_id == first.incident_id
    assert reopened.type is OPENED and reopened.incident_id != first.incident_id
    assert tracker.opened == 2


def test_a_missing_field_clears_when_the_field_returns() -> None:
    tracker = FeatureIncidents("age")
    [opened] = observe(tracker, FindingKind.MISSING_FIELD, 2000)
    assert opened.severity is Severity.CRITICAL  # a field the model needs stopped arriving
    assert due(tracker, 10**6) == []  # it never expires by itself

    [resolved] = tracker.on_return(9000, where(9000), 0, dict)

    assert resolved.type is RESOLVED and resolved.findings[0].cleared_at == 9000


@pytest.mark.parametrize("kind", [FindingKind.NOVEL_FIELD, FindingKind.TYPE_CHANGE])
def test_novel_fields_and_type_changes_expire_after_their_last_report(kind: FindingKind) -> None:
    life = SETTINGS.resolve_panes * SETTINGS.pane_records
    tracker = FeatureIncidents("age")
    observe(tracker, kind, 5000)
    assert due(tracker, 5000 + life - 1) == []
    observe(tracker, kind, 6000)  # reported again: it lives on from here
    assert [e for k in range(50) for e in clean(tracker, kind, 6000 + k)] == []
    assert tracker.pending(6000 + life - 1, SETTINGS) == []

    [resolved] = due(tracker, 6000 + life)

    assert (resolved.type, resolved.records_seen) == (RESOLVED, 6000 + life)
    assert resolved.findings[0].cleared_at == 6000 + life


def test_a_point_finding_that_expires_leaves_the_incident_open_while_others_are_active() -> None:
    tracker = FeatureIncidents("age")
    observe(tracker, FindingKind.TYPE_CHANGE, 1000)
    observe(tracker, FindingKind.NULL_RATE, 1500)

    assert due(tracker, 10**6) == []
    assert tracker.is_open


def test_incident_state_restored_from_json_goes_on_like_the_original() -> None:
    def drive(tracker: FeatureIncidents, start: int, stop: int) -> list[dict]:
        events = []
        for record in range(start, stop, 500):
            if record in (1000, 4000):
                events += observe(tracker, FindingKind.MEAN_SHIFT, record, strength=record / 800)
            elif record == 2000:
                events += observe(tracker, FindingKind.NOVEL_FIELD, record)
            else:
                events += clean(tracker, FindingKind.MEAN_SHIFT, record, record > 6000)
            events += due(tracker, record)
        return [e.model_dump() for e in events]

    whole = FeatureIncidents("age")
    expected = drive(whole, 0, 40_000)
    first = FeatureIncidents("age")
    before = drive(first, 0, 4500)  # a severity rise is held, a novel field pending
    restored = FeatureIncidents.restore("age", json.loads(json.dumps(first.snapshot())))
    after = drive(restored, 4500, 40_000)

    assert [e["type"] for e in expected] == [OPENED, UPDATED, UPDATED, RESOLVED]
    assert before + after == expected
    assert restored.snapshot() == whole.snapshot()
