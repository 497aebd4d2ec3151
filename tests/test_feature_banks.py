"""Stage two's detector state: one bank per feature, fed per-feature chunks.

Held to the whole-batch ``DetectorBank`` (the same events, feature by feature), to exactly-once
counting whatever chunks are delivered again, and to an event-time merge that keeps each
partition's order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given
from hypothesis import strategies as st

from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.feature_banks import FeatureBanks, merge_outputs
from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
from driftwarden.detectors.feature_split import merge_by_time, split_by_feature, tail
from driftwarden.detectors.settings import DetectorSettings
from tests.bank_data import profile_of, split_batches

N, CHANGE_AT = 60_000, 30_000
COUNTRIES = np.array(["FR", "DE", "ES"], dtype=object)


def _columns(seed: int, n: int = N) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    numeric = {"x": rng.normal(0.0, 1.0, n), "y": rng.lognormal(0.0, 0.5, n)}
    categorical = {"c": COUNTRIES[rng.integers(0, 3, n)]}
    return numeric, categorical


def _live() -> tuple[dict, dict]:
    numeric, categorical = _columns(2)
    numeric["x"][CHANGE_AT:] += 0.8
    categorical["c"][CHANGE_AT::20] = "BR"
    return numeric, categorical


def _key(event: object) -> tuple:
    dump = event.model_dump(mode="json")  # type: ignore[attr-defined]
    dump.pop("index", None)
    return tuple(sorted((k, str(v)) for k, v in dump.items()))


def test_per_feature_banks_make_the_whole_batch_banks_decisions_feature_by_feature() -> None:
    profile = profile_of(*_columns(1))
    settings = DetectorSettings()
    whole, banks = DetectorBank(settings, profile), FeatureBanks(settings, profile)
    expected, got = [], []
    for batch in split_batches(*_live(), batch_size=7_000):
        expected.append(whole.run(batch))
        chunks = split_by_feature(batch)
        got.append(merge_outputs([banks.run(name, chunk) for name, chunk in chunks.items()]))
    incidents = [_key(e) for out in expected for e in out.incidents]
    assert incidents, "the scenario must open incidents"
    assert [_key(e) for out in got for e in out.incidents] == incidents
    assert [_key(e) for out in got for e in out.evidence] == [
        _key(e) for out in expected for e in out.evidence
    ]
    assert banks.records_seen() == {"x": N, "y": N, "c": N}


@given(st.data())
def test_chunks_delivered_again_are_counted_once_with_the_same_events(data: st.DataObject) -> None:
    """Stage one after a crash re-sends chunks of records stage two counted already, cut
    anywhere: the banks drop what they have seen and decide as on one delivery."""
    profile = profile_of(*_columns(1, 5_000))
    numeric, categorical = _live()
    batches = list(split_batches(numeric, categorical, batch_size=10_000))
    once = FeatureBanks(DetectorSettings(), profile, dedupe=True)
    again = FeatureBanks(DetectorSettings(), profile, dedupe=True)
    first = [_key(e) for b in batches for n, c in split_by_feature(b).items() for e in
             once.run(n, c).incidents]  # fmt: skip
    got = []
    for batch in batches:
        for name, chunk in split_by_feature(batch).items():
            got += [_key(e) for e in again.run(name, chunk).incidents]
        # a replay from an earlier offset, re-cut: a tail of this batch once more
        start = data.draw(st.integers(min_value=0, max_value=batch.n_records - 1))
        for name, chunk in split_by_feature(tail(batch, start)).items():
            got += [_key(e) for e in again.run(name, chunk).incidents]
    assert got == first
    assert again.records_seen() == once.records_seen() == {"x": N, "y": N, "c": N}


def _positions(partition: int, offsets: npt.NDArray[np.int64]) -> SourcePositions:
    n = len(offsets)
    return SourcePositions(("t",), np.zeros(n, np.int32), np.full(n, partition, np.int32), offsets)


def test_the_event_time_merge_interleaves_partitions_and_keeps_each_partitions_order() -> None:
    rng = np.random.default_rng(3)
    streams, expected = [], []
    for partition in range(3):
        stamps = np.sort(rng.integers(0, 1_000, 200)).astype(np.int64)
        stamps[50] = 0  # a late record: stays where its partition put it
        values = np.arange(200, dtype=np.float64) + 1000 * partition
        batch = FeatureBatch(200, {"x": values}, {}, {}, {}, _positions(partition, np.arange(200)))
        streams.append([(tail(batch, 0), stamps)])
        expected.append(values)
    merged, stamps = merge_by_time(streams, "x")
    assert merged.n_records == 600
    for partition in range(3):
        mine = merged.positions.partitions == partition
        assert np.array_equal(merged.numeric["x"][mine], expected[partition])
    assert np.all(np.diff(stamps[stamps > 0]) >= -1000)
    keys = np.concatenate([np.maximum.accumulate(s) for ((_, s),) in streams])
    assert np.all(np.diff(np.sort(keys, kind="stable")) >= 0)


def test_a_feature_absent_from_some_partitions_chunks_is_missing_there() -> None:
    present = FeatureBatch(
        2, {"x": np.array([1.0, 2.0])}, {}, {"x": np.ones(2, bool)},
        {"x": frozenset({"number"})}, _positions(0, np.arange(2)),
    )  # fmt: skip
    absent = FeatureBatch(2, {}, {}, {}, {}, _positions(1, np.arange(2)))
    merged, _ = merge_by_time([[(present, np.array([1, 3]))], [(absent, np.array([2, 4]))]], "x")
    assert np.array_equal(merged.numeric["x"], [1.0, np.nan, 2.0, np.nan], equal_nan=True)
    assert merged.present["x"].tolist() == [True, False, True, False]


def test_a_field_the_profile_lacks_is_counted_from_its_first_record() -> None:
    profile = profile_of(*_columns(1, 5_000))
    banks = FeatureBanks(DetectorSettings(), profile)
    n = 1_000
    values = np.full(n, np.nan)
    values[600:] = 1.0
    batch = FeatureBatch(
        n, {"promo": values}, {}, {"promo": ~np.isnan(values)},
        {"promo": frozenset({"number"})}, SourcePositions.sequential("t", n),
    )  # fmt: skip
    output = banks.run("promo", batch)
    assert banks.records_seen() == {"promo": 400}
    (novel,) = [e for e in output.evidence if e.type.value == "feature.novel"]
    assert (novel.index, novel.records_seen, novel.record.offset) == (600, 1, 600)
