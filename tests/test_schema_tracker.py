"""SchemaTracker: novel, missing, returned and re-typed fields, the field cap and snapshots."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
from driftwarden.detectors.schema_tracker import SchemaReport, SchemaTracker

REFERENCE = {"amount": "numeric", "country": "categorical"}


def make_batch(
    present: Mapping[str, npt.NDArray[np.bool_]],
    types: Mapping[str, set[str]] | None = None,
    first_offset: int = 0,
) -> FeatureBatch:
    """A batch with the given presence masks; types default to the field's kind by name."""
    n = len(next(iter(present.values())))
    types = types or {}
    return FeatureBatch(
        n_records=n,
        numeric={},
        categorical={},
        present={name: np.asarray(mask, dtype=bool) for name, mask in present.items()},
        types={
            name: frozenset(types.get(name, {"number" if name == "amount" else "string"}))
            for name in present
        },
        positions=SourcePositions.sequential("features", n, first_offset),
    )


def always(n: int) -> npt.NDArray[np.bool_]:
    return np.ones(n, dtype=bool)


def split(batch: FeatureBatch, cuts: list[int]) -> list[tuple[int, FeatureBatch]]:
    """The batch cut at ``cuts``, each piece with its start."""
    bounds = [0, *sorted(cuts), batch.n_records]
    return [
        (start, make_batch({k: v[start:stop] for k, v in batch.present.items()}, None, start))
        for start, stop in itertools.pairwise(bounds)
    ]


def run(tracker: SchemaTracker, pieces: list[tuple[int, FeatureBatch]]) -> list[SchemaReport]:
    """Reports of every piece with indices made global."""
    return [
        SchemaReport(r.kind, r.field, r.index + start, r.expected_kind, r.observed_type,
                     r.absent_records)
        for start, piece in pieces
        for r in tracker.update(piece)
    ]  # fmt: skip


def test_novel_field_is_reported_once_at_its_first_occurrence() -> None:
    tracker = SchemaTracker(REFERENCE)
    device = np.zeros(100, dtype=bool)
    device[[42, 77]] = True

    first = tracker.update(make_batch({"amount": always(100), "device": device}))
    second = tracker.update(make_batch({"amount": always(100), "device": always(100)}))

    assert first == [SchemaReport("novel", "device", 42)]
    assert second == []


def test_field_missing_for_longer_than_the_grace_across_batches_then_returning() -> None:
    tracker = SchemaTracker(REFERENCE, missing_grace=1000)
    country = np.ones(2800, dtype=bool)
    country[501:2600] = False  # absent from records 501..2599: 2,099 records
    batch = make_batch({"amount": always(2800), "country": country})

    reports = run(tracker, split(batch, [700, 1400, 2100]))

    assert reports == [
        SchemaReport("missing", "country", 1501, absent_records=1001),
        SchemaReport("returned", "country", 2600, absent_records=2099),
    ]
    assert tracker.missing_fields == []


def test_absence_within_the_grace_is_not_reported() -> None:
    tracker = SchemaTracker(REFERENCE, missing_grace=10)
    country = np.ones(50, dtype=bool)
    country[20:30] = False  # exactly the grace

    assert tracker.update(make_batch({"amount": always(50), "country": country})) == []


def test_field_never_seen_is_missing_once_the_grace_has_passed() -> None:
    tracker = SchemaTracker(REFERENCE, missing_grace=99)

    first = tracker.update(make_batch({"amount": always(60)}))
    second = tracker.update(make_batch({"amount": always(60)}))
    third = tracker.update(make_batch({"amount": always(60)}))

    assert first == []
    assert second == [SchemaReport("missing", "country", 39, absent_records=100)]
    assert third == []
    assert tracker.missing_fields == ["country"]


def test_type_change_is_reported_once_per_field_and_type() -> None:
    tracker = SchemaTracker(REFERENCE)
    present = {"amount": always(10), "country": np.arange(10) >= 3}
    types = {"amount": {"number", "string", "null"}, "country": {"string", "number"}}

    first = tracker.update(make_batch(present, types))
    second = tracker.update(make_batch(present, types))

    assert first == [
        SchemaReport("type_changed", "amount", 0, "numeric", "string"),
        SchemaReport("type_changed", "country", 3, "categorical", "number"),
    ]
    assert second == []


def test_field_cap_is_reported_once_and_later_names_are_counted_not_tracked() -> None:
    tracker = SchemaTracker(REFERENCE, max_fields=3)
    extra = np.arange(10) >= 5

    reports = tracker.update(
        make_batch({"amount": always(10), "country": always(10), "a": extra, "b": extra})
    )
    later = tracker.update(make_batch({"amount": always(10), "country": always(10), "c": extra}))

    assert reports == [SchemaReport("field_cap", "b", 5), SchemaReport("novel", "a", 5)]
    assert later == []
    assert tracker.untracked_fields == 2
    assert len(tracker.snapshot()["fields"]) == 3


def test_reference_larger_than_the_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="raise max_fields"):
        SchemaTracker(REFERENCE, max_fields=1)


