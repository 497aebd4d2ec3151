"""Incidents through the ``DetectorBank``: hysteresis, severity spacing, schema findings,
ids a replay reproduces, per-feature settings, the practical-significance floors, and point
findings whatever the batches (tests/test_incidents.py drives ``FeatureIncidents`` alone)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.events import Severity
from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
from driftwarden.detectors.findings import FindingKind
from driftwarden.detectors.incidents import (
    IncidentEvent,
    IncidentEventType,
    incident_id,
)
from driftwarden.detectors.profile import Profile
from driftwarden.detectors.settings import DetectorSettings, IncidentSettings
from driftwarden.stream.decoding.decoder import Decoder
from tests.bank_data import make_batch, profile_of, split_batches

OPENED, UPDATED, RESOLVED = (
    IncidentEventType.OPENED,
    IncidentEventType.UPDATED,
    IncidentEventType.RESOLVED,
)
SETTINGS = IncidentSettings()  # resolve_panes 20, pane_records 100, update_min_records 10,000
Columns = dict[str, npt.NDArray[Any]]


# -- through the bank -------------------------------------------------------------------------


def bank_incidents(
    settings: DetectorSettings,
    profile: Profile | None,
    numeric: Columns,
    categorical: Columns,
    size: int = 5000,
) -> list[IncidentEvent]:
    bank = DetectorBank(settings, profile)
    return [e for b in split_batches(numeric, categorical, size) for e in bank.run(b).incidents]


def assert_one_open_incident_per_feature_at_most(events: list[IncidentEvent]) -> None:
    """Per feature: opened, then updates, then resolved, then perhaps opened again; every
    event carries the id of the incident it belongs to."""
    current: dict[str, str | None] = {}
    for event in events:
        open_id = current.get(event.feature)
        if event.type is OPENED:
            assert open_id is None, f"{event.feature}: opened while {open_id} is open"
            current[event.feature] = event.incident_id
        else:
            assert event.incident_id == open_id, event
            if event.type is RESOLVED:
                current[event.feature] = None
    assert len({e.incident_id for e in events if e.type is OPENED}) == sum(
        e.type is OPENED for e in events
    )


def _normal_profile(*names: str, seed: int = 0) -> Profile:
    rng = np.random.default_rng(seed)
    return profile_of({name: rng.normal(0.0, 1.0, 100_000) for name in names}, {})


def test_a_shift_that_holds_between_the_resolve_and_open_thresholds_keeps_its_incident_open():
    """1σ, then 0.2σ (floor 0.25σ, resolved under 0.125σ) for 45,000 records, then none."""
    rng = np.random.default_rng(61)
    x = rng.normal(0.0, 1.0, 120_000)
    x[20_000:35_000] += 1.0
    x[35_000:80_000] += 0.2
    events = bank_incidents(DetectorSettings(), _normal_profile("x"), {"x": x}, {})

    assert_one_open_incident_per_feature_at_most(events)
    assert events[0].type is OPENED and 20_000 < events[0].records_seen < 21_000
    [resolved] = [e for e in events if e.type is RESOLVED]
    window = SETTINGS.window_panes * SETTINGS.pane_records
    resolve = SETTINGS.resolve_panes * SETTINGS.pane_records
    assert 80_000 + resolve < resolved.records_seen <= 80_000 + window + resolve + 1000
    mean_shift = next(f for f in resolved.findings if f.kind is FindingKind.MEAN_SHIFT)
    assert mean_shift.cleared_at is not None and mean_shift.cleared_at > 80_000


def test_a_severity_rise_in_the_bank_comes_update_min_records_after_the_last_event() -> None:
    rng = np.random.default_rng(62)
    x = rng.normal(0.0, 1.0, 80_000)
    x[30_000:] += np.linspace(0.0, 2.0, 50_000)  # a drift: a warning at first, then critical
    events = bank_incidents(DetectorSettings(), _normal_profile("x"), {"x": x}, {}, 3000)

    rises = [e for e in events if e.reason.startswith("severity rose")]
    assert events[0].severity is Severity.WARNING
    assert rises and rises[0].severity is Severity.CRITICAL, [e.reason for e in events]
    for rise in rises:
        before = events[events.index(rise) - 1]
        assert rise.records_seen - before.records_seen >= SETTINGS.update_min_records


def _absent_batches(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], absent: slice, size: int
) -> Iterator[FeatureBatch]:
    present = np.ones(x.size, dtype=bool)
    present[absent] = False
    x = np.where(present, x, np.nan)
    for start in range(0, x.size, size):
        stop = min(start + size, x.size)
        here = present[start:stop]
        numeric = {"y": y[start:stop], **({"x": x[start:stop]} if here.any() else {})}
        yield FeatureBatch(
            stop - start,
            numeric,
            {},
            {"x": here, "y": np.ones(stop - start, dtype=bool)},
            {name: frozenset({"number"}) for name in numeric},
            SourcePositions.sequential("features", stop - start, start),
        )


@pytest.mark.parametrize("size", [60_000, 7000, 1000])
def test_a_feature_that_stops_arriving_opens_an_incident_whose_missing_field_clears_on_return(
    size: int,
) -> None:
    rng = np.random.default_rng(63)
    x, y = rng.normal(size=60_000), rng.normal(size=60_000)
    bank = DetectorBank(DetectorSettings(), _normal_profile("x", "y"))
    events = [
        e for b in _absent_batches(x, y, slice(20_000, 25_000), size) for e in bank.run(b).incidents
    ]

    assert_one_open_incident_per_feature_at_most(events)
    assert {e.feature for e in events} == {"x"}
    missing_at = 20_000 + DetectorSettings().schema_.missing_grace + 1
    first = next(e for e in events if any(f.kind is FindingKind.MISSING_FIELD for f in e.findings))
    assert first.records_seen == missing_at
    assert first.reason in ("opened by missing_field", "missing_field joined")
    resolved = events[-1]
    assert resolved.type is RESOLVED
    missing = next(f for f in resolved.findings if f.kind is FindingKind.MISSING_FIELD)
    assert missing.cleared_at == 25_001  # the record it came back with
    # Its absence counted as missing values: the null rate clears against the reference.
    null_rate = next(f for f in resolved.findings if f.kind is FindingKind.NULL_RATE)
    assert null_rate.cleared_at == resolved.records_seen > 25_001


def test_novel_fields_and_type_changes_in_decoded_records_resolve_after_2000_records() -> None:
    rng = np.random.default_rng(64)
    n = 30_000
    payloads = []
    for i, (x, z) in enumerate(zip(rng.normal(size=n), rng.normal(5.0, 1.0, n), strict=True)):
        record: dict[str, Any] = {"x": f"{x:.3f}" if 10_000 <= i < 10_500 and i % 5 == 0 else x}
        if i >= 15_000:
            record["z"] = z
        payloads.append(json.dumps(record).encode())
    decoder = Decoder(kinds={"x": "numeric"})
    bank = DetectorBank(DetectorSettings(), _normal_profile("x"))
    events = []
    for start in range(0, n, 4000):
        chunk = payloads[start : start + 4000]
        result = decoder.decode(chunk, SourcePositions.sequential("t", len(chunk), start))
        assert result.batch is not None
        events += bank.run(result.batch).incidents

    assert_one_open_incident_per_feature_at_most(events)
    life = SETTINGS.resolve_panes * SETTINGS.pane_records
    by_feature = {
        name: [(e.type, e.findings[0].kind) for e in events if e.feature == name]
        for name in ("x", "z")
    }
    assert by_feature == {
        "x": [(OPENED, FindingKind.TYPE_CHANGE), (RESOLVED, FindingKind.TYPE_CHANGE)],
        "z": [(OPENED, FindingKind.NOVEL_FIELD), (RESOLVED, FindingKind.NOVEL_FIELD)],
    }
    for name in ("x", "z"):
        opened, resolved = [e for e in events if e.feature == name]
        assert resolved.records_seen - opened.records_seen == life
    z_opened = next(e for e in events if e.feature == "z")
    assert z_opened.record.offset == 15_000  # (records_seen counts only accepted records)


def test_incident_ids_are_the_same_on_a_replay_and_differ_between_features() -> None:
    rng = np.random.default_rng(65)
    columns = {name: rng.normal(size=60_000) for name in ("a", "b")}
    for name in columns:
        columns[name][30_000:40_000] += 1.0
    profile = _normal_profile("a", "b")

    first = bank_incidents(DetectorSettings(), profile, columns, {}, 5000)
    replay = bank_incidents(DetectorSettings(), profile, columns, {}, 3333)

    assert_one_open_incident_per_feature_at_most(first)
    assert [(e.feature, e.type, e.incident_id) for e in replay] == [
        (e.feature, e.type, e.incident_id) for e in first
    ]
    ids = {e.feature: e.incident_id for e in first if e.type is OPENED}
    assert set(ids) == {"a", "b"} and ids["a"] != ids["b"]
    for event in first:
        if event.type is OPENED:
            assert event.incident_id == incident_id(event.feature, event.record, event.opened_at)


def test_a_per_feature_override_suppresses_an_incident_on_that_feature_only() -> None:
    rng = np.random.default_rng(66)
    columns = {name: rng.normal(size=40_000) for name in ("x", "y")}
    for name in columns:
        columns[name][20_000:] += 1.0
    profile = _normal_profile("x", "y")
    default = bank_incidents(DetectorSettings(), profile, columns, {})
    mean_only = DetectorSettings(features={"x": {"incidents": {"mean_shift_floor": 2.0}}})
    both = DetectorSettings(
        features={"x": {"incidents": {"mean_shift_floor": 2.0, "psi_floor": 2.0}}}
    )

    with_mean_only = bank_incidents(mean_only, profile, columns, {})
    with_both = bank_incidents(both, profile, columns, {})

    assert mean_only.incident_settings("y") == IncidentSettings()
    assert {e.feature for e in default if e.type is OPENED} == {"x", "y"}
    # A 1σ shift is also a distribution shift (PSI 0.96): a mean floor alone leaves that one.
    kinds_x = {f.kind for e in with_mean_only if e.feature == "x" for f in e.findings}
    assert kinds_x and FindingKind.MEAN_SHIFT not in kinds_x
    assert [e for e in with_both if e.feature == "x"] == []
    for run in (with_mean_only, with_both):
        assert [e.model_dump() for e in run if e.feature == "y"] == [
            e.model_dump() for e in default if e.feature == "y"
        ]


def test_new_incident_floors_apply_from_the_next_batch_and_keep_the_panes() -> None:
    rng = np.random.default_rng(67)
    x = rng.normal(size=40_000)
    x[20_000:] += 0.3
    profile = _normal_profile("x")
    batches = list(split_batches({"x": x}, {}, 5000))
    bank, strict = (
        DetectorBank(DetectorSettings(), profile),
        DetectorBank(DetectorSettings(), profile),
    )
    for batch in batches[:3]:
        bank.run(batch)
        strict.run(batch)
    strict.update_settings(DetectorSettings(incidents={"mean_shift_floor": 1.0, "psi_floor": 0.5}))
    evidence = strict.monitors["x"].evidence
    assert evidence is not None

    default = [e for b in batches[3:] for e in bank.run(b).incidents]
    raised = [e for b in batches[3:] for e in strict.run(b).incidents]

    assert default and default[0].findings[0].kind is FindingKind.MEAN_SHIFT
    assert raised == []
    assert json.loads(json.dumps(evidence.snapshot()))["ring"]["panes"] == 400


# -- practical significance: the floors -------------------------------------------------------


def test_a_shift_under_the_floors_opens_no_incident_in_two_million_records() -> None:
    """0.08σ (PSI 0.006), Gaussian and skewed: highly significant, too small to act on."""
    rng = np.random.default_rng(68)
    n = 2_000_000
    train = {"normal": rng.normal(0.0, 1.0, 200_000), "lognormal": rng.lognormal(0.0, 1.0, 200_000)}
    live = {"normal": rng.normal(0.08, 1.0, n), "lognormal": rng.lognormal(0.0, 1.0, n) * 1.105}
    bank = DetectorBank(DetectorSettings(), profile_of(train, {}))
    events = []
    for start in range(0, n, 100_000):
        chunk = {name: values[start : start + 100_000] for name, values in live.items()}
        events += bank.run(make_batch(chunk, {}, first_offset=start)).incidents

    assert events == []
    for name, monitor in bank.monitors.items():
        summary = monitor.evidence.latest_summary()  # type: ignore[union-attr]
        assert 0.06 < summary["live"]["mean_shift_sigma"] < 0.1, name
        assert summary["live"]["psi"] < 0.05, name


@pytest.mark.parametrize("seed", range(5))
def test_a_half_sigma_shift_and_a_psi_of_0_2_always_open_an_incident(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, at = 40_000, 20_000
    cats = np.array(["a", "b", "c", "d"], dtype=object)
    mix, moved = [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]  # PSI 0.228
    sd = float(np.sqrt((np.e - 1.0) * np.e))
    profile = profile_of(
        {
            "normal": rng.normal(0.0, 1.0, 200_000),
            "lognormal": rng.lognormal(0.0, 1.0, 200_000),
            "spread": rng.normal(0.0, 1.0, 200_000),
        },
        {"mix": cats[rng.choice(4, 200_000, p=mix)]},
    )
    numeric = {
        "normal": rng.normal(0.0, 1.0, n),
        "lognormal": rng.lognormal(0.0, 1.0, n),
        "spread": rng.normal(0.0, 1.0, n),
    }
    numeric["normal"][at:] += 0.5
    numeric["lognormal"][at:] += 0.5 * sd
    numeric["spread"][at:] *= 1.5  # PSI 0.24
    mixed = cats[rng.choice(4, n, p=mix)]
    mixed[at:] = cats[rng.choice(4, n - at, p=moved)]

    events = bank_incidents(DetectorSettings(), profile, numeric, {"mix": mixed}, 4000)

    opened = {e.feature: e for e in events if e.type is OPENED}
    assert set(opened) == {"normal", "lognormal", "spread", "mix"}
    for event in opened.values():
        assert at < event.records_seen <= at + 1000, event.feature
        assert abs(event.findings[0].onset_at - (at + 1)) <= 300, event.feature


def test_a_null_rate_under_its_floor_opens_no_incident() -> None:
    rng = np.random.default_rng(69)
    bank = DetectorBank(DetectorSettings(), _normal_profile("x"))
    opened = 0
    for start in range(0, 1_000_000, 100_000):
        x = rng.normal(size=100_000)
        x[rng.random(x.size) < 0.005] = np.nan
        output = bank.run(make_batch({"x": x}, {}, first_offset=start))
        opened += sum(e.type is OPENED for e in output.incidents)

    assert opened == 0


# -- incidents opened by point findings, whatever the batches ---------------------------------


def _novel_burst(rng: np.random.Generator, n: int, at: int, length: int) -> Columns:
    cats = np.array(["FR", "DE", "ES", "IT"], dtype=object)
    c = cats[rng.integers(0, 4, n)]
    burst = np.arange(at, at + length)
    c[burst[rng.random(length) < 0.05]] = "BR"
    return {"c": c}


def test_an_incident_a_novel_category_opens_resolves_at_the_same_record_whatever_the_split():
    rng = np.random.default_rng(71)
    n = 60_000
    categorical = _novel_burst(rng, n, 30_000, 1000)
    profile = profile_of({}, {"c": np.array(["FR", "DE", "ES", "IT"] * 25_000, dtype=object)})

    runs = [
        [
            (e.type, e.records_seen)
            for e in bank_incidents(DetectorSettings(), profile, {}, categorical, size)
        ]
        for size in (1000, 10_000, n)
    ]

    assert [kind for kind, _ in runs[0]] == [OPENED, RESOLVED]
    assert runs[1] == runs[0]
    assert runs[2] == runs[0]


def test_the_onset_of_a_novel_category_does_not_depend_on_the_split() -> None:
    """Its first occurrence in one batch, its report in the next, or both in one."""
    rng = np.random.default_rng(72)
    n = 40_000
    categorical = _novel_burst(rng, n, 20_000, 20_000)
    first = int(np.flatnonzero(categorical["c"] == "BR")[0])
    profile = profile_of({}, {"c": np.array(["FR", "DE", "ES", "IT"] * 25_000, dtype=object)})
    bank = DetectorBank(DetectorSettings(), profile)
    cut_after_first = [
        e
        for b in [
            make_batch({}, {"c": categorical["c"][: first + 1]}),
            make_batch({}, {"c": categorical["c"][first + 1 :]}, first_offset=first + 1),
        ]
        for e in bank.run(b).incidents
    ]
    whole = bank_incidents(DetectorSettings(), profile, {}, categorical, n)

    [opened] = [e for e in whole if e.type is OPENED]
    assert opened.findings[0].onset_at == first + 1
    assert opened.records_seen > first + 1  # reported at its 25th occurrence
    assert [e.model_dump() for e in cut_after_first] == [e.model_dump() for e in whole]
