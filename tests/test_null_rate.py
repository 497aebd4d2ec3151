"""NullRate: drift in the share of missing values."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwarden.detectors.null_rate import NullRate, NullRateReport


def missing(rng: np.random.Generator, rate: float, n: int) -> np.ndarray:
    return rng.random(n) < rate


def test_rate_change_is_flagged_in_the_first_full_window_after_it() -> None:
    rng = np.random.default_rng(1)
    detector = NullRate(ref_null_rate=0.02)
    change = 12_345
    stream = np.concatenate([missing(rng, 0.02, change), missing(rng, 0.04, 15_000)])
    reports = detector.update_many(stream)
    assert [r.index for r in reports] == [4999, 9999, 14999, 19999, 24999]
    assert [r.drift for r in reports if r.index < change] == [False, False]
    first_full = next(r for r in reports if r.index - detector.window + 1 >= change)
    assert first_full.drift
    assert first_full.z >= detector.z_threshold
    assert first_full.null_rate - first_full.ref_null_rate >= detector.min_abs_change


def test_a_drop_in_the_null_rate_is_flagged_too() -> None:
    rng = np.random.default_rng(2)
    detector = NullRate(ref_null_rate=0.3, window=2000)
    (report,) = detector.update_many(missing(rng, 0.1, 2000))
    assert report.drift and report.z <= -detector.z_threshold


@pytest.mark.parametrize("rate", [0.0, 0.001, 0.05, 0.5])
def test_stationary_rate_raises_no_flag(rate: float) -> None:
    rng = np.random.default_rng(3)
    detector = NullRate(ref_null_rate=rate)
    reports = detector.update_many(missing(rng, rate, 2_500_000))
    assert len(reports) == 500
    assert not any(r.drift for r in reports)


def test_first_window_sets_the_reference_and_yields_no_report() -> None:
    rng = np.random.default_rng(4)
    stream = np.concatenate([missing(rng, 0.1, 1000), missing(rng, 0.2, 2000)])
    detector = NullRate(window=1000)
    reports = detector.update_many(stream)
    first_rate = float(np.count_nonzero(stream[:1000])) / 1000
    assert detector.ref_null_rate == first_rate
    assert [r.index for r in reports] == [1999, 2999]
    assert all(r.ref_null_rate == first_rate and r.drift for r in reports)


def test_z_score_uses_half_a_record_of_variance_when_the_reference_has_no_nulls() -> None:
    detector = NullRate(ref_null_rate=0.0, window=1000)
    one_null = np.zeros(1000, dtype=bool)
    one_null[17] = True
    (report,) = detector.update_many(one_null)
    floor = 0.5 / 1000
    assert report.z == pytest.approx(0.001 / math.sqrt(floor * (1 - floor) / 1000))
    assert math.isfinite(report.z) and not report.drift


def test_small_changes_do_not_drift_however_large_the_window() -> None:
    rng = np.random.default_rng(5)
    detector = NullRate(ref_null_rate=0.10, window=2_000_000)
    (report,) = detector.update_many(missing(rng, 0.105, 2_000_000))
    assert report.z > detector.z_threshold
    assert not report.drift
    detector.min_abs_change = 0.001
    (report,) = detector.update_many(missing(rng, 0.105, 2_000_000))
    assert report.drift


SPLIT_STREAM = np.concatenate(
    [missing(np.random.default_rng(6), 0.05, 2000), missing(np.random.default_rng(7), 0.2, 1300)]
)


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(0, SPLIT_STREAM.size), max_size=8),
    reference=st.sampled_from([None, 0.05]),
)
def test_reports_do_not_depend_on_how_the_stream_is_split(
    cuts: list[int], reference: float | None
) -> None:
    whole = NullRate(reference, window=250).update_many(SPLIT_STREAM)
    assert any(r.drift for r in whole) and not all(r.drift for r in whole)
    detector = NullRate(reference, window=250)
    pieces: list[NullRateReport] = []
    bounds = [0, *sorted(cuts), SPLIT_STREAM.size]
    for start, stop in itertools.pairwise(bounds):
        for report in detector.update_many(SPLIT_STREAM[start:stop]):
            pieces.append(dataclasses.replace(report, index=report.index + start))
    assert pieces == whole


@pytest.mark.parametrize("cut", [0, 100, 250, 600, 2100])
def test_snapshot_restore_gives_identical_future_reports(cut: int) -> None:
    detector = NullRate(window=250)
    twin = NullRate(window=250)
    detector.update_many(SPLIT_STREAM[:cut])
    twin.update_many(SPLIT_STREAM[:cut])
    restored = NullRate.restore(json.loads(json.dumps(detector.snapshot(), allow_nan=False)))
    assert restored.snapshot() == detector.snapshot()
    assert restored.update_many(SPLIT_STREAM[cut:]) == twin.update_many(SPLIT_STREAM[cut:])


def test_threshold_change_takes_effect_from_the_next_window() -> None:
    rng = np.random.default_rng(8)
    detector = NullRate(ref_null_rate=0.02, window=1000)
    stream = missing(rng, 0.06, 3500)
    assert [r.drift for r in detector.update_many(stream[:1500])] == [True]
    detector.z_threshold = math.inf
    assert [r.drift for r in detector.update_many(stream[1500:])] == [False, False]


def test_state_stays_the_same_size_over_ten_million_records() -> None:
    rng = np.random.default_rng(9)
    detector = NullRate()
    batch = missing(rng, 0.01, 500_000)
    sizes = set()
    for _ in range(20):
        detector.update_many(batch[:123_457])
        detector.update_many(batch[123_457:])
        sizes.add(tuple(sorted(detector.snapshot())))
    assert len(sizes) == 1
    assert len(json.dumps(detector.snapshot())) < 300


def test_rejects_anything_but_a_1d_bool_mask() -> None:
    detector = NullRate()
    with pytest.raises(TypeError):
        detector.update_many(np.array([0.0, math.nan]))
    with pytest.raises(TypeError):
        detector.update_many(np.zeros((2, 2), dtype=bool))
    with pytest.raises(ValueError):
        NullRate(ref_null_rate=1.5)