def test_without_a_reference_the_first_batch_fields_become_the_reference() -> None:
    tracker = SchemaTracker(None, missing_grace=5)
    first = FeatureBatch(
        n_records=3,
        numeric={"amount": np.ones(3)},
        categorical={"country": np.array(["FR", "DE", None], dtype=object)},
        present={"amount": always(3), "country": always(3), "blob": always(3)},
        types={
            "amount": frozenset({"number"}),
            "country": frozenset({"string", "null"}),
            "blob": frozenset({"object"}),
        },
        positions=SourcePositions.sequential("features", 3),
    )

    assert tracker.update(first) == []
    assert tracker.reference_fields == {"amount": "numeric", "blob": None, "country": "categorical"}
    reports = tracker.update(
        make_batch({"amount": always(10), "device": always(10)}, {"amount": {"string"}})
    )
    assert [(r.kind, r.field, r.index) for r in reports] == [
        ("novel", "device", 0),
        ("type_changed", "amount", 0),
        ("missing", "blob", 5),
        ("missing", "country", 5),
    ]


presence_strategy = st.lists(
    st.tuples(st.booleans(), st.integers(0, 3), st.booleans()), min_size=1, max_size=120
)


@settings(max_examples=80, deadline=None)
@given(rows=presence_strategy, data=st.data())
def test_reports_do_not_depend_on_batch_boundaries(
    rows: list[tuple[bool, int, bool]], data: st.DataObject
) -> None:
    # country is present in runs; "device" appears now and then; amount always.
    country = np.repeat([present for present, _, _ in rows], [1 + run for _, run, _ in rows])
    device = np.repeat([extra for _, _, extra in rows], [1 + run for _, run, _ in rows])
    batch = make_batch({"amount": always(country.size), "country": country, "device": device})
    cuts = data.draw(st.lists(st.integers(0, country.size), max_size=6))

    whole = run(SchemaTracker(REFERENCE, missing_grace=3), [(0, batch)])
    pieces = run(SchemaTracker(REFERENCE, missing_grace=3), split(batch, cuts))

    assert pieces == whole


def test_snapshot_restore_gives_identical_future_reports() -> None:
    rng = np.random.default_rng(9)
    country = rng.random(5000) < 0.6
    country[1000:1300] = False
    device = np.zeros(5000, dtype=bool)
    device[4000:] = True
    batch = make_batch({"amount": always(5000), "country": country, "device": device})
    types = {"amount": {"number", "string"}}
    pieces = split(batch, [1100])

    tracker = SchemaTracker(REFERENCE, missing_grace=200)
    tracker.update(pieces[0][1])
    restored = SchemaTracker.restore(json.loads(json.dumps(tracker.snapshot())))
    later = make_batch({"amount": always(10), "country": always(10)}, types)

    assert restored.update(pieces[1][1]) == tracker.update(pieces[1][1])
    assert restored.update(later) == tracker.update(later)
    assert restored.snapshot() == tracker.snapshot()


def test_restore_rejects_another_detectors_snapshot() -> None:
    with pytest.raises(ValueError, match="SchemaTracker"):
        SchemaTracker.restore({"kind": "CategoricalDrift", "version": 1})


# --- type_changed from record-level streams ---------------------------------------------------

# A record as the decoder sees it: whether it was accepted, and the JSON type of each of its
# fields (None: the record lacks the field). Numeric "amount" allows number and null;
# categorical "country" allows string, bool and null.
Record = tuple[bool, str | None, str | None]
FIELDS = ("amount", "country")


def decoded(records: list[Record]) -> FeatureBatch:
    """The batch a decoder makes of ``records``: the accepted ones, with ``types`` and
    ``type_first`` over all of them."""
    accepted = np.flatnonzero([ok for ok, *_ in records])
    first: dict[str, dict[str, int]] = {}
    for i, (_, *types) in enumerate(records):
        for name, json_type in zip(FIELDS, types, strict=True):
            if json_type is not None:
                first.setdefault(name, {}).setdefault(json_type, i)
    return FeatureBatch(
        n_records=accepted.size,
        numeric={},
        categorical={},
        present={
            name: np.array([records[i][1 + f] is not None for i in accepted], dtype=bool)
            for f, name in enumerate(FIELDS)
            if name in first
        },
        types={name: frozenset(types) for name, types in first.items()},
        positions=SourcePositions.sequential("features", accepted.size),
        type_first={
            name: {t: int(np.searchsorted(accepted, i)) for t, i in types.items()}
            for name, types in first.items()
        },
    )


def run_records(records: list[Record], cuts: list[int]) -> list[SchemaReport]:
    """Reports of ``records`` decoded in pieces cut at ``cuts`` (each piece's records may all
    be rejected), with indices made global (counted in accepted records)."""
    tracker = SchemaTracker(REFERENCE, missing_grace=3)
    bounds = [0, *sorted(cuts), len(records)]
    pieces, start = [], 0
    for low, high in itertools.pairwise(bounds):
        batch = decoded(records[low:high])
        pieces.append((start, batch))
        start += batch.n_records
    return run(tracker, pieces)


def first_accepted_at_or_after(records: list[Record]) -> list[tuple[str, str, int]]:
    """The type changes of ``records`` by definition: (field, type, global accepted record)."""
    accepted = np.flatnonzero([ok for ok, *_ in records])
    allowed = {"amount": {"number", "null"}, "country": {"string", "bool", "null"}}
    found: dict[tuple[str, str], int] = {}
    for i, (_, *types) in enumerate(records):
        for name, json_type in zip(FIELDS, types, strict=True):
            if json_type is not None and json_type not in allowed[name]:
                found.setdefault((name, json_type), i)
    changes = [
        (name, json_type, int(np.searchsorted(accepted, i)))
        for (name, json_type), i in found.items()
    ]
    return sorted((c for c in changes if c[2] < accepted.size), key=lambda c: (c[2], c[0], c[1]))


def type_changes(reports: list[SchemaReport]) -> list[tuple[str, str, int]]:
    return [(r.field, r.observed_type or "", r.index) for r in reports if r.kind == "type_changed"]


# amount turns into a string in a rejected record (3), then in an accepted one (4, the 4th
# accepted); into a bool only in rejected records (6, 7), so at record 8 (the 6th accepted).
# country holds a number only in the last record, rejected: no record follows, no report.
STREAM: list[Record] = [
    (True, "number", "string"),
    (True, "null", None),
    (True, None, "string"),
    (False, "string", "string"),
    (True, "string", "bool"),
    (True, "number", None),
    (False, "bool", "string"),
    (False, "number", "null"),
    (True, "number", "string"),
    (False, None, "number"),
]


def test_type_change_points_at_the_first_accepted_record_at_or_after_it_whatever_the_cuts() -> None:
    expected = first_accepted_at_or_after(STREAM)
    assert expected == [("amount", "string", 3), ("amount", "bool", 5)]
    whole = run_records(STREAM, [])
    assert type_changes(whole) == expected
    boundaries = range(len(STREAM) + 1)
    for n_cuts in range(len(boundaries) + 1):
        for cuts in itertools.combinations(boundaries, n_cuts):
            assert run_records(STREAM, list(cuts)) == whole, cuts


types_of = st.sampled_from([None, "number", "null", "string", "bool"])
records_strategy = st.lists(st.tuples(st.booleans(), types_of, types_of), max_size=40)


@settings(max_examples=150, deadline=None)
@given(records=records_strategy, data=st.data())
def test_type_changes_do_not_depend_on_batch_boundaries(
    records: list[Record], data: st.DataObject
) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(records)), max_size=8))

    whole = run_records(records, [])

    assert type_changes(whole) == first_accepted_at_or_after(records)
    assert run_records(records, cuts) == whole


def test_a_type_change_in_the_last_record_is_held_for_the_next_batch() -> None:
    tracker = SchemaTracker(REFERENCE)
    first = decoded([(True, "number", "string"), (False, "string", "string")])
    second = decoded([(True, "number", "string"), (True, "string", "string")])

    assert first.type_first["amount"]["string"] == first.n_records
    assert tracker.update(first) == []
    assert tracker.update(second) == [
        SchemaReport("type_changed", "amount", 0, "numeric", "string")
    ]
    assert tracker.update(second) == []


def test_a_field_whose_records_were_all_rejected_is_still_type_checked() -> None:
    tracker = SchemaTracker(REFERENCE)
    batch = decoded([(True, None, "string"), (False, "string", None), (True, None, "string")])
    assert "amount" in batch.type_first and not batch.present["amount"].any()

    assert tracker.update(batch) == [SchemaReport("type_changed", "amount", 1, "numeric", "string")]


def test_snapshot_restore_keeps_a_held_type_change() -> None:
    tracker = SchemaTracker(REFERENCE)
    tracker.update(decoded([(True, "number", "string"), (False, "bool", "number")]))
    state = json.loads(json.dumps(tracker.snapshot()))
    restored = SchemaTracker.restore(state)
    later = decoded([(True, "number", "string")])

    assert state["version"] == 2 and len(state["held"]) == 2
    assert (
        restored.update(later)
        == tracker.update(later)
        == [
            SchemaReport("type_changed", "amount", 0, "numeric", "bool"),
            SchemaReport("type_changed", "country", 0, "categorical", "number"),
        ]
    )
    assert restored.snapshot() == tracker.snapshot()


def test_a_version_1_snapshot_restores_with_nothing_held() -> None:
    tracker = SchemaTracker(REFERENCE)
    tracker.update(decoded([(True, "number", "string")]))
    state = tracker.snapshot()
    old = {key: value for key, value in state.items() if key != "held"} | {"version": 1}

    assert SchemaTracker.restore(old).snapshot() == state


def test_type_first_must_match_types() -> None:
    batch = decoded([(True, "number", "string")])
    with pytest.raises(ValueError, match="type_first of 'amount' has types"):
        replace(batch, type_first={**batch.type_first, "amount": {"string": 0}})
    with pytest.raises(ValueError, match=r"must be in 0\.\.1"):
        replace(batch, type_first={**batch.type_first, "amount": {"number": 2}})
    with pytest.raises(ValueError, match="the fields of types"):
        replace(batch, type_first={"amount": batch.type_first["amount"]})
